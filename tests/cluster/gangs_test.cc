// Gangs (keel/cluster/gangs.h) on a real PostgreSQL server: allocation all
// or none, slots taken by other gangs, release, dead members.
#include "keel/cluster/gangs.h"

#include <gtest/gtest.h>

#include <latch>
#include <map>
#include <thread>

#include "cluster_test.h"

namespace keel::testing {
namespace {

class GangsTest : public ClusterTest {
 protected:
  std::unique_ptr<Membership> join_with_slots(const std::string& id, std::uint32_t slots, Labels labels = {}) {
    Result<std::unique_ptr<Membership>> m =
        Membership::join(url_, HostSpec{id, {"127.10.0.1:7400"}, std::move(labels), slots}, options());
    EXPECT_TRUE(m.has_value()) << m.status();
    return m.has_value() ? std::move(*m) : nullptr;
  }
  std::unique_ptr<Gangs> gangs(const Membership& m) {
    Result<std::unique_ptr<Gangs>> g = Gangs::open(url_, m);
    EXPECT_TRUE(g.has_value()) << g.status();
    return g.has_value() ? std::move(*g) : nullptr;
  }
  static std::map<std::string, int> per_host(const std::vector<GangMember>& members) {
    std::map<std::string, int> out;
    for (const GangMember& m : members) ++out[m.host];
    return out;
  }
};

TEST_F(GangsTest, AnAllocatedGangIsRecordedWithItsTicketMembersAndRanks) {
  auto a = join_with_slots("host-a", 2, {{"gpu", "1"}});
  auto b = join_with_slots("host-b", 2, {{"gpu", "1"}});
  auto c = join_with_slots("host-c", 2);
  ASSERT_TRUE(a && b && c);
  auto g = gangs(*a);
  Result<GangTicket> t = g->allocate({"trainer", 2, GangPolicy::kStrictSpread, {{"gpu", "1"}}});
  ASSERT_TRUE(t.has_value()) << t.status();
  EXPECT_EQ(t->ticket.size(), 32u);
  EXPECT_EQ(t->owner, "host-a#1");
  EXPECT_EQ(per_host(t->members), (std::map<std::string, int>{{"host-a", 1}, {"host-b", 1}}));
  Result<GangTicket> found = gangs(*c)->find(t->ticket);
  ASSERT_TRUE(found.has_value()) << found.status();
  EXPECT_EQ(found->name, "trainer");
  EXPECT_EQ(found->policy, GangPolicy::kStrictSpread);
  ASSERT_EQ(found->members.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(found->members[i].rank, t->members[i].rank);
    EXPECT_EQ(found->members[i].host, t->members[i].host);
  }
}

TEST_F(GangsTest, SlotsTakenByOneGangAreNotGivenToTheNextUntilReleased) {
  auto a = join_with_slots("host-a", 2);
  auto b = join_with_slots("host-b", 2);
  ASSERT_TRUE(a && b);
  auto g = gangs(*a);
  Result<GangTicket> first = g->allocate({"one", 3, GangPolicy::kPack, {}});
  ASSERT_TRUE(first.has_value()) << first.status();
  Result<GangTicket> second = g->allocate({"two", 2, GangPolicy::kSpread, {}});
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(second.status().message().find("1 free slot"), std::string_view::npos) << second.status();
  ASSERT_TRUE(g->release(first->ticket).is_ok());
  EXPECT_EQ(g->find(first->ticket).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(g->release(first->ticket).code(), StatusCode::kNotFound);
  EXPECT_TRUE(g->allocate({"two", 2, GangPolicy::kSpread, {}}).has_value());
}

TEST_F(GangsTest, GangsAllocatedAtOnceNeverShareASlot) {
  auto a = join_with_slots("host-a", 3);
  auto b = join_with_slots("host-b", 3);
  ASSERT_TRUE(a && b);
  auto ga = gangs(*a);
  auto gb = gangs(*b);
  std::latch start(2);
  Result<GangTicket> ra = Status::internal("not run"), rb = Status::internal("not run");
  std::thread ta([&] {
    start.arrive_and_wait();
    ra = ga->allocate({"x", 4, GangPolicy::kSpread, {}});
  });
  std::thread tb([&] {
    start.arrive_and_wait();
    rb = gb->allocate({"y", 4, GangPolicy::kSpread, {}});
  });
  ta.join();
  tb.join();
  // Six slots, two gangs of four: exactly one fits.
  EXPECT_NE(ra.has_value(), rb.has_value()) << ra.status() << " / " << rb.status();
  const Result<GangTicket>& failed = ra.has_value() ? rb : ra;
  EXPECT_EQ(failed.status().code(), StatusCode::kFailedPrecondition) << failed.status();
}

TEST_F(GangsTest, MembersOnAHostWhoseLeaseEndedOrThatRestartedAreDead) {
  auto a = join_with_slots("host-a", 1);
  auto b = join_with_slots("host-b", 1);
  auto c = join_with_slots("host-c", 1);
  ASSERT_TRUE(a && b && c);
  auto g = gangs(*a);
  Result<GangTicket> t = g->allocate({"ring", 3, GangPolicy::kStrictSpread, {}});
  ASSERT_TRUE(t.has_value()) << t.status();
  EXPECT_TRUE(g->dead_members(t->ticket)->empty());
  expire("host-b");
  auto c2 = join_with_slots("host-c", 1);  // a restart: the member placed on incarnation 1 is gone
  ASSERT_NE(c2, nullptr);
  Result<std::vector<GangMember>> dead = g->dead_members(t->ticket);
  ASSERT_TRUE(dead.has_value()) << dead.status();
  std::map<std::string, int> hosts = per_host(*dead);
  EXPECT_EQ(hosts, (std::map<std::string, int>{{"host-b", 1}, {"host-c", 1}}));
  EXPECT_EQ(g->dead_members("no-such-ticket").status().code(), StatusCode::kNotFound);
}

TEST_F(GangsTest, AHostWithoutALeaseAllocatesNothing) {
  auto a = join_with_slots("host-a", 4);
  ASSERT_NE(a, nullptr);
  expire("host-a");
  Result<GangTicket> t = gangs(*a)->allocate({"g", 1, GangPolicy::kPack, {}});
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.status().code(), StatusCode::kOwnershipLost) << t.status();
  EXPECT_EQ(gangs(*a)->allocate({"", 1, GangPolicy::kPack, {}}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keel::testing
