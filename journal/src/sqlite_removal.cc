#include "sqlite_removal.h"

#include <string>

#include "sqlite_connection.h"

namespace keel::internal {
namespace {

Status sql_error(sqlite3* db, const std::string& path, std::string_view what, int rc) {
  std::string msg = "sqlite journal " + path + ": " + std::string(what) + ": " + sqlite3_errmsg(db) + " (" +
                    sqlite3_errstr(rc) + ")";
  return (rc & 0xFF) == SQLITE_CORRUPT ? Status::corruption(msg) : Status::io_error(msg);
}

// One prepared statement, finalized when the scope ends. Removals are rare
// next to appends, so their statements are not cached.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr);
  }
  ~Statement() { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Status prepared(std::string_view what) const {
    return rc_ == SQLITE_OK ? Status::ok() : sql_error(db_, path_, what, rc_);
  }
  sqlite3_stmt* get() const { return s_; }
  void bind(int i, std::string_view text) {
    sqlite3_bind_text(s_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, std::uint64_t v) { sqlite3_bind_int64(s_, i, to_sql_int(v)); }
  // Steps to the end; kIoError on failure.
  Status run(std::string_view what) {
    int rc;
    while ((rc = sqlite3_step(s_)) == SQLITE_ROW) {
    }
    return rc == SQLITE_DONE ? Status::ok() : sql_error(db_, path_, what, rc);
  }

 private:
  sqlite3* const db_;
  const std::string& path_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

// The single integer `sql` yields with `owner` bound to ?1 (0 for NULL).
Result<std::int64_t> owner_int(sqlite3* db, const std::string& path, const char* sql, std::string_view owner) {
  Statement s(db, path, sql);
  KEEL_RETURN_IF_ERROR(s.prepared(sql));
  if (!owner.empty()) s.bind(1, owner);
  int rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) return sql_error(db, path, sql, rc);
  return sqlite3_column_int64(s.get(), 0);
}

bool has_floors(sqlite3* db) {
  return sqlite3_table_column_metadata(db, nullptr, "floors", "first_seq", nullptr, nullptr, nullptr, nullptr,
                                       nullptr) == SQLITE_OK;
}

}  // namespace

Result<RowsRemoved> remove_rows(sqlite3* db, const std::string& path, std::string_view owner,
                                std::uint64_t below_seq, bool whole) {
  RowsRemoved out;
  KEEL_ASSIGN_OR_RETURN(std::int64_t last_seq,
                        owner_int(db, path, "SELECT max(seq) FROM records WHERE owner = ?1", owner));
  if (last_seq == 0) return out;  // no such owner
  std::uint64_t below = below_seq;
  if (whole) {
    KEEL_ASSIGN_OR_RETURN(std::int64_t owner_last,
                          owner_int(db, path, "SELECT lsn FROM records WHERE owner = ?1 ORDER BY seq DESC LIMIT 1", owner));
    KEEL_ASSIGN_OR_RETURN(std::int64_t journal_last, owner_int(db, path, "SELECT max(lsn) FROM records", {}));
    if (owner_last == journal_last) {
      return Status::failed_precondition("sqlite journal " + path + ": owner " + std::string(owner) +
                                         " holds the newest record (lsn " + std::to_string(journal_last) +
                                         "), which stays until a later append");
    }
    below = std::numeric_limits<std::int64_t>::max();
  } else {
    below = std::min<std::uint64_t>(below, static_cast<std::uint64_t>(last_seq));  // the newest stays
  }
  {
    Statement kinds(db, path, "SELECT kind, count(*) FROM records WHERE owner = ?1 AND seq < ?2 GROUP BY kind");
    KEEL_RETURN_IF_ERROR(kinds.prepared("count records to remove"));
    kinds.bind(1, owner);
    kinds.bind(2, below);
    int rc;
    while ((rc = sqlite3_step(kinds.get())) == SQLITE_ROW) {
      const auto k = static_cast<std::size_t>(sqlite3_column_int64(kinds.get(), 0));
      const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(kinds.get(), 1));
      if (k < out.by_kind.size()) out.by_kind[k] += n;
      out.records += n;
    }
    if (rc != SQLITE_DONE) return sql_error(db, path, "count records to remove", rc);
  }
  if (out.records == 0) return out;
  Statement del(db, path, "DELETE FROM records WHERE owner = ?1 AND seq < ?2");
  KEEL_RETURN_IF_ERROR(del.prepared("remove records"));
  del.bind(1, owner);
  del.bind(2, below);
  KEEL_RETURN_IF_ERROR(del.run("remove records of " + std::string(owner)));
  if (whole) {
    for (const char* sql : {"DELETE FROM owners WHERE owner = ?1", "DELETE FROM floors WHERE owner = ?1"}) {
      Statement s(db, path, sql);
      KEEL_RETURN_IF_ERROR(s.prepared(sql));
      s.bind(1, owner);
      KEEL_RETURN_IF_ERROR(s.run(sql));
    }
    out.owner_gone = true;
  } else {
    Statement floor(db, path, "INSERT OR REPLACE INTO floors (owner, first_seq) VALUES (?1, ?2)");
    KEEL_RETURN_IF_ERROR(floor.prepared("write the first sequence"));
    floor.bind(1, owner);
    floor.bind(2, below);
    KEEL_RETURN_IF_ERROR(floor.run("write the first sequence of " + std::string(owner)));
  }
  Statement count(db, path,
                  "INSERT INTO counters (name, value) VALUES (?1, ?2) "
                  "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value");
  KEEL_RETURN_IF_ERROR(count.prepared("count removed records"));
  count.bind(1, std::string_view(kRemovedCounter));
  count.bind(2, out.records);
  KEEL_RETURN_IF_ERROR(count.run("count removed records"));
  return out;
}

Result<Removals> read_removals(sqlite3* db, const std::string& path) {
  Removals out;
  if (!has_floors(db)) return out;
  KEEL_ASSIGN_OR_RETURN(std::int64_t removed,
                        owner_int(db, path, "SELECT coalesce(max(value), 0) FROM counters WHERE name = ?1",
                                  kRemovedCounter));
  out.removed = static_cast<std::uint64_t>(removed);
  Statement s(db, path, "SELECT owner, first_seq FROM floors");
  KEEL_RETURN_IF_ERROR(s.prepared("read first sequences"));
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0));
    std::string owner(text != nullptr ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(s.get(), 0)));
    out.first_seq[std::move(owner)] = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 1));
  }
  if (rc != SQLITE_DONE) return sql_error(db, path, "read first sequences", rc);
  return out;
}

Status give_back_free_pages(sqlite3* db, const std::string& path) {
  KEEL_ASSIGN_OR_RETURN(std::int64_t free_pages, owner_int(db, path, "PRAGMA freelist_count", {}));
  if (free_pages < kGiveBackPages) return Status::ok();
  int rc = sqlite3_exec(db, "PRAGMA incremental_vacuum", nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::ok() : sql_error(db, path, "incremental vacuum", rc);
}

Status vacuum_file(sqlite3* db, const std::string& path) {
  // The rewritten file goes through the WAL: checkpoint it into the file
  // and truncate the WAL, or the space would only move.
  int rc = sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM; PRAGMA wal_checkpoint(TRUNCATE)", nullptr,
                        nullptr, nullptr);
  return rc == SQLITE_OK ? Status::ok() : sql_error(db, path, "vacuum", rc);
}

}  // namespace keel::internal
