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
#include <utility>
#include <vector>

#include "file_lock.h"
#include "journal_base.h"
#include "journal_internal.h"
#include "keel/base/thread_annotations.h"
#include "record_format.h"

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

std::int64_t to_sql_int(std::uint64_t v) {
  return static_cast<std::int64_t>(
      std::min<std::uint64_t>(v, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
}

std::uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// A SQLite connection with its prepared statements, which are kept for reuse.
// Not thread-safe: used by one thread at a time.
class Connection {
 public:
  // Errors: kIoError (cannot open).
  static Result<std::unique_ptr<Connection>> open(const std::string& path, int flags,
                                                  const std::string& vfs) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX,
                             vfs.empty() ? nullptr : vfs.c_str());
    std::unique_ptr<Connection> c(new Connection(db, path));
    if (rc != SQLITE_OK) return c->error("open", rc);
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 10000);
    // Recovery reads an owner's rows through the (owner, seq) index, which
    // visits table pages out of order: map the file and keep a larger page
    // cache (64 MiB) rather than read each page again with pread().
    KEEL_RETURN_IF_ERROR(c->exec("PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -65536"));
    return c;
  }

  ~Connection() {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  // Returns the cached statement for `sql`, reset and unbound.
  Result<sqlite3_stmt*> prepare(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return error("prepare", rc);
    stmts_.emplace(sql, stmt);
    return stmt;
  }

  Status exec(const char* sql) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::ok() : error(sql, rc);
  }

  // kCorruption for a file that is not a database or is damaged, else kIoError.
  Status error(std::string_view what, int rc) const {
    std::string msg = "sqlite journal " + path_ + ": " + std::string(what) + ": " +
                      (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)) + " (" +
                      sqlite3_errstr(rc) + ")";
    int primary = rc & 0xFF;
    if (primary == SQLITE_NOTADB) {
      return Status::corruption("sqlite journal " + path_ + ": not a Keel journal (" +
                                sqlite3_errstr(rc) + ")");
    }
    if (primary == SQLITE_CORRUPT) return Status::corruption(msg);
    return Status::io_error(msg);
  }

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* const db_;
  const std::string path_;
  std::map<std::string, sqlite3_stmt*> stmts_;
};

// Resets and unbinds a borrowed statement when the scope ends.
class StmtScope {
 public:
  explicit StmtScope(sqlite3_stmt* s) : s_(s) {}
  ~StmtScope() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;

 private:
  sqlite3_stmt* const s_;
};

Record row_to_record(sqlite3_stmt* s) {
  Record r;
  r.lsn = static_cast<Lsn>(sqlite3_column_int64(s, 0));
  const auto* owner = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  r.owner.assign(owner != nullptr ? owner : "", static_cast<std::size_t>(sqlite3_column_bytes(s, 1)));
  r.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
  r.kind = static_cast<RecordKind>(sqlite3_column_int(s, 3));
  r.time = from_time_ns(sqlite3_column_int64(s, 4));
  r.format_version = static_cast<std::uint16_t>(sqlite3_column_int(s, 5));
  r.crc = static_cast<std::uint32_t>(sqlite3_column_int64(s, 6));
  r.compacted = sqlite3_column_int(s, 7) != 0;
  const void* payload = sqlite3_column_blob(s, 8);
  r.payload.assign(payload != nullptr ? static_cast<const char*>(payload) : "",
                   static_cast<std::size_t>(sqlite3_column_bytes(s, 8)));
  return r;
}

// Steps `s` (a kSelectRecord query) and calls fn per row until it returns false.
Status for_each_row(Connection* c, sqlite3_stmt* s, const RawRecordFn& fn) {
  for (;;) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return Status::ok();
    if (rc != SQLITE_ROW) return c->error("read", rc);
    if (!fn(row_to_record(s), Status::ok())) return Status::ok();
  }
}

// Checks the header in the meta table. kCorruption when it is missing or not
// Keel's, kFailedPrecondition for a newer format version.
Status check_header(Connection* c, const std::string& path) {
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
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const auto* k = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    const auto* v = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
    meta[k != nullptr ? k : ""] = v != nullptr ? v : "";
  }
  if (rc != SQLITE_DONE) return c->error("read header", rc);
  if (meta["magic"] != kJournalMagic) {
    return Status::corruption("sqlite journal " + path + ": not a Keel journal (bad magic)");
  }
  if (meta["backend"] != "sqlite") {
    return Status::corruption("sqlite journal " + path + ": damaged header (backend '" +
                              meta["backend"] + "')");
  }
  char* end = nullptr;
  unsigned long version = std::strtoul(meta["format_version"].c_str(), &end, 10);
  if (meta["format_version"].empty() || *end != '\0') {
    return Status::corruption("sqlite journal " + path + ": damaged header (format_version '" +
                              meta["format_version"] + "')");
  }
  if (version > kJournalFormatVersion) {
    return Status::failed_precondition(
        "sqlite journal " + path + " has format version " + std::to_string(version) +
        "; this build reads versions up to " + std::to_string(kJournalFormatVersion));
  }
  return Status::ok();
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
  ReaderPool(std::string path, std::string vfs) : path_(std::move(path)), vfs_(std::move(vfs)) {}

  // A connection for one read; returned to the pool when the lease ends.
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
    ~Lease() {
      if (c_) pool_->release(std::move(c_));
    }
    Lease(Lease&&) = default;
    Connection* operator->() const { return c_.get(); }
    Connection* get() const { return c_.get(); }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Connection> c_;
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
    KEEL_ASSIGN_OR_RETURN(auto c, Connection::open(path_, SQLITE_OPEN_READONLY, vfs_));
    return Lease(this, std::move(c));
  }

 private:
  static constexpr std::size_t kMaxIdle = 4;

  void release(std::unique_ptr<Connection> c) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
  }

  const std::string path_;
  const std::string vfs_;
  Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ KEEL_GUARDED_BY(mu_);
};

