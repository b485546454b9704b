// ClusterRegistry: the S.registry and S.registry_names tables
// (docs/cluster.md, "The registry in a cluster" and "Tables"). Every change
// is one statement that changes a name's rows, raises its version when any
// row changed and notifies, so a version is raised once per change and the
// row lock on S.registry_names orders the changes of one name.
#include "keel/cluster/cluster_registry.h"

#include "pg_connection.h"
#include "pg_link.h"
#include "pg_schema.h"

namespace keel {
namespace {

using internal::PgConnection;
using internal::PgParams;
using internal::PgResult;
using internal::PgTarget;

// A registration `r` whose incarnation holds a live lease.
constexpr std::string_view kLive =
    "EXISTS (SELECT 1 FROM S.hosts h WHERE h.id = r.host AND h.incarnation = r.incarnation "
    "AND h.state = 'joined' AND h.lease_ends > clock_timestamp())";

// $1 ns, $2 name, $3 the channel: after a CTE `changed` that returns a row
// per changed registration, raises the name's version when there is one and
// notifies "ns/name" (sent when the statement commits).
constexpr std::string_view kBump =
    "bump AS (INSERT INTO S.registry_names (ns, name, version) SELECT $1, $2, 1 WHERE EXISTS (SELECT 1 FROM changed) "
    "ON CONFLICT (ns, name) DO UPDATE SET version = S.registry_names.version + 1 "
    "RETURNING version, pg_notify($3, $1 || '/' || $2)) ";

// $4 host id, $5 incarnation, $6 key. Columns: the incarnation is live, the
// version it raised (NULL: nothing changed).
constexpr std::string_view kAddChange =
    "own AS (SELECT 1 FROM S.hosts WHERE id = $4 AND incarnation = $5::bigint AND state = 'joined' "
    "AND lease_ends > clock_timestamp()), "
    "changed AS (INSERT INTO S.registry AS r (ns, name, key, host, incarnation) "
    "SELECT $1, $2, $6, $4, $5::bigint WHERE EXISTS (SELECT 1 FROM own) "
    "ON CONFLICT (ns, name, key) DO UPDATE SET host = excluded.host, incarnation = excluded.incarnation, seq = DEFAULT "
    "WHERE r.host <> excluded.host OR r.incarnation <> excluded.incarnation RETURNING 1), ";

// $4 the key, whoever registered it.
constexpr std::string_view kRemoveChange =
    "changed AS (DELETE FROM S.registry WHERE ns = $1 AND name = $2 AND key = $4 RETURNING 1), ";
// $4 keys (bytea[]) that $5 host id at $6 incarnation registered.
constexpr std::string_view kRemoveOwnChange =
    "changed AS (DELETE FROM S.registry WHERE ns = $1 AND name = $2 "
    "AND key IN (SELECT convert_from(k, 'UTF8') FROM unnest($4::bytea[]) AS u(k)) "
    "AND host = $5 AND incarnation = $6::bigint RETURNING 1), ";

// Removes the rows of dead incarnations, then reads the version and the
// live members in order (one row with a NULL key when there are none).
std::string lookup_statement() {
  return "WITH changed AS (DELETE FROM S.registry r WHERE r.ns = $1 AND r.name = $2 AND NOT " + std::string(kLive) +
         " RETURNING 1), " + std::string(kBump) +
         ", ver AS (SELECT COALESCE((SELECT max(version) FROM bump), "
         "(SELECT version FROM S.registry_names WHERE ns = $1 AND name = $2), 0) AS v) "
         "SELECT ver.v, m.key FROM ver LEFT JOIN (SELECT r.key, r.seq FROM S.registry r "
         "WHERE r.ns = $1 AND r.name = $2 AND " + std::string(kLive) + ") m ON true ORDER BY m.seq";
}

}  // namespace

Status check_registry_name(const std::string& ns, const std::string& name) {
  if (ns.empty() || name.empty() || ns.find('/') != std::string::npos) {
    return Status::invalid_argument("registry names need a namespace without '/' and a name, not '" + ns + "', '" +
                                    name + "'");
  }
  if (ns.size() > kMaxRegistryName || name.size() > kMaxRegistryName) {
    return Status::invalid_argument("a registry namespace or name has at most " + std::to_string(kMaxRegistryName) +
                                    " bytes");
  }
  return Status::ok();
}

class ClusterRegistry::Impl {
 public:
  Impl(PgTarget target, const Membership& m)
      : target_(std::move(target)), membership_(m), link_(&target_, internal::pg_statement_timeout(m.timeout())) {}

