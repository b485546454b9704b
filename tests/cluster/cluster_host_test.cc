// ClusterHost (keel/cluster/cluster_host.h) with durable actors: hosts on
// one PostgreSQL journal, each a System on its own writer of it, recover the
// actors of the shards they gain with the state the journal holds, and a
// host whose shards were taken over cannot commit for them any more.
#include "keel/cluster/cluster_host.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_test.h"
#include "keel/base/thread_annotations.h"
#include "keel/cluster/placement.h"
#include "keel/engine/durable.h"
#include "keel/engine/engine.h"

namespace keel::testing {
namespace {

using namespace std::chrono_literals;

struct Count {
  std::int64_t value = 0;
  static constexpr auto kFields = fields(field<&Count::value>("value"));
};

class Counter : public DurableActor<Count> {
 public:
  std::int64_t add(std::int64_t n) { return state().value += n; }
  std::int64_t get() { return state().value; }
  static constexpr auto kHandlers = handlers(handler<&Counter::add>("add"), handler<&Counter::get>("get"));
};

std::string owner_of(const std::string& key) { return "actor/" + key; }

// One host: a ClusterHost and a System on its journal. The shards it gains
// bring their counters back from the journal; those it loses stop theirs
// (waiting for their commits) before the journal lets them go.
class CounterHost {
 public:
  CounterHost(ShardChanges* changes, const std::string& url, const std::string& id, MembershipOptions membership,
              std::chrono::milliseconds rebalance_every = 50ms, bool listen = true)
      : changes_(changes), host_(join_host(url, id, std::move(membership), rebalance_every, listen)) {
    if (host_ == nullptr) return;
    SystemConfig config;
    config.journal = &host_->journal();
    system_ = std::make_unique<System>(config);
    ClusterHost::Callbacks cb;
    cb.gained = [this](const std::vector<PgShardEpoch>& shards) {
      recover(shards);
      changes_->changed();
    };
    cb.losing = [this](const std::vector<std::uint32_t>& shards, bool) {
      stop(shards);
      changes_->changed();
    };
    Status started = host_->start(std::move(cb));
    EXPECT_TRUE(started.is_ok()) << started;
  }
  // No callback may run once the system is gone; the system goes before the
  // host, whose journal it commits through.
  ~CounterHost() {
    if (host_ != nullptr) host_->stop();
    if (system_ != nullptr) system_->shutdown(ShutdownMode::kDrain).ignore();
    system_.reset();
    host_.reset();
  }

  bool ok() const { return host_ != nullptr; }
  ClusterHost& host() { return *host_; }
  bool holds(const std::string& key) const { return host_->holds(owner_of(key)); }
  std::set<std::uint32_t> shards() const {
    std::set<std::uint32_t> out;
    for (const PgShardEpoch& e : host_->held()) out.insert(e.shard);
    return out;
  }

  // The counter `key` here, spawned (recovered) when it is not live yet.
  Result<ActorRef<Counter>> counter(const std::string& key) {
    MutexLock lock(mu_);
    return counter_locked(key);
  }

  Result<std::int64_t> add(const std::string& key, std::int64_t n) {
    KEEL_ASSIGN_OR_RETURN(ActorRef<Counter> c, counter(key));
    return c.ask<&Counter::add>(n).get();
  }
  Result<std::int64_t> get(const std::string& key) {
    KEEL_ASSIGN_OR_RETURN(ActorRef<Counter> c, counter(key));
    return c.ask<&Counter::get>().get();
  }
  std::set<std::string> live() {
    MutexLock lock(mu_);
    return live_;
  }

 private:
  Result<ActorRef<Counter>> counter_locked(const std::string& key) KEEL_REQUIRES(mu_) {
    if (live_.count(key) != 0) {
      Result<ActorRef<Counter>> found = system_->lookup<Counter>(key);
      if (found.has_value()) return found;
    }
    KEEL_ASSIGN_OR_RETURN(ActorRef<Counter> c, system_->spawn_durable<Counter>(key));
    live_.insert(key);
    return c;
  }

