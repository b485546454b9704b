// The cluster's registry (keel/cluster/cluster_registry.h) and its listener
// (keel/cluster/cluster_listener.h) on a real PostgreSQL server: the test
// server of the CTest fixture keel_pg, one schema per test.
#include "keel/cluster/cluster_registry.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "cluster_test.h"
#include "keel/cluster/cluster_listener.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using Keys = std::vector<std::string>;

class ClusterRegistryTest : public testing::ClusterTest {
 protected:
  std::unique_ptr<ClusterRegistry> registry(const Membership& m) {
    Result<std::unique_ptr<ClusterRegistry>> r = ClusterRegistry::open(url_, m);
    EXPECT_TRUE(r.has_value()) << r.status();
    return r.has_value() ? std::move(*r) : nullptr;
  }
  // Joins host-a, host-b, ... (`n` of them) with a registry each.
  void join_hosts(int n) {
    for (int i = 0; i < n; ++i) {
      hosts_.push_back(join(std::string("host-") + static_cast<char>('a' + i)));
      ASSERT_NE(hosts_.back(), nullptr);
      registries_.push_back(registry(*hosts_.back()));
      ASSERT_NE(registries_.back(), nullptr);
    }
  }

  std::vector<std::unique_ptr<Membership>> hosts_;
  std::vector<std::unique_ptr<ClusterRegistry>> registries_;
};

TEST_F(ClusterRegistryTest, MembersAreSharedByEveryHostInRegistrationOrder) {
  ASSERT_NO_FATAL_FAILURE(join_hosts(2));
  ClusterRegistry* ra = registries_[0].get();
  ClusterRegistry* rb = registries_[1].get();

  Result<ClusterRegistryMembers> empty = rb->lookup("bank", "shards");
  ASSERT_TRUE(empty.has_value()) << empty.status();
  EXPECT_EQ(*empty, (ClusterRegistryMembers{0, {}}));

  Result<ClusterRegistryMembers> m = ra->add("bank", "shards", "shard-0");
  ASSERT_TRUE(m.has_value()) << m.status();
  EXPECT_EQ(m->keys, Keys{"shard-0"});
  ASSERT_TRUE(rb->add("bank", "shards", "shard-1").has_value());
  m = ra->add("bank", "shards", "shard-2");
  ASSERT_TRUE(m.has_value()) << m.status();
  EXPECT_EQ(m->keys, (Keys{"shard-0", "shard-1", "shard-2"}));
  const std::uint64_t v = m->version;

  Result<ClusterRegistryMembers> again = ra->add("bank", "shards", "shard-0");
  ASSERT_TRUE(again.has_value()) << again.status();
  EXPECT_EQ(*again, *m) << "registering a member again changes nothing";
  Result<ClusterRegistryMembers> seen = rb->lookup("bank", "shards");
  ASSERT_TRUE(seen.has_value()) << seen.status();
  EXPECT_EQ(*seen, *m);

  Result<ClusterRegistryMembers> removed = rb->remove("bank", "shards", "shard-0");
  ASSERT_TRUE(removed.has_value()) << removed.status();
  EXPECT_EQ(removed->keys, (Keys{"shard-1", "shard-2"})) << "any host removes any member";
  EXPECT_NE(removed->version, v);
  Result<ClusterRegistryMembers> gone = rb->remove("bank", "shards", "never-there");
  ASSERT_TRUE(gone.has_value()) << gone.status();
  EXPECT_EQ(*gone, *removed);

  Result<ClusterRegistryMembers> other = ra->lookup("bank", "other");
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(other->keys.empty());
}

TEST_F(ClusterRegistryTest, AKeyRegisteredByAnotherHostBecomesItsAndGoesLast) {
  ASSERT_NO_FATAL_FAILURE(join_hosts(2));
  ClusterRegistry* ra = registries_[0].get();
  ClusterRegistry* rb = registries_[1].get();
  ASSERT_TRUE(ra->add("ns", "pool", "k1").has_value());
  Result<ClusterRegistryMembers> m = ra->add("ns", "pool", "k2");
  ASSERT_TRUE(m.has_value()) << m.status();
  Result<ClusterRegistryMembers> moved = rb->add("ns", "pool", "k1");
  ASSERT_TRUE(moved.has_value()) << moved.status();
  EXPECT_EQ(moved->keys, (Keys{"k2", "k1"}));
  EXPECT_NE(moved->version, m->version);
  // It is host-b's now: host-a's remove_keys leaves it, host-a's death too.
  ASSERT_TRUE(ra->remove_keys({"k1", "k2"}).is_ok());
  ASSERT_NO_FATAL_FAILURE(expire("host-a"));
  EXPECT_EQ(rb->lookup("ns", "pool")->keys, Keys{"k1"});
}

