// client_impl.h: keel::Client::Impl, the client's state, shared by
// client.cc (connect, calls, spawns, timers) and client_direct.cc (calls
// sent to workers directly). Internal to Keel::client.
//
// Threads: the transport's I/O thread delivers replies; the timer thread
// fires deadlines and retries; callers add calls. All share mu_. Futures
// are completed after mu_ is released, since their continuations may call
// the client again.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/client/client.h"
#include "keel/net/tcp_transport.h"
#include "agent_table.h"
#include "direct_links.h"

namespace keel {
namespace internal {

using SteadyTime = std::chrono::steady_clock::time_point;

// The agents' own errors, and the key of a cluster's shard map
// (agent/src/protocol.h spells them the same).
constexpr std::string_view kAgentErrorType = "keel-agent";
constexpr std::string_view kClusterKey = "keel.cluster";
constexpr std::string_view kGangKeyPrefix = "gang/";
// The key of the question where a key is hosted (agent/src/protocol.h,
// kRouteKey), and that of the registry.
constexpr std::string_view kRouteKey = "keel.route";
constexpr std::string_view kWhere = "where";
constexpr std::string_view kRegistryKey = "keel.registry";

// Completions gathered under the lock and run after it.
struct Completions {
  std::vector<std::pair<Promise<std::string>, Result<std::string>>> calls;
  std::vector<std::pair<Promise<SpawnInfo>, Result<SpawnInfo>>> spawns;
  std::vector<std::pair<Promise<void>, Status>> wakes;
  std::vector<std::size_t> new_agents;  // learned from a shard map: to connect, outside the lock
  std::vector<std::size_t> new_links;   // workers learned from an agent: to connect, outside the lock
  void run() {
    for (auto& [p, v] : calls) p.try_set(std::move(v));
    for (auto& [p, v] : spawns) p.try_set(std::move(v));
    for (auto& [p, v] : wakes) {
      if (v.is_ok()) {
        p.set_value();
      } else {
        p.set_error(v);
      }
    }
  }
  bool empty() const { return calls.empty() && spawns.empty() && wakes.empty(); }
};

}  // namespace internal

class Client::Impl {
  using Completions = internal::Completions;
  using SteadyTime = internal::SteadyTime;

 public:
  Impl(std::vector<AgentEndpoint> agents, ClientOptions options)
      : listed_(std::move(agents)), options_(std::move(options)), rng_(std::random_device{}()) {}
  ~Impl();

  // Connects to every agent (Client::connect).
  Status connect() KEEL_EXCLUDES(mu_);
  // Spawns on `agent`, or on route(key) when none is given.
  Future<SpawnInfo> spawn(std::optional<std::size_t> agent, const std::string& type, const std::string& key,
                          Duration deadline) KEEL_EXCLUDES(mu_);
  // Sends to `agent`, or to route(key) when none is given.
  Future<std::string> call(std::optional<std::size_t> agent, const std::string& key, std::string_view method,
                           std::string payload, const CallOptions& options) KEEL_EXCLUDES(mu_);
  std::vector<AgentEndpoint> agents() const { return agents_.endpoints(); }
  std::size_t agent_count() const { return agents_.size(); }
  std::size_t agent_for(const std::string& key) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return route(key);
  }
  void learn_placement(std::size_t agent, const std::vector<std::string>& keys) KEEL_EXCLUDES(mu_);
  bool in_cluster() const { return options_.cluster; }
  bool is_connected(std::size_t agent) const {
    wire::TcpClient* c = agent < agents_.size() ? agents_.conn(agent) : nullptr;
    return c != nullptr && c->is_connected();
  }
  // Connects to agents_[i] (added already), from any thread but under no
  // lock: the connection's callbacks take mu_.
  void connect_agent(std::size_t i) KEEL_EXCLUDES(mu_);
  // Sends a frame to agent `agent`; kUnavailable while its connection is
  // being made.
  Status send_to(std::size_t agent, wire::MessageType type, std::string_view body) const {
    wire::TcpClient* c = agents_.conn(agent);
    if (c == nullptr) return Status::unavailable("connecting");
    return c->send(type, body);
  }
  Future<void> after(Duration delay) KEEL_EXCLUDES(mu_);