  void recover(const std::vector<PgShardEpoch>& shards) {
    Result<std::vector<std::string>> owners = host_->owners_in(shards);
    ASSERT_TRUE(owners.has_value()) << owners.status();
    MutexLock lock(mu_);
    for (const std::string& owner : *owners) {
      if (owner.rfind("actor/", 0) != 0) continue;
      Result<ActorRef<Counter>> c = counter_locked(owner.substr(6));
      EXPECT_TRUE(c.has_value()) << owner << ": " << c.status();
    }
  }

  void stop(const std::vector<std::uint32_t>& shards) {
    const std::set<std::uint32_t> going(shards.begin(), shards.end());
    MutexLock lock(mu_);
    for (auto it = live_.begin(); it != live_.end();) {
      if (going.count(pg_shard_of(owner_of(*it))) == 0) {
        ++it;
        continue;
      }
      Result<ActorRef<Counter>> c = system_->lookup<Counter>(*it);
      if (c.has_value()) {
        Future<Down> down = system_->watch(*c);
        system_->stop(*c);
        static_cast<void>(down.get());  // its commits are in (or refused, for a shard already lost)
      }
      it = live_.erase(it);
    }
  }

  ShardChanges* const changes_;
  std::unique_ptr<ClusterHost> host_;
  std::unique_ptr<System> system_;
  Mutex mu_;
  std::set<std::string> live_ KEEL_GUARDED_BY(mu_);  // keys of the counters spawned here
};

class ClusterHostTest : public ClusterTest {
 protected:
  // Waits until `hosts` hold the shards placement gives them among `ids`,
  // and nothing else.
  bool placed(const std::vector<CounterHost*>& hosts, const std::vector<std::string>& ids) {
    return placed_on(changes_, hosts, ids);
  }

  static std::vector<std::string> keys(int n) { return numbered("counter-", n); }

  ShardChanges changes_;
};

TEST_F(ClusterHostTest, CountersMoveToAJoiningHostWithTheirState) {
  CounterHost a(&changes_, url_, "host-a", options());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  for (const std::string& key : keys(16)) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.add(key, 1).has_value()) << key;
  }
  CounterHost b(&changes_, url_, "host-b", options());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(placed({&a, &b}, {"host-a", "host-b"}));
  int moved = 0;
  for (const std::string& key : keys(16)) {
    CounterHost& holder = a.holds(key) ? a : b;
    moved += &holder == &b;
    Result<std::int64_t> value = holder.get(key);
    ASSERT_TRUE(value.has_value()) << key << ": " << value.status();
    EXPECT_EQ(*value, 3) << key;
    ASSERT_TRUE(holder.add(key, 1).has_value()) << key;
  }
  EXPECT_GT(moved, 0) << "placement gave the joining host none of 16 counters";
  // No counter is live on both hosts.
  const std::set<std::string> on_a = a.live();
  for (const std::string& key : b.live()) EXPECT_EQ(on_a.count(key), 0u) << key << " lives on both hosts";
}

TEST_F(ClusterHostTest, HostsHearAJoinAndALeaveWithoutWaitingForTheirNextRound) {
  // Rounds ten minutes apart: the shards move within the test's wait only
  // because the keepers hear the join, the releases, the claims and the
  // leave (ShardKeeperOptions::listen), and long before the lease ends.
  constexpr auto kRarely = std::chrono::minutes(10);
  CounterHost a(&changes_, url_, "host-a", options(), kRarely);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  for (const std::string& key : keys(8)) ASSERT_TRUE(a.add(key, 1).has_value()) << key;
  {
    CounterHost b(&changes_, url_, "host-b", options(), kRarely);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(placed({&a, &b}, {"host-a", "host-b"}));
    for (const std::string& key : keys(8)) {
      CounterHost& holder = a.holds(key) ? a : b;
      EXPECT_EQ(holder.add(key, 1).value_or(-1), 2) << key;
    }
    // A graceful leave: the shards move at once, not when the lease ends.
    ASSERT_TRUE(b.host().leave().is_ok());
  }
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  for (const std::string& key : keys(8)) EXPECT_EQ(a.get(key).value_or(-1), 2) << key;
}

