// keel/journal/journal.h: the durable log under Keel's actors and workflows.
//
// A journal is a sequence of records with a global, gap-free log sequence
// number (LSN: the timeline) and, per owner (a durable actor or a workflow
// run, named by a string such as "actor/Account/7"), a gap-free sequence
// number starting at 1 (for recovery scans). Appends are atomic batches;
// concurrent appends are group-committed (one transaction and one sync for
// many batches). Every record carries a CRC32C and the format version; a
// record that fails its checksum is reported as kCorruption with its LSN.
//
//   KEEL_ASSIGN_OR_RETURN(auto journal, keel::open_journal("bank.db", {}));
//   std::vector<keel::NewRecord> batch;
//   batch.push_back({"actor/Account/7", keel::RecordKind::kInbox, envelope_bytes});
//   KEEL_ASSIGN_OR_RETURN(keel::LsnRange r, journal->append(std::move(batch)));
//   KEEL_RETURN_IF_ERROR(journal->scan_owner("actor/Account/7", 1,
//       [](const keel::Record& rec) { /* ... */ return true; }));
//
// Payloads are opaque bytes here. The owner names and payload types of
// Keel's own writers (durable actors, workflow runs) are in
// keel/journal/format.h.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"

namespace keel {

using Lsn = std::uint64_t;
inline constexpr Lsn kNoLsn = 0;

// The on-disk format version written in each record and in the header.
// Journals of every earlier version open (a writer's open upgrades the
// header); docs/journal-format.md, "Version rules".
inline constexpr std::uint16_t kJournalFormatVersion = 2;

// Stable numbers: they are stored. Append only.
enum class RecordKind : std::uint8_t {
  kInbox = 1,      // a message accepted for a durable owner (envelope bytes)
  kProcessed = 2,  // the cursor: inbox records up to a sequence are handled
  kEvent = 3,      // a state change
  kSnapshot = 4,   // the whole state as of a sequence
  kOutbox = 5,     // a message the owner sent, released after commit
  kTimer = 6,      // a durable timer (fire time + envelope)
  kStep = 7,       // a workflow step result
  kRun = 8,        // a workflow run's status
  kDelivered = 9,  // the owner's OUTBOX messages up to a sequence number are delivered
};
// One past the highest RecordKind number: arrays indexed by kind number.
inline constexpr std::size_t kRecordKindSlots = 10;
std::string_view record_kind_name(RecordKind kind);
// Parses "inbox", "processed", ...; nullopt for an unknown name.
std::optional<RecordKind> record_kind_from_name(std::string_view name);

// A record to append. The journal assigns LSN, sequence, time and checksum.
struct NewRecord {
  std::string owner;
  RecordKind kind;
  std::string payload;
};

// A stored record. `compacted` records keep their header (so the timeline
// has no holes) but their payload was dropped by compaction.
struct Record {
  Lsn lsn = kNoLsn;
  std::string owner;
  std::uint64_t seq = 0;
  RecordKind kind = RecordKind::kInbox;
  WallTime time;
  std::uint16_t format_version = kJournalFormatVersion;
  std::uint32_t crc = 0;
  bool compacted = false;
  std::string payload;
};

struct LsnRange {
  Lsn first = kNoLsn;  // LSN of the batch's first record
  Lsn last = kNoLsn;   // LSN of its last record
};

// An owner and its newest record. Sequences are gap-free from `first_seq`
// (1 unless Journal::truncate removed older records), so `records` equals
// last_seq - first_seq + 1.
struct OwnerInfo {
  std::string owner;
  std::uint64_t first_seq = 1;
  std::uint64_t last_seq = 0;
  Lsn last_lsn = kNoLsn;
  std::uint64_t records = 0;
  WallTime last_time;
  RecordKind last_kind = RecordKind::kInbox;
};

enum class Durability : std::uint8_t {
  kSync,     // each commit group is on stable storage before append returns (default)
  kRelaxed,  // written to the OS, not synced: survives a process crash, not a power loss
};

struct JournalOptions {
  Durability durability = Durability::kSync;
  bool read_only = false;          // a reader beside a live writer; never blocks it
  bool create_if_missing = true;
  std::size_t max_record_bytes = 64u << 20;
  // Group commit: the writer takes every waiting batch up to these limits
  // into one commit (a group always holds at least one batch, so a batch
  // over the limits commits alone). A lone batch on an idle journal is
  // committed at once: no timer, no added delay.
  std::size_t max_group_records = 4096;
  std::size_t max_group_bytes = 16u << 20;
  // Time source for record times; null means the real clock. Must outlive
  // the journal.
  Clock* clock = nullptr;
  // PostgreSQL journals only (keel/journal/pg_journal.h): the schema that
  // holds the journal when the connection string names none (empty:
  // "keel"), and how long a call waits for an unreachable server (to
  // connect, or to reconnect and learn a commit's outcome) before it fails
  // with kUnavailable. Real time, whatever `clock` is.
  std::string pg_schema;
  std::chrono::milliseconds pg_timeout{10000};
  // PostgreSQL journals only: a writable open that must not take the
  // journal over. It fails with kFailedPrecondition, naming the last
  // writer that claimed it, while another writable handle is open anywhere
  // (the live lock, docs/journal-format.md), instead of fencing that
  // writer; a writer's open meanwhile waits for it (up to pg_timeout). For
  // offline commands on a journal whose engine may be running. The embedded
  // backends always refuse a second writer, so it changes nothing there.
  bool pg_exclusive = false;
  // PostgreSQL journals only: whether a writable open claims every shard
  // (the journal's one writer; a later writer's open fences it). False for
  // one of a cluster's writers on a shared journal: it claims nothing, and
  // writes only the shards handed to it (hold_pg_shards, keel/journal/
  // pg_journal.h); its LSNs follow the database's order.
  bool pg_claim_all_shards = true;
};

// A problem found by verify().
struct JournalProblem {
  Lsn lsn = kNoLsn;  // kNoLsn when not tied to one record
  std::string owner;
  Status status;     // kCorruption with a message naming the problem
};

struct JournalStats {
  std::string backend;  // "sqlite", "rocksdb" or "postgresql"
  std::string path;
  std::uint16_t format_version = kJournalFormatVersion;  // the header's
  Lsn first_lsn = kNoLsn;
  Lsn last_lsn = kNoLsn;
  std::uint64_t records = 0;  // stored records (compacted ones included)
  // Stored records by kind, indexed by the kind's number (slot 0 is unused).
  std::array<std::uint64_t, kRecordKindSlots> records_by_kind{};
  std::uint64_t owners = 0;
  // Times of the records at first_lsn and last_lsn; nullopt when empty.
  std::optional<WallTime> first_time;
  std::optional<WallTime> last_time;
  std::uint64_t commits = 0;        // commit groups written by this handle
  std::uint64_t batches = 0;        // batches appended through this handle
  std::uint64_t size_bytes = 0;     // on disk
};

// Thread-safe. Appends from any thread are queued to one writer thread that
// owns the backend's write connection. Readers use their own connection.
// One appender's batches, in order across commit groups: a batch appended
// on a chain after an earlier batch on it failed fails unwritten, so no
// batch lands after one of its chain that did not. An appender may thus
// have several batches in flight and still keep "all before the failure,
// nothing after". Owned by the appender; it must outlive every batch
// appended on it. Thread-safe.
//
//   AppendChain chain;
//   journal->append_async(std::move(b1), &chain, done1);
//   journal->append_async(std::move(b2), &chain, done2);  // b1 fails: b2 too
class AppendChain {
 public:
  // The first failure of a batch on the chain, or ok.
  Status failure() const KEEL_EXCLUDES(mu_);
  // Journal side: a batch on the chain failed with `why` (or was refused
  // with it); the first failure stays.
  void fail(const Status& why) KEEL_EXCLUDES(mu_);
  // Appender side: forgets the failure, so that later batches are written
  // again. Only when no batch on the chain is in flight.
  void clear() KEEL_EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  Status failed_ KEEL_GUARDED_BY(mu_);
  // failed_ is not ok; lets failure() skip the lock on the writer's path.
  std::atomic<bool> failed_any_{false};
};

// Scan callbacks run on the calling thread and must not append.
class Journal {
 public:
  virtual ~Journal() = default;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends `batch` atomically (all or nothing) and returns its LSN range
  // once the commit is durable (see Durability). The batch's records get
  // consecutive LSNs and, per owner, consecutive sequence numbers. Errors:
  // kInvalidArgument (empty batch, empty owner, owner containing a NUL byte,
  // unknown kind, record over max_record_bytes; nothing written), kIoError (the commit failed: nothing of its group is visible;
  // the journal stays usable and a later append may succeed),
  // kFailedPrecondition (read-only or closed). PostgreSQL also:
  // kUnavailable (the server could not be reached in time: "not written",
  // or "outcome unknown" when the connection was lost during the commit and
  // not regained), kTimeout (the commit waited on another session's lock
  // past the server-side statement timeout: nothing written), kOwnershipLost (another writer claimed the owner's shard:
  // nothing written, and this handle writes no more), kFailedPrecondition
  // (a commit reported as of unknown outcome was written: reopen).
  // keel/journal/pg_journal.h and docs/journal-format.md ("PostgreSQL").
  virtual Result<LsnRange> append(std::vector<NewRecord> batch) = 0;
  // The same, asynchronously: `done` runs on one of the journal's threads
  // (its writer thread, or the completion thread that runs callbacks while
  // the writer commits the next group) once the batch's group is committed
  // or failed. Callbacks run one at a time, in commit order. `done` must not
  // block, nor call append() or another call that waits for the writer; it
  // may call append_async(), whose batch goes into a later group. A batch
  // rejected up front (kInvalidArgument, kFailedPrecondition) runs `done`
  // on the calling thread before append_async returns. Batches submitted
  // from one thread commit in submission order. The records are encoded
  // and their payloads checksummed on the calling thread.
  void append_async(std::vector<NewRecord> batch, UniqueFunction<void(Result<LsnRange>)> done) {
    append_async(std::move(batch), nullptr, std::move(done));
  }
  // The same, on `chain` (null: none): when an earlier batch on the chain
  // failed, `batch` is not written and `done` gets kOwnershipLost or
  // kUnavailable if that failure was one, else kIoError, naming it; when this batch's group
  // fails, the chain records the failure. Either way `done` runs in commit
  // order, as above.
  virtual void append_async(std::vector<NewRecord> batch, AppendChain* chain,
                            UniqueFunction<void(Result<LsnRange>)> done) = 0;

