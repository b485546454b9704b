// keel/cluster/shard_keeper.h: a host's share of the shards, kept in line
// with the live hosts: it claims the shards placement gives it, hands over
// the ones placement gives to others, and notices the ones it lost.
//
// Every `rebalance_every`, on a thread of its own, the keeper:
//
//   1. gives up everything (losing(all, lost=true)) and stops, once its
//      membership no longer holds a lease, or the hosts table no longer
//      counts it live;
//   2. reads the shards' holders; a shard it held that another holder or a
//      newer epoch now has is lost: losing(those, lost=true);
//   3. computes its shards by rendezvous placement over the live hosts that
//      are not draining (keel/cluster/placement.h, keel/cluster/drain.h: a
//      draining host's share is empty) and, for those it holds but should not,
//      calls losing(those, lost=false), then releases them (a graceful
//      hand-over: the epoch goes up, so nothing of this host's lands after);
//   4. claims those it should hold but does not (keel/cluster/shard_claims.h)
//      and calls gained(claimed) with their epochs. A shard still held by
//      the live host it belonged to is busy: that host releases it in its
//      own round once it sees the newcomer, and it is claimed in a later
//      round.
//
// A round also runs just after the lease of another host holding shards
// would end, when that comes before `rebalance_every`: a dead host's
// shards are claimed right after its lease ends, not a round later; and,
// with ShardKeeperOptions::listen, as soon as another host joins, leaves,
// releases or claims shards (a NOTIFY heard; lost notifications only
// delay it to the next timed round).
//
// So a shard is never held by two live hosts, a joining host gets its
// share within about two rounds, and a dead host's shards move once its
// lease has ended. `losing` must stop the owners of those shards before it
// returns (their commits would be refused from then on anyway); `gained`
// recovers them.
//
//   keel::ShardKeeper::Callbacks cb;
//   cb.gained = [&](const std::vector<keel::PgShardEpoch>& s) { recover_owners_of(s); };
//   cb.losing = [&](const std::vector<std::uint32_t>& s, bool lost) { stop_owners_of(s); };
//   KEEL_ASSIGN_OR_RETURN(auto keeper, keel::ShardKeeper::start(url, *membership, std::move(cb)));
//   ...
//   keeper->leave();  // hands every shard over, then leaves the cluster
//
// Thread-safe. Callbacks run on the keeper's thread, one at a time; they
// must not call the keeper's leave() or destroy it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/cluster/membership.h"
#include "keel/journal/pg_journal.h"

namespace keel {

struct ShardKeeperOptions {
  std::chrono::milliseconds rebalance_every{500};
  // Hear the cluster's changes (keel/cluster/cluster_listener.h, on a
  // database connection of its own) and run a round as soon as a host
  // joins or leaves or shards are released or claimed, instead of at the
  // next rebalance_every. The timed rounds go on either way.
  bool listen = true;
};

class ShardKeeper {
 public:
  struct Callbacks {
    // Shards now held by this host, at these epochs.
    std::function<void(const std::vector<PgShardEpoch>&)> gained;
    // Shards this host is about to hand over (lost = false) or has already
    // lost (lost = true: another host claimed them, or the lease ended).
    std::function<void(const std::vector<std::uint32_t>&, bool lost)> losing;
    // The keeper stopped on its own (step 1 above: the lease is gone by the
    // local deadline, or the hosts table no longer counts this host live),
    // after losing(all, true). It keeps nothing from then on, even if the
    // membership's lease comes back (a pause that outran the local deadline
    // but not the database's): join again to keep shards again. Not called
    // after leave() or the destructor.
    std::function<void()> stopped;
  };

  // Starts keeping `membership`'s share of the shards of the journal at
  // `url` (the URL it joined with); the first round runs at once.
  // `membership` must outlive the keeper. Errors: kInvalidArgument (a
  // malformed URL or a non-positive interval).
  static Result<std::unique_ptr<ShardKeeper>> start(const std::string& url, Membership& membership,
                                                    Callbacks callbacks, ShardKeeperOptions options = {});
  // Stops the thread without handing anything over (as a crash would: the
  // shards move once the lease ends). leave() first for a graceful exit.
  ~ShardKeeper();
  ShardKeeper(const ShardKeeper&) = delete;
  ShardKeeper& operator=(const ShardKeeper&) = delete;

  // The shards this host holds now, with their epochs, by shard. A shard
  // leaves it before `losing` is called for it and joins it before
  // `gained` is.
  std::vector<PgShardEpoch> held() const;
  // Runs a round soon (after a membership change the caller learned of).
  void wake();
  // False once the keeper has stopped on its own (Callbacks::stopped).
  bool running() const;
  // Stops rebalancing, calls losing(all held, false), releases them and
  // leaves the cluster (Membership::leave). Errors: those of release and
  // leave; the keeper is stopped either way.
  Status leave();

 private:
  class Impl;
  explicit ShardKeeper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
