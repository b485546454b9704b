// ShardClaims: claims and releases of the journal's shards, in its
// `epochs` table, judged against the cluster's `hosts` table
// (docs/cluster.md, "Shards").
#include "keel/cluster/shard_claims.h"

#include <algorithm>

#include "cluster_tables.h"
#include "keel/base/thread_annotations.h"
#include "pg_connection.h"
#include "pg_conninfo.h"
#include "pg_link.h"
#include "pg_schema.h"

namespace keel {
namespace {

using internal::PgConnection;
using internal::PgParams;
using internal::PgResult;
using internal::PgTarget;

constexpr std::string_view kAddRows =
    "INSERT INTO S.epochs (shard, epoch, holder) SELECT s, 0, '' FROM unnest($1::integer[]) AS s "
    "ON CONFLICT (shard) DO NOTHING";

std::string int_array(const std::vector<std::uint32_t>& v) {
  std::string out = "{";
  for (std::uint32_t x : v) out += (out.size() > 1 ? "," : "") + std::to_string(x);
  return out + "}";
}

}  // namespace

class ShardClaims::Impl {
 public:
  Impl(PgTarget target, const Membership& m)
      : target_(std::move(target)), membership_(m), link_(&target_, internal::pg_statement_timeout(m.timeout())) {}

  Result<ClaimOutcome> claim(std::vector<std::uint32_t> shards) {
    // In one order for every host: concurrent claims then lock rows in the
    // same order and cannot deadlock.
    std::sort(shards.begin(), shards.end());
    shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Result<ClaimOutcome> {
      KEEL_RETURN_IF_ERROR(check_range(c, shards, deadline));
      ClaimOutcome out;
      KEEL_RETURN_IF_ERROR(internal::run_transaction(c, deadline, [&]() -> Status {
        KEEL_ASSIGN_OR_RETURN(out, claim_in(c, shards, deadline));
        return Status::ok();
      }));
      return out;
    });
  }

  Result<std::size_t> release(const std::vector<PgShardEpoch>& held) {
    std::vector<std::uint32_t> shards;
    std::string epochs = "{";
    for (const PgShardEpoch& e : held) {
      shards.push_back(e.shard);
      epochs += (epochs.size() > 1 ? "," : "") + std::to_string(e.epoch);
    }
    const std::string holder = membership_.holder();
    PgParams p;
    p.literal(int_array(shards)).literal(epochs + "}").text(holder);
    // The epoch goes up: nothing this host still has in flight for the
    // shard lands after its release.
    return link_.run(membership_.timeout(), [&](PgConnection* c, TimePoint deadline) -> Result<std::size_t> {
      KEEL_ASSIGN_OR_RETURN(
          PgResult r, c->exec(sql("UPDATE S.epochs e SET epoch = e.epoch + 1, holder = '', claimed_at = now() "
                                  "FROM unnest($1::integer[], $2::bigint[]) AS r(shard, epoch) "
                                  "WHERE e.shard = r.shard AND e.epoch = r.epoch AND e.holder = $3 RETURNING e.shard"),
                              p, deadline));
      // A wake-up for the keepers that may claim them; the release has committed.
      if (r.rows() > 0) internal::notify_shards_changed(c, target_, deadline).ignore();
      return static_cast<std::size_t>(r.rows());
    });
  }

  Result<std::vector<ShardHolder>> holders() {
    return link_.run(membership_.timeout(),
                     [&](PgConnection* c, TimePoint deadline) -> Result<std::vector<ShardHolder>> {
                       KEEL_ASSIGN_OR_RETURN(std::uint32_t count, shard_count(c, deadline));
                       return internal::read_holders(c, target_, count, deadline);
                     });
  }

 private:
  std::string sql(std::string_view text) const { return internal::in_schema(target_.schema, text); }