 private:
  enum class TimerKind { kCallDeadline, kCallRetry, kSpawnDeadline, kSpawnRetry, kMapRefresh, kWake };
  using Timers = std::multimap<SteadyTime, std::pair<std::uint64_t, TimerKind>>;
  struct Call {
    Promise<std::string> promise;
    std::string envelope;  // encoded, resent as is on a retry
    std::string what;      // "'key'.method", for error messages
    std::string key;
    std::size_t agent = 0;  // the agent it is sent to (every time, unless routed)
    bool routed = false;    // in a cluster: routed again by the shard map at each send
    SteadyTime deadline;
    std::optional<Timers::iterator> deadline_timer;  // until it fires or the call ends
    bool idempotent = false;
    int sends = 0;
    // Sent directly to the key's worker over this link (DirectLinks), not
    // through `agent`; kNone: through the agent.
    std::size_t link = internal::DirectLinks::kNone;
    bool through_agent = false;  // counted in direct_ as in flight through an agent
  };
  struct PendingSpawn {
    Promise<SpawnInfo> promise;
    std::string key;
    std::size_t agent = 0;
    std::string body;  // encoded, resent as is in a cluster
    SteadyTime deadline;
    int sends = 0;
    std::optional<std::size_t> pinned;  // the agent given to spawn(), if one was
  };
  // Where a key lives, as far as this client knows (agent_for).
  struct Placement {
    std::size_t agent = 0;
    bool spawned = false;  // acknowledged a spawn; else listed by its registry
  };

  void on_frame(std::size_t agent, const wire::Frame& f) KEEL_EXCLUDES(mu_);

  // ---- calls sent to workers directly (client_direct.cc) -----------------
  // Whether calls of `key` may go to its worker directly (not the agents'
  // own keys).
  bool may_go_direct(const std::string& key) const;
  // Sends call `c` directly to its key's worker, if a link to it is usable
  // now; false: it goes through its agent.
  bool send_direct(Call& c) KEEL_REQUIRES(mu_);
  // After a call of `key` went to `agent`: asks that agent where the key is
  // hosted, unless DirectLinks says not to.
  void ask_route(const std::string& key, std::size_t agent) KEEL_REQUIRES(mu_);
  // The answer (or error) to a route question on `agent`'s connection;
  // true when `correlation` was one.
  bool take_route_answer(std::size_t agent, std::uint64_t correlation, const std::string* payload,
                         Completions& done) KEEL_REQUIRES(mu_);
  // Connects link `i` (added already), under no lock, from an agent
  // connection's callback (never from a link's own).
  void connect_link(std::size_t i) KEEL_EXCLUDES(mu_);
  void on_link_frame(std::size_t link, const wire::Frame& f) KEEL_EXCLUDES(mu_);
  void on_link_lost(std::size_t link, const Status& why) KEEL_EXCLUDES(mu_);
  void on_lost(std::size_t agent, const Status& why) KEEL_EXCLUDES(mu_);
  // The agent a key goes to (Client::agent_for).
  std::size_t route(const std::string& key) const KEEL_REQUIRES(mu_);
  // In a cluster: the listed agent that the shard map names as the key's
  // holder, if it names one.
  std::optional<std::size_t> map_holder(const std::string& key) const KEEL_REQUIRES(mu_);
  // Agent `agent`'s send failure `why`, naming the agent.
  Status send_error(std::size_t agent, const Status& why) const {
    return Status(why.code(), "agent " + agents_[agent].to_string() + ": " + std::string(why.message()));
  }
  // Sends call `id`; on failure retries it (idempotent) or fails it.
  void send_call(std::uint64_t id, Completions& done) KEEL_REQUIRES(mu_);
  // Schedules a retry of `id` after `why`, or fails it with `why` when it
  // is not idempotent or out of attempts.
  // In a cluster, `undelivered` says the agent refused it unhandled (the
  // key's shard is not its own): it is sent again along the shard map
  // whether idempotent or not.
  void retry_or_fail(std::uint64_t id, const Status& why, Completions& done, bool undelivered = false)
      KEEL_REQUIRES(mu_);
  // In a cluster: sends spawn `id` to its key's host, or retries it after
  // `why` (a refusal by a host that does not hold the key, a lost
  // connection) until its deadline, or fails it.
  void send_spawn(std::uint64_t id, Completions& done) KEEL_REQUIRES(mu_);
  void retry_spawn_or_fail(std::uint64_t id, const Status& why, Completions& done) KEEL_REQUIRES(mu_);
  // In a cluster: asks a connected agent for the shard map, unless a
  // request is in flight already; its answer replaces shard_map_.
  void refresh_map() KEEL_REQUIRES(mu_);
  // In a cluster: takes a new shard map; pending idempotent calls whose
  // key it moved are sent to the new host.
  void take_map(std::vector<std::string> map, Completions& done) KEEL_REQUIRES(mu_);
  void fail_call(std::uint64_t id, const Status& why, Completions& done) KEEL_REQUIRES(mu_);
  // The pending call `correlation` if it was sent over link `link`, or,
  // with link kNone, through agent `agent`; calls_.end() otherwise (an
  // answer from where the call no longer is).
  std::map<std::uint64_t, Call>::iterator find_call(std::uint64_t correlation, std::size_t agent, std::size_t link)
      KEEL_REQUIRES(mu_);
  // Sends a call of the client's own (the shard map, a route question) to
  // `agent`; its correlation id, or 0 when it could not be sent.
  std::uint64_t send_own_call(std::size_t agent, std::string_view key, std::string_view method, std::string payload)
      KEEL_REQUIRES(mu_);
  // kUnavailable: the connection to `peer` ("agent", "worker") at `at` was
  // lost because of `why`.
  static Status connection_lost(std::string_view peer, const AgentEndpoint& at, const Status& why);
  // The caller cancelled call `id` (its future holds kCancelled): forgets
  // it and, when it was sent over a connection that speaks Cancel, tells
  // the agent, which passes the cancel on to the worker. A reply that
  // crosses it is dropped. On the cancelling thread.
  void cancel_call(std::uint64_t id) KEEL_EXCLUDES(mu_);
  void run_timers() KEEL_EXCLUDES(mu_);
  // Adds a timer; wakes the timer thread only when it would otherwise sleep
  // past `at`.
  Timers::iterator add_timer(SteadyTime at, std::uint64_t id, TimerKind kind) KEEL_REQUIRES(mu_) {
    auto it = timers_.emplace(at, std::make_pair(id, kind));
    if (at < timer_wakes_at_) timer_cv_.notify_all();
    return it;
  }
  // Removes call `it` and its deadline timer (a completed call leaves none
  // behind).
  void erase_call(std::map<std::uint64_t, Call>::iterator it) KEEL_REQUIRES(mu_);
  Duration deadline_or_default(Duration d) const { return d > Duration::zero() ? d : options_.default_deadline; }

