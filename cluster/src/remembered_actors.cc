// RememberedActors: the S.actors table (docs/cluster.md, "Tables").
#include "keel/cluster/remembered_actors.h"

#include "pg_connection.h"
#include "pg_link.h"
#include "pg_schema.h"

namespace keel {
namespace {

using internal::PgConnection;
using internal::PgParams;
using internal::PgResult;
using internal::PgTarget;

// $1 key, $2 type, $3 shard, $4 this incarnation as a holder. Columns: the
// shard is held, the row was inserted, the type a row already there has.
// The insert's row is not visible to the last subquery (one snapshot).
constexpr std::string_view kRemember =
    "WITH held AS (SELECT 1 FROM S.epochs WHERE shard = $3::bigint AND holder = $4), "
    "ins AS (INSERT INTO S.actors (key, type, shard) SELECT $1, $2, $3::bigint::integer WHERE EXISTS (SELECT 1 FROM held) "
    "ON CONFLICT (key) DO NOTHING RETURNING 1) "
    "SELECT EXISTS (SELECT 1 FROM held), EXISTS (SELECT 1 FROM ins), (SELECT type FROM S.actors WHERE key = $1)";

}  // namespace

class RememberedActors::Impl {
 public:
  Impl(PgTarget target, const Membership& m)
      : target_(std::move(target)), membership_(m), link_(&target_, internal::pg_statement_timeout(m.timeout())) {}

  Status remember(const std::string& key, const std::string& type, std::uint32_t shard) {
    if (key.empty() || type.empty()) return Status::invalid_argument("an actor to remember needs a key and a type");
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Status {
      const std::string holder = membership_.holder();
      PgParams p;
      p.text(key).text(type).int64(shard).text(holder);
      KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql(kRemember), p, deadline));
      if (r.integer(0, 0) == 0) {
        return Status::ownership_lost("host " + membership_.holder() + " does not hold shard " +
                                      std::to_string(shard) + " of actor '" + key + "'");
      }
      if (r.integer(0, 1) != 0 || r.is_null(0, 2) || r.bytes(0, 2) == type) return Status::ok();
      return Status::already_exists("actor '" + key + "' is a " + std::string(r.bytes(0, 2)) + ", not a " + type);
    });
  }

  Status forget(const std::string& key) {
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Status {
      PgParams p;
      p.text(key);
      return c->exec(sql("DELETE FROM S.actors WHERE key = $1"), p, deadline).status();
    });
  }

  Result<std::vector<RememberedActor>> in_shards(const std::vector<std::uint32_t>& shards) {
    std::vector<std::int64_t> wanted(shards.begin(), shards.end());
    return link_.run(membership_.timeout(),
                     [&](PgConnection* c, TimePoint deadline) -> Result<std::vector<RememberedActor>> {
                       PgParams p;
                       p.int64_array(wanted);
                       KEEL_ASSIGN_OR_RETURN(
                           PgResult r, c->exec(sql("SELECT key, type, shard FROM S.actors "
                                                   "WHERE shard = ANY ($1::bigint[]) ORDER BY key"),
                                               p, deadline));
                       std::vector<RememberedActor> out;
                       for (int i = 0; i < r.rows(); ++i) {
                         out.push_back(RememberedActor{std::string(r.bytes(i, 0)), std::string(r.bytes(i, 1)),
                                                       static_cast<std::uint32_t>(r.integer(i, 2))});
                       }
                       return out;
                     });
  }

 private:
  std::string sql(std::string_view text) const { return internal::in_schema(target_.schema, text); }

  const PgTarget target_;
  const Membership& membership_;
  internal::PgLink link_;
};

Result<std::unique_ptr<RememberedActors>> RememberedActors::open(const std::string& url,
                                                                 const Membership& membership) {
  KEEL_ASSIGN_OR_RETURN(PgTarget target, internal::parse_pg_target(url, ""));
  return std::unique_ptr<RememberedActors>(new RememberedActors(std::make_unique<Impl>(std::move(target), membership)));
}

RememberedActors::RememberedActors(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RememberedActors::~RememberedActors() = default;

Status RememberedActors::remember(const std::string& key, const std::string& type, std::uint32_t shard) {
  return impl_->remember(key, type, shard);
}
Status RememberedActors::forget(const std::string& key) { return impl_->forget(key); }
Result<std::vector<RememberedActor>> RememberedActors::in_shards(const std::vector<std::uint32_t>& shards) {
  return impl_->in_shards(shards);
}

}  // namespace keel
