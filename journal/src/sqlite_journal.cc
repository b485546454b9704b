// SqliteJournal: a journal in one SQLite file in WAL mode. The writer thread
// owns one read-write connection; scans borrow read-only connections from a
// small pool, so a scan never blocks the writer (WAL readers see the last
// commit as of their statement's start). Layout: docs/journal-format.md.
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "file_lock.h"
#include "journal_base.h"
#include "journal_internal.h"
#include "journal_probe.h"
#include "journal_summary.h"
#include "keel/base/thread_annotations.h"
#include "record_format.h"
#include "sqlite_connection.h"
#include "sqlite_removal.h"
#include "sqlite_summary.h"

namespace keel::internal {
namespace {

constexpr char kSelectRecord[] =
    "SELECT lsn, owner, seq, kind, time_ns, version, crc, compacted, payload FROM records ";

static_assert(static_cast<int>(RecordKind::kSnapshot) == 4, "the snapshot index names kind 4");

constexpr char kSchema[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL);"
    "CREATE TABLE records ("
    "  lsn INTEGER PRIMARY KEY, owner TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL, time_ns INTEGER NOT NULL, version INTEGER NOT NULL,"
    "  crc INTEGER NOT NULL, compacted INTEGER NOT NULL DEFAULT 0, payload BLOB NOT NULL);"
    "CREATE UNIQUE INDEX records_owner_seq ON records (owner, seq);"
    "CREATE INDEX records_snapshots ON records (owner, seq) WHERE kind = 4;";

// Added after format 1's first schema: created (once) by a writer's open, so
// journals made before it gain it. Partial: only SNAPSHOT rows (kind 4) are
// in it, so appends of other kinds do not maintain it.
constexpr char kSnapshotIndex[] =
    "CREATE INDEX IF NOT EXISTS records_snapshots ON records (owner, seq) WHERE kind = 4";

std::uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// The LSN and time of the first or last record; nullopt for an empty journal.
Result<std::optional<std::pair<Lsn, WallTime>>> end_record(SqliteConnection* c, bool last) {
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare(last ? "SELECT lsn, time_ns FROM records ORDER BY lsn DESC LIMIT 1"
                                                          : "SELECT lsn, time_ns FROM records ORDER BY lsn LIMIT 1"));
  StmtScope scope(s);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<std::pair<Lsn, WallTime>>();
  if (rc != SQLITE_ROW) return c->error("read the ends of the journal", rc);
  return std::optional(std::make_pair(static_cast<Lsn>(sqlite3_column_int64(s, 0)),
                                      from_time_ns(sqlite3_column_int64(s, 1))));
}

// A read transaction on a reader connection, so that the reads inside it see
// one commit. Ends when the scope ends.
class ReadTransaction {
 public:
  explicit ReadTransaction(SqliteConnection* c) : c_(c), status_(c->exec("BEGIN")) {}
  ~ReadTransaction() {
    if (status_.is_ok()) c_->exec("COMMIT").ignore();  // a read-only transaction: nothing to lose
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  const Status& status() const { return status_; }

 private:
  SqliteConnection* const c_;
  const Status status_;
};

// Checks the header in the meta table. kCorruption when it is missing or not
// Keel's, kFailedPrecondition for a newer format version.
Status check_header(SqliteConnection* c, const std::string& path) {
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare("SELECT count(*) FROM sqlite_master WHERE name = 'meta'"));
  {
    StmtScope scope(s);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return c->error("read header", rc);
    if (sqlite3_column_int(s, 0) == 0) {
      return Status::corruption("sqlite journal " + path + ": not a Keel journal (no meta table)");
    }
  }
  KEEL_ASSIGN_OR_RETURN(s, c->prepare("SELECT key, value FROM meta"));
  StmtScope scope(s);
  std::map<std::string, std::string> meta;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) meta[column_string(s, 0)] = column_string(s, 1);
  if (rc != SQLITE_DONE) return c->error("read header", rc);
  return check_header_entries("sqlite journal " + path, meta["magic"], meta["format_version"], meta["backend"],
                              "sqlite");
}