TEST_F(ClusterHostTest, ADeadHostsCountersRecoverOnTheOtherOnceItsLeaseEnds) {
  auto a = std::make_unique<CounterHost>(&changes_, url_, "host-a", options());
  CounterHost b(&changes_, url_, "host-b", options());
  ASSERT_TRUE(a->ok() && b.ok());
  ASSERT_TRUE(placed({a.get(), &b}, {"host-a", "host-b"}));
  for (const std::string& key : keys(16)) {
    CounterHost& holder = a->holds(key) ? *a : b;
    ASSERT_TRUE(holder.add(key, 2).has_value()) << key;
  }
  // host-a stops without handing anything over; its lease runs out.
  a.reset();
  expire("host-a");
  ASSERT_TRUE(placed({&b}, {"host-b"}));
  for (const std::string& key : keys(16)) {
    Result<std::int64_t> value = b.get(key);
    ASSERT_TRUE(value.has_value()) << key << ": " << value.status();
    EXPECT_EQ(*value, 2) << key;
  }
}

TEST_F(ClusterHostTest, AStaleHostCannotCommitForShardsTakenOverWhileItWasAway) {
  // host-a's keeper looks again only after a minute: it does not notice
  // that the database ended its lease, as a paused process would not.
  CounterHost a(&changes_, url_, "host-a", options(), 60s, /*listen=*/false);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  ASSERT_TRUE(a.add("counter-0", 1).has_value());
  expire("host-a");
  CounterHost b(&changes_, url_, "host-b", options());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(placed({&b}, {"host-b"}));
  Result<std::int64_t> stale = a.add("counter-0", 100);
  EXPECT_EQ(stale.status().code(), StatusCode::kOwnershipLost) << stale.status();
  Result<std::int64_t> value = b.get("counter-0");
  ASSERT_TRUE(value.has_value()) << value.status();
  EXPECT_EQ(*value, 1) << "the stale host's increment landed";
}

TEST_F(ClusterHostTest, IncrementsSentWhileCountersMoveAreAppliedOnceWhenAcknowledged) {
  CounterHost a(&changes_, url_, "host-a", options());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  const std::vector<std::string> all = keys(8);
  std::atomic<CounterHost*> b_ptr{nullptr};
  std::map<std::string, std::int64_t> acked, unacked;
  std::atomic<bool> moved{false};
  // A client: increments each counter in turn on whichever host holds it
  // now, counting what was acknowledged and what failed (and may or may
  // not have been applied), until the counters have moved and each got 20
  // acknowledged increments after that.
  std::thread client([&] {
    std::map<std::string, int> after_move;
    for (;;) {
      bool done = moved.load();
      for (const std::string& key : all) {
        CounterHost* b = b_ptr.load();
        CounterHost& holder = (b != nullptr && b->holds(key)) ? *b : a;
        if (holder.add(key, 1).has_value()) {
          ++acked[key];
          if (moved.load()) ++after_move[key];
        } else {
          ++unacked[key];
        }
        done = done && after_move[key] >= 20;
      }
      if (done) return;
    }
  });
  CounterHost b(&changes_, url_, "host-b", options());
  ASSERT_TRUE(b.ok());
  b_ptr.store(&b);
  ASSERT_TRUE(placed({&a, &b}, {"host-a", "host-b"}));
  moved.store(true);
  client.join();
  for (const std::string& key : all) {
    CounterHost& holder = b.holds(key) ? b : a;
    Result<std::int64_t> value = holder.get(key);
    ASSERT_TRUE(value.has_value()) << key << ": " << value.status();
    EXPECT_GE(*value, acked[key]) << key << ": an acknowledged increment was lost";
    EXPECT_LE(*value, acked[key] + unacked[key]) << key << ": an increment was applied twice";
  }
}

TEST_F(ClusterHostTest, StartingTwiceIsRefusedAndAWrongSecretJoinsNothing) {
  CounterHost a(&changes_, url_, "host-a", options());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.host().start({}).code(), StatusCode::kFailedPrecondition);
  MembershipOptions wrong = options();
  wrong.secret = "another secret of twenty";
  ClusterHostOptions o;
  o.membership = wrong;
  Result<std::unique_ptr<ClusterHost>> other = ClusterHost::join(url_, HostSpec{"host-b", {"127.10.0.1:7401"}, {}}, o);
  EXPECT_EQ(other.status().code(), StatusCode::kUnauthenticated) << other.status();
}

}  // namespace
}  // namespace keel::testing
