// Membership and leases (keel/cluster/membership.h) on a real PostgreSQL
// server: the test server of the CTest fixture keel_pg, one schema per test.
#include "keel/cluster/membership.h"

#include <gtest/gtest.h>

#include <future>

#include "cluster_test.h"

namespace keel {
namespace {

using namespace std::chrono_literals;

class MembershipTest : public testing::ClusterTest {
 protected:
  // The host row of `id` as hosts() reports it (none: an empty id).
  static HostView find(const std::vector<HostView>& all, const std::string& id) {
    for (const HostView& h : all) {
      if (h.id == id) return h;
    }
    return HostView{};
  }
};

TEST_F(MembershipTest, AJoinedHostIsLiveWithItsAddressesAndLabels) {
  auto a = join("host-a", {{"zone", "a"}, {"gpu", "1"}});
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->incarnation(), 1u);
  EXPECT_TRUE(a->holds_lease());
  Result<std::vector<HostView>> all = a->hosts();
  ASSERT_TRUE(all.has_value()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  const HostView& h = all->front();
  EXPECT_EQ(h.id, "host-a");
  EXPECT_EQ(h.incarnation, 1u);
  EXPECT_EQ(h.addresses, std::vector<std::string>{"127.10.0.1:7400"});
  EXPECT_EQ(h.labels, (Labels{{"gpu", "1"}, {"zone", "a"}}));
  EXPECT_TRUE(h.live);
  EXPECT_FALSE(h.left);
  EXPECT_GT(h.lease_left, 0ms);
  EXPECT_LE(h.lease_left, 10s);
}

TEST_F(MembershipTest, HostsSeeEachOtherAndPlaceShardsAlike) {
  auto a = join("host-a");
  auto b = join("host-b", {{"gpu", "1"}});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Result<std::vector<PlacementHost>> from_a = a->live_hosts();
  Result<std::vector<PlacementHost>> from_b = b->live_hosts();
  ASSERT_TRUE(from_a.has_value()) << from_a.status();
  ASSERT_TRUE(from_b.has_value()) << from_b.status();
  ASSERT_EQ(from_a->size(), 2u);
  EXPECT_EQ(shard_map(64, *from_a), shard_map(64, *from_b));
  Result<std::string> gpu = place_shard(5, *from_a, {{"gpu", "1"}});
  ASSERT_TRUE(gpu.has_value()) << gpu.status();
  EXPECT_EQ(*gpu, "host-b");
}

TEST_F(MembershipTest, AWrongSecretIsUnauthenticatedAndNotShown) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  MembershipOptions o = options();
  o.secret = "another secret, also long";
  Result<std::unique_ptr<Membership>> b = Membership::join(url_, HostSpec{"host-b", {}, {}}, o);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.status().code(), StatusCode::kUnauthenticated) << b.status();
  EXPECT_EQ(b.status().message().find("another secret"), std::string_view::npos) << b.status();
  EXPECT_EQ(b.status().message().find(kSecret), std::string_view::npos) << b.status();
  // Nothing of host-b was written.
  EXPECT_EQ(find(*a->hosts(), "host-b").id, "");
}

TEST_F(MembershipTest, AnotherClusterInTheSameSchemaIsRefused) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  MembershipOptions o = options();
  o.cluster = "other";
  Result<std::unique_ptr<Membership>> b = Membership::join(url_, HostSpec{"host-b", {}, {}}, o);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition) << b.status();
  EXPECT_NE(b.status().message().find("\"test\""), std::string_view::npos) << b.status();
}

TEST_F(MembershipTest, RejoiningStartsANewIncarnationAndTheOldOneLosesItsLease) {
  MembershipOptions o = options(2s);
  o.renew_every = 100ms;
  auto old = join("host-a", {}, o);
  ASSERT_NE(old, nullptr);
  std::promise<Status> lost;
  old->on_lease_lost([&lost](const Status& why) { lost.set_value(why); });
  auto fresh = join("host-a", {}, o);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->incarnation(), 2u);
  std::future<Status> f = lost.get_future();
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready) << "the old incarnation never learned it was superseded";
  const Status why = f.get();
  EXPECT_EQ(why.code(), StatusCode::kOwnershipLost) << why;
  EXPECT_NE(why.message().find("superseded by incarnation 2"), std::string_view::npos) << why;
  EXPECT_FALSE(old->holds_lease());
  EXPECT_EQ(old->renew().code(), StatusCode::kOwnershipLost);
  EXPECT_TRUE(fresh->renew().is_ok());
  EXPECT_EQ(find(*fresh->hosts(), "host-a").incarnation, 2u);
}

