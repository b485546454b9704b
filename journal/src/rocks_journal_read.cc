// RocksJournal's reads: scans by LSN and by owner, the owner list, the
// counters and the statistics. Any thread; a read-only handle first catches
// up with the writer.
#include <rocksdb/iterator.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "record_format.h"
#include "rocks_journal.h"
#include "rocks_keys.h"
#include "rocks_owner_index.h"
#include "rocks_removal.h"

namespace keel::internal {

Result<Lsn> RocksJournal::read_last_lsn(const rocksdb::ReadOptions& ro) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  it->SeekForPrev(std::string(1, kLsnPrefix) + std::string(kMaxBe64));
  if (!it->status().ok()) return error("read last lsn", it->status());
  if (!it->Valid() || !starts_with(it->key(), std::string_view(&kLsnPrefix, 1))) return kNoLsn;
  return get_be64(it->key().data() + 1);
}

Result<Lsn> RocksJournal::last_lsn() {
  std::shared_lock lock(db_mu_);
  if (db_ == nullptr) return unusable();
  KEEL_RETURN_IF_ERROR(catch_up());
  return read_last_lsn();
}

Status RocksJournal::get_record(Lsn lsn, Record* r, Status* decode, const rocksdb::ReadOptions& ro) {
  std::string value;
  rocksdb::Status s = db_->Get(ro, lsn_key(lsn), &value);
  r->lsn = lsn;
  if (s.IsNotFound()) {
    *decode = Status::corruption("lsn " + std::to_string(lsn) + ": missing record");
    return Status::ok();
  }
  if (!s.ok()) return error("read lsn " + std::to_string(lsn), s);
  *decode = decode_record_value(value, r);
  return Status::ok();
}

Status RocksJournal::read_lsn(Lsn first, Lsn last, const RawRecordFn& fn) {
  std::shared_lock lock(db_mu_);
  if (db_ == nullptr) return unusable();
  KEEL_RETURN_IF_ERROR(catch_up());
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string end = lsn_key(last);
  Record r;  // refilled for every record: a scan allocates only for a larger one
  for (it->Seek(lsn_key(first)); it->Valid(); it->Next()) {
    rocksdb::Slice key = it->key();
    if (key.size() != 9 || key[0] != kLsnPrefix || key.compare(end) > 0) break;
    r.lsn = get_be64(key.data() + 1);
    Status decode = decode_record_value(std::string_view(it->value().data(), it->value().size()), &r);
    if (!decode.is_ok()) {  // nothing of it is meaningful but its LSN
      const Lsn lsn = r.lsn;
      r = Record();
      r.lsn = lsn;
    }
    if (!fn(r, decode)) return Status::ok();
  }
  return it->status().ok() ? Status::ok() : error("scan by lsn", it->status());
}

