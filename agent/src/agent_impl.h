// agent_impl.h: Agent::Impl, the agent's state and its handlers, split
// over agent.cc (start, stop, clients), agent_workers.cc (workers and
// their supervision) and agent_cluster.cc (the agent as a cluster's host).
// Internal to Keel::agent.
//
// Threads: the transport's I/O thread runs every connection callback; the
// supervisor thread forks the workers (it must outlive them, since
// PR_SET_PDEATHSIG follows the forking thread), waits on their pidfds and
// sends the heartbeats; in a cluster, the shard keeper's thread hands
// shards to the workers and takes them back, the cluster's database
// thread records spawned actors and serves the registry's table, and the
// registry listener's thread hears the table's changes.
// All take mu_ around the routing state; sends happen under mu_, which is
// what keeps a Connection* in the maps valid (its on_close takes mu_ before
// it returns).
#pragma once

#include <sys/eventfd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "keel/agent/agent.h"
#include "keel/base/thread_annotations.h"
#include "keel/cluster/cluster_registry.h"
#include "keel/cluster/gangs.h"
#include "keel/cluster/cluster_listener.h"
#include "keel/cluster/remembered_actors.h"
#include "keel/cluster/shard_claims.h"
#include "keel/journal/pg_journal.h"
#include "keel/net/tcp_transport.h"
#include "keel/wire/control.h"
#include "agent_metrics.h"
#include "metrics_endpoint.h"
#include "protocol.h"
#include "registry.h"
#include "registry_watches.h"
#include "worker_process.h"

