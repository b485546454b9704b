// Remembered actors (keel/cluster/remembered_actors.h) on a real PostgreSQL
// server: the test server of the CTest fixture keel_pg, one schema per test.
#include "keel/cluster/remembered_actors.h"

#include <gtest/gtest.h>

#include "cluster_test.h"
#include "keel/cluster/shard_claims.h"

namespace keel {
namespace {

class RememberedActorsTest : public testing::ClusterTest {
 protected:
  std::unique_ptr<RememberedActors> actors(const Membership& m) {
    Result<std::unique_ptr<RememberedActors>> a = RememberedActors::open(url_, m);
    EXPECT_TRUE(a.has_value()) << a.status();
    return a.has_value() ? std::move(*a) : nullptr;
  }
  void claim(const Membership& m, std::vector<std::uint32_t> shards) {
    Result<std::unique_ptr<ShardClaims>> c = ShardClaims::open(url_, m);
    ASSERT_TRUE(c.has_value()) << c.status();
    Result<ClaimOutcome> got = (*c)->claim(shards);
    ASSERT_TRUE(got.has_value()) << got.status();
    ASSERT_EQ(got->claimed.size(), shards.size());
  }
};

TEST_F(RememberedActorsTest, TheHolderOfAShardRemembersItsActorsByShard) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  claim(*a, {3, 4});
  auto t = actors(*a);
  ASSERT_TRUE(t->remember("order-1", "Order", 3).is_ok());
  ASSERT_TRUE(t->remember("order-2", "Order", 4).is_ok());
  ASSERT_TRUE(t->remember("cart-9", "Cart", 3).is_ok());
  EXPECT_TRUE(t->remember("order-1", "Order", 3).is_ok()) << "the same again is fine";

  Result<std::vector<RememberedActor>> in3 = t->in_shards({3});
  ASSERT_TRUE(in3.has_value()) << in3.status();
  EXPECT_EQ(*in3, (std::vector<RememberedActor>{{"cart-9", "Cart", 3}, {"order-1", "Order", 3}}));
  Result<std::vector<RememberedActor>> all = t->in_shards({3, 4, 5});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 3u);

  ASSERT_TRUE(t->forget("cart-9").is_ok());
  ASSERT_TRUE(t->forget("never-there").is_ok());
  in3 = t->in_shards({3});
  ASSERT_TRUE(in3.has_value());
  EXPECT_EQ(*in3, (std::vector<RememberedActor>{{"order-1", "Order", 3}}));
}

TEST_F(RememberedActorsTest, AHostThatDoesNotHoldTheShardRemembersNothing) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  claim(*a, {7});
  auto tb = actors(*b);
  Status s = tb->remember("order-1", "Order", 7);
  EXPECT_EQ(s.code(), StatusCode::kOwnershipLost) << s;
  EXPECT_NE(s.message().find("shard 7"), std::string_view::npos) << s;
  s = tb->remember("order-2", "Order", 8);  // a shard nobody holds
  EXPECT_EQ(s.code(), StatusCode::kOwnershipLost) << s;
  Result<std::vector<RememberedActor>> left = tb->in_shards({7, 8});
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->empty());
}

TEST_F(RememberedActorsTest, AKeyKeepsItsTypeAndBadInputIsRefused) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  claim(*a, {1});
  auto t = actors(*a);
  ASSERT_TRUE(t->remember("k", "Order", 1).is_ok());
  Status s = t->remember("k", "Cart", 1);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s;
  EXPECT_NE(s.message().find("is a Order"), std::string_view::npos) << s;
  EXPECT_EQ(t->remember("", "Order", 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t->remember("k2", "", 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RememberedActors::open("not a url", *a).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keel
