#include "pg_summary.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "pg_schema.h"
#include "record_format.h"

namespace keel::internal {
namespace {

// Each owner's newest record, found through the (owner, seq) index: the
// columns of the owners table, sorted by owner.
constexpr std::string_view kNewestRows =
    "SELECT DISTINCT ON (owner) owner, seq, lsn, time_ns, kind FROM S.records ORDER BY owner, seq DESC";

// Rows of (owner, last_seq, last_lsn, time_ns, kind[, first_seq]).
std::vector<OwnerInfo> owner_rows(const PgResult& r) {
  std::vector<OwnerInfo> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    OwnerInfo o;
    o.owner = std::string(r.bytes(i, 0));
    o.last_seq = static_cast<std::uint64_t>(r.integer(i, 1));
    o.last_lsn = static_cast<Lsn>(r.integer(i, 2));
    if (r.columns() > 5) o.first_seq = static_cast<std::uint64_t>(r.integer(i, 5));
    o.records = o.last_seq - std::min(o.first_seq, o.last_seq) + 1;  // gap-free (verify() checks)
    o.last_time = from_time_ns(r.integer(i, 3));
    o.last_kind = static_cast<RecordKind>(r.integer(i, 4));
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

Result<int> pg_header_version(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(PgResult r,
                        c->exec(in_schema(t.schema, "SELECT value FROM S.meta WHERE key = 'format_version'"), deadline));
  int v = 0;
  if (r.rows() == 1) {
    const std::string_view s = r.bytes(0, 0);
    std::from_chars(s.data(), s.data() + s.size(), v);
  }
  return v;
}

Result<Lsn> pg_max_lsn(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, "SELECT coalesce(max(lsn), 0) FROM S.records"), deadline));
  return r.rows() == 1 ? static_cast<Lsn>(r.integer(0, 0)) : kNoLsn;
}

Result<std::optional<JournalCounts>> pg_read_checkpoint(PgConnection* c, const PgTarget& t, Lsn last,
                                                        int version, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(bool table, pg_has_relation(c, t, "counters", deadline));
  if (!table) return std::optional<JournalCounts>();
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, "SELECT name, value FROM S.counters"), deadline));
  std::map<std::string, std::uint64_t> values;
  for (int i = 0; i < r.rows(); ++i) values[std::string(r.bytes(i, 0))] = static_cast<std::uint64_t>(r.integer(i, 1));
  return counts_from_rows(values, last, version);
}

Status pg_count_rows_after(PgConnection* c, const PgTarget& t, Lsn last, JournalCounts* counts,
                           TimePoint deadline) {
  if (counts->as_of == last) return Status::ok();
  PgParams p;
  p.int64(static_cast<std::int64_t>(counts->as_of)).int64(static_cast<std::int64_t>(last));
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, "SELECT kind, count(*), count(*) FILTER (WHERE seq = 1) "
                                                                "FROM S.records WHERE lsn > $1 AND lsn <= $2 GROUP BY kind"),
                                            p, deadline));
  for (int i = 0; i < r.rows(); ++i) {
    const auto k = static_cast<std::size_t>(r.integer(i, 0));
    if (k < counts->by_kind.size()) counts->by_kind[k] += static_cast<std::uint64_t>(r.integer(i, 1));
    counts->owners += static_cast<std::uint64_t>(r.integer(i, 2));  // a seq 1 starts an owner
  }
  counts->as_of = last;
  return Status::ok();
}