// kCorruption unless `path` is empty or starts with SQLite's file header.
Status check_sqlite_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot read " + path);
  char head[16] = {};
  in.read(head, sizeof head);
  std::streamsize n = in.gcount();
  if (n == 0) return Status::ok();
  if (n < 16 || std::string_view(head, 16) != std::string_view("SQLite format 3\0", 16)) {
    return Status::corruption(path + ": not a Keel journal (not a SQLite database)");
  }
  return Status::ok();
}

// A pool of read-only connections. Thread-safe.
class ReaderPool {
 public:
  // `bounded_memory`: see SqliteConnection::open.
  ReaderPool(std::string path, std::string vfs, bool bounded_memory)
      : path_(std::move(path)), vfs_(std::move(vfs)), bounded_memory_(bounded_memory) {}

  // A connection for one read; returned to the pool when the lease ends.
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<SqliteConnection> c) : pool_(pool), c_(std::move(c)) {}
    ~Lease() {
      if (c_) pool_->release(std::move(c_));
    }
    Lease(Lease&&) = default;
    SqliteConnection* operator->() const { return c_.get(); }
    SqliteConnection* get() const { return c_.get(); }

   private:
    ReaderPool* pool_;
    std::unique_ptr<SqliteConnection> c_;
  };

  Result<Lease> acquire() KEEL_EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      if (!idle_.empty()) {
        Lease lease(this, std::move(idle_.back()));
        idle_.pop_back();
        return lease;
      }
    }
    KEEL_ASSIGN_OR_RETURN(auto c, SqliteConnection::open(path_, SQLITE_OPEN_READONLY, vfs_, bounded_memory_));
    return Lease(this, std::move(c));
  }

 private:
  static constexpr std::size_t kMaxIdle = 4;

  void release(std::unique_ptr<SqliteConnection> c) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
  }

  const std::string path_;
  const std::string vfs_;
  const bool bounded_memory_;
  Mutex mu_;
  std::vector<std::unique_ptr<SqliteConnection>> idle_ KEEL_GUARDED_BY(mu_);
};

// Thread-safe (see Journal). The write connection belongs to the journal
// writer thread once open() has returned.
class SqliteJournal final : public JournalBase, private CommitTarget {
 public:
  static Result<std::unique_ptr<Journal>> open(const std::string& path,
                                               const JournalOptions& options,
                                               const BackendHooks& hooks);
  ~SqliteJournal() override;

  Result<std::vector<OwnerInfo>> owners() override;
  Result<Lsn> last_lsn() override;

 private:
  SqliteJournal(const std::string& path, const JournalOptions& options, const std::string& vfs)
      : JournalBase(path, options), readers_(path, vfs, options.read_only) {}

  Status open_writer(const std::string& vfs);
  // Writer open: creates the owners and counters tables in a journal made
  // before them, and refills them when they are not usable for a journal of
  // `version` (see read_checkpoint); loads counts_ and pending_.
  Status open_summaries(Lsn last, int version);
  // Writer thread (or the destructor, after it): writes a checkpoint of
  // counts_ and `owners` in its own transaction.
  Status write_checkpoint_alone(const std::unordered_map<std::string, OwnerInfo>& owners);

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
  Result<std::uint64_t> load_last_seq(std::string_view owner) override;
  Status write_group(const std::vector<StagedRecord*>& records) override;

  Status roll_back_writer();
  // remove_on_writer's commit, under synchronous = NORMAL.
  Result<std::uint64_t> remove_unsynced(std::string_view owner, std::uint64_t below_seq, bool whole);

  std::unique_ptr<FileLock> lock_;     // held by a writable journal
  std::unique_ptr<SqliteConnection> writer_;  // journal writer thread only
  // Journal writer thread only: the counts as committed, and the summaries
  // not yet in a checkpoint.
  JournalCounts counts_;
  PendingSummaries pending_;
  ReaderPool readers_;
};