  // Calls fn for each record of `owner` with seq >= from_seq, in order, until
  // fn returns false. Errors: kCorruption at the first record failing its
  // checksum (message: "lsn N, owner O: ..."), kIoError.
  virtual Status scan_owner(std::string_view owner, std::uint64_t from_seq,
                            const std::function<bool(const Record&)>& fn) = 0;
  // Like scan_owner, but a record that fails its checksum (or cannot be
  // read as a record) is reported to `corrupt`, with its LSN, and skipped:
  // the scan goes on. For a reader told to continue past damage. Errors:
  // kIoError.
  virtual Status scan_owner_skipping(std::string_view owner, std::uint64_t from_seq,
                                     const std::function<bool(const Record&)>& fn,
                                     const std::function<void(const JournalProblem&)>& corrupt) = 0;
  // Calls fn for records with first <= lsn <= last, in LSN order, until fn
  // returns false. Errors as scan_owner.
  virtual Status scan_lsn(Lsn first, Lsn last, const std::function<bool(const Record&)>& fn) = 0;
  // Like scan_lsn, but a record that fails its checksum (or cannot be read
  // as a record) is reported to `corrupt`, with its LSN, and skipped: the
  // scan goes on to `last`. Errors: kIoError.
  virtual Status scan_lsn_skipping(Lsn first, Lsn last, const std::function<bool(const Record&)>& fn,
                                   const std::function<void(const JournalProblem&)>& corrupt) = 0;
  // The owner's newest record of `kind` (e.g. its latest snapshot), if any.
  // Reads the owner's records newest first, checking each. Errors as scan_owner.
  virtual Result<std::optional<Record>> latest(std::string_view owner, RecordKind kind) = 0;
  // Every owner with its last record, sorted by owner (bytewise). Reads the
  // owner summaries the writer checkpoints (one entry per owner) and the
  // records after the checkpoint, or, in a journal whose summaries are
  // missing or not usable (opened read-only before a writer upgraded it),
  // the owner index. Errors: kIoError.
  virtual Result<std::vector<OwnerInfo>> owners() = 0;
  // The highest stored LSN; kNoLsn for an empty journal. Errors: kIoError.
  virtual Result<Lsn> last_lsn() = 0;

