// shard_ledger.h: Ledger, the ShardKeeper callbacks of every host of a
// test, checked as they happen (a shard gained while another host holds it
// is a violation), and ShardKeeperFixture, hosts with keepers that report
// to one Ledger.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster_test.h"
#include "keel/base/thread_annotations.h"
#include "keel/cluster/cluster_view.h"
#include "keel/cluster/placement.h"
#include "keel/cluster/shard_keeper.h"

namespace keel::testing {

// What every host's callbacks said, checked as it happens: a shard gained
// while another host holds it is a violation.
class Ledger {
 public:
  ShardKeeper::Callbacks callbacks(const std::string& host) {
    ShardKeeper::Callbacks cb;
    cb.gained = [this, host](const std::vector<PgShardEpoch>& shards) {
      MutexLock lock(mu_);
      for (const PgShardEpoch& e : shards) {
        auto [it, fresh] = holder_.emplace(e.shard, host);
        if (!fresh) violations_.push_back("shard " + std::to_string(e.shard) + " gained by " + host + " while " +
                                          it->second + " holds it");
      }
      ++changes_;
      cv_.notify_all();
    };
    cb.losing = [this, host](const std::vector<std::uint32_t>& shards, bool) {
      MutexLock lock(mu_);
      for (std::uint32_t s : shards) {
        auto it = holder_.find(s);
        if (it != holder_.end() && it->second == host) holder_.erase(it);
      }
      ++changes_;
      cv_.notify_all();
    };
    cb.stopped = [this, host] {
      MutexLock lock(mu_);
      stopped_.insert(host);
      cv_.notify_all();
    };
    return cb;
  }

  // Waits until `host`'s keeper has said it stopped on its own.
  bool wait_stopped(const std::string& host) {
    MutexLock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60),
                        [&]() KEEL_REQUIRES(mu_) { return stopped_.count(host) != 0; });
  }

  // Forgets `host`'s shards, as its death would (no callback runs then).
  void died(const std::string& host) {
    MutexLock lock(mu_);
    for (auto it = holder_.begin(); it != holder_.end();) it = it->second == host ? holder_.erase(it) : std::next(it);
  }

  // Waits until the holders are exactly `expected` (shard -> host).
  bool wait_for(const std::map<std::uint32_t, std::string>& expected) {
    MutexLock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&]() KEEL_REQUIRES(mu_) { return holder_ == expected; });
  }

  // Waits until a callback runs, or `limit` passes.
  void wait_for_a_change(std::chrono::milliseconds limit) {
    MutexLock lock(mu_);
    const std::uint64_t seen = changes_;
    cv_.wait_for(lock, limit, [&]() KEEL_REQUIRES(mu_) { return changes_ != seen; });
  }

  std::map<std::uint32_t, std::string> holders() {
    MutexLock lock(mu_);
    return holder_;
  }
  std::vector<std::string> violations() {
    MutexLock lock(mu_);
    return violations_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::map<std::uint32_t, std::string> holder_ KEEL_GUARDED_BY(mu_);
  std::vector<std::string> violations_ KEEL_GUARDED_BY(mu_);
  std::uint64_t changes_ KEEL_GUARDED_BY(mu_) = 0;  // callbacks run so far
  std::set<std::string> stopped_ KEEL_GUARDED_BY(mu_);  // hosts whose keeper stopped on its own
};

// Hosts with ShardKeepers rebalancing every 50 ms, their callbacks in one
// Ledger.
class ShardKeeperFixture : public ClusterTest {
 protected:
  struct Host {
    std::unique_ptr<Membership> membership;
    std::unique_ptr<ShardKeeper> keeper;
  };

  Host start(const std::string& id) {
    Host h;
    h.membership = join(id);
    if (h.membership == nullptr) return h;
    ShardKeeperOptions o;
    o.rebalance_every = std::chrono::milliseconds(50);
    Result<std::unique_ptr<ShardKeeper>> k = ShardKeeper::start(url_, *h.membership, ledger_.callbacks(id), o);
    EXPECT_TRUE(k.has_value()) << k.status();
    if (k.has_value()) h.keeper = std::move(*k);
    return h;
  }

  // Starts a host with a keeper for each of `ids`, then waits until every
  // shard is held by its placement's host among them. Empty (and the test
  // failed) when a host did not start or the shards did not settle.
  std::map<std::string, Host> start_settled(const std::vector<std::string>& ids) {
    std::map<std::string, Host> hosts;
    for (const std::string& id : ids) {
      Host h = start(id);
      if (h.keeper == nullptr) return {};
      hosts.emplace(id, std::move(h));
    }
    if (!ledger_.wait_for(placed(ids))) {
      ADD_FAILURE() << "the shards did not settle on their " << ids.size() << " hosts";
      return {};
    }
    return hosts;
  }

  // Waits until the database says `id` holds `n` shards. A keeper releases
  // what it hands over after its losing callback has returned, so the
  // ledger learns of a hand-over before the table shows it: this reads the
  // table again after each callback, and every 20 ms, for up to a minute.
  bool wait_until_held_by(const std::string& id, std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (shards_held_by(id) != n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      ledger_.wait_for_a_change(std::chrono::milliseconds(20));
    }
    return true;
  }

  // How many shards the database says `id` holds.
  std::size_t shards_held_by(const std::string& id) {
    Result<ClusterView> v = read_cluster(url_);
    EXPECT_TRUE(v.has_value()) << v.status();
    std::size_t n = 0;
    if (v.has_value()) {
      for (const ShardHolder& s : v->shards) n += s.host == id ? 1 : 0;
    }
    return n;
  }

  // Where placement puts every shard among `ids`.
  static std::map<std::uint32_t, std::string> placed(const std::vector<std::string>& ids) {
    std::vector<PlacementHost> hosts;
    for (const std::string& id : ids) hosts.push_back(PlacementHost{id, {}});
    const std::vector<std::string> map = shard_map(kPgShards, hosts);
    std::map<std::uint32_t, std::string> out;
    for (std::uint32_t s = 0; s < map.size(); ++s) out[s] = map[s];
    return out;
  }

  void expect_no_violations() {
    for (const std::string& v : ledger_.violations()) ADD_FAILURE() << v;
  }

  Ledger ledger_;
};

}  // namespace keel::testing
