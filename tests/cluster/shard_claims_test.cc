// Shard claims (keel/cluster/shard_claims.h) on a real PostgreSQL server:
// the test server of the CTest fixture keel_pg, one schema per test.
#include "keel/cluster/shard_claims.h"

#include <gtest/gtest.h>

#include <latch>
#include <set>
#include <thread>

#include "cluster_test.h"
#include "keel/journal/journal.h"

namespace keel {
namespace {

using namespace std::chrono_literals;

class ShardClaimsTest : public testing::ClusterTest {
 protected:
  std::unique_ptr<ShardClaims> claims(const Membership& m) {
    Result<std::unique_ptr<ShardClaims>> c = ShardClaims::open(url_, m);
    EXPECT_TRUE(c.has_value()) << c.status();
    return c.has_value() ? std::move(*c) : nullptr;
  }

  static std::vector<std::uint32_t> shards_of(const std::vector<PgShardEpoch>& v) {
    std::vector<std::uint32_t> out;
    for (const PgShardEpoch& e : v) out.push_back(e.shard);
    return out;
  }
};

TEST_F(ShardClaimsTest, FreeShardsAreClaimedAtANewEpochAndRecordedWithTheHost) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  auto ca = claims(*a);
  Result<ClaimOutcome> got = ca->claim({1, 2});
  ASSERT_TRUE(got.has_value()) << got.status();
  EXPECT_EQ(shards_of(got->claimed), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_TRUE(got->busy.empty());
  for (const PgShardEpoch& e : got->claimed) EXPECT_EQ(e.epoch, 1u);
  Result<std::vector<ShardHolder>> holders = ca->holders();
  ASSERT_TRUE(holders.has_value()) << holders.status();
  ASSERT_EQ(holders->size(), kPgShards);
  EXPECT_EQ((*holders)[1].host, "host-a");
  EXPECT_EQ((*holders)[1].incarnation, 1u);
  EXPECT_TRUE((*holders)[1].live);
  EXPECT_EQ((*holders)[0].host, "");
  EXPECT_FALSE((*holders)[0].live);
  // Claiming what it holds again raises the epoch again.
  Result<ClaimOutcome> again = ca->claim({2});
  ASSERT_TRUE(again.has_value()) << again.status();
  ASSERT_EQ(again->claimed.size(), 1u);
  EXPECT_EQ(again->claimed[0].epoch, 2u);
}

TEST_F(ShardClaimsTest, AShardHeldByAnotherLiveHostIsLeftAlone) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(claims(*a)->claim({5}).has_value());
  Result<ClaimOutcome> got = claims(*b)->claim({5, 6});
  ASSERT_TRUE(got.has_value()) << got.status();
  EXPECT_EQ(shards_of(got->claimed), std::vector<std::uint32_t>{6});
  EXPECT_EQ(got->busy, std::vector<std::uint32_t>{5});
  EXPECT_EQ((*claims(*b)->holders())[5].host, "host-a");
}

TEST_F(ShardClaimsTest, AShardOfAHostWhoseLeaseEndedIsTaken) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(claims(*a)->claim({7}).has_value());
  expire("host-a");
  Result<ClaimOutcome> got = claims(*b)->claim({7});
  ASSERT_TRUE(got.has_value()) << got.status();
  ASSERT_EQ(shards_of(got->claimed), std::vector<std::uint32_t>{7});
  EXPECT_EQ(got->claimed[0].epoch, 2u);
  // The old holder, its lease gone, can neither claim nor hold anything.
  Result<ClaimOutcome> stale = claims(*a)->claim({7, 8});
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.status().code(), StatusCode::kOwnershipLost) << stale.status();
  EXPECT_EQ((*claims(*b)->holders())[8].host, "") << "a host without a lease claimed a shard";
}