TEST_F(ClusterRegistryTest, RemoveKeysTakesKeysFromEveryNameTheirHostRegistered) {
  ASSERT_NO_FATAL_FAILURE(join_hosts(2));
  ClusterRegistry* ra = registries_[0].get();
  ClusterRegistry* rb = registries_[1].get();
  ASSERT_TRUE(ra->add("bank", "shards", "k").has_value());
  ASSERT_TRUE(ra->add("bank", "audit", "k").has_value());
  ASSERT_TRUE(ra->add("bank", "audit", "j").has_value());
  ASSERT_TRUE(ra->add("bank", "audit", "i").has_value());
  ASSERT_TRUE(rb->add("bank", "mirrors", "k").has_value());
  const std::uint64_t audit_version = ra->lookup("bank", "audit")->version;

  ASSERT_TRUE(ra->remove_keys({"k", "i", "never-there"}).is_ok());
  ASSERT_TRUE(ra->remove_keys({}).is_ok());
  EXPECT_TRUE(rb->lookup("bank", "shards")->keys.empty());
  Result<ClusterRegistryMembers> audit = rb->lookup("bank", "audit");
  ASSERT_TRUE(audit.has_value());
  EXPECT_EQ(audit->keys, Keys{"j"});
  EXPECT_NE(audit->version, audit_version);
  EXPECT_EQ(rb->lookup("bank", "mirrors")->keys, Keys{"k"}) << "host-b's registration is its own";
}

TEST_F(ClusterRegistryTest, TheMembersOfADeadIncarnationVanishFromLookups) {
  ASSERT_NO_FATAL_FAILURE(join_hosts(3));
  ClusterRegistry* ra = registries_[0].get();
  ClusterRegistry* rb = registries_[1].get();
  ClusterRegistry* rc = registries_[2].get();
  ASSERT_TRUE(ra->add("ns", "pool", "from-a").has_value());
  ASSERT_TRUE(rb->add("ns", "pool", "from-b").has_value());
  ASSERT_TRUE(rc->add("ns", "pool", "from-c").has_value());
  const std::uint64_t v = rb->lookup("ns", "pool")->version;

  ASSERT_NO_FATAL_FAILURE(expire("host-a"));  // its lease ended, as if it had died
  Result<ClusterRegistryMembers> m = rb->lookup("ns", "pool");
  ASSERT_TRUE(m.has_value()) << m.status();
  EXPECT_EQ(m->keys, (Keys{"from-b", "from-c"}));
  EXPECT_NE(m->version, v) << "the dead member's removal is a change";

  ASSERT_TRUE(hosts_[2]->leave().is_ok());
  m = rb->lookup("ns", "pool");
  ASSERT_TRUE(m.has_value()) << m.status();
  EXPECT_EQ(m->keys, Keys{"from-b"}) << "a host that left";

  auto b2 = join("host-b");  // a new incarnation supersedes the old one
  ASSERT_NE(b2, nullptr);
  auto rb2 = registry(*b2);
  m = rb2->lookup("ns", "pool");
  ASSERT_TRUE(m.has_value()) << m.status();
  EXPECT_TRUE(m->keys.empty());
  m = rb2->add("ns", "pool", "from-b");
  ASSERT_TRUE(m.has_value()) << m.status();
  EXPECT_EQ(m->keys, Keys{"from-b"});
}

TEST_F(ClusterRegistryTest, AHostWithoutALeaseRegistersNothing) {
  ASSERT_NO_FATAL_FAILURE(join_hosts(2));
  ASSERT_NO_FATAL_FAILURE(expire("host-a"));
  Result<ClusterRegistryMembers> m = registries_[0]->add("ns", "pool", "k");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.status().code(), StatusCode::kOwnershipLost) << m.status();
  EXPECT_TRUE(registries_[1]->lookup("ns", "pool")->keys.empty());
}