  // Drops the payloads of `owner`'s records with seq < below_seq (their
  // headers stay; the payload becomes empty, `compacted` true and the CRC is
  // recomputed over the empty payload), in one commit on the writer thread.
  // Returns how many records were compacted (0 for already compacted ones).
  // Errors: kInvalidArgument (empty owner), kFailedPrecondition (read-only),
  // kCorruption (a record to compact fails its checksum: nothing is
  // compacted, so damage is never hidden under a fresh checksum), kIoError.
  virtual Result<std::uint64_t> compact(std::string_view owner, std::uint64_t below_seq) = 0;

  // Removes `owner`'s records with seq < below_seq, except its newest record
  // (which always stays: the owner keeps its sequence, the journal its last
  // LSN), in one commit on the writer thread. Unlike compact(), the records
  // are gone: the owner's sequence then starts at its first kept record, the
  // timeline has holes where they were, and the counters, owner summaries
  // and verify() account for both (docs/journal-format.md, "Removal"). The
  // commit is not synced by itself (a removal lost in a crash leaves the
  // records, as before it): the next synced commit makes it durable.
  // Returns how many records were removed. Errors: kInvalidArgument (empty
  // owner), kFailedPrecondition (read-only), kIoError (nothing removed).
  virtual Result<std::uint64_t> truncate(std::string_view owner, std::uint64_t below_seq) = 0;
  // truncate(), without waiting: `done` runs on the writer thread once the
  // removal committed or failed, with its count or error; it must not
  // block, nor call the journal's waiting calls. A call refused up front
  // (kInvalidArgument, kFailedPrecondition) runs `done` on the calling
  // thread before truncate_async returns. For a caller that must not wait
  // for the writer (a durable actor's turn).
  virtual void truncate_async(std::string_view owner, std::uint64_t below_seq,
                              UniqueFunction<void(Result<std::uint64_t>)> done) = 0;
  // Removes every record of `owner` and its summary, in one commit: the
  // owner no longer exists, and a later append to it starts again at seq 1.
  // Returns how many records were removed (0 for an unknown owner). Errors:
  // kInvalidArgument (empty owner), kFailedPrecondition (read-only; or the
  // owner holds the journal's newest record, which stays so that no LSN is
  // ever given twice: retry after a later append), kIoError (nothing
  // removed).
  virtual Result<std::uint64_t> remove_owner(std::string_view owner) = 0;
  // Gives the space of removed records back to the file system, on the
  // writer thread (appends wait meanwhile). SQLite: VACUUM, which also turns
  // on incremental auto-vacuum in a journal made without it (new journals
  // have it, and give pages back after each truncate/remove_owner by
  // themselves); RocksDB: a full manual compaction. Errors:
  // kFailedPrecondition (read-only), kIoError.
  virtual Status vacuum() = 0;