Result<std::unique_ptr<Journal>> SqliteJournal::open(const std::string& path,
                                                     const JournalOptions& options,
                                                     const BackendHooks& hooks) {
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    return Status::invalid_argument("sqlite journal " + path + " is not a regular file");
  }
  if (!exists && (options.read_only || !options.create_if_missing)) {
    return Status::not_found("sqlite journal " + path + " does not exist");
  }
  if (exists) {
    // Before anything is written to the file or beside it (the lock file,
    // the WAL mode), so that a refused file is left as it was.
    KEEL_RETURN_IF_ERROR(check_sqlite_file(path));
    // Only an open that may create a journal turns an empty database into one.
    const bool allow_empty = !options.read_only && options.create_if_missing;
    KEEL_RETURN_IF_ERROR(probe_sqlite_journal(path, hooks.sqlite_vfs, allow_empty));
  }
  std::unique_ptr<SqliteJournal> j(new SqliteJournal(path, options, hooks.sqlite_vfs));
  if (!options.read_only) KEEL_RETURN_IF_ERROR(j->open_writer(hooks.sqlite_vfs));
  return std::unique_ptr<Journal>(std::move(j));
}

Status SqliteJournal::open_writer(const std::string& vfs) {
  KEEL_ASSIGN_OR_RETURN(lock_, FileLock::acquire(path() + ".lock", "sqlite journal " + path()));
  KEEL_ASSIGN_OR_RETURN(writer_,
                        SqliteConnection::open(path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs));
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, writer_->prepare("SELECT count(*) FROM sqlite_master"));
  int tables;
  {
    StmtScope scope(s);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return writer_->error("read schema", rc);
    tables = sqlite3_column_int(s, 0);
  }
  // The WAL mode is written into the file's header: only into a journal.
  if (tables != 0) KEEL_RETURN_IF_ERROR(check_header(writer_.get(), path()));
  if (tables == 0) {
    // Before WAL mode and the first table, or it has no effect: freed pages
    // can then be given back to the file system (give_back_free_pages).
    KEEL_RETURN_IF_ERROR(writer_->exec("PRAGMA auto_vacuum = INCREMENTAL"));
  }
  KEEL_ASSIGN_OR_RETURN(s, writer_->prepare("PRAGMA journal_mode = WAL"));
  {
    StmtScope scope(s);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return writer_->error("enable WAL", rc);
    std::string mode = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    if (mode != "wal") return Status::io_error("sqlite journal " + path() + ": cannot enable WAL mode");
  }
  KEEL_RETURN_IF_ERROR(writer_->exec(options().durability == Durability::kSync
                                         ? "PRAGMA synchronous = FULL"
                                         : "PRAGMA synchronous = NORMAL"));
  if (tables == 0) {
    std::string create = std::string("BEGIN IMMEDIATE;") + kSchema + kSummaryTables + kFloorsTable +
                         "INSERT INTO meta VALUES ('magic', '" + std::string(kJournalMagic) +
                         "'), ('format_version', " + std::to_string(kJournalFormatVersion) +
                         "), ('backend', 'sqlite'); INSERT INTO counters VALUES ('" + kAsOfCounter +
                         "', 0); COMMIT;";  // an empty journal's counters: current as of LSN 0
    Status created = writer_->exec(create.c_str());
    if (!created.is_ok()) {
      roll_back_writer().ignore();
      return created;
    }
  }
  KEEL_RETURN_IF_ERROR(check_header(writer_.get(), path()));
  KEEL_ASSIGN_OR_RETURN(const int version, header_version(writer_.get()));
  KEEL_RETURN_IF_ERROR(writer_->exec(kSnapshotIndex));
  KEEL_ASSIGN_OR_RETURN(s, writer_->prepare("SELECT max(lsn) FROM records"));
  Lsn last;
  {
    StmtScope scope(s);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return writer_->error("read last lsn", rc);
    last = static_cast<Lsn>(sqlite3_column_int64(s, 0));
  }
  KEEL_RETURN_IF_ERROR(open_summaries(last, version));
  // An older format (checked above: not a newer one) has this layout too;
  // the header says which format the writer adds records of from now on,
  // after the summaries were judged by the format they were written in.
  KEEL_RETURN_IF_ERROR(writer_->exec(("UPDATE meta SET value = " + std::to_string(kJournalFormatVersion) +
                                      " WHERE key = 'format_version' AND CAST(value AS INTEGER) < " +
                                      std::to_string(kJournalFormatVersion))
                                         .c_str()));
  start_writer(this, last);
  return Status::ok();
}

