// Gangs: allocation (plan_gang over the live hosts' free slots, recorded in
// one transaction), lookup, release and dead members (docs/cluster.md,
// "Gangs").
#include "keel/cluster/gangs.h"

#include <map>

#include "cluster_tables.h"
#include "keel/base/random_hex.h"
#include "keel/base/thread_annotations.h"
#include "pg_connection.h"
#include "pg_link.h"
#include "pg_schema.h"

namespace keel {
namespace {

using internal::PgConnection;
using internal::PgParams;
using internal::PgResult;
using internal::PgTarget;

// Live hosts that are not draining, with the members other gangs have on
// them.
constexpr std::string_view kCapacity =
    "SELECT h.id, h.incarnation, h.labels, h.slots, "
    "(SELECT count(*) FROM S.gang_members m WHERE m.host = h.id) FROM S.hosts h "
    "WHERE h.state = 'joined' AND h.lease_ends > clock_timestamp() AND NOT h.draining ORDER BY h.id";

Result<GangPolicy> policy_from_name(std::string_view name) {
  for (GangPolicy p : {GangPolicy::kPack, GangPolicy::kSpread, GangPolicy::kStrictPack, GangPolicy::kStrictSpread}) {
    if (gang_policy_name(p) == name) return p;
  }
  return Status::corruption("a gang's policy reads '" + std::string(name) + "'");
}

}  // namespace

class Gangs::Impl {
 public:
  Impl(PgTarget target, const Membership& m)
      : target_(std::move(target)), membership_(m), link_(&target_, internal::pg_statement_timeout(m.timeout())) {}

  Result<GangTicket> allocate(const GangRequest& request) {
    if (request.name.empty()) return Status::invalid_argument("a gang needs a name");
    if (request.size == 0) return Status::invalid_argument("gang '" + request.name + "': the size must be 1 or more");
    GangTicket t{random_hex(16), request.name, membership_.holder(), request.policy, {}};
    KEEL_RETURN_IF_ERROR(link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Status {
      return internal::run_transaction(c, deadline, [&]() -> Status {
        PgParams lock_key;
        lock_key.literal("keel-gangs/" + target_.schema);
        KEEL_RETURN_IF_ERROR(c->exec("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key, deadline).status());
        KEEL_RETURN_IF_ERROR(internal::check_own_lease(c, target_, membership_, "allocates no gang", deadline));
        KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql(kCapacity), deadline));
        std::vector<HostCapacity> hosts;
        std::map<std::string, std::int64_t> incarnations;
        for (int i = 0; i < r.rows(); ++i) {
          HostCapacity h{std::string(r.bytes(i, 0)), internal::labels_from_lines(r.bytes(i, 2)), 0};
          const std::int64_t slots = r.integer(i, 3), used = r.integer(i, 4);
          h.free_slots = slots == 0 ? HostCapacity::kUnlimited : static_cast<std::uint32_t>(std::max<std::int64_t>(0, slots - used));
          incarnations[h.id] = r.integer(i, 1);
          hosts.push_back(std::move(h));
        }
        KEEL_ASSIGN_OR_RETURN(t.members, plan_gang(hosts, request));
        PgParams gang;
        gang.text(t.ticket).text(t.name).text(t.owner).text(gang_policy_name(t.policy));
        KEEL_RETURN_IF_ERROR(
            c->exec(sql("INSERT INTO S.gangs (ticket, name, owner, policy) VALUES ($1, $2, $3, $4)"), gang, deadline)
                .status());
        std::vector<std::int64_t> ranks, host_incarnations;
        std::vector<std::string_view> host_ids;
        for (const GangMember& m : t.members) {
          ranks.push_back(m.rank);
          host_ids.push_back(m.host);
          host_incarnations.push_back(incarnations[m.host]);
        }
        PgParams members;
        members.text(t.ticket).int64_array(ranks).bytes_array(host_ids).int64_array(host_incarnations);
        return c->exec(sql("INSERT INTO S.gang_members (ticket, rank, host, incarnation) "
                           "SELECT $1, r::integer, convert_from(h, 'UTF8'), i "
                           "FROM unnest($2::bigint[], $3::bytea[], $4::bigint[]) AS u(r, h, i)"),
                       members, deadline)
            .status();
      });
    }));
    return t;
  }

