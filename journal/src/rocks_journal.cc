// RocksJournal: a journal in a RocksDB directory. One WriteBatch (with a
// synced WAL write under kSync) per commit group. A read-only handle is a
// RocksDB secondary instance that catches up with the live writer before each
// read. Key layout: docs/journal-format.md, "RocksDB".
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>
#include <sys/stat.h>

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
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "journal_base.h"
#include "journal_internal.h"
#include "journal_probe.h"
#include "journal_summary.h"
#include "record_format.h"
#include "rocks_journal.h"
#include "rocks_keys.h"
#include "rocks_owner_index.h"
#include "rocks_removal.h"

namespace keel::internal {
namespace {

// The memtable insert hint's key groups: one group per owner in each
// owner-keyed index ('O', 'S': the prefix up to the owner's NUL), and one
// per other key tag. Inserts within a group land next to the group's last
// insert, so with many owners interleaved in one WriteBatch the skip list
// search starts from the right place instead of from the top. LSN keys take
// no hint: removals delete old ones far from the newest, and this RocksDB
// asserts (FindSpliceForLevel) on such a hint.
class InsertHintGroups final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "keel.InsertHintGroups"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    if (key.size() > 1 && (key[0] == kOwnerPrefix || key[0] == kSnapshotPrefix)) {
      const void* nul = std::memchr(key.data() + 1, '\0', key.size() - 1);
      if (nul != nullptr) return rocksdb::Slice(key.data(), static_cast<const char*>(nul) - key.data() + 1);
    }
    return rocksdb::Slice(key.data(), 1);
  }
  bool InDomain(const rocksdb::Slice& key) const override { return !key.empty() && key[0] != kLsnPrefix; }
};


// A clean close of a writer whose memtables hold more than this flushes them
// first, so that the next open (a reader's above all) does not replay the
// write-ahead log into a memtable.
constexpr std::uint64_t kFlushOnCloseBytes = 1u << 20;

}  // namespace

Result<std::unique_ptr<Journal>> RocksJournal::open(const std::string& dir,
                                                    const JournalOptions& options,
                                                    const BackendHooks& hooks) {
  std::error_code ec;
  auto status = std::filesystem::status(dir, ec);
  bool exists = std::filesystem::exists(status);
  if (exists && !std::filesystem::is_directory(status)) {
    return Status::invalid_argument("rocksdb journal " + dir + " is not a directory");
  }
  if (!exists && (options.read_only || !options.create_if_missing)) {
    return Status::not_found("rocksdb journal " + dir + " does not exist");
  }
  if (exists && !std::filesystem::exists(dir + "/CURRENT")) {
    if (!std::filesystem::is_empty(dir, ec)) {
      return Status::corruption("rocksdb journal " + dir + ": not a Keel journal (no RocksDB CURRENT file)");
    }
    // Only a writer that may create a journal makes one in an empty directory.
    if (options.read_only || !options.create_if_missing) {
      return Status::corruption("rocksdb journal " + dir + ": not a Keel journal (an empty directory)");
    }
  } else if (exists && !options.read_only) {
    // Before the writable open, which writes to the directory (a new
    // MANIFEST, OPTIONS, LOG and WAL): a refused directory is left as it was.
    // A read-only open is a secondary instance, which writes only to its
    // scratch directory, and checks the header itself.
    KEEL_RETURN_IF_ERROR(probe_rocks_journal(dir, hooks.rocks_env, /*allow_empty=*/options.create_if_missing));
  }
  std::unique_ptr<RocksJournal> j(new RocksJournal(dir, options));
  j->env_ = hooks.rocks_env;
  KEEL_RETURN_IF_ERROR(j->open_db());
  KEEL_RETURN_IF_ERROR(j->check_or_write_header());
  if (!options.read_only) {
    KEEL_RETURN_IF_ERROR(j->build_summaries());
    j->start_writer(j.get(), j->counts_.as_of);
  }
  return std::unique_ptr<Journal>(std::move(j));
}