TEST_F(ShardClaimsTest, AReleasedShardIsTakenAtOnceAtAHigherEpoch) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto ca = claims(*a);
  auto cb = claims(*b);
  Result<ClaimOutcome> held = ca->claim({3, 4});
  ASSERT_TRUE(held.has_value()) << held.status();
  EXPECT_EQ(cb->claim({3})->busy, std::vector<std::uint32_t>{3});
  Result<std::size_t> released = ca->release({held->claimed[0]});
  ASSERT_TRUE(released.has_value()) << released.status();
  EXPECT_EQ(*released, 1u);
  Result<ClaimOutcome> got = cb->claim({3});
  ASSERT_TRUE(got.has_value()) << got.status();
  ASSERT_EQ(shards_of(got->claimed), std::vector<std::uint32_t>{3});
  EXPECT_EQ(got->claimed[0].epoch, 3u);  // claimed 1, released 2, claimed 3
  // Releasing at an epoch no longer held releases nothing.
  EXPECT_EQ(*ca->release({held->claimed[0]}), 0u);
  EXPECT_EQ((*cb->holders())[3].host, "host-b");
  EXPECT_EQ((*cb->holders())[4].host, "host-a");
}

TEST_F(ShardClaimsTest, ANewIncarnationTakesTheShardsOfItsPredecessor) {
  auto old = join("host-a");
  ASSERT_NE(old, nullptr);
  ASSERT_TRUE(claims(*old)->claim({9})->busy.empty());
  auto fresh = join("host-a");
  ASSERT_NE(fresh, nullptr);
  Result<ClaimOutcome> got = claims(*fresh)->claim({9});
  ASSERT_TRUE(got.has_value()) << got.status();
  EXPECT_EQ(shards_of(got->claimed), std::vector<std::uint32_t>{9});
  EXPECT_EQ((*claims(*fresh)->holders())[9].incarnation, 2u);
}

TEST_F(ShardClaimsTest, HostsClaimingTheSameShardsAtOnceNeverBothGetOne) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto ca = claims(*a);
  auto cb = claims(*b);
  std::vector<std::uint32_t> all(kPgShards);
  for (std::uint32_t s = 0; s < kPgShards; ++s) all[s] = s;
  std::latch start(2);
  Result<ClaimOutcome> ra = Status::internal("not run"), rb = Status::internal("not run");
  std::thread ta([&] {
    start.arrive_and_wait();
    ra = ca->claim(all);
  });
  std::thread tb([&] {
    start.arrive_and_wait();
    rb = cb->claim(all);
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.has_value()) << ra.status();
  ASSERT_TRUE(rb.has_value()) << rb.status();
  const std::vector<std::uint32_t> by_a = shards_of(ra->claimed);
  const std::set<std::uint32_t> got_a(by_a.begin(), by_a.end());
  for (const PgShardEpoch& e : rb->claimed) EXPECT_EQ(got_a.count(e.shard), 0u) << "both hosts hold shard " << e.shard;
  EXPECT_EQ(ra->claimed.size() + rb->claimed.size(), kPgShards);
}

TEST_F(ShardClaimsTest, AClaimFencesTheJournalWriterThatHeldTheShard) {
  JournalOptions o;
  Result<std::unique_ptr<Journal>> writer = open_journal(url_, o);
  ASSERT_TRUE(writer.has_value()) << writer.status();
  ASSERT_TRUE((*writer)->append({NewRecord{"actor/k", RecordKind::kInbox, "one"}}).has_value());
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  Result<ClaimOutcome> got = claims(*a)->claim({pg_shard_of("actor/k")});
  ASSERT_TRUE(got.has_value()) << got.status();
  ASSERT_EQ(got->claimed.size(), 1u);
  Result<LsnRange> late = (*writer)->append({NewRecord{"actor/k", RecordKind::kInbox, "two"}});
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.status().code(), StatusCode::kOwnershipLost) << late.status();
  int records = 0;
  ASSERT_TRUE((*writer)->scan_owner("actor/k", 1, [&](const Record&) { return ++records, true; }).is_ok());
  EXPECT_EQ(records, 1) << "the fenced commit wrote a record";
}

TEST_F(ShardClaimsTest, AShardBeyondTheJournalsCountIsAnInvalidArgument) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  Result<ClaimOutcome> got = claims(*a)->claim({kPgShards});
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << got.status();
}

}  // namespace
}  // namespace keel