  const std::vector<AgentEndpoint> listed_;  // as given to connect()
  const ClientOptions options_;
  std::unique_ptr<wire::TcpTransport> transport_;
  // Every agent known and its connection: the listed ones from connect(),
  // then (in a cluster) hosts the shard map named.
  internal::AgentTable agents_;
  std::thread timer_thread_;

  Mutex mu_;
  CondVar timer_cv_;
  CondVar connect_cv_;
  std::vector<bool> opened_ KEEL_GUARDED_BY(mu_);           // per agent: a handshake completed
  std::vector<Status> connect_errors_ KEEL_GUARDED_BY(mu_);  // per agent: the first failure before that
  bool stopping_ KEEL_GUARDED_BY(mu_) = false;
  std::uint64_t next_id_ KEEL_GUARDED_BY(mu_) = 1;
  std::uint64_t id_prefix_ KEEL_GUARDED_BY(mu_) = 0;  // random high half of message ids
  std::map<std::uint64_t, Call> calls_ KEEL_GUARDED_BY(mu_);
  std::map<std::uint64_t, PendingSpawn> spawns_ KEEL_GUARDED_BY(mu_);
  std::map<std::string, Placement> placed_ KEEL_GUARDED_BY(mu_);
  // In a cluster: every shard's holder's address, as an agent last told
  // (ClientOptions::cluster); the request for it in flight (0: none).
  std::vector<std::string> shard_map_ KEEL_GUARDED_BY(mu_);
  std::uint64_t map_call_ KEEL_GUARDED_BY(mu_) = 0;
  std::size_t map_agent_ KEEL_GUARDED_BY(mu_) = 0;
  std::map<std::uint64_t, Promise<void>> wakes_ KEEL_GUARDED_BY(mu_);  // after()
  Timers timers_ KEEL_GUARDED_BY(mu_);
  // When the timer thread wakes next by itself (max: only when notified).
  SteadyTime timer_wakes_at_ KEEL_GUARDED_BY(mu_) = SteadyTime::max();
  std::mt19937_64 rng_ KEEL_GUARDED_BY(mu_);
  // The workers this client calls directly, and which keys each hosts.
  internal::DirectLinks direct_ KEEL_GUARDED_BY(mu_);
};

}  // namespace keel