SqliteJournal::~SqliteJournal() {
  stop_writer();
  // Readers would count the records after the last checkpoint anyway; one
  // at close spares them that.
  if (writer_ != nullptr && !pending_.empty()) write_checkpoint_alone(pending_.owners()).ignore();
}

Status SqliteJournal::write_checkpoint_alone(const std::unordered_map<std::string, OwnerInfo>& owners) {
  KEEL_RETURN_IF_ERROR(writer_->exec("BEGIN IMMEDIATE"));
  Status s = write_checkpoint(writer_.get(), counts_, owners);
  if (s.is_ok()) s = writer_->exec("COMMIT");
  if (!s.is_ok()) {
    roll_back_writer().ignore();  // `s` is the error to report
    return s;
  }
  pending_.clear();
  return Status::ok();
}

Status SqliteJournal::open_summaries(Lsn last, int version) {
  KEEL_RETURN_IF_ERROR(writer_->exec(kSummaryTables));
  KEEL_RETURN_IF_ERROR(writer_->exec(kFloorsTable));
  KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts, read_checkpoint(writer_.get(), last, version));
  if (counts) {
    // The records after the checkpoint go into the next one.
    KEEL_ASSIGN_OR_RETURN(auto newer, newest_after(writer_.get(), counts->as_of));
    for (const auto& [owner, o] : newer) pending_.add(o);
    KEEL_RETURN_IF_ERROR(count_rows_after(writer_.get(), last, &*counts));
    counts_ = *counts;
    return Status::ok();
  }
  // One transaction: a crash leaves the old tables, refilled at the next open.
  KEEL_RETURN_IF_ERROR(writer_->exec("BEGIN IMMEDIATE"));
  auto refill = [&]() -> Status {
    KEEL_ASSIGN_OR_RETURN(JournalCounts fresh, refill_summaries(writer_.get(), last));
    KEEL_RETURN_IF_ERROR(writer_->exec("COMMIT"));
    counts_ = fresh;
    return Status::ok();
  };
  Status s = refill();
  if (!s.is_ok()) roll_back_writer().ignore();  // `s` is the error to report
  return s;
}

Status SqliteJournal::roll_back_writer() {
  if (sqlite3_get_autocommit(writer_->db()) != 0) return Status::ok();  // no open transaction
  return writer_->exec("ROLLBACK");
}

Result<std::uint64_t> SqliteJournal::load_last_seq(std::string_view owner) {
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        writer_->prepare("SELECT max(seq) FROM records WHERE owner = ?1"));
  StmtScope scope(s);
  sqlite3_bind_text(s, 1, owner.data(), static_cast<int>(owner.size()), SQLITE_STATIC);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return writer_->error("read last seq of " + std::string(owner), rc);
  return static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
}

