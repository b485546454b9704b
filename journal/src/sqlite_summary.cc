#include "sqlite_summary.h"

#include <algorithm>
#include <utility>

#include "record_format.h"

namespace keel::internal {

const char kSummaryTables[] =
    "CREATE TABLE IF NOT EXISTS owners ("
    "  owner TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, last_lsn INTEGER NOT NULL,"
    "  last_time_ns INTEGER NOT NULL, last_kind INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;";
const char kAsOfCounter[] = "as_of_lsn";

namespace {

// Each owner's newest row, found through the (owner, seq) index: the same
// columns as the owners table, sorted by owner.
constexpr char kNewestRows[] =
    "SELECT r.owner, r.seq, r.lsn, r.time_ns, r.kind FROM records r "
    "JOIN (SELECT owner, max(seq) AS seq FROM records GROUP BY owner) m "
    "ON r.owner = m.owner AND r.seq = m.seq ORDER BY r.owner";

// Steps `s` (owner, last_seq, last_lsn, time_ns, kind rows, and first_seq
// when it has a sixth column) into OwnerInfos.
Result<std::vector<OwnerInfo>> owner_rows(SqliteConnection* c, sqlite3_stmt* s) {
  std::vector<OwnerInfo> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    OwnerInfo o;
    o.owner = column_string(s, 0);
    o.last_seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    o.last_lsn = static_cast<Lsn>(sqlite3_column_int64(s, 2));
    if (sqlite3_column_count(s) > 5) o.first_seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 5));
    o.records = o.last_seq - std::min(o.first_seq, o.last_seq) + 1;  // gap-free (verify() checks)
    o.last_time = from_time_ns(sqlite3_column_int64(s, 3));
    o.last_kind = static_cast<RecordKind>(sqlite3_column_int(s, 4));
    out.push_back(std::move(o));
  }
  if (rc != SQLITE_DONE) return c->error("list owners", rc);
  return out;
}

Status write_owner(SqliteConnection* c, const OwnerInfo& o) {
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare("INSERT OR REPLACE INTO owners (owner, last_seq, last_lsn, last_time_ns, "
                                   "last_kind) VALUES (?1, ?2, ?3, ?4, ?5)"));
  StmtScope scope(s);
  sqlite3_bind_text(s, 1, o.owner.data(), static_cast<int>(o.owner.size()), SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, to_sql_int(o.last_seq));
  sqlite3_bind_int64(s, 3, to_sql_int(o.last_lsn));
  sqlite3_bind_int64(s, 4, to_time_ns(o.last_time));
  sqlite3_bind_int(s, 5, static_cast<int>(o.last_kind));
  int rc = sqlite3_step(s);
  return rc == SQLITE_DONE ? Status::ok() : c->error("write the summary of " + o.owner, rc);
}

}  // namespace

Result<int> header_version(SqliteConnection* c) {
  KEEL_ASSIGN_OR_RETURN(std::int64_t v, query_int(c, "SELECT value FROM meta WHERE key = 'format_version'"));
  return static_cast<int>(v);
}

Result<std::optional<JournalCounts>> read_checkpoint(SqliteConnection* c, Lsn last, int version) {
  KEEL_ASSIGN_OR_RETURN(std::int64_t tables,
                        query_int(c, "SELECT count(*) FROM sqlite_master WHERE name = 'counters'"));
  if (tables == 0) return std::optional<JournalCounts>();
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare("SELECT name, value FROM counters"));
  StmtScope scope(s);
  std::map<std::string, std::uint64_t> values;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    values[column_string(s, 0)] = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
  }
  if (rc != SQLITE_DONE) return c->error("read counters", rc);
  return counts_from_rows(values, last, version);
}

Status count_rows_after(SqliteConnection* c, Lsn last, JournalCounts* counts) {
  if (counts->as_of == last) return Status::ok();
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare("SELECT kind, count(*), sum(seq = 1) FROM records "
                                   "WHERE lsn > ?1 AND lsn <= ?2 GROUP BY kind"));
  StmtScope scope(s);
  sqlite3_bind_int64(s, 1, to_sql_int(counts->as_of));
  sqlite3_bind_int64(s, 2, to_sql_int(last));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const auto k = static_cast<std::size_t>(sqlite3_column_int64(s, 0));
    if (k < counts->by_kind.size()) counts->by_kind[k] += static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    counts->owners += static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));  // a seq 1 starts an owner
  }
  if (rc != SQLITE_DONE) return c->error("count the records after the counters", rc);
  counts->as_of = last;
  return Status::ok();
}

