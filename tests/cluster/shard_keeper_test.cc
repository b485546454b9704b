// ShardKeeper (keel/cluster/shard_keeper.h) with several hosts on a real
// PostgreSQL server: every shard ends up held by its placement's host, a
// shard is never held by two hosts at once, and shards move when a host
// joins, leaves or dies.
#include "keel/cluster/shard_keeper.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cluster_test.h"
#include "keel/base/thread_annotations.h"
#include "keel/cluster/placement.h"
#include "keel/cluster/shard_claims.h"

namespace keel::testing {
namespace {

using namespace std::chrono_literals;

// What every host's callbacks said, checked as it happens: a shard gained
// while another host holds it is a violation.
class Ledger {
 public:
  ShardKeeper::Callbacks callbacks(const std::string& host) {
    ShardKeeper::Callbacks cb;
    cb.gained = [this, host](const std::vector<PgShardEpoch>& shards) {
      MutexLock lock(mu_);
      for (const PgShardEpoch& e : shards) {
        auto [it, fresh] = holder_.emplace(e.shard, host);
        if (!fresh) violations_.push_back("shard " + std::to_string(e.shard) + " gained by " + host + " while " +
                                          it->second + " holds it");
      }
      cv_.notify_all();
    };
    cb.losing = [this, host](const std::vector<std::uint32_t>& shards, bool) {
      MutexLock lock(mu_);
      for (std::uint32_t s : shards) {
        auto it = holder_.find(s);
        if (it != holder_.end() && it->second == host) holder_.erase(it);
      }
      cv_.notify_all();
    };
    return cb;
  }

  // Forgets `host`'s shards, as its death would (no callback runs then).
  void died(const std::string& host) {
    MutexLock lock(mu_);
    for (auto it = holder_.begin(); it != holder_.end();) it = it->second == host ? holder_.erase(it) : std::next(it);
  }

  // Waits until the holders are exactly `expected` (shard -> host).
  bool wait_for(const std::map<std::uint32_t, std::string>& expected) {
    MutexLock lock(mu_);
    return cv_.wait_for(lock, 60s, [&]() KEEL_REQUIRES(mu_) { return holder_ == expected; });
  }

  std::map<std::uint32_t, std::string> holders() {
    MutexLock lock(mu_);
    return holder_;
  }
  std::vector<std::string> violations() {
    MutexLock lock(mu_);
    return violations_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::map<std::uint32_t, std::string> holder_ KEEL_GUARDED_BY(mu_);
  std::vector<std::string> violations_ KEEL_GUARDED_BY(mu_);
};

class ShardKeeperTest : public ClusterTest {
 protected:
  struct Host {
    std::unique_ptr<Membership> membership;
    std::unique_ptr<ShardKeeper> keeper;
  };

  Host start(const std::string& id) {
    Host h;
    h.membership = join(id);
    if (h.membership == nullptr) return h;
    ShardKeeperOptions o;
    o.rebalance_every = 50ms;
    Result<std::unique_ptr<ShardKeeper>> k = ShardKeeper::start(url_, *h.membership, ledger_.callbacks(id), o);
    EXPECT_TRUE(k.has_value()) << k.status();
    if (k.has_value()) h.keeper = std::move(*k);
    return h;
  }

  // Where placement puts every shard among `ids`.
  static std::map<std::uint32_t, std::string> placed(const std::vector<std::string>& ids) {
    std::vector<PlacementHost> hosts;
    for (const std::string& id : ids) hosts.push_back(PlacementHost{id, {}});
    const std::vector<std::string> map = shard_map(kPgShards, hosts);
    std::map<std::uint32_t, std::string> out;
    for (std::uint32_t s = 0; s < map.size(); ++s) out[s] = map[s];
    return out;
  }

  void expect_no_violations() {
    for (const std::string& v : ledger_.violations()) ADD_FAILURE() << v;
  }

  Ledger ledger_;
};

TEST_F(ShardKeeperTest, ALoneHostHoldsEveryShard) {
  Host a = start("host-a");
  ASSERT_NE(a.keeper, nullptr);
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a"}))) << ledger_.holders().size() << " shards held";
  EXPECT_EQ(a.keeper->held().size(), kPgShards);
  expect_no_violations();
}

TEST_F(ShardKeeperTest, JoiningHostsGetTheirShareWithoutAShardEverHeldTwice) {
  Host a = start("host-a");
  ASSERT_NE(a.keeper, nullptr);
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a"})));
  Host b = start("host-b");
  Host c = start("host-c");
  ASSERT_NE(b.keeper, nullptr);
  ASSERT_NE(c.keeper, nullptr);
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a", "host-b", "host-c"}))) << ledger_.holders().size();
  expect_no_violations();
  // The database agrees with the callbacks.
  Result<std::unique_ptr<ShardClaims>> claims = ShardClaims::open(url_, *a.membership);
  ASSERT_TRUE(claims.has_value());
  Result<std::vector<ShardHolder>> holders = (*claims)->holders();
  ASSERT_TRUE(holders.has_value()) << holders.status();
  const std::map<std::uint32_t, std::string> expected = placed({"host-a", "host-b", "host-c"});
  for (const ShardHolder& h : *holders) {
    EXPECT_TRUE(h.live) << "shard " << h.shard;
    EXPECT_EQ(h.host, expected.at(h.shard)) << "shard " << h.shard;
  }
}

TEST_F(ShardKeeperTest, ALeavingHostHandsItsShardsOverAtOnce) {
  Host a = start("host-a");
  Host b = start("host-b");
  ASSERT_TRUE(a.keeper && b.keeper);
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a", "host-b"})));
  ASSERT_TRUE(b.keeper->leave().is_ok());
  EXPECT_TRUE(b.keeper->held().empty());
  a.keeper->wake();
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a"})));
  expect_no_violations();
}

TEST_F(ShardKeeperTest, ADeadHostsShardsMoveOnceItsLeaseHasEnded) {
  Host a = start("host-a");
  Host b = start("host-b");
  ASSERT_TRUE(a.keeper && b.keeper);
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a", "host-b"})));
  // host-b dies: its threads stop without a word, its lease runs out.
  b.keeper.reset();
  b.membership.reset();
  ledger_.died("host-b");
  expire("host-b");
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a"})));
  expect_no_violations();
}

TEST_F(ShardKeeperTest, AHostWhoseLeaseEndedGivesUpEverythingAndStops) {
  Host a = start("host-a");
  ASSERT_NE(a.keeper, nullptr);
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a"})));
  expire("host-a");
  ASSERT_TRUE(ledger_.wait_for({}));
  EXPECT_TRUE(a.keeper->held().empty());
}

}  // namespace
}  // namespace keel::testing
