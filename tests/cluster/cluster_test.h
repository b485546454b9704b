// cluster_test.h: ClusterTest, the fixture of the cluster tests that need a
// database: a fresh schema per test in the PostgreSQL test server of the
// CTest fixture keel_pg, hosts joined to it, and leases ended by hand.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/cluster/cluster_host.h"
#include "keel/cluster/membership.h"
#include "keel/cluster/placement.h"
#include "keel/journal/pg_journal.h"
#include "pg_backend.h"

namespace keel::testing {

// Wakes whoever waits for hosts' shards to change: a test's hosts call
// changed() at the end of each of their ClusterHost callbacks, which follow
// every change of their shards.
class ShardChanges {
 public:
  void changed() {
    MutexLock lock(mu_);
    cv_.notify_all();
  }
  // Waits until `done()` holds, checking after each change, for a minute.
  bool wait_until(const std::function<bool()>& done) {
    MutexLock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&]() KEEL_REQUIRES(mu_) { return done(); });
  }

 private:
  Mutex mu_;
  CondVar cv_;
};

// `prefix` followed by 0 to n - 1: the names of a test's owners.
inline std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

// Joins host `id` of the cluster at `url` as a ClusterHost whose keeper
// looks every `rebalance_every`, and when it hears the others' changes
// unless `listen` is false (a host that stays stale, as a paused process
// would); null on failure, which the test reports.
inline std::unique_ptr<ClusterHost> join_host(const std::string& url, const std::string& id,
                                              MembershipOptions membership,
                                              std::chrono::milliseconds rebalance_every, bool listen = true) {
  ClusterHostOptions o;
  o.membership = std::move(membership);
  o.keeper.rebalance_every = rebalance_every;
  o.keeper.listen = listen;
  Result<std::unique_ptr<ClusterHost>> host = ClusterHost::join(url, HostSpec{id, {"127.10.0.1:7400"}, {}}, o);
  EXPECT_TRUE(host.has_value()) << host.status();
  return host.has_value() ? std::move(*host) : nullptr;
}

// Waits until each of `hosts` has, by its shards(), the shards placement
// gives it among the hosts `ids`, and no other.
template <class Host>
bool placed_on(ShardChanges& changes, const std::vector<Host*>& hosts, const std::vector<std::string>& ids) {
  std::vector<PlacementHost> live;
  for (const std::string& id : ids) live.push_back(PlacementHost{id, {}});
  const std::vector<std::string> map = shard_map(kPgShards, live);
  return changes.wait_until([&] {
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      std::set<std::uint32_t> want;
      for (std::uint32_t s = 0; s < map.size(); ++s) {
        if (map[s] == ids[i]) want.insert(s);
      }
      if (hosts[i]->shards() != want) return false;
    }
    return true;
  });
}

class ClusterTest : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "a secret of twenty-four";

  void SetUp() override {
    Result<std::string> url = pg_test_url();
    ASSERT_TRUE(url.has_value()) << url.status();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    url_ = PgBackend::journal_path(std::string("cluster/") + info->test_suite_name() + "/" + info->name());
    PgRaw raw(url_);
    ASSERT_TRUE(raw.ok());
    raw.exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + raw.schema() + " CASCADE");
  }

  static MembershipOptions options(std::chrono::milliseconds lease = std::chrono::seconds(10)) {
    MembershipOptions o;
    o.cluster = "test";
    o.secret = kSecret;
    o.lease = lease;
    o.timeout = std::chrono::seconds(5);
    return o;
  }

  // Joins host `id` (null on failure, which the test then reports).
  std::unique_ptr<Membership> join(const std::string& id, Labels labels = {}, MembershipOptions o = options()) {
    Result<std::unique_ptr<Membership>> m = Membership::join(url_, HostSpec{id, {"127.10.0.1:7400"}, labels}, o);
    EXPECT_TRUE(m.has_value()) << m.status();
    return m.has_value() ? std::move(*m) : nullptr;
  }

  // Ends the lease of `id` by the database's clock, as time passing would.
  void expire(const std::string& id) {
    PgRaw raw(url_);
    ASSERT_TRUE(raw.exec("UPDATE S.hosts SET lease_ends = clock_timestamp() - interval '1 second' WHERE id = '" + id +
                         "'"));
  }

  std::string url_;
};

}  // namespace keel::testing