Status RocksJournal::open_db() {
  rocksdb::Options o;
  o.create_if_missing = options().create_if_missing;
  o.keep_log_file_num = 4;
  o.memtable_insert_with_hint_prefix_extractor = std::make_shared<InsertHintGroups>();
  // Removals delete the LSN keys of an owner's records one by one: a table
  // file with 64 deletions in any 128 keys is compacted soon, so that the
  // space comes back without waiting for the level to fill.
  o.table_properties_collector_factories.push_back(rocksdb::NewCompactOnDeletionCollectorFactory(128, 64));
  if (env_ != nullptr) o.env = env_;
  write_options_.sync = options().durability == Durability::kSync;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (options().read_only) {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/keel-journal-reader-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return Status::io_error("rocksdb journal " + path() + ": cannot create a scratch directory");
    }
    secondary_dir_ = tmpl;
    o.max_open_files = -1;  // a secondary instance keeps every table open
    o.max_file_opening_threads = 1;
    s = rocksdb::DB::OpenAsSecondary(o, path(), secondary_dir_, &db);
  } else {
    s = rocksdb::DB::Open(o, path(), &db);
  }
  if (!s.ok()) {
    if (!options().read_only && s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return Status::failed_precondition("rocksdb journal " + path() +
                                         " is already open for writing by another handle or "
                                         "process (" + s.ToString() + ")");
    }
    return error("open", s);
  }
  db_.reset(db);
  return Status::ok();
}

RocksJournal::~RocksJournal() {
  stop_writer();
  // A failed group must not reappear when the journal is next opened.
  if (needs_recovery_) recover().ignore();  // nobody is left to report it to
  if (db_ != nullptr && !options().read_only && !pending_.empty()) {
    // Readers would count the records after the last checkpoint anyway;
    // one at close spares them that.
    rocksdb::WriteBatch batch;
    put_checkpoint(counts_, pending_.owners(), &batch);
    db_->Write(write_options_, &batch).PermitUncheckedError();
  }
  std::uint64_t memtables = 0;
  if (db_ != nullptr && !options().read_only &&
      db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &memtables) &&
      memtables > kFlushOnCloseBytes) {
    db_->Flush(rocksdb::FlushOptions()).PermitUncheckedError();  // an optimization; the WAL has it all
  }
  if (db_ != nullptr) {
    db_->Close().PermitUncheckedError();  // nothing left to report it to
    db_.reset();
  }
  if (!secondary_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(secondary_dir_, ec);
  }
}

Status RocksJournal::unusable() const {
  return Status::io_error("rocksdb journal " + path() +
                          ": unusable after a failed write (reopen failed); retried at the next append");
}

Status RocksJournal::recover() {
  std::unique_lock lock(db_mu_);
  if (db_ != nullptr) {
    db_->Close().PermitUncheckedError();  // it already failed; the reopen reports
    db_.reset();
  }
  KEEL_RETURN_IF_ERROR(open_db());
  // The failed groups' keys go, and their owners' summaries and the counters
  // go back to what was committed, in one batch, which is a checkpoint (a
  // failed group may have been one).
  rocksdb::WriteBatch cleanup = failed_group_;
  Status restored = [&]() -> Status {
    for (const auto& [owner, seq] : failed_owners_) {
      if (pending_.owners().count(owner) != 0) continue;  // in the checkpoint below
      if (seq == 0) {
        cleanup.Delete(owner_summary_key(owner));
        continue;
      }
      // The failed groups' entries are deleted in `cleanup`, not yet here.
      rocksdb::Status got;
      KEEL_ASSIGN_OR_RETURN(std::optional<Lsn> lsn, indexed_lsn(db_.get(), rocksdb::ReadOptions(), owner, seq, &got));
      if (!got.ok()) return error("read the index of " + owner, got);
      if (!lsn) return Status::corruption("owner " + owner + ": damaged index entry");
      Record newest;
      KEEL_RETURN_IF_ERROR(summary_from_index(rocksdb::ReadOptions(), owner, seq, *lsn, &newest));
      cleanup.Put(owner_summary_key(owner), encode_owner_summary(owner_info_of(newest)));
    }
    put_checkpoint(counts_, pending_.owners(), &cleanup);
    rocksdb::WriteOptions sync;
    sync.sync = true;
    rocksdb::Status s = db_->Write(sync, &cleanup);
    return s.ok() ? Status::ok() : error("clean up after a failed write", s);
  }();
  if (!restored.is_ok()) {
    db_->Close().PermitUncheckedError();  // `restored` is the error to report
    db_.reset();
    return restored;
  }
  failed_group_.Clear();
  failed_owners_.clear();
  pending_.clear();
  needs_recovery_ = false;
  return Status::ok();
}

Status RocksJournal::error(std::string_view what, const rocksdb::Status& s) const {
  std::string msg = "rocksdb journal " + path() + ": " + std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::corruption(msg);
  if (s.IsNotFound()) return Status::not_found(msg);
  return Status::io_error(msg);
}