Status SqliteJournal::write_group(const std::vector<StagedRecord*>& records) {
  auto what = [&] {
    return "commit of lsn " + std::to_string(records.front()->record.lsn) + ".." +
           std::to_string(records.back()->record.lsn);
  };
  auto fail = [&](int rc) {
    Status s = writer_->error(what(), rc);
    roll_back_writer().ignore();  // the failure is what the caller needs to see
    return Status::io_error(s.message());
  };
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * begin, writer_->prepare("BEGIN IMMEDIATE"));
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * insert,
                        writer_->prepare("INSERT INTO records (lsn, owner, seq, kind, time_ns, "
                                         "version, crc, compacted, payload) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)"));
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * commit, writer_->prepare("COMMIT"));
  {
    StmtScope scope(begin);
    int rc = sqlite3_step(begin);
    if (rc != SQLITE_DONE) return fail(rc);
  }
  for (const StagedRecord* staged : records) {
    const Record& r = staged->record;
    StmtScope scope(insert);
    sqlite3_bind_int64(insert, 1, static_cast<std::int64_t>(r.lsn));
    sqlite3_bind_text(insert, 2, r.owner.data(), static_cast<int>(r.owner.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 3, static_cast<std::int64_t>(r.seq));
    sqlite3_bind_int(insert, 4, static_cast<int>(r.kind));
    sqlite3_bind_int64(insert, 5, to_time_ns(r.time));
    sqlite3_bind_int(insert, 6, r.format_version);
    sqlite3_bind_int64(insert, 7, r.crc);
    sqlite3_bind_blob64(insert, 8, r.payload.data(), r.payload.size(), SQLITE_STATIC);
    int rc = sqlite3_step(insert);
    if (rc != SQLITE_DONE) return fail(rc);
  }
  JournalCounts counts = counts_;
  counts.add(records);
  const bool checkpoint = pending_.due_with(records.size());
  auto summarize = [&]() -> Status {
    if (!checkpoint) return Status::ok();
    std::unordered_map<std::string, OwnerInfo> owners = pending_.owners();
    for (const Record* newest : newest_by_owner(records)) owners[newest->owner] = owner_info_of(*newest);
    return write_checkpoint(writer_.get(), counts, owners);
  };
  if (Status s = summarize(); !s.is_ok()) {
    roll_back_writer().ignore();  // the failure is what the caller needs to see
    return Status::io_error(what() + ": " + std::string(s.message()));
  }
  StmtScope scope(commit);
  int rc = sqlite3_step(commit);
  if (rc != SQLITE_DONE) return fail(rc);
  counts_ = counts;
  pending_.committed(records, checkpoint);
  return Status::ok();
}

Result<std::uint64_t> SqliteJournal::compact_on_writer(std::string_view owner,
                                                       std::uint64_t below_seq) {
  KEEL_RETURN_IF_ERROR(writer_->exec("BEGIN IMMEDIATE"));
  auto abort = [&](Status s) {
    roll_back_writer().ignore();  // `s` is the error the caller needs to see
    return s;
  };
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * select,
                        writer_->prepare(std::string(kSelectRecord) +
                                         "WHERE owner = ?1 AND seq < ?2 AND compacted = 0"));
  // Headers of the records to compact; payloads are not kept.
  std::vector<Record> headers;
  {
    StmtScope scope(select);
    sqlite3_bind_text(select, 1, owner.data(), static_cast<int>(owner.size()), SQLITE_STATIC);
    sqlite3_bind_int64(select, 2, to_sql_int(below_seq));
    Status failure;
    Status s = for_each_row(writer_.get(), select, [&](const Record& r, const Status&) {
      failure = check_record(r);
      if (!failure.is_ok()) return false;
      Record h = r;
      h.payload.clear();
      h.compacted = true;
      h.crc = record_checksum(h);
      headers.push_back(std::move(h));
      return true;
    });
    if (!s.is_ok()) return abort(s);
    if (!failure.is_ok()) return abort(failure);
  }
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * update,
                        writer_->prepare("UPDATE records SET payload = x'', compacted = 1, "
                                         "crc = ?1 WHERE lsn = ?2"));
  for (const Record& h : headers) {
    StmtScope scope(update);
    sqlite3_bind_int64(update, 1, h.crc);
    sqlite3_bind_int64(update, 2, static_cast<std::int64_t>(h.lsn));
    int rc = sqlite3_step(update);
    if (rc != SQLITE_DONE) return abort(writer_->error("compact", rc));
  }
  Status committed = writer_->exec("COMMIT");
  if (!committed.is_ok()) return abort(committed);
  return static_cast<std::uint64_t>(headers.size());
}

