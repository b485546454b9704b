// ShardKeeper: the rebalancing round on its own thread (shard_keeper.h).
#include "keel/cluster/shard_keeper.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <thread>

#include "keel/base/thread_annotations.h"
#include "keel/cluster/cluster_listener.h"
#include "keel/cluster/placement.h"
#include "keel/cluster/shard_claims.h"
#include "pg_connection.h"
#include "round_thread.h"

namespace keel {

class ShardKeeper::Impl {
 public:
  Impl(Membership& m, std::unique_ptr<ShardClaims> claims, Callbacks cb, ShardKeeperOptions o)
      : membership_(m), claims_(std::move(claims)), callbacks_(std::move(cb)), options_(o) {}

  ~Impl() {
    stop_listening();
    rounds_.stop();
  }

  // Hears the cluster's changes on `listener` and wakes the rounds, on a
  // thread of its own, until stop_listening().
  void listen(std::unique_ptr<ClusterListener> listener) {
    listener_ = std::move(listener);
    listening_ = std::thread([this] { run_listener(); });
  }

  void start() {
    rounds_.start([this]() -> std::optional<TimePoint> {
      const TimePoint began = internal::pg_now();
      if (!round()) {
        stopped_ = true;
        if (callbacks_.stopped) callbacks_.stopped();
        return std::nullopt;
      }
      // The next round comes at once after the lease of a host holding
      // shards would end, if that is sooner: the lease of a dead host is
      // what a takeover waits for.
      std::chrono::milliseconds wait = options_.rebalance_every;
      if (soonest_lease_end_ && *soonest_lease_end_ + kAfterLeaseEnd < wait) wait = *soonest_lease_end_ + kAfterLeaseEnd;
      return began + wait;
    });
  }

  void wake() { rounds_.wake(); }
  bool running() const { return !stopped_; }

  std::vector<PgShardEpoch> held() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    std::vector<PgShardEpoch> out;
    for (const auto& [shard, epoch] : held_) out.push_back(PgShardEpoch{shard, epoch});
    return out;
  }

  Status leave() KEEL_EXCLUDES(mu_) {
    stop_listening();
    rounds_.stop();
    std::vector<PgShardEpoch> all = held();
    Status released;
    if (!all.empty()) {
      drop(all);
      notify_losing(all, /*lost=*/false);
      released = claims_->release(all).status();
    }
    Status left = membership_.leave();
    return released.is_ok() ? left : released;
  }

 private:
  static std::vector<std::uint32_t> shards_of(const std::vector<PgShardEpoch>& v) {
    std::vector<std::uint32_t> out;
    for (const PgShardEpoch& e : v) out.push_back(e.shard);
    return out;
  }

  // Until the earliest end of the lease of another live host that holds a
  // shard (by the database's clock, as of the read), if any.
  std::optional<std::chrono::milliseconds> soonest_lease_end(const std::vector<HostView>& hosts,
                                                             const std::vector<ShardHolder>& holders) const {
    std::optional<std::chrono::milliseconds> soonest;
    for (const HostView& h : hosts) {
      if (!h.live || h.id == membership_.self().id) continue;
      const bool holds = std::any_of(holders.begin(), holders.end(), [&](const ShardHolder& s) {
        return s.live && s.host == h.id;
      });
      if (holds && (!soonest || h.lease_left < *soonest)) soonest = std::max(h.lease_left, std::chrono::milliseconds(0));
    }
    return soonest;
  }

  void notify_losing(const std::vector<PgShardEpoch>& shards, bool lost) {
    if (callbacks_.losing) callbacks_.losing(shards_of(shards), lost);
  }

