// Shard placement by rendezvous hashing (keel/cluster/placement.h).
#include "keel/cluster/placement.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "keel/base/rendezvous.h"

namespace keel {
namespace {

constexpr std::uint32_t kShards = 256;

std::vector<PlacementHost> hosts(std::initializer_list<const char*> ids) {
  std::vector<PlacementHost> out;
  for (const char* id : ids) out.push_back(PlacementHost{id, {}});
  return out;
}

TEST(RendezvousWeight, IsTheSameOnEveryBuildAndMachine) {
  // Hosts agree on placement only if every build computes the same weight:
  // these values are part of the cluster's contract (checked against an
  // independent computation of FNV-1a + SplitMix64).
  EXPECT_EQ(rendezvous_weight("host-a", "7"), 0x08b5656881a7a38full) << std::hex << rendezvous_weight("host-a", "7");
  EXPECT_NE(rendezvous_weight("a", "bc"), rendezvous_weight("ab", "c"));
}

TEST(Placement, EveryHostComputesTheSameMapWhateverTheOrderOfTheHosts) {
  std::vector<PlacementHost> a = hosts({"h1", "h2", "h3"});
  std::vector<PlacementHost> b = hosts({"h3", "h1", "h2"});
  const std::vector<std::string> map = shard_map(kShards, a);
  ASSERT_EQ(map.size(), kShards);
  EXPECT_EQ(map, shard_map(kShards, b));
  for (const char* id : {"h1", "h2", "h3"}) {
    EXPECT_GT(std::count(map.begin(), map.end(), id), 0) << id << " owns no shard";
  }
}

TEST(Placement, AJoiningHostTakesShardsOnlyForItself) {
  const std::vector<std::string> before = shard_map(kShards, hosts({"h1", "h2", "h3"}));
  const std::vector<std::string> after = shard_map(kShards, hosts({"h1", "h2", "h3", "h4"}));
  int moved = 0;
  for (std::uint32_t s = 0; s < kShards; ++s) {
    if (before[s] == after[s]) continue;
    ++moved;
    EXPECT_EQ(after[s], "h4") << "shard " << s << " moved from " << before[s] << " to " << after[s];
  }
  EXPECT_GT(moved, 0);
}

TEST(Placement, ALeavingHostGivesAwayOnlyItsOwnShards) {
  const std::vector<std::string> before = shard_map(kShards, hosts({"h1", "h2", "h3"}));
  const std::vector<std::string> after = shard_map(kShards, hosts({"h1", "h3"}));
  for (std::uint32_t s = 0; s < kShards; ++s) {
    if (before[s] != "h2") {
      EXPECT_EQ(after[s], before[s]) << "shard " << s;
    }
    EXPECT_NE(after[s], "h2");
  }
}

TEST(Placement, RequiredLabelsPickOnlyMatchingHosts) {
  std::vector<PlacementHost> hs = {{"cpu-1", {{"zone", "a"}}},
                                   {"gpu-1", {{"gpu", "1"}, {"zone", "a"}}},
                                   {"gpu-2", {{"gpu", "1"}, {"zone", "b"}}}};
  for (std::uint32_t s = 0; s < 64; ++s) {
    Result<std::string> any_gpu = place_shard(s, hs, {{"gpu", "1"}});
    ASSERT_TRUE(any_gpu.has_value()) << any_gpu.status();
    EXPECT_TRUE(*any_gpu == "gpu-1" || *any_gpu == "gpu-2") << *any_gpu;
    Result<std::string> gpu_in_b = place_shard(s, hs, {{"gpu", "1"}, {"zone", "b"}});
    ASSERT_TRUE(gpu_in_b.has_value()) << gpu_in_b.status();
    EXPECT_EQ(*gpu_in_b, "gpu-2");
  }
}

TEST(Placement, NoMatchingHostIsAFailedPreconditionNamingTheLabels) {
  std::vector<PlacementHost> hs = {{"cpu-1", {{"zone", "a"}}}};
  Result<std::string> r = place_shard(3, hs, {{"gpu", "1"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("gpu=1"), std::string_view::npos) << r.status();
  Result<std::string> none = place_shard(3, {});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(shard_map(kShards, {}).empty());
}

TEST(Labels, ParseAndPrint) {
  Result<Labels> l = labels_from_string("zone=a,gpu=1,empty=");
  ASSERT_TRUE(l.has_value()) << l.status();
  EXPECT_EQ(*l, (Labels{{"gpu", "1"}, {"zone", "a"}, {"empty", ""}}));
  EXPECT_EQ(labels_to_string(*l), "empty=,gpu=1,zone=a");
  EXPECT_TRUE(labels_from_string("")->empty());
  EXPECT_TRUE(labels_match(*l, {{"gpu", "1"}}));
  EXPECT_FALSE(labels_match(*l, {{"gpu", "2"}}));
  EXPECT_FALSE(labels_match(*l, {{"ssd", "1"}}));
}

TEST(Labels, MalformedTextIsAnInvalidArgument) {
  for (const char* bad : {"gpu", "=1", "gpu=1,gpu=2", "gpu=1,,zone=a"}) {
    Result<Labels> l = labels_from_string(bad);
    ASSERT_FALSE(l.has_value()) << bad;
    EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace keel
