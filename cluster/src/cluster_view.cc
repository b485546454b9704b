#include "keel/cluster/cluster_view.h"

#include "cluster_tables.h"
#include "pg_schema.h"

namespace keel {
namespace {

Result<ClusterView> read_in(internal::PgConnection* c, const internal::PgTarget& t, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(internal::PgHeader header, internal::check_pg_journal(c, t, deadline));
  KEEL_ASSIGN_OR_RETURN(bool joined, internal::pg_has_relation(c, t, "cluster", deadline));
  if (!joined) return Status::not_found(t.display + ": no host has joined a cluster on this journal");
  KEEL_ASSIGN_OR_RETURN(internal::PgResult r, c->exec(internal::in_schema(t.schema, "SELECT name FROM S.cluster"), deadline));
  if (r.rows() != 1) return Status::not_found(t.display + ": no host has joined a cluster on this journal");
  ClusterView v;
  v.name = std::string(r.bytes(0, 0));
  v.journal = t.display;
  KEEL_ASSIGN_OR_RETURN(v.hosts, internal::read_hosts(c, t, deadline));
  KEEL_ASSIGN_OR_RETURN(v.shards, internal::read_holders(c, t, header.shards, deadline));
  return v;
}

}  // namespace

Result<ClusterView> read_cluster(const std::string& url, std::chrono::milliseconds timeout) {
  KEEL_ASSIGN_OR_RETURN(internal::PgTarget target, internal::parse_pg_target(url, ""));
  const TimePoint deadline = internal::pg_now() + timeout;
  KEEL_ASSIGN_OR_RETURN(auto c, internal::PgConnection::connect(target, deadline));
  // One snapshot for hosts and shards alike.
  KEEL_RETURN_IF_ERROR(c->exec_script("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", deadline));
  Result<ClusterView> v = read_in(c.get(), target, deadline);
  if (!c->is_broken()) c->exec_script(v.has_value() ? "COMMIT" : "ROLLBACK", deadline).ignore();  // read only
  return v;
}

}  // namespace keel