Status RocksJournal::check_or_write_header() {
  KEEL_RETURN_IF_ERROR(catch_up());
  std::string magic, version, backend;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_key("magic"), &magic);
  if (s.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid() || options().read_only) {
      return Status::corruption("rocksdb journal " + path() + ": not a Keel journal (no header)");
    }
    rocksdb::WriteBatch batch;
    batch.Put(meta_key("magic"), std::string(kJournalMagic));
    batch.Put(meta_key("format_version"), std::to_string(kJournalFormatVersion));
    batch.Put(meta_key("backend"), "rocksdb");
    batch.Put(meta_key(kSnapshotIndexMeta), "1");
    batch.Put(meta_key(kCountsMeta), encode_counts(JournalCounts{}));
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = db_->Write(sync, &batch);
    if (!s.ok()) return error("write header", s);
    return Status::ok();
  }
  if (!s.ok()) return error("read header", s);
  s = db_->Get(rocksdb::ReadOptions(), meta_key("format_version"), &version);
  if (!s.ok() && !s.IsNotFound()) return error("read header", s);
  s = db_->Get(rocksdb::ReadOptions(), meta_key("backend"), &backend);
  if (!s.ok() && !s.IsNotFound()) return error("read header", s);
  KEEL_RETURN_IF_ERROR(check_header_entries("rocksdb journal " + path(), magic, version, backend, "rocksdb"));
  if (options().read_only) return Status::ok();
  opened_version_ = std::atoi(version.c_str());
  if (version != std::to_string(kJournalFormatVersion)) {
    // An older format: its entries read as they are (one owner-index entry
    // per record is a run of one), and from now on the writer adds entries
    // of this format, which the header must announce to older readers.
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = db_->Put(sync, meta_key("format_version"), std::to_string(kJournalFormatVersion));
    if (!s.ok()) return error("upgrade the header", s);
  }
  return build_snapshot_index();
}

Status RocksJournal::build_snapshot_index() {
  std::string done;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_key(kSnapshotIndexMeta), &done);
  if (s.ok()) return Status::ok();
  if (!s.IsNotFound()) return error("read header", s);
  rocksdb::WriteBatch batch;
  Status failure;
  KEEL_RETURN_IF_ERROR(read_lsn(1, std::numeric_limits<Lsn>::max(), [&](const Record& r, const Status& read) {
    if (!read.is_ok()) return true;  // verify() reports it; the index skips it
    if (r.kind == RecordKind::kSnapshot) {
      std::string lsn_value;
      put_be64(&lsn_value, r.lsn);
      batch.Put(snapshot_key(r.owner, r.seq), lsn_value);
    }
    return true;
  }));
  batch.Put(meta_key(kSnapshotIndexMeta), "1");
  rocksdb::WriteOptions sync;
  sync.sync = true;
  s = db_->Write(sync, &batch);
  return s.ok() ? Status::ok() : error("write the snapshot index", s);
}

Status RocksJournal::catch_up() {
  if (secondary_dir_.empty()) return Status::ok();
  rocksdb::Status s = db_->TryCatchUpWithPrimary();
  return s.ok() ? Status::ok() : error("catch up with the writer", s);
}

Status RocksJournal::build_summaries() {
  KEEL_ASSIGN_OR_RETURN(Lsn last, read_last_lsn());
  KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts,
                        read_counts(rocksdb::ReadOptions(), last, opened_version_));
  if (counts) {
    // The records after the checkpoint go into the next one.
    std::map<std::string, OwnerInfo> newer;
    KEEL_RETURN_IF_ERROR(read_after(rocksdb::ReadOptions(), &*counts, &newer));
    for (const auto& [owner, o] : newer) pending_.add(o);
    counts_ = *counts;
    return Status::ok();
  }
  // Owners never disappear, so rewriting every owner's summary replaces any
  // stale one.
  rocksdb::WriteBatch batch;
  KEEL_ASSIGN_OR_RETURN(JournalCounts fresh,
                        count_records(rocksdb::ReadOptions(), last, [&](std::string_view owner, std::uint64_t seq, Lsn lsn) {
                          Record newest;
                          KEEL_RETURN_IF_ERROR(summary_from_index(rocksdb::ReadOptions(), owner, seq, lsn, &newest));
                          batch.Put(owner_summary_key(owner), encode_owner_summary(owner_info_of(newest)));
                          return Status::ok();
                        }));
  batch.Put(meta_key(kCountsMeta), encode_counts(fresh));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  rocksdb::Status s = db_->Write(sync, &batch);
  if (!s.ok()) return error("write the counters and owner summaries", s);
  counts_ = fresh;
  return Status::ok();
}

