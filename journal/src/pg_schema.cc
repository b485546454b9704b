#include "pg_schema.h"

#include <charconv>
#include <map>
#include <unordered_map>

#include "journal_probe.h"
#include "record_format.h"

namespace keel::internal {

std::string in_schema(const std::string& s, std::string_view sql) {
  std::string out;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == 'S' && i + 1 < sql.size() && sql[i + 1] == '.' && (i == 0 || sql[i - 1] == ' ' || sql[i - 1] == '(' || sql[i - 1] == '\n')) {
      out += s;
    } else {
      out.push_back(sql[i]);
    }
  }
  return out;
}

namespace {

constexpr std::string_view kTables = R"sql(
CREATE TABLE S.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE S.records (
  lsn bigint PRIMARY KEY, owner bytea NOT NULL, seq bigint NOT NULL,
  kind smallint NOT NULL, time_ns bigint NOT NULL, version smallint NOT NULL,
  crc bigint NOT NULL, compacted boolean NOT NULL DEFAULT false, payload bytea NOT NULL,
  CONSTRAINT records_owner_seq UNIQUE (owner, seq));
)sql";

constexpr std::string_view kAdditions = R"sql(
CREATE INDEX IF NOT EXISTS records_snapshots ON S.records (owner, seq) WHERE kind = 4;
CREATE TABLE IF NOT EXISTS S.owners (
  owner bytea PRIMARY KEY, last_seq bigint NOT NULL, last_lsn bigint NOT NULL,
  last_time_ns bigint NOT NULL, last_kind smallint NOT NULL);
CREATE TABLE IF NOT EXISTS S.counters (name text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE IF NOT EXISTS S.floors (owner bytea PRIMARY KEY, first_seq bigint NOT NULL);
CREATE TABLE IF NOT EXISTS S.epochs (
  shard integer PRIMARY KEY, epoch bigint NOT NULL, holder text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS S.commits (id bigint PRIMARY KEY, first_lsn bigint NOT NULL, last_lsn bigint NOT NULL);
CREATE TABLE IF NOT EXISTS S.admin (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), host text NOT NULL, pid bigint NOT NULL,
  socket text NOT NULL, token text NOT NULL, announced_at timestamptz NOT NULL DEFAULT now());
CREATE OR REPLACE FUNCTION S.check_epochs(p_shards integer[], p_epochs bigint[]) RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE
  stale record;
BEGIN
  PERFORM 1 FROM S.epochs WHERE shard = ANY (p_shards) ORDER BY shard FOR SHARE;
  SELECT h.shard, h.epoch AS held, e.epoch AS current, e.holder INTO stale
    FROM unnest(p_shards, p_epochs) AS h(shard, epoch) LEFT JOIN S.epochs e ON e.shard = h.shard
    WHERE e.epoch IS DISTINCT FROM h.epoch LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'KL001', MESSAGE = format(
      'ownership lost: shard %s is at epoch %s (claimed by %s); this writer holds epoch %s',
      stale.shard, coalesce(stale.current::text, 'none'), coalesce(stale.holder, 'nobody'), stale.held);
  END IF;
END
$f$;
)sql";

// What the schema holds: whether it exists, how many tables, whether one
// is called meta.
struct Probe {
  bool schema = false;
  std::int64_t tables = 0;
  bool meta = false;
};

Result<Probe> probe(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  PgParams p;
  p.text(t.schema);
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec("SELECT n.oid IS NOT NULL, "
                                            "(SELECT count(*) FROM pg_class k WHERE k.relnamespace = n.oid "
                                            "  AND k.relkind IN ('r', 'p', 'v', 'm', 'f')), "
                                            "(SELECT count(*) FROM pg_class k WHERE k.relnamespace = n.oid "
                                            "  AND k.relname = 'meta' AND k.relkind = 'r') "
                                            "FROM (SELECT (SELECT oid FROM pg_namespace WHERE nspname = $1) AS oid) n",
                                            p, deadline));
  if (r.rows() != 1) return c->error("probe the schema");
  return Probe{r.integer(0, 0) != 0, r.integer(0, 1), r.integer(0, 2) != 0};
}

std::string what(const PgTarget& t) { return "postgresql journal " + t.display; }

int to_int(const std::string& s, int fallback) {
  int v = fallback;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : fallback;
}

Result<PgHeader> read_header(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, "SELECT key, value FROM S.meta"), deadline));
  std::map<std::string, std::string> meta;
  for (int i = 0; i < r.rows(); ++i) meta[std::string(r.bytes(i, 0))] = std::string(r.bytes(i, 1));
  KEEL_RETURN_IF_ERROR(
      check_header_entries(what(t), meta["magic"], meta["format_version"], meta["backend"], "postgresql"));
  PgHeader h;
  h.format_version = to_int(meta["format_version"], 0);
  h.layout_version = to_int(meta["layout_version"], 0);
  const int shards = to_int(meta["shards"], 0);
  if (h.layout_version < 1 || shards < 1) {
    return Status::corruption(what(t) + ": damaged header (layout_version or shards)");
  }
  if (h.layout_version > kPgLayoutVersion) {
    return Status::failed_precondition(what(t) + ": layout version " + std::to_string(h.layout_version) +
                                       " is newer than this build reads (" + std::to_string(kPgLayoutVersion) + ")");
  }
  h.shards = static_cast<std::uint32_t>(shards);
  return h;
}

