// ShardKeeper (keel/cluster/shard_keeper.h) with several hosts on a real
// PostgreSQL server: every shard ends up held by its placement's host, a
// shard is never held by two hosts at once, and shards move when a host
// joins, leaves or dies.
#include "keel/cluster/shard_keeper.h"

#include <gtest/gtest.h>

#include <map>

#include "keel/cluster/placement.h"
#include "keel/cluster/shard_claims.h"
#include "shard_ledger.h"

namespace keel::testing {
namespace {

using ShardKeeperTest = ShardKeeperFixture;

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
  ASSERT_TRUE(ledger_.wait_stopped("host-a"));
  EXPECT_FALSE(a.keeper->running());
}

}  // namespace
}  // namespace keel::testing