Result<std::uint64_t> RocksJournal::load_last_seq(std::string_view owner) {
  if (needs_recovery_) KEEL_RETURN_IF_ERROR(recover());
  rocksdb::Status failure;
  KEEL_ASSIGN_OR_RETURN(auto last, last_indexed(db_.get(), rocksdb::ReadOptions(), owner, &failure));
  if (!failure.ok()) return error("read last seq of " + std::string(owner), failure);
  return last ? last->first : std::uint64_t{0};
}

void RocksJournal::stage(StagedRecord* r) const {
  stage_record_value(r->record, &r->value);
  r->record.payload.clear();  // in the value now; its storage stays for reuse
}

Status RocksJournal::write_group(const std::vector<StagedRecord*>& records) {
  if (needs_recovery_) KEEL_RETURN_IF_ERROR(recover());
  // One owner-index entry per owner in the group: the run of its records.
  struct Run {
    const Record* first;
    const Record* newest;
    std::string lsns;  // append_owner_run
  };
  std::vector<Run> runs;
  std::unordered_map<std::string_view, std::size_t> run_of;  // owner -> index in runs
  rocksdb::WriteBatch batch;
  for (StagedRecord* staged : records) {
    const Record& r = staged->record;
    finish_record_value(r, &staged->value);
    batch.Put(lsn_key(r.lsn), staged->value);
    auto [it, inserted] = run_of.emplace(r.owner, runs.size());
    if (inserted) runs.push_back(Run{&r, &r, {}});
    Run& run = runs[it->second];
    append_owner_run(&run.lsns, run.newest->lsn, r.lsn);
    run.newest = &r;
    if (r.kind == RecordKind::kSnapshot) {
      std::string lsn_value;
      put_be64(&lsn_value, r.lsn);
      batch.Put(snapshot_key(r.owner, r.seq), lsn_value);
    }
  }
  for (const Run& run : runs) batch.Put(owner_key(run.first->owner, run.first->seq), run.lsns);
  JournalCounts counts = counts_;
  counts.add(records);
  const bool checkpoint = pending_.due_with(records.size());
  if (checkpoint) {
    std::unordered_map<std::string, OwnerInfo> owners = pending_.owners();
    for (const Run& run : runs) owners[run.first->owner] = owner_info_of(*run.newest);
    put_checkpoint(counts, owners, &batch);
  }
  rocksdb::Status s = db_->Write(write_options_, &batch);
  if (s.ok()) {
    counts_ = counts;
    pending_.committed(records, checkpoint);
    return Status::ok();
  }
  Status failed = Status::io_error("rocksdb journal " + path() + ": commit of lsn " +
                                   std::to_string(records.front()->record.lsn) + ".." +
                                   std::to_string(records.back()->record.lsn) + " failed: " + s.ToString());
  // A failed WAL write stops RocksDB's writes until it is reopened, which
  // the next write does first (by then the fault may have cleared).
  for (const StagedRecord* staged : records) {
    const Record& r = staged->record;
    failed_group_.Delete(lsn_key(r.lsn));
    if (r.kind == RecordKind::kSnapshot) failed_group_.Delete(snapshot_key(r.owner, r.seq));
  }
  for (const Run& run : runs) {
    failed_group_.Delete(owner_key(run.first->owner, run.first->seq));
    // The owner's first record in the group has its lowest sequence.
    auto [it, inserted] = failed_owners_.try_emplace(run.first->owner, run.first->seq - 1);
    if (!inserted) it->second = std::min(it->second, run.first->seq - 1);
  }
  needs_recovery_ = true;
  return failed;
}

void RocksJournal::put_checkpoint(const JournalCounts& counts,
                                  const std::unordered_map<std::string, OwnerInfo>& owners,
                                  rocksdb::WriteBatch* batch) {
  for (const auto& [owner, o] : owners) batch->Put(owner_summary_key(owner), encode_owner_summary(o));
  batch->Put(meta_key(kCountsMeta), encode_counts(counts));
}

