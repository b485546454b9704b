// Gang planning (keel/cluster/gang_plan.h): pack and spread, strict and
// not, labels and slots, all or none.
#include "keel/cluster/gang_plan.h"

#include <gtest/gtest.h>

#include <map>

namespace keel {
namespace {

std::map<std::string, int> per_host(const std::vector<GangMember>& members) {
  std::map<std::string, int> out;
  for (const GangMember& m : members) ++out[m.host];
  return out;
}

void expect_ranks(const std::vector<GangMember>& members, std::uint32_t n) {
  ASSERT_EQ(members.size(), n);
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_EQ(members[i].rank, i);
}

const std::vector<HostCapacity> kHosts = {
    {"h1", {{"gpu", "1"}}, 2}, {"h2", {{"gpu", "1"}}, 4}, {"h3", {}, 3}, {"h4", {{"gpu", "1"}}, 0}};

TEST(GangPlan, StrictSpreadPutsEachMemberOnAHostOfItsOwn) {
  Result<std::vector<GangMember>> plan = plan_gang(kHosts, {"g", 3, GangPolicy::kStrictSpread, {}});
  ASSERT_TRUE(plan.has_value()) << plan.status();
  expect_ranks(*plan, 3);
  EXPECT_EQ(per_host(*plan), (std::map<std::string, int>{{"h1", 1}, {"h2", 1}, {"h3", 1}}));
}

TEST(GangPlan, StrictSpreadNeedsAsManyHostsAsMembers) {
  // h4 has the label but no free slot: two hosts for three members.
  Result<std::vector<GangMember>> plan = plan_gang(kHosts, {"g", 3, GangPolicy::kStrictSpread, {{"gpu", "1"}}});
  ASSERT_FALSE(plan.has_value());
  EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(plan.status().message().find("strict-spread, gpu=1"), std::string_view::npos) << plan.status();
  EXPECT_NE(plan.status().message().find("2 live hosts"), std::string_view::npos) << plan.status();
}

TEST(GangPlan, StrictPackPutsEveryMemberOnOneHostWithRoom) {
  Result<std::vector<GangMember>> plan = plan_gang(kHosts, {"g", 4, GangPolicy::kStrictPack, {}});
  ASSERT_TRUE(plan.has_value()) << plan.status();
  expect_ranks(*plan, 4);
  EXPECT_EQ(per_host(*plan), (std::map<std::string, int>{{"h2", 4}}));
  EXPECT_FALSE(plan_gang(kHosts, {"g", 5, GangPolicy::kStrictPack, {}}).has_value());
}

TEST(GangPlan, PackFillsTheRoomiestHostsFirst) {
  Result<std::vector<GangMember>> plan = plan_gang(kHosts, {"g", 6, GangPolicy::kPack, {}});
  ASSERT_TRUE(plan.has_value()) << plan.status();
  expect_ranks(*plan, 6);
  EXPECT_EQ(per_host(*plan), (std::map<std::string, int>{{"h2", 4}, {"h3", 2}}));
}

TEST(GangPlan, SpreadTakesHostsInTurnAndWrapsAround) {
  Result<std::vector<GangMember>> plan = plan_gang(kHosts, {"g", 7, GangPolicy::kSpread, {}});
  ASSERT_TRUE(plan.has_value()) << plan.status();
  expect_ranks(*plan, 7);
  const std::map<std::string, int> n = per_host(*plan);
  EXPECT_EQ(n.size(), 3u);
  for (const auto& [host, count] : n) EXPECT_GE(count, 2) << host;
  EXPECT_LE(n.at("h1"), 2);  // its two slots
}

TEST(GangPlan, AGangThatDoesNotFitIsPlannedNowhere) {
  for (GangPolicy p : {GangPolicy::kPack, GangPolicy::kSpread}) {
    Result<std::vector<GangMember>> plan = plan_gang(kHosts, {"g", 10, p, {}});
    ASSERT_FALSE(plan.has_value()) << gang_policy_name(p);
    EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(plan.status().message().find("9 free slots"), std::string_view::npos) << plan.status();
  }
  EXPECT_EQ(plan_gang(kHosts, {"g", 0, GangPolicy::kPack, {}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(plan_gang({}, {"g", 1, GangPolicy::kSpread, {}}).has_value());
}

TEST(GangPlan, HostsWithoutASlotLimitTakeAnyNumber) {
  std::vector<HostCapacity> hosts = {{"a", {}, HostCapacity::kUnlimited}, {"b", {}, HostCapacity::kUnlimited}};
  Result<std::vector<GangMember>> packed = plan_gang(hosts, {"g", 100, GangPolicy::kStrictPack, {}});
  ASSERT_TRUE(packed.has_value()) << packed.status();
  EXPECT_EQ(per_host(*packed).size(), 1u);
  Result<std::vector<GangMember>> spread = plan_gang(hosts, {"g", 10, GangPolicy::kSpread, {}});
  ASSERT_TRUE(spread.has_value()) << spread.status();
  EXPECT_EQ(per_host(*spread), (std::map<std::string, int>{{"a", 5}, {"b", 5}}));
}

TEST(GangPlan, ThePlanDependsOnlyOnTheHostsNotOnTheirOrder) {
  std::vector<HostCapacity> reversed(kHosts.rbegin(), kHosts.rend());
  for (GangPolicy p : {GangPolicy::kPack, GangPolicy::kSpread, GangPolicy::kStrictPack, GangPolicy::kStrictSpread}) {
    Result<std::vector<GangMember>> a = plan_gang(kHosts, {"g", 3, p, {}});
    Result<std::vector<GangMember>> b = plan_gang(reversed, {"g", 3, p, {}});
    ASSERT_TRUE(a.has_value() && b.has_value()) << gang_policy_name(p);
    for (std::size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].host, (*b)[i].host) << gang_policy_name(p);
  }
}

}  // namespace
}  // namespace keel