TEST_F(MembershipTest, ALeaseEndedByTheDatabasesClockIsLostAndTheHostIsNotLive) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  expire("host-a");
  Result<std::vector<HostView>> all = b->hosts();
  ASSERT_TRUE(all.has_value()) << all.status();
  EXPECT_FALSE(find(*all, "host-a").live);
  EXPECT_LT(find(*all, "host-a").lease_left, 0ms);
  EXPECT_TRUE(find(*all, "host-b").live);
  ASSERT_EQ(b->live_hosts()->size(), 1u);
  const Status s = a->renew();
  EXPECT_EQ(s.code(), StatusCode::kOwnershipLost) << s;
  EXPECT_NE(s.message().find("lease ended"), std::string_view::npos) << s;
  EXPECT_FALSE(a->holds_lease());
  // Joining again makes it live once more, as a new incarnation.
  auto again = join("host-a");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->incarnation(), 2u);
  EXPECT_TRUE(find(*b->hosts(), "host-a").live);
}

TEST_F(MembershipTest, LeavingEndsTheLeaseAtOnceWithoutReportingItLost) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  bool called = false;
  b->on_lease_lost([&called](const Status&) { called = true; });
  ASSERT_TRUE(b->leave().is_ok());
  EXPECT_FALSE(b->holds_lease());
  const HostView h = find(*a->hosts(), "host-b");
  EXPECT_TRUE(h.left);
  EXPECT_FALSE(h.live);
  EXPECT_EQ(b->renew().code(), StatusCode::kOwnershipLost);
  b.reset();  // joins the renewal thread: the callback could only have run before
  EXPECT_FALSE(called);
}

TEST_F(MembershipTest, AHostThatCannotRenewGivesUpItsLeaseBeforeTheDatabaseEndsIt) {
  MembershipOptions o = options(1s);
  o.renew_every = 100ms;
  o.timeout = 200ms;
  auto a = join("host-a", {}, o);
  ASSERT_NE(a, nullptr);
  std::promise<Status> lost;
  a->on_lease_lost([&lost](const Status& why) { lost.set_value(why); });
  // A transaction that holds the hosts table: every renewal waits past its
  // timeout, as if the database had gone away.
  testing::PgRaw blocker(url_);
  ASSERT_TRUE(blocker.exec("BEGIN; LOCK TABLE S.hosts IN ACCESS EXCLUSIVE MODE"));
  std::future<Status> f = lost.get_future();
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready) << "the host kept its lease without renewing it";
  const Status why = f.get();
  EXPECT_EQ(why.code(), StatusCode::kOwnershipLost) << why;
  EXPECT_NE(why.message().find("could not renew"), std::string_view::npos) << why;
  EXPECT_FALSE(a->holds_lease());
  ASSERT_TRUE(blocker.exec("COMMIT"));
  // Once lost, a lease stays lost: the host must join again.
  EXPECT_EQ(a->renew().code(), StatusCode::kOwnershipLost);
}

TEST_F(MembershipTest, AnUnreachableDatabaseIsUnavailableWithoutThePassword) {
  MembershipOptions o = options();
  o.timeout = 2s;
  Result<std::unique_ptr<Membership>> m = Membership::join(
      "postgresql://keel:hunter2secret@127.0.0.1:1/db?keel_schema=c", HostSpec{"host-a", {}, {}}, o);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable) << m.status();
  EXPECT_EQ(m.status().message().find("hunter2secret"), std::string_view::npos) << m.status();
  EXPECT_NE(m.status().message().find("127.0.0.1"), std::string_view::npos) << m.status();
}

TEST_F(MembershipTest, BadSpecsAndOptionsAreInvalidArguments) {
  const HostSpec good{"host-a", {"127.10.0.1:7400"}, {{"zone", "a"}}};
  auto refused = [&](HostSpec spec, MembershipOptions o) {
    Result<std::unique_ptr<Membership>> m = Membership::join(url_, std::move(spec), std::move(o));
    return !m.has_value() && m.status().code() == StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused(HostSpec{"", {}, {}}, options()));
  EXPECT_TRUE(refused(HostSpec{"host a", {}, {}}, options()));
  EXPECT_TRUE(refused(HostSpec{"host-a", {"two\nlines"}, {}}, options()));
  EXPECT_TRUE(refused(HostSpec{"host-a", {}, {{"gpu", "1,2"}}}, options()));
  MembershipOptions short_secret = options();
  short_secret.secret = "short";
  EXPECT_TRUE(refused(good, short_secret));
  EXPECT_TRUE(refused(good, options(10ms)));
  MembershipOptions slow = options(1s);
  slow.renew_every = 2s;
  EXPECT_TRUE(refused(good, slow));
  Result<std::unique_ptr<Membership>> bad_url = Membership::join("postgresql://h/db?keel_schema=Bad-Name", good, options());
  ASSERT_FALSE(bad_url.has_value());
  EXPECT_EQ(bad_url.status().code(), StatusCode::kInvalidArgument) << bad_url.status();
}

}  // namespace
}  // namespace keel