namespace keel {
namespace internal {

// FNV-1a: a placement hash that is the same in every run of every build.
inline std::uint64_t stable_hash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char ch : s) {
    h ^= static_cast<unsigned char>(ch);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace internal

using SteadyTime = std::chrono::steady_clock::time_point;

class Agent::Impl {
 public:
  explicit Impl(AgentOptions options)
      : options_(std::move(options)), metrics_(std::max(options_.workers, 0)), slots_(options_.workers) {}
  ~Impl() { stop(); }

  Status start();
  std::uint16_t port() const { return client_listener_->port(); }
  std::uint16_t metrics_port() const { return metrics_endpoint_ ? metrics_endpoint_->port() : 0; }
  std::string metrics_url() const { return metrics_endpoint_ ? metrics_endpoint_->url() : std::string(); }
  std::vector<pid_t> worker_pids() const KEEL_EXCLUDES(mu_);
  std::uint64_t restart_count() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return restarts_;
  }
  std::vector<std::uint32_t> held_shards() const KEEL_EXCLUDES(mu_);

 private:
  enum class SlotState { kStarting, kReady, kFailed };
  struct Slot {
    internal::WorkerProcess proc;                   // pid -1 while not running
    wire::Connection* conn = nullptr;               // null until it registers
    SlotState state = SlotState::kStarting;
    std::deque<SteadyTime> exits;                   // within restart_window
    SteadyTime last_seen;                           // its registration or last heartbeat echo
    std::uint16_t direct_port = 0;                  // where it takes clients' calls directly; 0: nowhere
  };
  struct Hosted {
    std::string type;
    int slot = 0;
    bool ready = false;  // spawned (or spawned again after a restart) and acked
  };
  struct PendingSpawn {
    std::uint64_t client = 0;  // client connection id; 0: a respawn after a restart
    std::uint64_t request = 0;
    std::string key;
    std::string type;
    int slot = 0;
    // The spawn that made the key's entry in hosted_: if its worker goes
    // away before the ack, the key is free again.
    bool fresh = false;
  };
  struct PendingCall {
    std::uint64_t client = 0;
    std::uint64_t correlation = 0;
    int slot = 0;
  };

  void log(const std::string& line) const {
    if (options_.log) {
      options_.log(line);
    } else {
      std::fprintf(stderr, "keel-agent: %s\n", line.c_str());
    }
  }
  std::string slot_name(int i) const KEEL_REQUIRES(mu_) {
    return "worker " + std::to_string(i) + " (pid " + std::to_string(slots_[i].proc.pid) + ")";
  }
  void stop() KEEL_EXCLUDES(mu_);
  // Waits until every worker has connected, or one slot failed, or
  // start_timeout passed. Errors: kUnavailable.
  Status wait_for_workers() KEEL_EXCLUDES(mu_);
  void wake() { eventfd_write(wake_fd_, 1); }
  // The metrics text (docs/metrics.md). Metrics endpoint's thread.
  std::string render_metrics() const KEEL_EXCLUDES(mu_, keeper_mu_);
  // Keeps the engine figures of a worker's heartbeat echo, unless `c` is
  // an earlier process's connection (whose figures were folded into the
  // slot's totals when it was lost). I/O thread.
  void on_worker_heartbeat(wire::Connection& c, int slot, std::string_view body) KEEL_REQUIRES(mu_);

  // ---- I/O thread --------------------------------------------------------
  wire::ConnectionCallbacks client_callbacks();
  wire::ConnectionCallbacks worker_callbacks();
  void on_client_spawn(wire::Connection& c, std::string_view body) KEEL_EXCLUDES(mu_);
  // Sends spawn `s` of client connection `client` on to the worker of its
  // key, or answers it with an error.
  void route_spawn(std::uint64_t client, const wire::Spawn& s) KEEL_REQUIRES(mu_);
  void on_client_call(wire::Connection& c, std::string_view body) KEEL_EXCLUDES(mu_);
  // The client gave up on a call it made on `c`: forgets it and passes the
  // cancel on to the call's worker. An unknown call (answered already) is
  // ignored.
  void on_client_cancel(wire::Connection& c, std::string_view body) KEEL_EXCLUDES(mu_);
  // A client's route call (internal::kRouteKey): answers with the port of
  // the worker that hosts the key, on this agent's host, or 0.
  void answer_route(wire::Connection& c, std::uint64_t correlation, std::string_view payload) KEEL_REQUIRES(mu_);
  void on_worker_frame(wire::Connection& c, const wire::Frame& f) KEEL_EXCLUDES(mu_);
  void on_worker_register(wire::Connection& c, std::string_view body) KEEL_REQUIRES(mu_);
  void on_worker_spawn_ack(std::string_view body) KEEL_REQUIRES(mu_);
  void on_worker_reply(std::string_view body) KEEL_REQUIRES(mu_);
  void on_worker_error(std::string_view body) KEEL_REQUIRES(mu_);
  // The worker slot of actor `key`: by its shard in a cluster, else by a
  // hash of the key.
  int slot_for(std::string_view key) const;
  // In a cluster: the worker slot of a shard, and the shard of an actor's
  // key (among the journal's shard_count_ shards).
  int slot_of_shard(std::uint32_t shard) const;
  std::uint32_t shard_of(std::string_view key) const;
  // The number of worker slots (slots_.size(), fixed at construction: read
  // without the lock).
  std::size_t worker_count() const { return static_cast<std::size_t>(options_.workers); }
  void spawn_on(int slot, std::uint64_t client, std::uint64_t request, const std::string& key,
                const std::string& type, const std::string& args, bool fresh) KEEL_REQUIRES(mu_);

  // ---- either thread -----------------------------------------------------
  // The worker in `slot` is gone (its connection closed or it exited):
  // fails what is pending on it with kUnavailable and marks its actors as
  // not ready. Idempotent per incarnation.
  void worker_lost(int slot, const std::string& why) KEEL_REQUIRES(mu_);
  // Sends a worker's answer `m` to a forwarded call on to the client that
  // made it, under the client's correlation id; drops it when the call is
  // not pending (it failed already) or the client has gone.
  template <class M>
  void forward_to_caller(M& m, std::uint64_t M::*correlation) KEEL_REQUIRES(mu_) {
    auto it = calls_.find(m.*correlation);
    if (it == calls_.end()) return;
    const PendingCall p = it->second;
    calls_.erase(it);
    if (wire::Connection* c = client(p.client)) {
      m.*correlation = p.correlation;
      internal::send_message(*c, m).ignore();
    }
  }
  wire::Connection* client(std::uint64_t id) KEEL_REQUIRES(mu_) {
    auto it = clients_.find(id);
    return it == clients_.end() ? nullptr : it->second;
  }

  // The actor `key` is gone for good: forgets it, and its registrations.
  void forget_actor(const std::string& key) KEEL_REQUIRES(mu_);
  void send_answers(std::vector<internal::RegistryAnswer>& answers) KEEL_REQUIRES(mu_);

  // ---- the agent as a cluster's host (agent_cluster.cc) -------------------
  bool in_cluster() const { return !options_.cluster.url.empty(); }
  // Joins the cluster (start(), before the workers start). Errors: those
  // of Membership::join and RememberedActors::open, kInvalidArgument.
  Status join_cluster() KEEL_EXCLUDES(mu_);
  // Starts the shard keeper and the database thread (start(), once the
  // workers are ready).
  Status start_keeping() KEEL_EXCLUDES(mu_, keeper_mu_);
  // Opens the cluster tables of membership_: remembered actors, gangs,
  // shard claims. Errors: kInvalidArgument (a malformed URL).
  Status open_tables();
  // Hands the shards over and leaves (stop(), while the workers run).
  void leave_cluster() KEEL_EXCLUDES(mu_);
  // Keeper thread.
  void on_shards_gained(const std::vector<PgShardEpoch>& shards) KEEL_EXCLUDES(mu_);
  void on_shards_losing(const std::vector<std::uint32_t>& shards, bool lost) KEEL_EXCLUDES(mu_);
  // Refuses a spawn or call of `key` when this host does not hold its
  // shard: kOwnershipLost naming the host and the shard. OK outside a
  // cluster.
  Status check_held(std::string_view key) const KEEL_REQUIRES(mu_);
  // A client's spawn of a key not hosted yet: remembered on the database
  // thread, then routed. I/O thread.
  void remember_and_spawn(std::uint64_t client, wire::Spawn s) KEEL_REQUIRES(mu_);
  // A client's call of the shard map (internal::kClusterKey): answered
  // from the database thread with every shard's holder's address.
  void serve_shard_map(std::uint64_t client, std::uint64_t correlation) KEEL_REQUIRES(mu_);
  // A client's gang call (internal::kClusterKey, methods "gang",
  // "gang-release", "gang-dead"), answered from the database thread.
  void serve_gang_call(std::uint64_t client, std::uint64_t correlation, std::string method, std::string payload)
      KEEL_REQUIRES(mu_);
  // A client's spawn of gang member `s.key`: checked against the gang's
  // record on the database thread (the rank is this host's), then routed.
  void spawn_gang_member(std::uint64_t client, wire::Spawn s) KEEL_REQUIRES(mu_);
  // On the database thread: sends `r` (a reply payload, or an error) to
  // `client`'s call `correlation`, if the client is still there.
  void answer_client(std::uint64_t client, std::uint64_t correlation, const Result<std::string>& r)
      KEEL_EXCLUDES(mu_);
  // Sends a shard call (internal::kShardsKey) to the worker in `slot`;
  // `done` gets its answer, or kUnavailable when the worker is gone.
  void send_shard_call(int slot, std::string_view method, std::string payload,
                       std::function<void(const Status&)> done) KEEL_REQUIRES(mu_);
  // Hands a freshly registered worker the shards mapped to it.
  void hold_shards_of(int slot) KEEL_REQUIRES(mu_);
  // The answer to a shard call, if `correlation` is one; true when it was.
  bool answer_shard_call(std::uint64_t correlation, const Status& s) KEEL_REQUIRES(mu_);
  // Runs `task` on the database thread, in order.
  void on_db_thread(std::function<void()> task) KEEL_REQUIRES(mu_);
  // Database thread: the lease was lost (the host was paused, or cut off
  // from the database, past its lease): gives up every shard, then joins
  // again as a new incarnation (retrying every second until it can, or
  // the agent stops) and keeps shards anew.
  void rejoin(const Status& why) KEEL_EXCLUDES(mu_);
  // Makes membership_ call rejoin when its lease is lost.
  void watch_lease() KEEL_EXCLUDES(mu_);
  void run_db_thread() KEEL_EXCLUDES(mu_);

  // ---- the registry in a cluster (agent_registry.cc) ----------------------
  // A client's registry call (internal::kRegistryKey), served from the
  // cluster's table on the database thread: register (of a key hosted
  // here), unregister, lookup, and watch, kept in registry_watches_ until
  // the members' version differs. I/O thread.
  void serve_cluster_registry(std::uint64_t client, std::uint64_t correlation, std::string_view method,
                              std::string_view payload, std::int64_t deadline_ns) KEEL_REQUIRES(mu_);
  // The actor `key` has gone: its registrations by this incarnation are
  // removed on the database thread, with those of other actors gone
  // meanwhile (a shard's actors go together).
  void forget_registrations(const std::string& key) KEEL_REQUIRES(mu_);
  // Queues a read of `names` on the database thread, which answers their
  // watches.
  void reread_watched(const std::vector<internal::RegistryWatches::Name>& names) KEEL_REQUIRES(mu_);
  // Database thread: reads the names due and answers their watches.
  void answer_watches() KEEL_EXCLUDES(mu_);
  // Database thread: sends registry answer `r` to `client`'s call.
  void answer_registry(std::uint64_t client, std::uint64_t correlation, const Result<ClusterRegistryMembers>& r)
      KEEL_EXCLUDES(mu_);
  // The registry listener's thread: hears the table's changes, and every
  // kRegistryReread reads every watched name again; hearing the shards
  // change, it wakes the shard keeper (which does not listen itself) and
  // drops the cached shard map.
  void run_registry_listener() KEEL_EXCLUDES(mu_, keeper_mu_);

  // ---- supervisor thread -------------------------------------------------
  void supervise() KEEL_EXCLUDES(mu_);
  void launch(int slot) KEEL_REQUIRES(mu_);
  void on_exit(int slot) KEEL_EXCLUDES(mu_);
  // Sends the due heartbeats and kills workers that stopped answering
  // them; returns when the next ones are due.
  SteadyTime check_heartbeats() KEEL_EXCLUDES(mu_);
  void kill_and_reap_all() KEEL_EXCLUDES(mu_);

  const AgentOptions options_;
  internal::AgentMetrics metrics_;
  std::unique_ptr<internal::MetricsEndpoint> metrics_endpoint_;  // null without options_.metrics_host
  std::unique_ptr<wire::TcpTransport> transport_;
  std::unique_ptr<wire::TcpListener> worker_listener_;
  std::unique_ptr<wire::TcpListener> client_listener_;
  std::thread supervisor_;
  int wake_fd_ = -1;

  mutable Mutex mu_;
  CondVar changed_;  // a slot became ready or failed
  std::vector<Slot> slots_ KEEL_GUARDED_BY(mu_);
  std::map<std::string, Hosted, std::less<>> hosted_ KEEL_GUARDED_BY(mu_);
  internal::Registry registry_ KEEL_GUARDED_BY(mu_);
  std::map<std::uint64_t, PendingSpawn> spawns_ KEEL_GUARDED_BY(mu_);
  std::map<std::uint64_t, PendingCall> calls_ KEEL_GUARDED_BY(mu_);
  std::map<std::uint64_t, wire::Connection*> clients_ KEEL_GUARDED_BY(mu_);
  std::map<std::uint64_t, int> worker_conns_ KEEL_GUARDED_BY(mu_);  // connection id -> slot
  std::uint64_t next_id_ KEEL_GUARDED_BY(mu_) = 1;
  std::uint64_t restarts_ KEEL_GUARDED_BY(mu_) = 0;
  bool stopping_ KEEL_GUARDED_BY(mu_) = false;

  // In a cluster (null otherwise). The membership outlives the keeper and
  // the tables; the keeper's callbacks take mu_. After start(), they are
  // replaced only by rejoin(), on the database thread, with the keeper
  // stopped; the database thread and the keeper's thread are their only
  // users.
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<RememberedActors> remembered_;
  std::unique_ptr<Gangs> gangs_;
  std::unique_ptr<ShardClaims> claims_;  // the shards' holders, for the shard map
  std::unique_ptr<ClusterRegistry> cluster_registry_;
  // Outlives rejoins (it does not depend on the membership); its thread is
  // registry_thread_, stopped by leave_cluster().
  std::unique_ptr<ClusterListener> registry_listener_;
  std::thread registry_thread_;
  internal::RegistryWatches registry_watches_ KEEL_GUARDED_BY(mu_);
  std::vector<std::string> registrations_to_forget_ KEEL_GUARDED_BY(mu_);  // see forget_registrations
  // The journal's shard count, read when keeping starts (kPgShards until then).
  std::atomic<std::uint32_t> shard_count_{kPgShards};
  // Set by start() and rejoin() (database thread), taken by
  // leave_cluster() (stop()): under keeper_mu_, never held while it is
  // destroyed (its callbacks take mu_).
  // Also guards the swap of membership_ against the metrics' reads of it.
  mutable Mutex keeper_mu_;
  std::unique_ptr<ShardKeeper> keeper_ KEEL_GUARDED_BY(keeper_mu_);
  std::string advertise_;
  bool cluster_left_ = false;  // stop() only
  std::map<std::uint32_t, std::uint64_t> held_ KEEL_GUARDED_BY(mu_);  // shard -> epoch, served here
  // For the metrics: shard moves, recovered actors, rejoins, and the lease
  // renewals of the incarnations before the current one (shards_held is
  // held_'s size, taken at each scrape).
  internal::ClusterFigures cluster_figures_ KEEL_GUARDED_BY(mu_);
  struct ShardCall {
    int slot = 0;
    std::function<void(const Status&)> done;
  };
  std::map<std::uint64_t, ShardCall> shard_calls_ KEEL_GUARDED_BY(mu_);
  // The last shard map served, and when it was read: maps asked for within
  // kShardMapFresh of it are answered from it, unless the registry
  // listener heard the shards change meanwhile (it clears the cache).
  // Database thread only.
  std::string shard_map_cache_;
  SteadyTime shard_map_read_at_;
  std::thread db_thread_;
  CondVar db_changed_;
  std::deque<std::function<void()>> db_tasks_ KEEL_GUARDED_BY(mu_);
  bool db_stopping_ KEEL_GUARDED_BY(mu_) = false;
  SteadyTime next_heartbeat_ KEEL_GUARDED_BY(mu_);
  std::uint64_t heartbeat_seq_ KEEL_GUARDED_BY(mu_) = 0;
};

}  // namespace keel