TEST_F(ClusterRegistryTest, BadNamesAreRefusedWithAClearError) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  auto r = registry(*a);
  for (auto [ns, name] : std::vector<std::pair<std::string, std::string>>{
           {"", "pool"}, {"ns", ""}, {"a/b", "pool"}, {std::string(kMaxRegistryName + 1, 'n'), "pool"}}) {
    Result<ClusterRegistryMembers> m = r->add(ns, name, "k");
    ASSERT_FALSE(m.has_value()) << ns << "/" << name;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << m.status();
    EXPECT_EQ(r->lookup(ns, name).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r->remove(ns, name, "k").status().code(), StatusCode::kInvalidArgument);
  }
  Result<ClusterRegistryMembers> m = r->add("ns", "pool", "");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << m.status();
  EXPECT_NE(m.status().message().find("key"), std::string_view::npos) << m.status();
  EXPECT_EQ(ClusterRegistry::open("postgresql://x?keel_schema=Bad-Name", *a).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ClusterRegistryTest, AChangeWakesAListener) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  auto r = registry(*a);
  Result<std::unique_ptr<ClusterListener>> l = ClusterListener::open(url_);
  ASSERT_TRUE(l.has_value()) << l.status();
  // The first wait connects and listens; nothing has changed yet.
  Result<ClusterWakeup> first = (*l)->wait(10ms);
  ASSERT_TRUE(first.has_value()) << first.status();
  EXPECT_TRUE(first->resubscribed);
  EXPECT_TRUE(first->names.empty());

  auto heard = std::async(std::launch::async, [&] { return (*l)->wait(60s); });
  ASSERT_TRUE(r->add("bank", "shards", "shard-0").has_value());
  Result<ClusterWakeup> w = heard.get();
  ASSERT_TRUE(w.has_value()) << w.status();
  EXPECT_FALSE(w->resubscribed);
  EXPECT_EQ(w->names, (std::vector<std::pair<std::string, std::string>>{{"bank", "shards"}}));

  // remove_keys announces its changes too.
  ASSERT_TRUE(r->remove_keys({"shard-0"}).is_ok());
  w = (*l)->wait(60s);
  ASSERT_TRUE(w.has_value()) << w.status();
  EXPECT_EQ(w->names, (std::vector<std::pair<std::string, std::string>>{{"bank", "shards"}}));
}

TEST_F(ClusterRegistryTest, AListenerWhoseConnectionWasLostListensAgainAndSaysSo) {
  auto a = join("host-a");
  ASSERT_NE(a, nullptr);
  auto r = registry(*a);
  Result<std::unique_ptr<ClusterListener>> l = ClusterListener::open(url_);
  ASSERT_TRUE(l.has_value()) << l.status();
  ASSERT_TRUE((*l)->wait(10ms).has_value());
  testing::PgRaw raw(url_);
  ASSERT_TRUE(raw.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN " +
                       raw.schema() + "%'"));
  // The loss is reported; the next wait connects again.
  Result<ClusterWakeup> w = (*l)->wait(60s);
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.status().code(), StatusCode::kUnavailable) << w.status();
  w = (*l)->wait(10ms);
  ASSERT_TRUE(w.has_value()) << w.status();
  EXPECT_TRUE(w->resubscribed);
  ASSERT_TRUE(r->add("bank", "shards", "shard-0").has_value());
  w = (*l)->wait(60s);
  ASSERT_TRUE(w.has_value()) << w.status();
  EXPECT_EQ(w->names, (std::vector<std::pair<std::string, std::string>>{{"bank", "shards"}}));
}

TEST_F(ClusterRegistryTest, InterruptEndsAWaitAtOnce) {
  Result<std::unique_ptr<ClusterListener>> l = ClusterListener::open(url_);
  ASSERT_TRUE(l.has_value()) << l.status();
  ASSERT_TRUE((*l)->wait(10ms).has_value());
  auto waiting = std::async(std::launch::async, [&] { return (*l)->wait(std::chrono::hours(1)); });
  (*l)->interrupt();
  ASSERT_EQ(waiting.wait_for(60s), std::future_status::ready);
  Result<ClusterWakeup> w = waiting.get();
  ASSERT_TRUE(w.has_value()) << w.status();
  EXPECT_TRUE(w->names.empty());
}

}  // namespace
}  // namespace keel