// Thread-safe (see Journal). The write connection belongs to the journal
// writer thread once open() has returned.
class SqliteJournal final : public JournalBase, private CommitTarget {
 public:
  static Result<std::unique_ptr<Journal>> open(const std::string& path,
                                               const JournalOptions& options,
                                               const BackendHooks& hooks);
  ~SqliteJournal() override { stop_writer(); }

  Result<std::vector<OwnerInfo>> owners() override;
  Result<Lsn> last_lsn() override;

 private:
  SqliteJournal(const std::string& path, const JournalOptions& options, const std::string& vfs)
      : JournalBase(path, options), readers_(path, vfs) {}

  Status open_writer(const std::string& vfs);

  // JournalBase
  Status read_owner(std::string_view owner, std::uint64_t from_seq, const RawRecordFn& fn) override;
  Status read_lsn(Lsn first, Lsn last, const RawRecordFn& fn) override;
  Status read_owner_backwards(std::string_view owner, const RawRecordFn& fn) override;
  Result<bool> read_latest_snapshot(std::string_view owner, const RawRecordFn& fn) override;
  Result<std::uint64_t> compact_on_writer(std::string_view owner, std::uint64_t below_seq) override;
  Result<JournalStats> read_stats() override;

  // CommitTarget
  Result<std::uint64_t> load_last_seq(std::string_view owner) override;
  Status write_group(const std::vector<Record>& records) override;

  Status roll_back_writer();

  std::unique_ptr<FileLock> lock_;     // held by a writable journal
  std::unique_ptr<Connection> writer_;  // journal writer thread only
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
  if (exists) KEEL_RETURN_IF_ERROR(check_sqlite_file(path));
  std::unique_ptr<SqliteJournal> j(new SqliteJournal(path, options, hooks.sqlite_vfs));
  if (options.read_only) {
    KEEL_ASSIGN_OR_RETURN(auto reader, j->readers_.acquire());
    KEEL_RETURN_IF_ERROR(check_header(reader.get(), path));
  } else {
    KEEL_RETURN_IF_ERROR(j->open_writer(hooks.sqlite_vfs));
  }
  return std::unique_ptr<Journal>(std::move(j));
}

Status SqliteJournal::open_writer(const std::string& vfs) {
  KEEL_ASSIGN_OR_RETURN(lock_, FileLock::acquire(path() + ".lock", "sqlite journal " + path()));
  KEEL_ASSIGN_OR_RETURN(writer_,
                        Connection::open(path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs));
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, writer_->prepare("SELECT count(*) FROM sqlite_master"));
  int tables;
  {
    StmtScope scope(s);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return writer_->error("read schema", rc);
    tables = sqlite3_column_int(s, 0);
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
    std::string create = std::string("BEGIN IMMEDIATE;") + kSchema +
                         "INSERT INTO meta VALUES ('magic', '" + std::string(kJournalMagic) +
                         "'), ('format_version', " + std::to_string(kJournalFormatVersion) +
                         "), ('backend', 'sqlite'); COMMIT;";
    Status created = writer_->exec(create.c_str());
    if (!created.is_ok()) {
      roll_back_writer().ignore();
      return created;
    }
  }
  KEEL_RETURN_IF_ERROR(check_header(writer_.get(), path()));
  KEEL_RETURN_IF_ERROR(writer_->exec(kSnapshotIndex));
  KEEL_ASSIGN_OR_RETURN(s, writer_->prepare("SELECT max(lsn) FROM records"));
  Lsn last;
  {
    StmtScope scope(s);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return writer_->error("read last lsn", rc);
    last = static_cast<Lsn>(sqlite3_column_int64(s, 0));
  }
  start_writer(this, last);
  return Status::ok();
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

Status SqliteJournal::write_group(const std::vector<Record>& records) {
  const std::string what = "commit of lsn " + std::to_string(records.front().lsn) + ".." +
                           std::to_string(records.back().lsn);
  auto fail = [&](int rc) {
    Status s = writer_->error(what, rc);
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
  for (const Record& r : records) {
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
  StmtScope scope(commit);
  int rc = sqlite3_step(commit);
  if (rc != SQLITE_DONE) return fail(rc);
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
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare("SELECT owner, max(seq), max(lsn), count(*), max(time_ns) "
                                   "FROM records GROUP BY owner ORDER BY owner"));
  StmtScope scope(s);
  std::vector<OwnerInfo> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    OwnerInfo o;
    o.owner.assign(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
                   static_cast<std::size_t>(sqlite3_column_bytes(s, 0)));
    o.last_seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    o.last_lsn = static_cast<Lsn>(sqlite3_column_int64(s, 2));
    o.records = static_cast<std::uint64_t>(sqlite3_column_int64(s, 3));
    o.last_time = from_time_ns(sqlite3_column_int64(s, 4));
    out.push_back(std::move(o));
  }
  if (rc != SQLITE_DONE) return c->error("list owners", rc);
  return out;
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
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare("SELECT min(lsn), max(lsn), count(*), count(DISTINCT owner) "
                                   "FROM records"));
  StmtScope scope(s);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return c->error("read stats", rc);
  JournalStats st;
  st.backend = "sqlite";
  st.path = path();
  st.first_lsn = static_cast<Lsn>(sqlite3_column_int64(s, 0));
  st.last_lsn = static_cast<Lsn>(sqlite3_column_int64(s, 1));
  st.records = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
  st.owners = static_cast<std::uint64_t>(sqlite3_column_int64(s, 3));
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
