// pg_journal.h: PgJournal, a journal in a PostgreSQL schema (docs/journal-
// format.md, "PostgreSQL"). pg_journal.cc opens it and holds the writer's
// connection, its fencing and the outcome of lost commits; pg_journal_write.cc
// what a commit group, a compaction and a removal send; pg_journal_read.cc
// the scans and summaries, on pooled reader connections.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "journal_base.h"
#include "journal_internal.h"
#include "journal_summary.h"
#include "keel/base/thread_annotations.h"
#include "pg_connection.h"
#include "pg_schema.h"

namespace keel::internal {

// The columns every record read selects, in the order pg_decode_record reads.
inline constexpr std::string_view kPgSelectRecord =
    "SELECT lsn, owner, seq, kind, time_ns, version, crc, compacted, payload FROM S.records ";
// Reads row `row` of such a result into *out, reusing its strings' storage.
// kCorruption (with the LSN) for a value out of range.
Status pg_decode_record(const PgResult& r, int row, Record* out);

// Thread-safe (see Journal). The writer connection belongs to the journal
// writer thread once open() has returned; reads borrow connections from a
// small pool, one read at a time each.
class PgJournal final : public JournalBase, private CommitTarget {
 public:
  static Result<std::unique_ptr<Journal>> open(const std::string& conninfo, const JournalOptions& options,
                                               const BackendHooks& hooks);
  ~PgJournal() override;

  // `journal` as a PgJournal. Errors: kInvalidArgument (another backend).
  static Result<PgJournal*> of(Journal& journal);

  Result<std::vector<OwnerInfo>> owners() override;
  Result<Lsn> last_lsn() override;

  // pg_live_writer.cc: announce_pg_admin and withdraw_pg_admin (keel/
  // journal/pg_journal.h), on a reader connection. Any thread.
  Status announce_admin(const PgAdminAnnouncement& a);
  Status withdraw_admin(std::string_view token);

 private:
  PgJournal(PgTarget target, const JournalOptions& options, const BackendHooks& hooks);

  // ---- pg_journal.cc: opening, the writer connection, outcomes -------------
  Status open_writer();
  // Writer thread: a usable writer_ by `deadline`, reconnecting with
  // backoff (10 ms doubling to 1 s) and preparing its statements. After a
  // reconnect the counters are reloaded (a lost commit may have written a
  // checkpoint). Errors: kUnavailable naming the server, kUnauthenticated.
  Status ensure_writer(TimePoint deadline);
  Status prepare_writer(TimePoint deadline);
  // Writer thread: loads counts_ and pending_ from the checkpoint and the
  // records after it, or refills the summaries when they are not usable for
  // a journal of `version` (in one transaction).
  Status load_summaries(int version, TimePoint deadline);
  // Writer thread: whether the commit group `id` is stored, reconnecting as
  // needed. Errors: kUnavailable (the server stayed away until `deadline`).
  Result<bool> is_committed(std::uint64_t id, TimePoint deadline);
  // Writer thread: the outcome of a group whose connection was lost after
  // its statements were sent: ok when it committed, else kUnavailable
  // saying whether it was not written or its outcome is still unknown (then
  // unresolved_ holds it until the next commit learns it).
  Status settle_lost_commit(std::uint64_t id, Lsn first, Lsn last, const Status& lost);
  // Writer thread: learns the outcome of unresolved_ before a new commit.
  Status settle_unresolved(TimePoint deadline);
  // Writer thread: rolls back an open transaction after a server error.
  void roll_back_writer(TimePoint deadline);
  // Writer thread: kOwnershipLost is for good: every later write fails so.
  Status note_failure(Status s);
  // Writer thread, at close: a checkpoint of what is pending, fenced.
  void checkpoint_at_close();

  // ---- pg_held_shards.cc: the shards a cluster's writer holds ----------------
 public:
  // hold_pg_shards, drop_pg_shards and held_pg_shards (keel/journal/
  // pg_journal.h): on the writer thread, between two commit groups.
  Status hold_shards(const std::vector<PgShardEpoch>& epochs);
  Status drop_shards(const std::vector<std::uint32_t>& shards);
  Result<std::vector<PgShardEpoch>> held_shards();
  // pg_shard_count: the header's; constant after open.
  std::uint32_t shard_count() const { return header_.shards; }

 private:
  // Errors of hold_shards and drop_shards before the writer thread runs
  // them: kFailedPrecondition (read-only), kInvalidArgument (a handle that
  // claims every shard, a shard out of range).
  Status check_shard_handoff(const std::vector<std::uint32_t>& shards) const;
  // Writer thread, after a commit of a cluster's writer was fenced: reads
  // the epochs of the shards it holds and stops holding those that moved.
  // Errors: those of the read (the group then fails with them).
  Status drop_moved_shards(TimePoint deadline);

  // ---- pg_live_writer.cc -----------------------------------------------------
  // The open, or the writer thread after a reconnect: takes the live lock on
  // writer_, which holds it until the connection ends. Shared, waiting up
  // to `deadline` for an exclusive holder (kUnavailable naming it); with
  // pg_exclusive, exclusive without waiting (kFailedPrecondition naming the
  // last writer that claimed the journal).
  Status take_live_lock(TimePoint deadline);
  // At close, after the writer thread stopped: lets go of the live lock
  // before the connection ends, since the server ends a session after the
  // client has left; so the next exclusive open finds it free. Best effort.
  void release_live_lock();