Result<std::uint64_t> SqliteJournal::remove_on_writer(std::string_view owner, std::uint64_t below_seq,
                                                      bool whole) {
  // Not synced by itself (see Journal::truncate): WAL frames are synced in
  // order, so the next synced commit makes the removal durable too.
  const bool sync = options().durability == Durability::kSync;
  if (sync) KEEL_RETURN_IF_ERROR(writer_->exec("PRAGMA synchronous = NORMAL"));
  Result<std::uint64_t> n = remove_unsynced(owner, below_seq, whole);
  if (sync) {
    Status restored = writer_->exec("PRAGMA synchronous = FULL");
    if (!restored.is_ok()) return restored;
  }
  return n;
}

Result<std::uint64_t> SqliteJournal::remove_unsynced(std::string_view owner, std::uint64_t below_seq, bool whole) {
  KEEL_RETURN_IF_ERROR(writer_->exec("BEGIN IMMEDIATE"));
  Result<RowsRemoved> removed = remove_rows(writer_->db(), path(), owner, below_seq, whole);
  JournalCounts counts = counts_;
  Status s = removed.status();
  const bool checkpoint = s.is_ok() && removed->records != 0;
  if (checkpoint) {
    // A removal's counts are a checkpoint: the pending summaries go with
    // them, but the removed owner's (whose row remove_rows deleted).
    counts.remove(removed->by_kind, removed->owner_gone);
    std::unordered_map<std::string, OwnerInfo> owners = pending_.owners();
    if (whole) owners.erase(std::string(owner));
    s = write_checkpoint(writer_.get(), counts, owners);
  }
  if (s.is_ok()) s = writer_->exec("COMMIT");
  if (!s.is_ok()) {
    roll_back_writer().ignore();  // `s` is the error the caller needs to see
    return s;
  }
  counts_ = counts;
  if (checkpoint) pending_.clear();
  if (removed->records != 0) {
    // The removal is committed; pages not given back now are reused by
    // appends, or given back after a later removal.
    Status given = give_back_free_pages(writer_->db(), path());
    if (!given.is_ok()) roll_back_writer().ignore();
  }
  return removed->records;
}

Status SqliteJournal::vacuum_on_writer() { return vacuum_file(writer_->db(), path()); }

Result<Removals> SqliteJournal::read_removals() {
  KEEL_ASSIGN_OR_RETURN(auto c, readers_.acquire());
  ReadTransaction tx(c.get());
  KEEL_RETURN_IF_ERROR(tx.status());
  return internal::read_removals(c->db(), path());
}

Status SqliteJournal::read_owner(std::string_view owner, std::uint64_t from_seq,
                                 const RawRecordFn& fn) {
  KEEL_ASSIGN_OR_RETURN(auto c, readers_.acquire());
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare(std::string(kSelectRecord) +
                                   "WHERE owner = ?1 AND seq >= ?2 ORDER BY seq"));
  StmtScope scope(s);
  sqlite3_bind_text(s, 1, owner.data(), static_cast<int>(owner.size()), SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, to_sql_int(from_seq));
  return for_each_row(c.get(), s, fn);
}

Status SqliteJournal::read_lsn(Lsn first, Lsn last, const RawRecordFn& fn) {
  KEEL_ASSIGN_OR_RETURN(auto c, readers_.acquire());
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare(std::string(kSelectRecord) +
                                   "WHERE lsn >= ?1 AND lsn <= ?2 ORDER BY lsn"));
  StmtScope scope(s);
  sqlite3_bind_int64(s, 1, to_sql_int(first));
  sqlite3_bind_int64(s, 2, to_sql_int(last));
  return for_each_row(c.get(), s, fn);
}

Status SqliteJournal::read_owner_backwards(std::string_view owner, const RawRecordFn& fn) {
  KEEL_ASSIGN_OR_RETURN(auto c, readers_.acquire());
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare(std::string(kSelectRecord) +
                                                     "WHERE owner = ?1 ORDER BY seq DESC"));
  StmtScope scope(s);
  sqlite3_bind_text(s, 1, owner.data(), static_cast<int>(owner.size()), SQLITE_STATIC);
  return for_each_row(c.get(), s, fn);
}

