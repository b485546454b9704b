// sqlite_connection.h: one SQLite connection of a SqliteJournal, with its
// cached prepared statements, and the helpers that read record rows.
// Not thread-safe: a connection belongs to the writer thread, or to one scan
// at a time (borrowed from the reader pool).
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "journal_base.h"
#include "keel/base/status.h"
#include "keel/journal/journal.h"

namespace keel::internal {

class SqliteConnection {
 public:
  // Opens `path` with `flags` (SQLITE_OPEN_*) through `vfs` (empty: the
  // default). With `bounded_memory` the connection maps no memory and keeps
  // a small page cache, so a scan of the whole journal does not grow the
  // process. Errors: kIoError (cannot open), kCorruption (not a database).
  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path, int flags, const std::string& vfs,
                                                  bool bounded_memory = false);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  sqlite3* db() const { return db_; }

  // Returns the cached statement for `sql`, reset and unbound.
  Result<sqlite3_stmt*> prepare(const std::string& sql);
  Status exec(const char* sql);
  // kCorruption for a file that is not a database or is damaged, else kIoError.
  Status error(std::string_view what, int rc) const;

 private:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
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

// `v` as a SQLite integer, clamped to its largest value.
inline std::int64_t to_sql_int(std::uint64_t v) {
  return static_cast<std::int64_t>(
      std::min<std::uint64_t>(v, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
}

// Column `col` of the current row as a string (empty for NULL).
std::string column_string(sqlite3_stmt* s, int col);
// Reads a row of "SELECT lsn, owner, seq, kind, time_ns, version, crc,
// compacted, payload" into *r, reusing its strings' storage.
void read_row(sqlite3_stmt* s, Record* r);
// Steps `s` (such a query) and calls fn per row until it returns false. One
// Record is refilled for every row: a scan allocates only when a row is
// larger than every row before it.
Status for_each_row(SqliteConnection* c, sqlite3_stmt* s, const RawRecordFn& fn);
// Runs `sql` (one row, one integer column) and returns the integer; 0 for NULL.
Result<std::int64_t> query_int(SqliteConnection* c, const std::string& sql);

}  // namespace keel::internal
