// drain_host and undrain_host: the `draining` column of the hosts table
// (docs/cluster.md, "Draining a host"), set in one transaction after the
// cluster's secret is checked.
#include "keel/cluster/drain.h"

#include "cluster_secret.h"
#include "cluster_tables.h"
#include "pg_connection.h"
#include "pg_conninfo.h"
#include "pg_schema.h"

namespace keel::internal {
namespace {

// Whether the hosts table has the draining column (any join by a build
// that drains adds it).
Result<bool> has_draining_column(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  PgParams p;
  p.literal(t.schema + ".hosts");
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec("SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) "
                                            "AND attname = 'draining' AND NOT attisdropped",
                                            p, deadline));
  return r.rows() == 1 && r.integer(0, 0) != 0;
}

// The cluster exists at `t` and `secret` is its secret. Returns its name.
Result<std::string> check_cluster_secret(PgConnection* c, const PgTarget& t, const std::string& secret,
                                         TimePoint deadline) {
  KEEL_RETURN_IF_ERROR(check_pg_journal(c, t, deadline).status());
  const Status no_cluster = Status::not_found(t.display + ": no host has joined a cluster on this journal");
  KEEL_ASSIGN_OR_RETURN(bool joined, pg_has_relation(c, t, "cluster", deadline));
  if (!joined) return no_cluster;
  KEEL_ASSIGN_OR_RETURN(PgResult r,
                        c->exec(in_schema(t.schema, "SELECT name, secret_salt, secret_hash FROM S.cluster"), deadline));
  if (r.rows() != 1) return no_cluster;
  const std::string name(r.bytes(0, 0));
  KEEL_RETURN_IF_ERROR(check_secret(secret, r.bytes(0, 1), r.bytes(0, 2), name, t.display));
  return name;
}

// The transaction's body: checks, then sets the host's draining to
// `draining`. Returns the host's incarnation.
Result<std::uint64_t> set_draining_in(PgConnection* c, const PgTarget& t, const std::string& host,
                                      const std::string& secret, bool draining, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(std::string cluster, check_cluster_secret(c, t, secret, deadline));
  KEEL_ASSIGN_OR_RETURN(bool has_column, has_draining_column(c, t, deadline));
  if (!has_column) {
    return Status::failed_precondition("cluster \"" + cluster + "\" at " + t.display +
                                       ": no host that can drain has joined it yet");
  }
  PgParams p;
  p.text(host);
  // Row-locked: a claim of the host's in progress (which share-locks its
  // row) ends before the drain is recorded, and none starts until it is.
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, "SELECT incarnation, state = 'left', "
                                                                "lease_ends > clock_timestamp() FROM S.hosts "
                                                                "WHERE id = $1 FOR UPDATE"),
                                            p, deadline));
  if (r.rows() == 0) return Status::not_found("cluster \"" + cluster + "\" has no host '" + host + "'");
  const auto incarnation = static_cast<std::uint64_t>(r.integer(0, 0));
  if (r.integer(0, 1) != 0 || r.integer(0, 2) == 0) {
    return Status::failed_precondition("host '" + host + "' of cluster \"" + cluster + "\" is not live (" +
                                       (r.integer(0, 1) != 0 ? "it left" : "its lease has ended") + ")");
  }
  PgParams set;
  set.text(host).literal(draining ? "true" : "false");
  KEEL_RETURN_IF_ERROR(
      c->exec(in_schema(t.schema, "UPDATE S.hosts SET draining = $2::boolean WHERE id = $1"), set, deadline)
          .status());
  return incarnation;
}

Result<std::uint64_t> set_draining(const std::string& url, const std::string& host, const DrainOptions& o,
                                   bool draining) {
  KEEL_ASSIGN_OR_RETURN(PgTarget target, parse_pg_target(url, ""));
  const TimePoint deadline = pg_now() + o.timeout;
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> c,
                        PgConnection::connect(target, deadline, pg_statement_timeout(o.timeout)));
  std::uint64_t incarnation = 0;
  KEEL_RETURN_IF_ERROR(run_transaction(c.get(), deadline, [&]() -> Status {
    KEEL_ASSIGN_OR_RETURN(incarnation, set_draining_in(c.get(), target, host, o.secret, draining, deadline));
    return Status::ok();
  }));
  return incarnation;
}

}  // namespace
}  // namespace keel::internal

namespace keel {

Result<std::uint64_t> drain_host(const std::string& url, const std::string& host, const DrainOptions& options) {
  return internal::set_draining(url, host, options, /*draining=*/true);
}

Result<std::uint64_t> undrain_host(const std::string& url, const std::string& host, const DrainOptions& options) {
  return internal::set_draining(url, host, options, /*draining=*/false);
}

}  // namespace keel