Status not_a_journal(const PgTarget& t, const char* why) {
  return Status::corruption(what(t) + ": not a Keel journal (" + why + ")");
}

// The body of create_or_upgrade, inside its transaction.
Result<PgHeader> create_or_upgrade_in(PgConnection* c, const PgTarget& t, bool create, TimePoint deadline) {
  PgParams lock;
  lock.literal("keel-journal/" + t.schema);
  // Two writers opening a new journal at once: one creates, the other waits.
  KEEL_RETURN_IF_ERROR(c->exec("SELECT pg_advisory_xact_lock(hashtext($1))", lock, deadline).status());
  KEEL_ASSIGN_OR_RETURN(Probe found, probe(c, t, deadline));
  if (!found.schema && !create) return Status::not_found(what(t) + " does not exist");
  if (found.schema && !found.meta && found.tables > 0) return not_a_journal(t, "the schema holds other tables");
  if (found.schema && !found.meta && !create) return not_a_journal(t, "an empty schema");
  if (!found.meta) {
    std::string ddl = found.schema ? "" : "CREATE SCHEMA " + t.schema + ";";
    ddl += pg_create_tables(t.schema);
    ddl += in_schema(t.schema, "INSERT INTO S.meta (key, value) VALUES ('magic', '") + std::string(kJournalMagic) +
           "'), ('format_version', '" + std::to_string(kJournalFormatVersion) +
           "'), ('backend', 'postgresql'), ('layout_version', '" + std::to_string(kPgLayoutVersion) +
           "'), ('shards', '" + std::to_string(kPgShards) + "');";
    KEEL_RETURN_IF_ERROR(c->exec_script(ddl, deadline));
  }
  KEEL_ASSIGN_OR_RETURN(PgHeader h, read_header(c, t, deadline));
  KEEL_RETURN_IF_ERROR(c->exec_script(pg_upgrade_tables(t.schema), deadline));
  if (h.layout_version < kPgLayoutVersion) {
    KEEL_RETURN_IF_ERROR(c->exec_script(in_schema(t.schema, "UPDATE S.meta SET value = '") +
                                            std::to_string(kPgLayoutVersion) + "' WHERE key = 'layout_version'",
                                        deadline));
    h.layout_version = kPgLayoutVersion;
  }
  return h;
}

}  // namespace

std::string pg_create_tables(const std::string& s) { return in_schema(s, kTables) + pg_upgrade_tables(s); }
std::string pg_upgrade_tables(const std::string& s) { return in_schema(s, kAdditions); }

Result<PgHeader> create_or_upgrade(PgConnection* c, const PgTarget& t, bool create, TimePoint deadline) {
  KEEL_RETURN_IF_ERROR(c->exec_script("BEGIN", deadline));
  Result<PgHeader> h = create_or_upgrade_in(c, t, create, deadline);
  if (!h.has_value()) {
    if (!c->is_broken()) c->exec_script("ROLLBACK", deadline).ignore();  // `h` is the error to report
    return h;
  }
  KEEL_RETURN_IF_ERROR(c->exec_script("COMMIT", deadline));
  return h;
}

Result<PgHeader> check_pg_journal(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(Probe found, probe(c, t, deadline));
  if (!found.schema) return Status::not_found(what(t) + " does not exist");
  if (!found.meta) return not_a_journal(t, found.tables > 0 ? "the schema holds other tables" : "an empty schema");
  return read_header(c, t, deadline);
}

Result<std::vector<PgShardEpoch>> claim_shards(PgConnection* c, const PgTarget& t, const PgHeader& header,
                                               const std::vector<std::uint32_t>& shards, std::string_view holder,
                                               TimePoint deadline) {
  std::string list = "{";
  for (std::uint32_t s : shards) {
    if (s >= header.shards) {
      return Status::invalid_argument(what(t) + ": shard " + std::to_string(s) + " is out of range (the journal has " +
                                      std::to_string(header.shards) + ")");
    }
    list += (list.size() > 1 ? "," : "") + std::to_string(s);
  }
  list += "}";
  PgParams p;
  p.literal(list).text(holder);
  KEEL_ASSIGN_OR_RETURN(
      PgResult r,
      c->exec(in_schema(t.schema,
                        "INSERT INTO S.epochs (shard, epoch, holder) SELECT s, 1, $2 FROM unnest($1::integer[]) AS s "
                        "ON CONFLICT (shard) DO UPDATE SET epoch = S.epochs.epoch + 1, holder = excluded.holder, "
                        "claimed_at = now() RETURNING shard, epoch"),
              p, deadline));
  std::unordered_map<std::uint32_t, std::uint64_t> got;
  for (int i = 0; i < r.rows(); ++i) {
    got[static_cast<std::uint32_t>(r.integer(i, 0))] = static_cast<std::uint64_t>(r.integer(i, 1));
  }
  std::vector<PgShardEpoch> out;
  for (std::uint32_t s : shards) out.push_back(PgShardEpoch{s, got[s]});
  return out;
}

Result<bool> pg_has_relation(PgConnection* c, const PgTarget& t, const char* name, TimePoint deadline) {
  PgParams p;
  p.literal(t.schema + "." + name);
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec("SELECT to_regclass($1) IS NOT NULL", p, deadline));
  return r.rows() == 1 && r.integer(0, 0) != 0;
}

}  // namespace keel::internal
