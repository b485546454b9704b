#include "rocks_owner_index.h"

#include <memory>
#include <string>

#include "record_format.h"
#include "rocks_keys.h"

namespace keel::internal {

void read_run(const rocksdb::Iterator& it, std::string_view owner, OwnerRun* run) {
  const rocksdb::Slice key = it.key();
  run->first_seq = get_be64(key.data() + key.size() - 8);
  run->status = decode_owner_run(std::string_view(it.value().data(), it.value().size()), owner, &run->lsns);
  if (!run->status.is_ok()) run->lsns.clear();
}

void seek_run(rocksdb::Iterator* it, std::string_view owner, std::uint64_t seq) {
  const std::string at = owner_key(owner, seq);
  it->SeekForPrev(at);
  if (it->Valid() && starts_with(it->key(), owner_prefix(owner))) return;  // the entry at or before seq
  it->Seek(at);
}

rocksdb::Status for_each_indexed(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view owner,
                                 std::uint64_t from_seq, const IndexedFn& fn) {
  const std::string prefix = owner_prefix(owner);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  OwnerRun run;
  for (seek_run(it.get(), owner, from_seq); it->Valid() && starts_with(it->key(), prefix); it->Next()) {
    read_run(*it, owner, &run);
    if (!run.status.is_ok()) {
      if (!fn(run.first_seq, kNoLsn, run.status)) break;
      continue;
    }
    if (run.last_seq() < from_seq) continue;
    bool more = true;
    for (std::size_t i = from_seq > run.first_seq ? from_seq - run.first_seq : 0; more && i < run.lsns.size(); ++i) {
      more = fn(run.first_seq + i, run.lsns[i], Status::ok());
    }
    if (!more) break;
  }
  return it->status();
}

rocksdb::Status for_each_indexed_backwards(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view owner,
                                           const IndexedFn& fn) {
  const std::string prefix = owner_prefix(owner);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  OwnerRun run;
  for (it->SeekForPrev(prefix + std::string(kMaxBe64)); it->Valid() && starts_with(it->key(), prefix); it->Prev()) {
    read_run(*it, owner, &run);
    if (!run.status.is_ok()) {
      if (!fn(run.first_seq, kNoLsn, run.status)) break;
      continue;
    }
    bool more = true;
    for (std::size_t i = run.lsns.size(); more && i > 0; --i) more = fn(run.first_seq + i - 1, run.lsns[i - 1], Status::ok());
    if (!more) break;
  }
  return it->status();
}

Result<std::optional<Lsn>> indexed_lsn(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view owner,
                                       std::uint64_t seq, rocksdb::Status* failure) {
  std::optional<Lsn> lsn;
  Status entry;
  *failure = for_each_indexed(db, ro, owner, seq, [&](std::uint64_t at, Lsn l, const Status& e) {
    if (at == seq && e.is_ok()) lsn = l;
    entry = e;
    return false;
  });
  KEEL_RETURN_IF_ERROR(entry);
  return lsn;
}

Result<std::optional<std::pair<std::uint64_t, Lsn>>> last_indexed(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                                                                   std::string_view owner, rocksdb::Status* failure) {
  const std::string prefix = owner_prefix(owner);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  it->SeekForPrev(prefix + std::string(kMaxBe64));
  *failure = it->status();
  if (!failure->ok() || !it->Valid() || !starts_with(it->key(), prefix) || it->key().size() != prefix.size() + 8) {
    return std::optional<std::pair<std::uint64_t, Lsn>>();
  }
  OwnerRun run;
  read_run(*it, owner, &run);
  KEEL_RETURN_IF_ERROR(run.status);
  return std::optional(std::make_pair(run.last_seq(), run.lsns.back()));
}

}  // namespace keel::internal