  // The journal's shard count, read once (inside a call of link_).
  Result<std::uint32_t> shard_count(PgConnection* c, TimePoint deadline) {
    if (shards_ == 0) {
      KEEL_ASSIGN_OR_RETURN(internal::PgHeader h, internal::check_pg_journal(c, target_, deadline));
      shards_ = h.shards;
    }
    return shards_;
  }

  Status check_range(PgConnection* c, const std::vector<std::uint32_t>& shards, TimePoint deadline) {
    KEEL_ASSIGN_OR_RETURN(std::uint32_t count, shard_count(c, deadline));
    for (std::uint32_t s : shards) {
      if (s >= count) {
        return Status::invalid_argument("shard " + std::to_string(s) + " is out of range (the journal at " +
                                        target_.display + " has " + std::to_string(count) + ")");
      }
    }
    return Status::ok();
  }

  // The claim's transaction body.
  Result<ClaimOutcome> claim_in(PgConnection* c, const std::vector<std::uint32_t>& shards, TimePoint deadline) {
    const std::string holder = membership_.holder();
    KEEL_RETURN_IF_ERROR(
        internal::check_own_lease(c, target_, membership_, "claims nothing", deadline, /*refuse_draining=*/true));
    PgParams rows;
    rows.literal(int_array(shards));
    KEEL_RETURN_IF_ERROR(c->exec(sql(kAddRows), rows, deadline).status());
    PgParams p;
    p.literal(int_array(shards)).text(holder);
    KEEL_ASSIGN_OR_RETURN(
        PgResult r,
        c->exec(sql("WITH free AS (SELECT e.shard FROM S.epochs e " + std::string(internal::kLiveHolderJoin) +
                    " WHERE e.shard = ANY ($1::integer[]) AND (e.holder = $2 OR h.id IS NULL) "
                    "ORDER BY e.shard FOR UPDATE OF e) "
                    "UPDATE S.epochs e SET epoch = e.epoch + 1, holder = $2, claimed_at = now() FROM free "
                    "WHERE e.shard = free.shard RETURNING e.shard, e.epoch"),
                p, deadline));
    ClaimOutcome out;
    for (int i = 0; i < r.rows(); ++i) {
      out.claimed.push_back(
          PgShardEpoch{static_cast<std::uint32_t>(r.integer(i, 0)), static_cast<std::uint64_t>(r.integer(i, 1))});
    }
    // The shard map changed: heard at the commit.
    if (!out.claimed.empty()) KEEL_RETURN_IF_ERROR(internal::notify_shards_changed(c, target_, deadline));
    std::sort(out.claimed.begin(), out.claimed.end(),
              [](const PgShardEpoch& a, const PgShardEpoch& b) { return a.shard < b.shard; });
    for (std::uint32_t s : shards) {
      const bool got = std::any_of(out.claimed.begin(), out.claimed.end(),
                                   [s](const PgShardEpoch& e) { return e.shard == s; });
      if (!got) out.busy.push_back(s);
    }
    return out;
  }

  const PgTarget target_;
  const Membership& membership_;
  internal::PgLink link_;
  std::uint32_t shards_ = 0;  // the journal's shard count once read; written only inside link_'s calls
};

Result<std::unique_ptr<ShardClaims>> ShardClaims::open(const std::string& url, const Membership& membership) {
  KEEL_ASSIGN_OR_RETURN(PgTarget target, internal::parse_pg_target(url, ""));
  return std::unique_ptr<ShardClaims>(new ShardClaims(std::make_unique<Impl>(std::move(target), membership)));
}

ShardClaims::ShardClaims(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShardClaims::~ShardClaims() = default;

Result<ClaimOutcome> ShardClaims::claim(const std::vector<std::uint32_t>& shards) { return impl_->claim(shards); }
Result<std::size_t> ShardClaims::release(const std::vector<PgShardEpoch>& held) { return impl_->release(held); }
Result<std::vector<ShardHolder>> ShardClaims::holders() { return impl_->holders(); }

}  // namespace keel
