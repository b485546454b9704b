#include "rocks_removal.h"

#include <memory>
#include <utility>
#include <vector>

#include "record_format.h"
#include "rocks_keys.h"
#include "rocks_owner_index.h"

namespace keel::internal {
namespace {

Status rocks_error(const std::string& path, std::string_view what, const rocksdb::Status& s) {
  std::string msg = "rocksdb journal " + path + ": " + std::string(what) + ": " + s.ToString();
  return s.IsCorruption() ? Status::corruption(msg) : Status::io_error(msg);
}

// The be64 value at `key`; 0 when the key is absent.
Result<std::uint64_t> get_u64(rocksdb::DB* db, const std::string& path, const std::string& key,
                              std::string_view what) {
  std::string value;
  rocksdb::Status got = db->Get(rocksdb::ReadOptions(), key, &value);
  if (got.IsNotFound()) return std::uint64_t{0};
  if (!got.ok()) return rocks_error(path, what, got);
  return value.size() == 8 ? get_be64(value.data()) : std::uint64_t{0};
}

}  // namespace

Status plan_removal(rocksdb::DB* db, const std::string& path, std::string_view owner, std::uint64_t below,
                    bool whole, RocksRemoval* out) {
  // The scan starts at the first kept record: the deletions of earlier
  // removals stay in the owner index until RocksDB compacts them away, and
  // seeking from seq 0 would step over all of them each time.
  KEEL_ASSIGN_OR_RETURN(std::uint64_t first,
                        get_u64(db, path, floor_key(owner), "read the first seq of " + std::string(owner)));
  const std::string prefix = owner_prefix(owner);
  std::vector<std::pair<Lsn, std::uint64_t>> named;  // (lsn, seq) of the removed records
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  OwnerRun run;
  // Entries start at the first kept seq: a removal splits the entry it ends in.
  for (it->Seek(owner_key(owner, first)); it->Valid() && starts_with(it->key(), prefix); it->Next()) {
    read_run(*it, owner, &run);
    if (run.first_seq >= below) break;
    // Point deletions, not DeleteRange: range tombstones would go through
    // the memtable insert hints (InsertHintGroups in rocks_journal.cc),
    // which this RocksDB shares between the point and the range-deletion
    // memtables.
    out->batch.Delete(it->key());
    if (!run.status.is_ok()) {  // a damaged entry goes, and counts as one record
      ++out->removed;
      continue;
    }
    std::size_t i = 0;
    for (; i < run.lsns.size() && run.first_seq + i < below; ++i) named.emplace_back(run.lsns[i], run.first_seq + i);
    out->removed += i;
    if (i < run.lsns.size()) {  // the run goes on past `below`: its kept part is an entry of its own
      std::string kept;
      for (std::size_t k = i; k < run.lsns.size(); ++k) append_owner_run(&kept, k > i ? run.lsns[k - 1] : kNoLsn, run.lsns[k]);
      out->batch.Put(owner_key(owner, below), kept);
    }
  }
  if (!it->status().ok()) return rocks_error(path, "remove records of " + std::string(owner), it->status());
  if (out->removed == 0) return Status::ok();
  // The records' kinds, for the counters: one MultiGet (an owner's LSNs
  // ascend with its seqs, so the keys are sorted).
  std::vector<std::string> keys;
  keys.reserve(named.size());
  for (const auto& [lsn, seq] : named) keys.push_back(lsn_key(lsn));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> got(keys.size());
  if (!keys.empty()) {
    db->MultiGet(rocksdb::ReadOptions(), db->DefaultColumnFamily(), slices.size(), slices.data(), values.data(),
                 got.data(), /*sorted_input=*/true);
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!got[i].ok() && !got[i].IsNotFound()) {
      return rocks_error(path, "read lsn " + std::to_string(named[i].first), got[i]);
    }
    // The kind is the value's third byte (encode_record_value).
    const std::size_t k = got[i].ok() && values[i].size() > 2 ? static_cast<std::uint8_t>(values[i].data()[2]) : 0;
    if (k > 0 && k < out->by_kind.size()) ++out->by_kind[k];
    out->batch.Delete(keys[i]);
    if (k == static_cast<std::size_t>(RecordKind::kSnapshot)) out->batch.Delete(snapshot_key(owner, named[i].second));
  }
  if (whole) {
    out->batch.Delete(owner_summary_key(owner));
    out->batch.Delete(floor_key(owner));
  } else {
    std::string kept;
    put_be64(&kept, below);
    out->batch.Put(floor_key(owner), kept);
  }
  KEEL_ASSIGN_OR_RETURN(std::uint64_t before, get_u64(db, path, meta_key(kRemovedMeta), "read the removed count"));
  std::string total;
  put_be64(&total, before + out->removed);
  out->batch.Put(meta_key(kRemovedMeta), total);
  return Status::ok();
}

Result<Removals> read_removals(rocksdb::DB* db, const std::string& path, const rocksdb::ReadOptions& ro) {
  Removals out;
  std::string total;
  rocksdb::Status s = db->Get(ro, meta_key(kRemovedMeta), &total);
  if (s.IsNotFound()) return out;
  if (!s.ok()) return rocks_error(path, "read the removed count", s);
  if (total.size() == 8) out.removed = get_be64(total.data());
  const std::string prefix(1, kFloorPrefix);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  for (it->Seek(prefix); it->Valid() && starts_with(it->key(), prefix); it->Next()) {
    if (it->value().size() != 8) continue;
    out.first_seq[std::string(it->key().data() + 1, it->key().size() - 1)] = get_be64(it->value().data());
  }
  if (!it->status().ok()) return rocks_error(path, "read first sequences", it->status());
  return out;
}

}  // namespace keel::internal