  void drop(const std::vector<PgShardEpoch>& shards) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    for (const PgShardEpoch& e : shards) held_.erase(e.shard);
  }

  // One round (see shard_keeper.h). Returns false once the keeper is done
  // (its lease is gone). Errors of the database leave everything as it
  // was, for the next round.
  bool round() {
    soonest_lease_end_.reset();
    const std::vector<PgShardEpoch> mine = held();
    if (!membership_.holds_lease()) {
      if (!mine.empty()) {
        drop(mine);
        notify_losing(mine, /*lost=*/true);
      }
      return false;
    }
    Result<std::vector<ShardHolder>> holders = claims_->holders();
    Result<std::vector<HostView>> hosts = membership_.hosts();
    if (!holders || !hosts) return true;
    soonest_lease_end_ = soonest_lease_end(*hosts, *holders);
    const bool live_in_table = std::any_of(hosts->begin(), hosts->end(), [this](const HostView& h) {
      return h.id == membership_.self().id && h.incarnation == membership_.incarnation() && h.live;
    });
    if (!live_in_table) {
      // The database ended the lease before this host noticed: nothing it
      // holds is its own any more.
      if (!mine.empty()) {
        drop(mine);
        notify_losing(mine, /*lost=*/true);
      }
      return false;
    }
    // Held shards that moved on without this host knowing.
    std::vector<PgShardEpoch> lost;
    for (const PgShardEpoch& e : mine) {
      const ShardHolder& h = (*holders)[e.shard];
      if (h.host != membership_.self().id || h.incarnation != membership_.incarnation() || h.epoch != e.epoch) {
        lost.push_back(e);
      }
    }
    if (!lost.empty()) {
      drop(lost);
      notify_losing(lost, /*lost=*/true);
    }
    // What placement gives this host now: nothing while it is draining,
    // since placement chooses among the live hosts that are not.
    const auto shards = static_cast<std::uint32_t>(holders->size());
    const std::vector<std::string> map = shard_map(shards, placement_hosts(*hosts));
    std::vector<PgShardEpoch> hand_over;
    std::vector<std::uint32_t> wanted;
    std::map<std::uint32_t, std::uint64_t> now;  // what it holds: `mine` less what it lost
    for (const PgShardEpoch& e : mine) now[e.shard] = e.epoch;
    for (const PgShardEpoch& e : lost) now.erase(e.shard);
    for (std::uint32_t s = 0; s < shards; ++s) {
      const bool mine_by_placement = !map.empty() && map[s] == membership_.self().id;
      const bool holding = now.count(s) != 0;
      if (holding && !mine_by_placement) hand_over.push_back(PgShardEpoch{s, now[s]});
      if (!holding && mine_by_placement) wanted.push_back(s);
    }
    if (!hand_over.empty()) {
      drop(hand_over);
      notify_losing(hand_over, /*lost=*/false);
      claims_->release(hand_over).status().ignore();  // a failed release is taken over once the lease ends
    }
    if (!wanted.empty()) {
      Result<ClaimOutcome> got = claims_->claim(wanted);
      if (got && !got->claimed.empty()) {
        {
          MutexLock lock(mu_);
          for (const PgShardEpoch& e : got->claimed) held_[e.shard] = e.epoch;
        }
        if (callbacks_.gained) callbacks_.gained(got->claimed);
      }
    }
    return true;
  }

  void run_listener() KEEL_EXCLUDES(listen_mu_) {
    for (;;) {
      {
        MutexLock lock(listen_mu_);
        if (listen_stopping_) return;
      }
      Result<ClusterWakeup> w = listener_->wait(std::chrono::seconds(1));
      if (w && (w->shards || w->resubscribed)) {
        rounds_.wake();
      } else if (!w) {
        // The database is away: the timed rounds notice that; listen again
        // a second later.
        MutexLock lock(listen_mu_);
        listen_cv_.wait_for(lock, std::chrono::seconds(1), [this]() KEEL_REQUIRES(listen_mu_) { return listen_stopping_; });
      }
    }
  }

  void stop_listening() KEEL_EXCLUDES(listen_mu_) {
    {
      MutexLock lock(listen_mu_);
      listen_stopping_ = true;
    }
    listen_cv_.notify_all();
    if (listener_) listener_->interrupt();
    if (listening_.joinable()) listening_.join();
  }

  Membership& membership_;
  const std::unique_ptr<ShardClaims> claims_;
  const Callbacks callbacks_;
  const ShardKeeperOptions options_;

  // How long after the database's end of a lease the round that may claim
  // its shards runs (the clocks are read at different times).
  static constexpr std::chrono::milliseconds kAfterLeaseEnd{20};
  // Keeper thread only: set by each round.
  std::optional<std::chrono::milliseconds> soonest_lease_end_;

  std::atomic<bool> stopped_{false};  // round() returned false
  std::unique_ptr<ClusterListener> listener_;  // null without ShardKeeperOptions::listen
  std::thread listening_;
  Mutex listen_mu_;
  CondVar listen_cv_;
  bool listen_stopping_ KEEL_GUARDED_BY(listen_mu_) = false;
  mutable Mutex mu_;
  std::map<std::uint32_t, std::uint64_t> held_ KEEL_GUARDED_BY(mu_);  // shard -> epoch
  internal::RoundThread rounds_;  // last: stopped first
};

Result<std::unique_ptr<ShardKeeper>> ShardKeeper::start(const std::string& url, Membership& membership,
                                                        Callbacks callbacks, ShardKeeperOptions options) {
  if (options.rebalance_every.count() <= 0) return Status::invalid_argument("rebalance_every must be positive");
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<ShardClaims> claims, ShardClaims::open(url, membership));
  auto impl = std::make_unique<Impl>(membership, std::move(claims), std::move(callbacks), options);
  std::unique_ptr<ClusterListener> listener;
  if (options.listen) {
    KEEL_ASSIGN_OR_RETURN(listener, ClusterListener::open(url, membership.timeout()));
  }
  std::unique_ptr<ShardKeeper> keeper(new ShardKeeper(std::move(impl)));
  keeper->impl_->start();
  if (listener) keeper->impl_->listen(std::move(listener));
  return keeper;
}

ShardKeeper::ShardKeeper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShardKeeper::~ShardKeeper() = default;

std::vector<PgShardEpoch> ShardKeeper::held() const { return impl_->held(); }
void ShardKeeper::wake() { impl_->wake(); }
bool ShardKeeper::running() const { return impl_->running(); }
Status ShardKeeper::leave() { return impl_->leave(); }

}  // namespace keel