Status RocksJournal::read_owner(std::string_view owner, std::uint64_t from_seq,
                                const RawRecordFn& fn) {
  std::shared_lock lock(db_mu_);
  if (db_ == nullptr) return unusable();
  KEEL_RETURN_IF_ERROR(catch_up());
  // The index entries are read ahead and their records fetched with one
  // MultiGet per chunk (sorted keys, one pass over the table files).
  constexpr std::size_t kChunk = 256;
  std::vector<std::string> keys;
  std::vector<Status> index_errors;  // per key: a damaged index entry
  std::vector<rocksdb::PinnableSlice> values(kChunk);
  std::vector<rocksdb::Status> statuses(kChunk);
  std::vector<rocksdb::Slice> slices;
  keys.reserve(kChunk);
  index_errors.reserve(kChunk);
  slices.reserve(kChunk);
  // Returns false once fn stopped the scan.
  auto flush = [&]() -> Result<bool> {
    if (keys.empty()) return true;
    slices.clear();
    for (const std::string& k : keys) slices.emplace_back(k);
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), slices.size(), slices.data(),
                  values.data(), statuses.data(), /*sorted_input=*/true);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      Record r;
      Status decode = index_errors[i];
      if (decode.is_ok()) {
        r.lsn = get_be64(keys[i].data() + 1);
        if (statuses[i].IsNotFound()) {
          decode = Status::corruption("lsn " + std::to_string(r.lsn) + ": missing record");
        } else if (!statuses[i].ok()) {
          return error("read lsn " + std::to_string(r.lsn), statuses[i]);
        } else {
          decode = decode_record_value(std::string_view(values[i].data(), values[i].size()), &r);
        }
      } else {
        r.owner = owner;
      }
      values[i].Reset();
      if (!fn(r, decode)) return false;
    }
    keys.clear();
    index_errors.clear();
    return true;
  };
  Status stopped;  // an error of flush()
  bool more = true;
  rocksdb::Status read = for_each_indexed(db_.get(), rocksdb::ReadOptions(), owner, from_seq,
                                          [&](std::uint64_t, Lsn lsn, const Status& entry) {
    keys.push_back(lsn_key(lsn));
    index_errors.push_back(entry);
    if (keys.size() < kChunk) return true;
    Result<bool> flushed = flush();
    if (!flushed.is_ok()) stopped = flushed.status();
    more = flushed.is_ok() && *flushed;
    return more;
  });
  KEEL_RETURN_IF_ERROR(stopped);
  if (!read.ok()) return error("scan owner " + std::string(owner), read);
  if (!more) return Status::ok();
  return flush().status();
}

Result<bool> RocksJournal::read_latest_snapshot(std::string_view owner, const RawRecordFn& fn) {
  std::shared_lock lock(db_mu_);
  if (db_ == nullptr) return unusable();
  KEEL_RETURN_IF_ERROR(catch_up());
  std::string indexed;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_key(kSnapshotIndexMeta), &indexed);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return error("read header", s);
  const std::string prefix = snapshot_prefix(owner);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(prefix + std::string(kMaxBe64));
  if (!it->status().ok()) return error("read the snapshot index of " + std::string(owner), it->status());
  if (!it->Valid() || !starts_with(it->key(), prefix)) return true;  // no snapshot
  Record r;
  Status decode;
  if (it->value().size() != 8) {
    r.owner = owner;
    decode = Status::corruption("owner " + std::string(owner) + ": damaged snapshot index entry");
  } else {
    KEEL_RETURN_IF_ERROR(get_record(get_be64(it->value().data()), &r, &decode));
    if (decode.is_ok() && (r.owner != owner || r.kind != RecordKind::kSnapshot)) {
      decode = Status::corruption("lsn " + std::to_string(r.lsn) + ": the snapshot index of " +
                                  std::string(owner) + " names a record that is not its snapshot");
    }
  }
  fn(r, decode);
  return true;
}

Status RocksJournal::read_owner_backwards(std::string_view owner, const RawRecordFn& fn) {
  std::shared_lock lock(db_mu_);
  if (db_ == nullptr) return unusable();
  KEEL_RETURN_IF_ERROR(catch_up());
  Status failure;
  rocksdb::Status read = for_each_indexed_backwards(db_.get(), rocksdb::ReadOptions(), owner,
                                                    [&](std::uint64_t, Lsn lsn, const Status& entry) {
    Record r;
    Status decode = entry;
    if (decode.is_ok()) {
      failure = get_record(lsn, &r, &decode);
      if (!failure.is_ok()) return false;
    } else {
      r.owner = owner;
    }
    return fn(r, decode);
  });
  KEEL_RETURN_IF_ERROR(failure);
  return read.ok() ? Status::ok() : error("scan owner " + std::string(owner), read);
}