Result<JournalCounts> pg_count_rows(PgConnection* c, const PgTarget& t, Lsn last, TimePoint deadline) {
  JournalCounts counts;
  counts.as_of = last;
  KEEL_ASSIGN_OR_RETURN(PgResult owners,
                        c->exec(in_schema(t.schema, "SELECT count(DISTINCT owner) FROM S.records"), deadline));
  counts.owners = owners.rows() == 1 ? static_cast<std::uint64_t>(owners.integer(0, 0)) : 0;
  KEEL_ASSIGN_OR_RETURN(PgResult r,
                        c->exec(in_schema(t.schema, "SELECT kind, count(*) FROM S.records GROUP BY kind"), deadline));
  for (int i = 0; i < r.rows(); ++i) {
    const auto k = static_cast<std::size_t>(r.integer(i, 0));
    if (k < counts.by_kind.size()) counts.by_kind[k] = static_cast<std::uint64_t>(r.integer(i, 1));
  }
  return counts;
}

Result<std::map<std::string, OwnerInfo>> pg_newest_after(PgConnection* c, const PgTarget& t, Lsn after,
                                                        TimePoint deadline) {
  PgParams p;
  p.int64(static_cast<std::int64_t>(after));
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, "SELECT owner, seq, lsn, time_ns, kind FROM S.records "
                                                                "WHERE lsn > $1 ORDER BY lsn"),
                                            p, deadline));
  std::map<std::string, OwnerInfo> newest;
  for (OwnerInfo& o : owner_rows(r)) newest[o.owner] = std::move(o);  // LSN order: later rows are newer
  return newest;
}

Result<std::vector<OwnerInfo>> pg_read_owners(PgConnection* c, const PgTarget& t, std::optional<Lsn> checkpoint,
                                              TimePoint deadline) {
  if (!checkpoint) {
    KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, kNewestRows), deadline));
    return owner_rows(r);
  }
  KEEL_ASSIGN_OR_RETURN(bool floors, pg_has_relation(c, t, "floors", deadline));
  const char* summaries =
      floors ? "SELECT o.owner, o.last_seq, o.last_lsn, o.last_time_ns, o.last_kind, coalesce(f.first_seq, 1) "
               "FROM S.owners o LEFT JOIN S.floors f ON f.owner = o.owner ORDER BY o.owner"
             : "SELECT owner, last_seq, last_lsn, last_time_ns, last_kind FROM S.owners ORDER BY owner";
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, summaries), deadline));
  std::vector<OwnerInfo> checkpointed = owner_rows(r);
  KEEL_ASSIGN_OR_RETURN(auto newer, pg_newest_after(c, t, *checkpoint, deadline));
  if (newer.empty()) return checkpointed;
  return overlay_newest(std::move(checkpointed), newer);
}

Result<JournalCounts> pg_refill_summaries(PgConnection* c, const PgTarget& t, Lsn last, TimePoint deadline) {
  KEEL_RETURN_IF_ERROR(c->exec_script(in_schema(t.schema, "DELETE FROM S.owners; DELETE FROM S.counters WHERE name <> 'removed'; "
                                                          "INSERT INTO S.owners ") +
                                          in_schema(t.schema, kNewestRows),
                                      deadline));
  KEEL_ASSIGN_OR_RETURN(JournalCounts fresh, pg_count_rows(c, t, last, deadline));
  KEEL_RETURN_IF_ERROR(c->exec(pg_write_counters_sql(t.schema), pg_write_counters_params(fresh), deadline).status());
  return fresh;
}

namespace {

// The stored checkpoint's LSN, 0 before the first.
constexpr std::string_view kStoredAsOf = "(SELECT coalesce(max(value), 0) FROM S.counters WHERE name = 'as_of_lsn')";

}  // namespace

std::string pg_shared_checkpoint_owners_sql(const std::string& schema) {
  return in_schema(schema, "INSERT INTO S.owners (owner, last_seq, last_lsn, last_time_ns, last_kind) "
                           "SELECT DISTINCT ON (owner) owner, seq, lsn, time_ns, kind FROM S.records WHERE lsn > " +
                               std::string(kStoredAsOf) +
                               " ORDER BY owner, seq DESC "
                               "ON CONFLICT (owner) DO UPDATE SET last_seq = excluded.last_seq, "
                               "last_lsn = excluded.last_lsn, last_time_ns = excluded.last_time_ns, "
                               "last_kind = excluded.last_kind WHERE S.owners.last_lsn < excluded.last_lsn");
}