  Result<ClusterRegistryMembers> add(const std::string& ns, const std::string& name, const std::string& key) {
    KEEL_RETURN_IF_ERROR(check_registry_name(ns, name));
    if (key.empty()) return Status::invalid_argument("a registry member needs a key");
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Result<ClusterRegistryMembers> {
      const std::string& id = membership_.self().id;
      PgParams p;
      p.text(ns).text(name).text(channel()).text(id).int64(static_cast<std::int64_t>(membership_.incarnation())).text(key);
      KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql("WITH " + std::string(kAddChange) + std::string(kBump) +
                                                    "SELECT EXISTS (SELECT 1 FROM own), (SELECT max(version) FROM bump)"),
                                                p, deadline));
      if (r.integer(0, 0) == 0) {
        return Status::ownership_lost("host " + membership_.holder() + " holds no lease: it registers no '" + key +
                                      "' under " + ns + "/" + name);
      }
      return read(c, ns, name, deadline);
    });
  }

  Result<ClusterRegistryMembers> remove(const std::string& ns, const std::string& name, const std::string& key) {
    KEEL_RETURN_IF_ERROR(check_registry_name(ns, name));
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Result<ClusterRegistryMembers> {
      PgParams p;
      p.text(ns).text(name).text(channel()).text(key);
      KEEL_RETURN_IF_ERROR(change(c, kRemoveChange, p, deadline));
      return read(c, ns, name, deadline);
    });
  }

  Status remove_keys(const std::vector<std::string>& keys) {
    if (keys.empty()) return Status::ok();
    const std::vector<std::string_view> views(keys.begin(), keys.end());
    const std::string& id = membership_.self().id;
    const auto incarnation = static_cast<std::int64_t>(membership_.incarnation());
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Status {
      PgParams p;
      p.bytes_array(views).text(id).int64(incarnation);
      KEEL_ASSIGN_OR_RETURN(
          PgResult names, c->exec(sql("SELECT DISTINCT ns, name FROM S.registry WHERE key IN "
                                      "(SELECT convert_from(k, 'UTF8') FROM unnest($1::bytea[]) AS u(k)) "
                                      "AND host = $2 AND incarnation = $3::bigint ORDER BY ns, name"),
                                  p, deadline));
      for (int i = 0; i < names.rows(); ++i) {
        PgParams change_p;
        change_p.text(names.bytes(i, 0)).text(names.bytes(i, 1)).text(channel()).bytes_array(views).text(id).int64(
            incarnation);
        KEEL_RETURN_IF_ERROR(change(c, kRemoveOwnChange, change_p, deadline));
      }
      return Status::ok();
    });
  }

  Result<ClusterRegistryMembers> lookup(const std::string& ns, const std::string& name) {
    KEEL_RETURN_IF_ERROR(check_registry_name(ns, name));
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) {
      return read(c, ns, name, deadline);
    });
  }

 private:
  std::string sql(std::string_view text) const { return internal::in_schema(target_.schema, text); }
  const std::string& channel() const { return target_.schema; }

  // Runs the CTE `changed_cte` (one of the changes above) with kBump, whose
  // parameters `p` are ($1 ns, $2 name, $3 the channel, ...).
  Status change(PgConnection* c, std::string_view changed_cte, const PgParams& p, TimePoint deadline) {
    return c->exec(sql("WITH " + std::string(changed_cte) + std::string(kBump) + "SELECT (SELECT max(version) FROM bump)"),
                   p, deadline)
        .status();
  }

  Result<ClusterRegistryMembers> read(PgConnection* c, const std::string& ns, const std::string& name,
                                      TimePoint deadline) {
    PgParams p;
    p.text(ns).text(name).text(channel());
    KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql(lookup_statement()), p, deadline));
    ClusterRegistryMembers out;
    for (int i = 0; i < r.rows(); ++i) {
      out.version = static_cast<std::uint64_t>(r.integer(i, 0));
      if (!r.is_null(i, 1)) out.keys.emplace_back(r.bytes(i, 1));
    }
    return out;
  }

  const PgTarget target_;
  const Membership& membership_;
  internal::PgLink link_;
};

Result<std::unique_ptr<ClusterRegistry>> ClusterRegistry::open(const std::string& url, const Membership& membership) {
  KEEL_ASSIGN_OR_RETURN(PgTarget target, internal::parse_pg_target(url, ""));
  return std::unique_ptr<ClusterRegistry>(new ClusterRegistry(std::make_unique<Impl>(std::move(target), membership)));
}

ClusterRegistry::ClusterRegistry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterRegistry::~ClusterRegistry() = default;

Result<ClusterRegistryMembers> ClusterRegistry::add(const std::string& ns, const std::string& name,
                                                    const std::string& key) {
  return impl_->add(ns, name, key);
}
Result<ClusterRegistryMembers> ClusterRegistry::remove(const std::string& ns, const std::string& name,
                                                       const std::string& key) {
  return impl_->remove(ns, name, key);
}
Status ClusterRegistry::remove_keys(const std::vector<std::string>& keys) { return impl_->remove_keys(keys); }
Result<ClusterRegistryMembers> ClusterRegistry::lookup(const std::string& ns, const std::string& name) {
  return impl_->lookup(ns, name);
}

}  // namespace keel