Status RocksJournal::for_each_owner(
    const rocksdb::ReadOptions& ro, const std::function<Status(std::string_view, std::uint64_t, Lsn)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  OwnerRun run;
  it->Seek(std::string(1, kOwnerPrefix));
  while (it->Valid() && it->key().size() > 0 && it->key()[0] == kOwnerPrefix) {
    std::string_view key(it->key().data(), it->key().size());
    std::size_t nul = key.find('\0', 1);
    if (nul == std::string_view::npos) return Status::corruption("damaged owner index key");
    std::string owner(key.substr(1, nul - 1));
    // Jump to the owner's last entry, then past all of its entries.
    it->SeekForPrev(owner_prefix(owner) + std::string(kMaxBe64));
    if (!it->Valid() || it->key().size() != owner.size() + 10) {
      return Status::corruption("owner " + owner + ": damaged index entry");
    }
    read_run(*it, owner, &run);
    KEEL_RETURN_IF_ERROR(run.status);
    KEEL_RETURN_IF_ERROR(fn(owner, run.last_seq(), run.lsns.back()));
    it->Seek(std::string(1, kOwnerPrefix) + owner + '\x01');
  }
  return it->status().ok() ? Status::ok() : error("list owners", it->status());
}

Result<std::vector<OwnerInfo>> RocksJournal::owners() {
  std::shared_lock lock(db_mu_);
  if (db_ == nullptr) return unusable();
  KEEL_RETURN_IF_ERROR(catch_up());
  ReadView view(db_.get(), !options().read_only);
  const rocksdb::ReadOptions& ro = view.options();
  KEEL_ASSIGN_OR_RETURN(Lsn last, read_last_lsn(ro));
  KEEL_ASSIGN_OR_RETURN(const int version, read_version(ro));
  KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts, read_counts(ro, last, version));
  std::vector<OwnerInfo> out;
  if (!counts) {
    KEEL_RETURN_IF_ERROR(for_each_owner(ro, [&](std::string_view owner, std::uint64_t seq, Lsn lsn) {
      Record newest;
      KEEL_RETURN_IF_ERROR(summary_from_index(ro, owner, seq, lsn, &newest));
      out.push_back(owner_info_of(newest));
      return Status::ok();
    }));
    return out;
  }
  KEEL_ASSIGN_OR_RETURN(Removals removals, read_removals(ro));
  const std::string prefix(1, kOwnerSummaryPrefix);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(prefix); it->Valid() && starts_with(it->key(), prefix); it->Next()) {
    OwnerInfo o;
    o.owner.assign(it->key().data() + 1, it->key().size() - 1);
    Status decoded = decode_owner_summary(std::string_view(it->value().data(), it->value().size()), &o);
    if (!decoded.is_ok()) return Status::corruption("rocksdb journal " + path() + ": " + std::string(decoded.message()));
    auto floor = removals.first_seq.find(o.owner);
    if (floor != removals.first_seq.end() && floor->second <= o.last_seq) {
      o.first_seq = floor->second;
      o.records = o.last_seq - o.first_seq + 1;
    }
    out.push_back(std::move(o));
  }
  if (!it->status().ok()) return error("list owners", it->status());
  std::map<std::string, OwnerInfo> newer;
  KEEL_RETURN_IF_ERROR(read_after(ro, &*counts, &newer));
  if (newer.empty()) return out;
  return overlay_newest(std::move(out), newer);
}

Status RocksJournal::summary_from_index(const rocksdb::ReadOptions& ro, std::string_view owner, std::uint64_t seq,
                                        Lsn lsn, Record* newest) {
  Status decode;
  KEEL_RETURN_IF_ERROR(get_record(lsn, newest, &decode, ro));
  if (!decode.is_ok()) *newest = Record{};  // verify() reports it; the summary keeps what the index says
  newest->owner = owner;
  newest->seq = seq;
  newest->lsn = lsn;
  return Status::ok();
}

Result<std::optional<JournalCounts>> RocksJournal::read_counts(const rocksdb::ReadOptions& ro, Lsn last,
                                                              int version) {
  std::string value;
  rocksdb::Status s = db_->Get(ro, meta_key(kCountsMeta), &value);
  if (s.IsNotFound()) return std::optional<JournalCounts>();
  if (!s.ok()) return error("read counters", s);
  JournalCounts counts;
  if (!decode_counts(value, &counts).is_ok() || counts.as_of > last ||
      (counts.as_of != last && version < kLazySummariesVersion)) {
    return std::optional<JournalCounts>();  // counted another way; a writer's open rewrites them
  }
  return std::optional(counts);
}

