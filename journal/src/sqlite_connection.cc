#include "sqlite_connection.h"

#include <utility>

#include "record_format.h"

namespace keel::internal {

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(const std::string& path, int flags, const std::string& vfs,
                                                     bool bounded_memory) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX,
                           vfs.empty() ? nullptr : vfs.c_str());
  std::unique_ptr<SqliteConnection> c(new SqliteConnection(db, path));
  if (rc != SQLITE_OK) return c->error("open", rc);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 10000);
  // Recovery reads an owner's rows through the (owner, seq) index, which
  // visits table pages out of order: map the file and keep a larger page
  // cache (64 MiB) rather than read each page again with pread(). A bounded
  // connection (a read-only journal: inspection) keeps 8 MiB and no map,
  // whose pages would count in the process's resident memory.
  KEEL_RETURN_IF_ERROR(c->exec(bounded_memory ? "PRAGMA mmap_size = 0; PRAGMA cache_size = -8192"
                                              : "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -65536"));
  return c;
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Result<sqlite3_stmt*> SqliteConnection::prepare(const std::string& sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return error("prepare", rc);
  stmts_.emplace(sql, stmt);
  return stmt;
}

Status SqliteConnection::exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::ok() : error(sql, rc);
}

Status SqliteConnection::error(std::string_view what, int rc) const {
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

std::string column_string(sqlite3_stmt* s, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return std::string(text != nullptr ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(s, col)));
}

void read_row(sqlite3_stmt* s, Record* r) {
  r->lsn = static_cast<Lsn>(sqlite3_column_int64(s, 0));
  const auto* owner = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  r->owner.assign(owner != nullptr ? owner : "", static_cast<std::size_t>(sqlite3_column_bytes(s, 1)));
  r->seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
  r->kind = static_cast<RecordKind>(sqlite3_column_int(s, 3));
  r->time = from_time_ns(sqlite3_column_int64(s, 4));
  r->format_version = static_cast<std::uint16_t>(sqlite3_column_int(s, 5));
  r->crc = static_cast<std::uint32_t>(sqlite3_column_int64(s, 6));
  r->compacted = sqlite3_column_int(s, 7) != 0;
  const void* payload = sqlite3_column_blob(s, 8);
  r->payload.assign(payload != nullptr ? static_cast<const char*>(payload) : "",
                    static_cast<std::size_t>(sqlite3_column_bytes(s, 8)));
}

Status for_each_row(SqliteConnection* c, sqlite3_stmt* s, const RawRecordFn& fn) {
  Record r;
  for (;;) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return Status::ok();
    if (rc != SQLITE_ROW) return c->error("read", rc);
    read_row(s, &r);
    if (!fn(r, Status::ok())) return Status::ok();
  }
}

// Runs `sql` (one row, one integer column) and returns the integer; 0 for NULL.
Result<std::int64_t> query_int(SqliteConnection* c, const std::string& sql) {
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare(sql));
  StmtScope scope(s);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return c->error(sql, rc);
  return sqlite3_column_int64(s, 0);
}

}  // namespace keel::internal
