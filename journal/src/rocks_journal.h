// rocks_journal.h: RocksJournal, a journal in a RocksDB directory (docs/
// journal-format.md, "RocksDB"). rocks_journal.cc opens, writes and
// recovers it; rocks_journal_read.cc holds its scans and summaries;
// rocks_removal.cc what truncate and remove_owner delete.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "journal_base.h"
#include "journal_internal.h"
#include "journal_summary.h"

namespace keel::internal {

// Reads that see one state of the journal. On the writer's handle, where
// commits land meanwhile, they share a snapshot; a read-only handle changes
// only when it catches up with the writer, so plain reads suffice there.
class ReadView {
 public:
  ReadView(rocksdb::DB* db, bool writable) {
    if (writable) {
      snapshot_ = std::make_unique<rocksdb::ManagedSnapshot>(db);
      options_.snapshot = snapshot_->snapshot();
    }
  }
  const rocksdb::ReadOptions& options() const { return options_; }

 private:
  std::unique_ptr<rocksdb::ManagedSnapshot> snapshot_;
  rocksdb::ReadOptions options_;
};

// Thread-safe (see Journal). rocksdb::DB is thread-safe; writes happen only
// on the journal writer thread. After a failed write RocksDB refuses further
// writes until it is reopened, so before its next write the writer thread
// reopens db_ (under db_mu_ held exclusively; reads hold it shared).
class RocksJournal final : public JournalBase, private CommitTarget {
 public:
  static Result<std::unique_ptr<Journal>> open(const std::string& dir, const JournalOptions& options,
                                               const BackendHooks& hooks);
  ~RocksJournal() override;

  Result<std::vector<OwnerInfo>> owners() override;
  Result<Lsn> last_lsn() override;

 private:
  RocksJournal(const std::string& dir, const JournalOptions& options)
      : JournalBase(dir, options) {}

  Status open_db();
  // Writer thread: reopens db_ after a failed write and deletes whatever of
  // failed_group_ the reopened database replayed from its WAL (a write whose
  // sync failed is in the log), so nothing of a failed group becomes
  // visible. Readers never see the state in between; if the clean-up fails
  // db_ is closed (reads fail with kIoError) and the next write retries.
  Status recover();
  Status unusable() const;
  Status check_or_write_header();
  // Writer open of a journal made before the snapshot index: adds the index
  // entries of its SNAPSHOT records, then the meta key saying so.
  Status build_snapshot_index();
  // Writer open: loads counts_ and pending_, after rewriting the counters
  // and the owner summaries from the records (one synced batch) when they
  // are missing (a journal made before them) or not usable (read_counts).
  Status build_summaries();
  // The counters as of their checkpoint (as_of), when present and usable in
  // a journal whose last LSN is `last` and whose header says `version`:
  // counting up to `last`, or, from kLazySummariesVersion on, to an earlier
  // LSN (the records after it are then counted in by read_after). Else
  // nullopt.
  Result<std::optional<JournalCounts>> read_counts(const rocksdb::ReadOptions& ro, Lsn last, int version);
  // The header's format_version (0 when missing or damaged).
  Result<int> read_version(const rocksdb::ReadOptions& ro);
  // Reads the records after counts->as_of: counts them in (as_of becomes
  // the last) and, if `newest` is set, puts each owner's newest there.
  Status read_after(const rocksdb::ReadOptions& ro, JournalCounts* counts,
                    std::map<std::string, OwnerInfo>* newest = nullptr);
  // Puts a checkpoint into `batch`: the summaries of `owners` and `counts`.
  static void put_checkpoint(const JournalCounts& counts, const std::unordered_map<std::string, OwnerInfo>& owners,
                             rocksdb::WriteBatch* batch);
  // Counts by reading every record's kind and the owner index, for a journal
  // without current counters; `each_owner`, if set, sees each owner's last
  // index entry.
  Result<JournalCounts> count_records(
      const rocksdb::ReadOptions& ro, Lsn last,
      const std::function<Status(std::string_view owner, std::uint64_t last_seq, Lsn last_lsn)>& each_owner = nullptr);
  // The LSN and time of the first (or last) record into *lsn / *time; leaves
  // them alone in an empty journal (and *time for an undecodable record).
  Status read_end(const rocksdb::ReadOptions& ro, bool last, Lsn* lsn, std::optional<WallTime>* time);
  // The summary of `owner` whose newest record is at (seq, lsn), read from
  // the record; only seq and lsn when the record cannot be read.
  Status summary_from_index(const rocksdb::ReadOptions& ro, std::string_view owner, std::uint64_t seq, Lsn lsn,
                            Record* newest);
  // kIoError (or kCorruption) naming the journal and the operation.
  Status error(std::string_view what, const rocksdb::Status& s) const;
  // A secondary instance first replays what the writer added since.
  Status catch_up();
  Result<Lsn> read_last_lsn(const rocksdb::ReadOptions& ro = rocksdb::ReadOptions());
  // Reads the record at `lsn` into *r; *decode is kCorruption when it is
  // missing or undecodable. Errors: kIoError.
  Status get_record(Lsn lsn, Record* r, Status* decode,
                    const rocksdb::ReadOptions& ro = rocksdb::ReadOptions());

  // JournalBase
  Status read_owner(std::string_view owner, std::uint64_t from_seq, const RawRecordFn& fn) override;
  Status read_lsn(Lsn first, Lsn last, const RawRecordFn& fn) override;
  Status read_owner_backwards(std::string_view owner, const RawRecordFn& fn) override;
  Result<bool> read_latest_snapshot(std::string_view owner, const RawRecordFn& fn) override;
  Result<std::uint64_t> compact_on_writer(std::string_view owner, std::uint64_t below_seq) override;
  Result<std::uint64_t> remove_on_writer(std::string_view owner, std::uint64_t below_seq, bool whole) override;
  Status vacuum_on_writer() override;
  Result<Removals> read_removals() override;
  Result<Removals> read_removals(const rocksdb::ReadOptions& ro);
  Result<JournalStats> read_stats() override;
  // Walks the owner index; fn gets each owner's last index entry.
  Status for_each_owner(const rocksdb::ReadOptions& ro,
                        const std::function<Status(std::string_view owner, std::uint64_t last_seq,
                                                   Lsn last_lsn)>& fn);

  // CommitTarget
  Result<std::uint64_t> load_last_seq(std::string_view owner) override;
  // Encodes the record value ahead, but for the fields the writer sets.
  void stage(StagedRecord* r) const override;
  Status write_group(const std::vector<StagedRecord*>& records) override;

  // Shared by reads, exclusive while the writer thread replaces db_. The
  // writer thread reads db_ without it (only that thread replaces db_).
  std::shared_mutex db_mu_;
  std::unique_ptr<rocksdb::DB> db_;  // null after a failed reopen
  // Writer thread only: the keys of failed groups, deleted by recover(), and
  // their owners with the last sequence each had committed before them
  // (recover() puts back those owners' summaries).
  rocksdb::WriteBatch failed_group_;
  std::map<std::string, std::uint64_t> failed_owners_;
  bool needs_recovery_ = false;
  // Writer thread only: the counts as committed, the summaries not yet in a
  // checkpoint, and the header's version as the open found it.
  JournalCounts counts_;
  PendingSummaries pending_;
  int opened_version_ = kJournalFormatVersion;
  std::string secondary_dir_;  // scratch directory of a read-only handle
  rocksdb::Env* env_ = nullptr;  // from BackendHooks; null for the default
  rocksdb::WriteOptions write_options_;
};

}  // namespace keel::internal