  // Checks every record: checksums, global LSN gaps, per-owner sequence gaps.
  // Calls `problem` for each one found; returns ok when the scan completed
  // (problems or not), or the error that stopped it.
  virtual Status verify(const std::function<void(const JournalProblem&)>& problem) = 0;

  // The journal's figures. The counts (records, by kind, owners) come from
  // the counters the writer checkpoints and the records after the
  // checkpoint, so this does not read every record; a journal whose
  // counters are missing or not usable (see owners()) is counted by reading
  // every record header once. Errors: kIoError.
  virtual Result<JournalStats> stats() = 0;

 protected:
  Journal() = default;
};

// Opens (or creates) a SQLite journal: one file in WAL mode, synchronous=FULL
// under kSync. A writable open holds an exclusive lock on "<path>.lock" until
// the journal is destroyed; a read-only open takes no lock and never blocks
// the writer. Errors: kIoError (cannot open), kCorruption (not a Keel
// journal, or a damaged header), kFailedPrecondition (newer format version;
// or another handle or process holds it for writing and this open is not
// read_only), kNotFound (missing, and read_only or !create_if_missing),
// kInvalidArgument (the path is not a regular file). An existing file's
// header is read before anything is written to it or beside it (the lock
// file, the WAL mode), so a refused file is left as it was. An empty file,
// or a database with no schema, becomes a journal only for a writable open
// with create_if_missing (else kCorruption, "not a Keel journal").
Result<std::unique_ptr<Journal>> open_sqlite_journal(const std::string& path,
                                                     const JournalOptions& options);
// Opens (or creates) a RocksDB journal directory (synced WAL under kSync).
// A read-only open is a RocksDB secondary instance (its scratch directory is
// made under the system temp directory and removed on close) that catches
// up with the live writer before each read. Errors as open_sqlite_journal;
// a second writer is refused by RocksDB's LOCK file (kFailedPrecondition).
// An empty directory, or a database with no key, becomes a journal only
// for a writable open with create_if_missing (else kCorruption, "not a Keel
// journal"); an existing database's header is read before a writable open
// writes to the directory.
Result<std::unique_ptr<Journal>> open_rocks_journal(const std::string& dir,
                                                    const JournalOptions& options);
// Opens a journal of any kind: a PostgreSQL connection string
// (is_pg_conninfo in keel/journal/pg_journal.h) opens open_pg_journal; an
// existing directory is RocksDB, a file SQLite; a missing path is created as
// SQLite, the embedded default. Errors as the backend's open function.
Result<std::unique_ptr<Journal>> open_journal(const std::string& path, const JournalOptions& options);

}  // namespace keel
