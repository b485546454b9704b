// drain_host and undrain_host (keel/cluster/drain.h) on a real PostgreSQL
// server, with hosts whose ShardKeepers rebalance every 50 ms: a draining
// host hands every shard over without one ever held twice, keeps its lease,
// claims nothing and gets no gang member (and with no other host, the
// shards stay free); the drain is undone, or ends with the host's next
// incarnation; and the errors.
#include "keel/cluster/drain.h"

#include <gtest/gtest.h>

#include <map>

#include "keel/cluster/cluster_view.h"
#include "keel/cluster/gangs.h"
#include "keel/cluster/shard_claims.h"
#include "keel/journal/journal.h"
#include "shard_ledger.h"

namespace keel::testing {
namespace {

class DrainTest : public ShardKeeperFixture {
 protected:
  static DrainOptions drain_options(std::string secret = kSecret) {
    DrainOptions o;
    o.secret = std::move(secret);
    return o;
  }

  // `id` as read_cluster sees it (a failed test when it is not there).
  HostView host_view(const std::string& id) {
    Result<ClusterView> v = read_cluster(url_);
    EXPECT_TRUE(v.has_value()) << v.status();
    if (v.has_value()) {
      for (const HostView& h : v->hosts) {
        if (h.id == id) return h;
      }
    }
    ADD_FAILURE() << "no host " << id;
    return {};
  }
};

TEST_F(DrainTest, ADrainedHostHandsEveryShardToTheOthersWithoutOneHeldTwice) {
  std::map<std::string, Host> hosts = start_settled({"host-a", "host-b", "host-c"});
  ASSERT_EQ(hosts.size(), 3u);
  const Host& b = hosts.at("host-b");
  Result<std::uint64_t> drained = drain_host(url_, "host-b", drain_options());
  ASSERT_TRUE(drained.has_value()) << drained.status();
  EXPECT_EQ(*drained, 1u);
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a", "host-c"})));
  expect_no_violations();
  EXPECT_TRUE(b.keeper->held().empty());
  EXPECT_EQ(shards_held_by("host-b"), 0u);
  const HostView view = host_view("host-b");
  EXPECT_TRUE(view.live);
  EXPECT_TRUE(view.draining);
  EXPECT_TRUE(b.membership->holds_lease());
}

TEST_F(DrainTest, ADrainingHostIsLeftOutOfPlacementButStillListed) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(drain_host(url_, "host-b", drain_options()).has_value());
  Result<std::vector<PlacementHost>> live = a->live_hosts();
  ASSERT_TRUE(live.has_value()) << live.status();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].id, "host-a");
  Result<std::vector<HostView>> hosts = a->hosts();
  ASSERT_TRUE(hosts.has_value()) << hosts.status();
  ASSERT_EQ(hosts->size(), 2u);
  EXPECT_FALSE((*hosts)[0].draining);
  EXPECT_TRUE((*hosts)[1].draining);
  EXPECT_TRUE((*hosts)[1].live);
}

TEST_F(DrainTest, ADrainingHostClaimsNothing) {
  auto b = join("host-b");
  ASSERT_NE(b, nullptr);
  Result<std::unique_ptr<ShardClaims>> claims = ShardClaims::open(url_, *b);
  ASSERT_TRUE(claims.has_value()) << claims.status();
  ASSERT_TRUE(drain_host(url_, "host-b", drain_options()).has_value());
  Result<ClaimOutcome> got = (*claims)->claim({0, 1});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition) << got.status();
  EXPECT_EQ(shards_held_by("host-b"), 0u);
}

TEST_F(DrainTest, GangsPlaceNoMemberOnADrainingHost) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(drain_host(url_, "host-b", drain_options()).has_value());
  Result<std::unique_ptr<Gangs>> gangs = Gangs::open(url_, *b);
  ASSERT_TRUE(gangs.has_value()) << gangs.status();
  Result<GangTicket> spread = (*gangs)->allocate({"workers", 3, GangPolicy::kSpread, {}});
  ASSERT_TRUE(spread.has_value()) << spread.status();
  for (const GangMember& m : spread->members) EXPECT_EQ(m.host, "host-a") << "rank " << m.rank;
  Result<GangTicket> strict = (*gangs)->allocate({"pair", 2, GangPolicy::kStrictSpread, {}});
  ASSERT_FALSE(strict.has_value());
  EXPECT_EQ(strict.status().code(), StatusCode::kFailedPrecondition) << strict.status();
}