  Status release(const std::string& ticket) {
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Status {
      PgParams p;
      p.text(ticket);
      KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql("DELETE FROM S.gangs WHERE ticket = $1 RETURNING 1"), p, deadline));
      if (r.rows() == 0) return no_gang(ticket);
      return Status::ok();
    });
  }

  Result<GangTicket> find(const std::string& ticket) {
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Result<GangTicket> {
      PgParams p;
      p.text(ticket);
      KEEL_ASSIGN_OR_RETURN(PgResult g, c->exec(sql("SELECT name, owner, policy FROM S.gangs WHERE ticket = $1"), p,
                                                deadline));
      if (g.rows() == 0) return no_gang(ticket);
      GangTicket t{ticket, std::string(g.bytes(0, 0)), std::string(g.bytes(0, 1)), GangPolicy::kSpread, {}};
      KEEL_ASSIGN_OR_RETURN(t.policy, policy_from_name(g.bytes(0, 2)));
      KEEL_ASSIGN_OR_RETURN(t.members, members(c, ticket, /*dead_only=*/false, deadline));
      return t;
    });
  }

  Result<std::vector<GangMember>> dead_members(const std::string& ticket) {
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Result<std::vector<GangMember>> {
      PgParams p;
      p.text(ticket);
      KEEL_ASSIGN_OR_RETURN(PgResult g, c->exec(sql("SELECT 1 FROM S.gangs WHERE ticket = $1"), p, deadline));
      if (g.rows() == 0) return no_gang(ticket);
      return members(c, ticket, /*dead_only=*/true, deadline);
    });
  }

 private:
  std::string sql(std::string_view text) const { return internal::in_schema(target_.schema, text); }

  Status no_gang(const std::string& ticket) const {
    return Status::not_found("no gang with ticket '" + ticket + "' in cluster " + target_.display);
  }

  // The gang's members by rank; `dead_only`: those whose host incarnation
  // holds no live lease.
  Result<std::vector<GangMember>> members(PgConnection* c, const std::string& ticket, bool dead_only,
                                          TimePoint deadline) {
    PgParams p;
    p.text(ticket);
    KEEL_ASSIGN_OR_RETURN(
        PgResult r, c->exec(sql(std::string("SELECT m.rank, m.host FROM S.gang_members m LEFT JOIN S.hosts h ON "
                                            "h.id = m.host AND h.incarnation = m.incarnation AND h.state = 'joined' "
                                            "AND h.lease_ends > clock_timestamp() WHERE m.ticket = $1") +
                                (dead_only ? " AND h.id IS NULL" : "") + " ORDER BY m.rank"),
                            p, deadline));
    std::vector<GangMember> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(GangMember{static_cast<std::uint32_t>(r.integer(i, 0)), std::string(r.bytes(i, 1))});
    }
    return out;
  }

  const PgTarget target_;
  const Membership& membership_;
  internal::PgLink link_;
};

Result<std::unique_ptr<Gangs>> Gangs::open(const std::string& url, const Membership& membership) {
  KEEL_ASSIGN_OR_RETURN(PgTarget target, internal::parse_pg_target(url, ""));
  return std::unique_ptr<Gangs>(new Gangs(std::make_unique<Impl>(std::move(target), membership)));
}

Gangs::Gangs(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gangs::~Gangs() = default;

Result<GangTicket> Gangs::allocate(const GangRequest& request) { return impl_->allocate(request); }
Status Gangs::release(const std::string& ticket) { return impl_->release(ticket); }
Result<GangTicket> Gangs::find(const std::string& ticket) { return impl_->find(ticket); }
Result<std::vector<GangMember>> Gangs::dead_members(const std::string& ticket) { return impl_->dead_members(ticket); }

}  // namespace keel