Result<bool> SqliteJournal::read_latest_snapshot(std::string_view owner, const RawRecordFn& fn) {
  KEEL_ASSIGN_OR_RETURN(auto c, readers_.acquire());
  {
    KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                          c->prepare("SELECT count(*) FROM sqlite_master WHERE name = 'records_snapshots'"));
    StmtScope scope(s);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return c->error("read schema", rc);
    if (sqlite3_column_int(s, 0) == 0) return false;
  }
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare(std::string(kSelectRecord) +
                                   "INDEXED BY records_snapshots "
                                   "WHERE owner = ?1 AND kind = 4 ORDER BY seq DESC LIMIT 1"));
  StmtScope scope(s);
  sqlite3_bind_text(s, 1, owner.data(), static_cast<int>(owner.size()), SQLITE_STATIC);
  KEEL_RETURN_IF_ERROR(for_each_row(c.get(), s, fn));
  return true;
}

Result<std::vector<OwnerInfo>> SqliteJournal::owners() {
  KEEL_ASSIGN_OR_RETURN(auto c, readers_.acquire());
  ReadTransaction tx(c.get());
  KEEL_RETURN_IF_ERROR(tx.status());
  KEEL_ASSIGN_OR_RETURN(std::int64_t last, query_int(c.get(), "SELECT max(lsn) FROM records"));
  KEEL_ASSIGN_OR_RETURN(const int version, header_version(c.get()));
  KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts,
                        read_checkpoint(c.get(), static_cast<Lsn>(last), version));
  return read_owners(c.get(), counts ? std::optional<Lsn>(counts->as_of) : std::nullopt);
}

Result<Lsn> SqliteJournal::last_lsn() {
  KEEL_ASSIGN_OR_RETURN(auto c, readers_.acquire());
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare("SELECT max(lsn) FROM records"));
  StmtScope scope(s);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return c->error("read last lsn", rc);
  return static_cast<Lsn>(sqlite3_column_int64(s, 0));
}

Result<JournalStats> SqliteJournal::read_stats() {
  KEEL_ASSIGN_OR_RETURN(auto c, readers_.acquire());
  ReadTransaction tx(c.get());
  KEEL_RETURN_IF_ERROR(tx.status());
  JournalStats st;
  st.backend = "sqlite";
  st.path = path();
  KEEL_ASSIGN_OR_RETURN(const int version, header_version(c.get()));
  st.format_version = static_cast<std::uint16_t>(version);
  KEEL_ASSIGN_OR_RETURN(auto first, end_record(c.get(), false));
  KEEL_ASSIGN_OR_RETURN(auto last, end_record(c.get(), true));
  if (first && last) {
    std::tie(st.first_lsn, st.first_time) = *first;
    std::tie(st.last_lsn, st.last_time) = *last;
  }
  KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts, read_checkpoint(c.get(), st.last_lsn, version));
  if (counts) {
    KEEL_RETURN_IF_ERROR(count_rows_after(c.get(), st.last_lsn, &*counts));
  } else {
    KEEL_ASSIGN_OR_RETURN(counts, count_rows(c.get(), st.last_lsn));
  }
  set_counts(*counts, &st);
  st.size_bytes = file_size(path()) + file_size(path() + "-wal");
  return st;
}

}  // namespace

Result<std::unique_ptr<Journal>> open_sqlite_journal(const std::string& path,
                                                     const JournalOptions& options,
                                                     const BackendHooks& hooks) {
  return SqliteJournal::open(path, options, hooks);
}

}  // namespace keel::internal

namespace keel {

Result<std::unique_ptr<Journal>> open_sqlite_journal(const std::string& path,
                                                     const JournalOptions& options) {
  return internal::open_sqlite_journal(path, options, internal::BackendHooks{});
}

}  // namespace keel