Result<int> RocksJournal::read_version(const rocksdb::ReadOptions& ro) {
  std::string version;
  rocksdb::Status s = db_->Get(ro, meta_key("format_version"), &version);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return error("read header", s);
  return std::atoi(version.c_str());
}

Status RocksJournal::read_after(const rocksdb::ReadOptions& ro, JournalCounts* counts,
                                std::map<std::string, OwnerInfo>* newest) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  Record r;
  for (it->Seek(lsn_key(counts->as_of + 1)); it->Valid(); it->Next()) {
    rocksdb::Slice key = it->key();
    if (key.size() != 9 || key[0] != kLsnPrefix) break;
    r.lsn = get_be64(key.data() + 1);
    Status decode = decode_record_value(std::string_view(it->value().data(), it->value().size()), &r);
    if (!decode.is_ok()) continue;  // verify() reports it
    counts->add(r.kind, r.seq, r.lsn);
    if (newest != nullptr) (*newest)[r.owner] = owner_info_of(r);
  }
  return it->status().ok() ? Status::ok() : error("read the records after the counters", it->status());
}

Result<JournalCounts> RocksJournal::count_records(
    const rocksdb::ReadOptions& ro, Lsn last,
    const std::function<Status(std::string_view, std::uint64_t, Lsn)>& each_owner) {
  JournalCounts counts;
  counts.as_of = last;
  KEEL_RETURN_IF_ERROR(for_each_owner(ro, [&](std::string_view owner, std::uint64_t seq, Lsn lsn) {
    ++counts.owners;
    return each_owner ? each_owner(owner, seq, lsn) : Status::ok();
  }));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(lsn_key(0)); it->Valid(); it->Next()) {
    rocksdb::Slice key = it->key();
    if (key.size() != 9 || key[0] != kLsnPrefix) break;
    // The kind is the value's third byte (encode_record_value).
    const std::size_t k = it->value().size() > 2 ? static_cast<std::uint8_t>(it->value()[2]) : 0;
    if (k < counts.by_kind.size()) ++counts.by_kind[k];
  }
  if (!it->status().ok()) return error("count records", it->status());
  return counts;
}

Status RocksJournal::read_end(const rocksdb::ReadOptions& ro, bool last, Lsn* lsn, std::optional<WallTime>* time) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  if (last) {
    it->SeekForPrev(std::string(1, kLsnPrefix) + std::string(kMaxBe64));
  } else {
    it->Seek(lsn_key(0));
  }
  if (!it->status().ok()) return error("read the ends of the journal", it->status());
  if (!it->Valid() || it->key().size() != 9 || it->key()[0] != kLsnPrefix) return Status::ok();
  Record r;
  r.lsn = get_be64(it->key().data() + 1);
  *lsn = r.lsn;
  if (decode_record_value(std::string_view(it->value().data(), it->value().size()), &r).is_ok()) *time = r.time;
  return Status::ok();
}

Result<JournalStats> RocksJournal::read_stats() {
  std::shared_lock lock(db_mu_);
  if (db_ == nullptr) return unusable();
  KEEL_RETURN_IF_ERROR(catch_up());
  ReadView view(db_.get(), !options().read_only);
  JournalStats st;
  st.backend = "rocksdb";
  st.path = path();
  KEEL_ASSIGN_OR_RETURN(const int version, read_version(view.options()));
  st.format_version = static_cast<std::uint16_t>(version);
  KEEL_RETURN_IF_ERROR(read_end(view.options(), false, &st.first_lsn, &st.first_time));
  KEEL_RETURN_IF_ERROR(read_end(view.options(), true, &st.last_lsn, &st.last_time));
  KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts, read_counts(view.options(), st.last_lsn, version));
  if (counts) {
    KEEL_RETURN_IF_ERROR(read_after(view.options(), &*counts));
  } else {
    KEEL_ASSIGN_OR_RETURN(counts, count_records(view.options(), st.last_lsn));
  }
  set_counts(*counts, &st);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path(), ec)) {
    if (entry.is_regular_file(ec)) st.size_bytes += entry.file_size(ec);
  }
  return st;
}

}  // namespace keel::internal