std::string pg_shared_checkpoint_counters_sql(const std::string& schema) {
  std::string name = "CASE kind";
  for (std::size_t k = 1; k < kRecordKindSlots; ++k) {
    name += " WHEN " + std::to_string(k) + " THEN '" + kind_counter_name(k) + "'";
  }
  name += " END";
  return in_schema(schema, "WITH added AS (SELECT kind, count(*) AS n, count(*) FILTER (WHERE seq = 1) AS o "
                           "FROM S.records WHERE lsn > " +
                               std::string(kStoredAsOf) +
                               " GROUP BY kind) "
                               "INSERT INTO S.counters (name, value) SELECT " +
                               name +
                               ", n FROM added WHERE kind BETWEEN 1 AND " + std::to_string(kRecordKindSlots - 1) +
                               " UNION ALL SELECT '" + kOwnersCounterName +
                               "', coalesce(sum(o), 0) FROM added "
                               "ON CONFLICT (name) DO UPDATE SET value = S.counters.value + excluded.value");
}

std::string pg_shared_checkpoint_as_of_sql(const std::string& schema) {
  return in_schema(schema, std::string("INSERT INTO S.counters (name, value) SELECT '") + kAsOfCounterName +
                               "', coalesce(max(lsn), 0) FROM S.records "
                               "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
}

std::string pg_subtract_counters_sql(const std::string& schema) {
  return in_schema(schema, "UPDATE S.counters c SET value = c.value - d.n "
                           "FROM unnest($1::text[], $2::bigint[]) AS d(name, n) WHERE c.name = d.name");
}

PgParams pg_subtract_counters_params(const std::array<std::uint64_t, kRecordKindSlots>& by_kind, bool whole) {
  std::string names = std::string("{") + kOwnersCounterName, values = whole ? "{1" : "{0";
  for (std::size_t k = 1; k < by_kind.size(); ++k) {
    if (by_kind[k] == 0) continue;
    names += "," + kind_counter_name(k);
    values += "," + std::to_string(by_kind[k]);
  }
  PgParams p;
  p.literal(names + "}").literal(values + "}");
  return p;
}

std::string pg_write_counters_sql(const std::string& schema) {
  return in_schema(schema, "INSERT INTO S.counters (name, value) SELECT * FROM unnest($1::text[], $2::bigint[]) "
                           "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
}

PgParams pg_write_counters_params(const JournalCounts& counts) {
  std::string names = "{", values = "{";
  for (const auto& [name, value] : counter_rows(counts)) {
    if (names.size() > 1) {
      names += ',';
      values += ',';
    }
    names += name;  // [a-z_.]: no quoting needed in an array literal
    values += std::to_string(value);
  }
  PgParams p;
  p.literal(names + "}").literal(values + "}");
  return p;
}

std::string pg_write_owner_sql(const std::string& schema) {
  return in_schema(schema, "INSERT INTO S.owners (owner, last_seq, last_lsn, last_time_ns, last_kind) "
                           "VALUES ($1::bytea, $2::bigint, $3::bigint, $4::bigint, ($5::bigint)::smallint) "
                           "ON CONFLICT (owner) DO UPDATE SET last_seq = excluded.last_seq, "
                           "last_lsn = excluded.last_lsn, last_time_ns = excluded.last_time_ns, "
                           "last_kind = excluded.last_kind");
}

PgParams pg_write_owner_params(const OwnerInfo& o) {
  PgParams p;
  p.bytes(o.owner)
      .int64(static_cast<std::int64_t>(o.last_seq))
      .int64(static_cast<std::int64_t>(o.last_lsn))
      .int64(to_time_ns(o.last_time))
      .int64(static_cast<std::int64_t>(o.last_kind));
  return p;
}

}  // namespace keel::internal