TEST_F(DrainTest, UndoingADrainGivesTheHostItsShareAgain) {
  std::map<std::string, Host> hosts = start_settled({"host-a", "host-b"});
  ASSERT_EQ(hosts.size(), 2u);
  ASSERT_TRUE(drain_host(url_, "host-b", drain_options()).has_value());
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a"})));
  Result<std::uint64_t> undone = undrain_host(url_, "host-b", drain_options());
  ASSERT_TRUE(undone.has_value()) << undone.status();
  EXPECT_EQ(*undone, 1u);
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a", "host-b"})));
  expect_no_violations();
  EXPECT_FALSE(host_view("host-b").draining);
}

TEST_F(DrainTest, DrainingTheOnlyHostLeavesEveryShardFree) {
  std::map<std::string, Host> hosts = start_settled({"host-a"});
  ASSERT_EQ(hosts.size(), 1u);
  ASSERT_TRUE(drain_host(url_, "host-a", drain_options()).has_value());
  ASSERT_TRUE(ledger_.wait_for({}));
  EXPECT_TRUE(wait_until_held_by("host-a", 0)) << shards_held_by("host-a") << " shards still held";
  EXPECT_TRUE(hosts.at("host-a").membership->holds_lease());
}

TEST_F(DrainTest, TheHostsNextIncarnationIsNotDraining) {
  auto b = join("host-b");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(drain_host(url_, "host-b", drain_options()).has_value());
  EXPECT_TRUE(host_view("host-b").draining);
  auto again = join("host-b");
  ASSERT_NE(again, nullptr);
  const HostView view = host_view("host-b");
  EXPECT_EQ(view.incarnation, 2u);
  EXPECT_FALSE(view.draining);
}

TEST_F(DrainTest, DrainingTwiceChangesNothing) {
  auto b = join("host-b");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(drain_host(url_, "host-b", drain_options()).has_value());
  Result<std::uint64_t> again = drain_host(url_, "host-b", drain_options());
  ASSERT_TRUE(again.has_value()) << again.status();
  EXPECT_EQ(*again, 1u);
  EXPECT_TRUE(host_view("host-b").draining);
}

TEST_F(DrainTest, AWrongSecretIsUnauthenticatedAndDrainsNothing) {
  auto b = join("host-b");
  ASSERT_NE(b, nullptr);
  Result<std::uint64_t> r = drain_host(url_, "host-b", drain_options("not the secret of the cluster"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status();
  EXPECT_EQ(std::string(r.status().message()).find("not the secret of the cluster"), std::string::npos) << r.status();
  EXPECT_FALSE(host_view("host-b").draining);
}

TEST_F(DrainTest, AnUnknownHostIsNotFoundByName) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  Result<std::uint64_t> r = drain_host(url_, "host-z", drain_options());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("host-z"), std::string::npos) << r.status();
}

TEST_F(DrainTest, AHostThatIsDownOrLeftCannotBeDrained) {
  auto b = join("host-b");
  auto c = join("host-c");
  ASSERT_TRUE(b && c);
  expire("host-b");
  ASSERT_TRUE(c->leave().is_ok());
  for (const char* id : {"host-b", "host-c"}) {
    Result<std::uint64_t> r = drain_host(url_, id, drain_options());
    ASSERT_FALSE(r.has_value()) << id;
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
    EXPECT_NE(std::string(r.status().message()).find(id), std::string::npos) << r.status();
  }
}

TEST_F(DrainTest, AJournalWithoutAClusterIsNotFound) {
  JournalOptions o;
  ASSERT_TRUE(open_journal(url_, o).has_value());
  Result<std::uint64_t> r = drain_host(url_, "host-a", drain_options());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status();
}

TEST_F(DrainTest, AnUnreachableDatabaseIsUnavailableWithoutThePassword) {
  DrainOptions o = drain_options();
  o.timeout = std::chrono::seconds(2);
  Result<std::uint64_t> r = drain_host("postgresql://keel:hunter2secret@127.0.0.1:1/db?keel_schema=c", "host-a", o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(std::string(r.status().message()).find("hunter2secret"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace keel::testing