  // ---- pg_journal_write.cc ----------------------------------------------------
  // Writer thread: sends a commit group as one pipeline (BEGIN, the epoch
  // check, the records, the commit id, a checkpoint when due, COMMIT). A
  // cluster's writer sends it in two: the first ends after the epoch
  // check, with the highest stored LSN, after which it numbers the records.
  Status send_group(const std::vector<StagedRecord*>& records, std::uint64_t id, bool checkpoint,
                    const JournalCounts& counts, TimePoint deadline, bool* drop_after);
  // Writer thread, in send_group's pipeline after the epoch check: reads
  // the highest stored LSN (ending the pipeline), numbers `records` after
  // it with checksums to match, and begins the next pipeline.
  Status number_after_stored(PgConnection* c, const std::vector<StagedRecord*>& records, TimePoint deadline);
  // Writer thread: queues the checkpoint statements of `counts` and `owners`.
  Status queue_checkpoint(const JournalCounts& counts, const std::unordered_map<std::string, OwnerInfo>& owners);
  // Writer thread: queues a checkpoint that the server computes from the
  // records after the stored one, whoever wrote them (a cluster's writer,
  // whose own counts know only its records).
  Status queue_shared_checkpoint(PgConnection* c);
  // The same, run on writer_ in its open transaction.
  Status exec_shared_checkpoint(TimePoint deadline);
  // Writer thread: the shards this writer holds, ascending.
  std::vector<std::uint32_t> held_list() const;
  // The epoch-check parameters ($1 shards, $2 the epochs held of them) of
  // `shards`, and of the shards that `owners` fall in.
  PgParams epoch_check_of(const std::vector<std::uint32_t>& shards) const;
  PgParams epoch_check(const std::vector<std::string_view>& owners) const;
  // Writer thread: runs `body` in a transaction on writer_ that first checks
  // the epoch of `owner`'s shard; rolls back when it fails.
  Status in_fenced_transaction(std::string_view owner, bool synced, TimePoint deadline,
                               const std::function<Status()>& body);
  Result<std::uint64_t> remove_in(std::string_view owner, std::uint64_t below_seq, bool whole,
                                  TimePoint deadline, JournalCounts* counts, bool* checkpointed);

  // ---- pg_journal_read.cc -------------------------------------------------------
  // Runs `fn` on a reader connection. A pooled connection found lost (a
  // server restart) is replaced and `fn` run again, unless it had already
  // passed records on (*delivered).
  Status with_reader(const std::function<Status(PgConnection*, bool* delivered)>& fn);
  // Reads pages of rows of kSelectRecord + `where_and_order` (its last two
  // parameters are the page's bound and size); `next` sets the bound for
  // the page after a row.
  Status read_pages(const std::string& where_and_order, const std::function<void(PgParams*)>& bind,
                    std::int64_t bound, const std::function<std::int64_t(const Record&)>& next,
                    const RawRecordFn& fn);
  std::string sql(std::string_view text) const;  // "S." -> the schema

  // JournalBase
  Status read_owner(std::string_view owner, std::uint64_t from_seq, const RawRecordFn& fn) override;
  Status read_lsn(Lsn first, Lsn last, const RawRecordFn& fn) override;
  Status read_owner_backwards(std::string_view owner, const RawRecordFn& fn) override;
  Result<bool> read_latest_snapshot(std::string_view owner, const RawRecordFn& fn) override;
  Result<std::uint64_t> compact_on_writer(std::string_view owner, std::uint64_t below_seq) override;
  Result<std::uint64_t> remove_on_writer(std::string_view owner, std::uint64_t below_seq, bool whole) override;
  Status vacuum_on_writer() override;
  Result<Removals> read_removals() override;
  Result<JournalStats> read_stats() override;

  // CommitTarget
  Status admit(const std::vector<StagedRecord>& batch) override;
  Result<std::uint64_t> load_last_seq(std::string_view owner) override;
  Status write_group(const std::vector<StagedRecord*>& records) override;

  // Constant after open().
  const PgTarget target_;
  PgHeader header_;
  const std::function<bool(int)> commit_sent_;  // BackendHooks::pg_commit_sent
  std::string holder_;                          // "host pid N", in the epochs table

  // Journal writer thread only (and open() before the thread starts).
  std::unique_ptr<PgConnection> writer_;
  // The epoch this writer holds, by shard; 0: a shard it does not hold (a
  // cluster's writer holds what hold_shards gave it).
  std::vector<std::uint64_t> held_;
  JournalCounts counts_;
  PendingSummaries pending_;
  std::mt19937_64 ids_;  // commit-group ids
  struct Unresolved {
    std::uint64_t id;
    Lsn first, last;
  };
  std::optional<Unresolved> unresolved_;
  // Set for good once this writer must not commit again: kOwnershipLost
  // (another writer claimed a shard of a writer that claimed every shard;
  // a cluster's writer only stops holding that shard), or
  // kFailedPrecondition (a commit
  // reported as of unknown outcome turned out committed).
  Status stopped_;

  Mutex pool_mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ KEEL_GUARDED_BY(pool_mu_);
};

}  // namespace keel::internal