Result<JournalCounts> count_rows(SqliteConnection* c, Lsn last) {
  JournalCounts counts;
  counts.as_of = last;
  KEEL_ASSIGN_OR_RETURN(std::int64_t owners, query_int(c, "SELECT count(DISTINCT owner) FROM records"));
  counts.owners = static_cast<std::uint64_t>(owners);
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare("SELECT kind, count(*) FROM records GROUP BY kind"));
  StmtScope scope(s);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const auto k = static_cast<std::size_t>(sqlite3_column_int64(s, 0));
    if (k < counts.by_kind.size()) counts.by_kind[k] = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
  }
  if (rc != SQLITE_DONE) return c->error("count records by kind", rc);
  return counts;
}

Result<std::map<std::string, OwnerInfo>> newest_after(SqliteConnection* c, Lsn after) {
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s,
                        c->prepare("SELECT owner, seq, lsn, time_ns, kind FROM records WHERE lsn > ?1 ORDER BY lsn"));
  StmtScope scope(s);
  sqlite3_bind_int64(s, 1, to_sql_int(after));
  KEEL_ASSIGN_OR_RETURN(std::vector<OwnerInfo> rows, owner_rows(c, s));
  std::map<std::string, OwnerInfo> newest;
  for (OwnerInfo& o : rows) newest[o.owner] = std::move(o);  // LSN order: later rows are newer
  return newest;
}

Result<std::vector<OwnerInfo>> read_owners(SqliteConnection* c, std::optional<Lsn> checkpoint) {
  if (!checkpoint) {
    KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare(kNewestRows));
    StmtScope scope(s);
    return owner_rows(c, s);
  }
  KEEL_ASSIGN_OR_RETURN(std::int64_t floors,
                        query_int(c, "SELECT count(*) FROM sqlite_master WHERE name = 'floors'"));
  const char* summaries =
      floors != 0 ? "SELECT o.owner, o.last_seq, o.last_lsn, o.last_time_ns, o.last_kind, "
                    "coalesce(f.first_seq, 1) FROM owners o LEFT JOIN floors f ON f.owner = o.owner "
                    "ORDER BY o.owner"
                  : "SELECT owner, last_seq, last_lsn, last_time_ns, last_kind FROM owners ORDER BY owner";
  std::vector<OwnerInfo> checkpointed;
  {
    KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare(summaries));
    StmtScope scope(s);
    KEEL_ASSIGN_OR_RETURN(checkpointed, owner_rows(c, s));
  }
  KEEL_ASSIGN_OR_RETURN(auto newer, newest_after(c, *checkpoint));
  if (newer.empty()) return checkpointed;
  return overlay_newest(std::move(checkpointed), newer);
}

Status write_checkpoint(SqliteConnection* c, const JournalCounts& counts,
                        const std::unordered_map<std::string, OwnerInfo>& owners) {
  for (const auto& [owner, o] : owners) KEEL_RETURN_IF_ERROR(write_owner(c, o));
  KEEL_ASSIGN_OR_RETURN(sqlite3_stmt * s, c->prepare("INSERT OR REPLACE INTO counters (name, value) VALUES (?1, ?2)"));
  auto put = [&](const std::string& name, std::uint64_t value) -> Status {
    StmtScope scope(s);
    sqlite3_bind_text(s, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, to_sql_int(value));
    int rc = sqlite3_step(s);
    return rc == SQLITE_DONE ? Status::ok() : c->error("write counters", rc);
  };
  for (const auto& [name, value] : counter_rows(counts)) KEEL_RETURN_IF_ERROR(put(name, value));
  return Status::ok();
}

Result<JournalCounts> refill_summaries(SqliteConnection* c, Lsn last) {
  KEEL_RETURN_IF_ERROR(c->exec("DELETE FROM owners; DELETE FROM counters"));
  KEEL_RETURN_IF_ERROR(c->exec((std::string("INSERT INTO owners ") + kNewestRows).c_str()));
  KEEL_ASSIGN_OR_RETURN(JournalCounts fresh, count_rows(c, last));
  KEEL_RETURN_IF_ERROR(write_checkpoint(c, fresh, {}));
  return fresh;
}

}  // namespace keel::internal