Result<std::uint64_t> RocksJournal::compact_on_writer(std::string_view owner,
                                                      std::uint64_t below_seq) {
  if (needs_recovery_) KEEL_RETURN_IF_ERROR(recover());
  rocksdb::WriteBatch batch;
  std::uint64_t compacted = 0;
  Status failure;
  rocksdb::Status read = for_each_indexed(db_.get(), rocksdb::ReadOptions(), owner, 0,
                                          [&](std::uint64_t seq, Lsn lsn, const Status& entry) {
    if (seq >= below_seq) return false;
    Record r;
    Status decode = entry;
    if (decode.is_ok()) failure = get_record(lsn, &r, &decode);
    if (failure.is_ok()) failure = decode;
    if (failure.is_ok() && !r.compacted) failure = check_record(r);
    if (!failure.is_ok()) return false;
    if (r.compacted) return true;
    r.payload.clear();
    r.compacted = true;
    r.crc = record_checksum(r);
    batch.Put(lsn_key(r.lsn), encode_record_value(r));
    ++compacted;
    return true;
  });
  if (!read.ok()) return error("compact " + std::string(owner), read);
  KEEL_RETURN_IF_ERROR(failure);
  if (compacted == 0) return compacted;
  rocksdb::Status s = db_->Write(write_options_, &batch);
  if (!s.ok()) {
    needs_recovery_ = true;  // as in write_group; compaction may simply be retried
    return error("compact " + std::string(owner), s);
  }
  return compacted;
}

Result<std::uint64_t> RocksJournal::remove_on_writer(std::string_view owner, std::uint64_t below_seq,
                                                     bool whole) {
  if (needs_recovery_) KEEL_RETURN_IF_ERROR(recover());
  KEEL_ASSIGN_OR_RETURN(std::uint64_t last_seq, load_last_seq(owner));
  if (last_seq == 0) return std::uint64_t{0};
  if (whole) {
    rocksdb::Status got;
    KEEL_ASSIGN_OR_RETURN(auto newest, last_indexed(db_.get(), rocksdb::ReadOptions(), owner, &got));
    if (!got.ok()) return error("read the newest record of " + std::string(owner), got);
    KEEL_ASSIGN_OR_RETURN(Lsn last, read_last_lsn());
    if (newest && newest->second == last) {
      return Status::failed_precondition("rocksdb journal " + path() + ": owner " + std::string(owner) +
                                         " holds the newest record (lsn " + std::to_string(last) +
                                         "), which stays until a later append");
    }
  }
  // Records with seq < below go; the newest always stays unless `whole`.
  const std::uint64_t below = whole ? last_seq + 1 : std::min(below_seq, last_seq);
  RocksRemoval removal;
  KEEL_RETURN_IF_ERROR(plan_removal(db_.get(), path(), owner, below, whole, &removal));
  if (removal.removed == 0) return std::uint64_t{0};
  // A removal's counts are a checkpoint: the pending summaries go with
  // them, but a removed owner's (whose summary plan_removal deleted).
  JournalCounts counts = counts_;
  counts.remove(removal.by_kind, whole);
  std::unordered_map<std::string, OwnerInfo> owners = pending_.owners();
  if (whole) owners.erase(std::string(owner));
  put_checkpoint(counts, owners, &removal.batch);
  // Not synced by itself (see Journal::truncate): the WAL is synced in
  // order, so the next synced write makes the removal durable too.
  rocksdb::WriteOptions unsynced = write_options_;
  unsynced.sync = false;
  rocksdb::Status s = db_->Write(unsynced, &removal.batch);
  if (!s.ok()) {
    needs_recovery_ = true;  // as in write_group; the removal may simply be retried
    return error("remove records of " + std::string(owner), s);
  }
  counts_ = counts;
  pending_.clear();
  return removal.removed;
}

Status RocksJournal::vacuum_on_writer() {
  if (needs_recovery_) KEEL_RETURN_IF_ERROR(recover());
  rocksdb::CompactRangeOptions o;
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  rocksdb::Status s = db_->CompactRange(o, nullptr, nullptr);
  return s.ok() ? Status::ok() : error("compact the whole key range", s);
}

Result<Removals> RocksJournal::read_removals() {
  std::shared_lock lock(db_mu_);
  if (db_ == nullptr) return unusable();
  KEEL_RETURN_IF_ERROR(catch_up());
  ReadView view(db_.get(), !options().read_only);
  return read_removals(view.options());
}

Result<Removals> RocksJournal::read_removals(const rocksdb::ReadOptions& ro) {
  return internal::read_removals(db_.get(), path(), ro);
}

Result<std::unique_ptr<Journal>> open_rocks_journal(const std::string& dir,
                                                    const JournalOptions& options,
                                                    const BackendHooks& hooks) {
  return RocksJournal::open(dir, options, hooks);
}

}  // namespace keel::internal

namespace keel {

Result<std::unique_ptr<Journal>> open_rocks_journal(const std::string& dir,
                                                    const JournalOptions& options) {
  return internal::open_rocks_journal(dir, options, internal::BackendHooks{});
}

}  // namespace keel
