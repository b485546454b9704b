// keel/client/client.h: keel::Client, which spawns and calls actors hosted
// by one or several keel-agents (docs/distribution.md). Calls are typed by
// the actor's handler, named as durable messages name them (T::kHandlers),
// and return futures; every call has a deadline; a remote failure completes
// the future with its code and "<remote type>: <message>". Over several
// agents, a key is placed by rendezvous hashing over the agent list, and the
// registry is the union of the agents' registries.
//
//   keel::ClientOptions options;
//   options.secret = "s3cret";
//   KEEL_ASSIGN_OR_RETURN(auto client, keel::Client::connect("127.0.0.1", 7700, options));
//   // or: keel::Client::connect({{"10.0.0.1", 7700}, {"10.0.0.2", 7700}}, options)
//   KEEL_RETURN_IF_ERROR(client->spawn("Counter", "c-1").get().status());
//   client->call<&Counter::add>("c-1", 5).get().ignore();
//   keel::Result<int> v = client->call<&Counter::get>("c-1").get();   // 5
//   keel::CallOptions idem;
//   idem.idempotent = true;                                // retried while the worker restarts
//   idem.deadline = std::chrono::seconds(2);
//   auto f = client->call_with<&Counter::get>(idem, "c-1");
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/retry_policy.h"
#include "keel/base/status.h"
#include "keel/cluster/gang_plan.h"
#include "keel/engine/actor.h"
#include "keel/engine/durable.h"
#include "keel/engine/future.h"
#include "keel/wire/transport.h"
#include "keel/wire/value.h"

namespace keel {

// One agent to connect to. Its spelling matters: placement hashes
// "host:port" as given, so every client of a group of agents must name them
// the same way (the order of the list does not matter).
struct AgentEndpoint {
  std::string host;
  std::uint16_t port = 0;
  // "host:port".
  std::string to_string() const { return host + ":" + std::to_string(port); }
  friend bool operator==(const AgentEndpoint&, const AgentEndpoint&) = default;
};

struct ClientOptions {
  // Shared secret of the handshake (the agents'). Required.
  std::string secret;
  // This client's name in the agent's logs.
  std::string node_name = "keel-client";
  // TLS to an agent that listens with TLS: `enabled`, and `ca_file` (the
  // agent's certificate chains to it; empty: the system's trust store) or
  // verify_server = false. The shared secret is checked inside it.
  wire::TlsOptions tls;
  // RDMA for the data frames to agents that have a device too (on by
  // default; keel/wire/transport.h): the connections stay on TCP otherwise.
  wire::RdmaOptions rdma;
  // How long connect() waits for the handshakes.
  Duration connect_timeout = std::chrono::seconds(10);
  // With several agents: connect() succeeds once every agent has completed
  // its handshake or failed, if at least one has completed it; the others
  // keep being retried in the background (kUnauthenticated ones are not),
  // and calls to their keys fail with kUnavailable meanwhile. Without it,
  // any agent that fails fails connect().
  bool allow_partial_connect = false;
  // The agents are hosts of one cluster (docs/cluster.md, "Agents in a
  // cluster"): at connect, and again whenever a host refuses a key it does
  // not hold or a connection is lost, the client asks an agent for the
  // cluster's shard map and sends each key to the host that holds its
  // shard. List the agents as they advertise themselves (--advertise): one
  // live host is enough (a seed), the others are learned from the map. A
  // spawn or call that a host refused unhandled is sent again along the new
  // map, idempotent or not, within its deadline and retry.max_attempts;
  // connect() fails with kUnavailable when no agent gives the map.
  bool cluster = false;
  // In a cluster: how often the client asks for the shard map besides
  // those occasions, so that it notices a host that stopped answering
  // without closing its connections (paused past its lease). When the map
  // moves a key while an idempotent call to it is pending, the call is sent
  // again to the key's new host (the same message id: applied once). Any
  // other call waits for its host's answer: refused unhandled, it goes to
  // the new host; its connection lost, it fails with kUnavailable; its host
  // silent, it fails with kTimeout at its deadline (it may or may not have
  // been applied).
  Duration cluster_refresh = std::chrono::seconds(1);
  // Calls go to the worker that hosts their key directly, once its agent
  // has named it (docs/distribution.md, "Direct calls"): the first calls of
  // a key go through the agent, which is asked where the key lives, and
  // the later ones to that worker, in order after those still in flight.
  // A worker that no longer hosts the key hands the call back unhandled
  // and it goes through the agent again; a lost connection to a worker
  // fails its calls with kUnavailable as a lost agent does. Off: every
  // call goes through an agent.
  bool direct_calls = true;
  // The deadline of calls and spawns that give none.
  Duration default_deadline = std::chrono::seconds(30);
  // How idempotent calls are retried after an error in retry_on (by
  // default kUnavailable only: the worker is restarting, the actor is being
  // recovered, the connection was lost): at most max_attempts sends in all,
  // never past the call's deadline, each after backoff(sends) drawn
  // uniformly from [backoff/2, backoff] (jitter).
  RetryPolicy retry = default_call_retry();

  static RetryPolicy default_call_retry() {
    RetryPolicy r;
    r.max_attempts = 8;
    r.initial_backoff = std::chrono::milliseconds(20);
    r.max_backoff = std::chrono::seconds(1);
    r.retry_on = {StatusCode::kUnavailable};
    return r;
  }
};

struct CallOptions {
  // Time allowed for the reply, from the call; zero: the client's default.
  // Past it the future fails with kTimeout, and the worker drops the call
  // if it has not started it.
  Duration deadline = Duration::zero();
  // The call may run twice: on kUnavailable it is sent again (RetryPolicy)
  // with the same message id, which a durable actor applies at most once
  // (a copy it already applied completes with kAlreadyExists).
  bool idempotent = false;
  // The call's message id, chosen by the caller so that calls made again
  // (by another client, after a crash) are recognised as one: implies
  // idempotent. Empty: the client chooses one.
  MessageId id;
};

// What a completed spawn reports.
struct SpawnInfo {
  std::string key;
  std::uint64_t worker = 0;  // the agent's worker slot that hosts the actor
  std::size_t agent = 0;     // the agent that hosts it: its index in Client::agents()
  AgentEndpoint endpoint;    // and its endpoint
};

// A gang allocated through a cluster's agents (docs/cluster.md, "Gangs
// through the agents"): its ticket, and by rank each member's host and the
// index of that host's agent in Client::agents() (agents().size() when the
// client does not list that host).
struct ClusterGang {
  std::string ticket;
  std::vector<GangMember> members;
  std::vector<std::size_t> agents;
};

// The actors registered under one name: their keys in registration order
// (over several agents: agent by agent, in Client::agents() order), and a
// version that changes with every change of them.
struct RegistryMembers {
  std::uint64_t version = 0;
  std::vector<std::string> keys;
};

// Several agents' members of one name as one: the union of their keys,
// agent by agent in the order given, each key once, and the sum of their
// versions (each only grows while its agent runs, so the sum changes
// whenever one of them does).
RegistryMembers merge_members(const std::vector<RegistryMembers>& per_agent);
// A cluster's hosts' members of one name as one: every host reads them from
// one table (docs/cluster.md, "The registry in a cluster"), where a name's
// version only grows, so the answer of the highest version is the newest
// (the first of those on a tie). Empty: version 0 and no keys.
RegistryMembers newest_members(const std::vector<RegistryMembers>& per_host);

namespace detail {

template <auto M>
struct RemoteMember;
template <class C, class F, F C::*P>
struct RemoteMember<P> {
  using type = C;
};
template <class T, auto M, class Tuple>
struct RemoteValue;
template <class T, auto M, class... P>
struct RemoteValue<T, M, std::tuple<P...>> {
  using type = ask_value_t<T, M, P...>;
};

}  // namespace detail

// Connections to one or several agents. Each agent keeps its own workers,
// routing and registry; the client places keys on them (no consensus among
// agents). Thread-safe; futures complete on the client's I/O or timer
// thread (keep then() continuations short). Destroying it fails what is
// pending with kCancelled; cancelling a call's future must not race with
// the destruction.
class Client {
 public:
  // Connects to one agent and completes the handshake: connect({{host,
  // port}}, options). Errors: kInvalidArgument (no secret),
  // kUnauthenticated (wrong secret), kUnavailable (nothing listens),
  // kTimeout (no handshake within connect_timeout).
  static Result<std::unique_ptr<Client>> connect(const std::string& host, std::uint16_t port,
                                                 ClientOptions options);
  // Connects to every agent of `agents` at once and waits until each has
  // completed its handshake or failed (at most connect_timeout). Errors:
  // kInvalidArgument (no secret, no agent, an agent listed twice), and
  // unless options.allow_partial_connect lets at least one connected agent
  // suffice, the error of the first agent in list order that failed (as for
  // one agent, its message naming the endpoint).
  static Result<std::unique_ptr<Client>> connect(std::vector<AgentEndpoint> agents, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Spawns an actor of the worker-registered `type` under `key` on the
  // agent agent_for(key); completes once it is constructed (durable:
  // recovered from its journal) and ready. Idempotent by key: when an actor
  // of `type` has the key already, completes with it as it is (one that
  // has stopped is spawned afresh). Keys are unique across agents only as
  // long as every client names the same agents (see agent_for).
  // Errors: kNotFound (unknown type), kAlreadyExists (the key is taken by
  // an actor of another type; the message names both types),
  // kUnavailable (its worker or its agent is not running, or crashed meanwhile),
  // kFailedPrecondition (a durable type on an agent without a journal),
  // kTimeout (deadline), the actor's on_start error.
  Future<SpawnInfo> spawn(const std::string& type, const std::string& key,
                          Duration deadline = Duration::zero());

  // Cluster gangs (ClientOptions::cluster; keel/cluster/gangs.h). A gang is
  // allocated all or none by an agent of the cluster and recorded there;
  // its members are plain actors, each spawned on its rank's host under
  // gang_member_key(ticket, rank) and called by that key like any actor.
  // Errors of allocate_gang: kFailedPrecondition (the gang does not fit:
  // nothing is recorded; or the client is not in a cluster),
  // kInvalidArgument, kUnavailable. Of release_gang and dead_gang_members:
  // kNotFound (no gang with that ticket), kUnavailable.
  Future<ClusterGang> allocate_gang(const GangRequest& request);
  Future<void> release_gang(const std::string& ticket);
  // The members whose host incarnation has died, left or restarted.
  Future<std::vector<GangMember>> dead_gang_members(const std::string& ticket);
  // Spawns member `rank` of `gang` as an actor of `type` on its host.
  // Errors: those of spawn(), kInvalidArgument (a durable type: a gang
  // member lives on its host, not in a shard; a rank out of range),
  // kFailedPrecondition (the host of that rank is not listed by this
  // client, or no longer holds the gang's member).
  Future<SpawnInfo> spawn_gang_member(const ClusterGang& gang, std::uint32_t rank, const std::string& type,
                                      Duration deadline = Duration::zero());
  // "gang/<ticket>/<rank>".
  static std::string gang_member_key(const std::string& ticket, std::uint32_t rank);

  // Calls handler M of the actor `key` (on the agent agent_for(key)) with
  // `args` (converted to M's parameter types) and returns a Future of M's
  // reply value, as ActorRef::ask would. Errors: kNotFound (no such actor,
  // or no such handler on it), kTimeout (deadline), kUnavailable (its worker
  // crashed or is restarting, the connection to its agent is down or was
  // lost; retried first when idempotent), the handler's error (a thrown exception is kInternal with
  // "<Type>.<handler>: <what()>"), kCorruption (a reply that does not
  // decode as M's value), kCancelled (the future was cancelled).
  // Cancelling the future (Future::cancel, also on the future call()
  // returns) completes it with kCancelled at once and sends a cancel to the
  // agent, which passes it on to the worker: there the ask is cancelled as
  // a local one is (docs/distribution.md). Agents of protocol version 2 or
  // older get no cancel, and the call runs on.
  template <auto M, class... A>
  auto call(const std::string& key, A&&... args) {
    return call_with<M>(CallOptions{}, key, std::forward<A>(args)...);
  }
  template <auto M, class... A>
  auto call_with(const CallOptions& options, const std::string& key, A&&... args) {
    using T = typename detail::RemoteMember<M>::type;
    using Params = typename detail::MemberArgs<decltype(M)>::type;
    using R = typename detail::RemoteValue<T, M, Params>::type;
    static_assert(detail::handler_name<T, M>() != nullptr, "the method is not registered in T::kHandlers");
    static_assert(std::is_constructible_v<Params, A&&...>, "the handler cannot be called with these arguments");
    const Params params(std::forward<A>(args)...);
    std::string payload = std::apply([](const auto&... p) { return wire::encode_args(p...); }, params);
    return call_encoded(key, detail::handler_name<T, M>(), std::move(payload), options)
        .then([](Result<std::string>&& r) {
          if constexpr (std::is_void_v<R>) {
            return r.status();
          } else {
            if (!r) return Result<R>(r.status());
            return wire::decode_value<R>(*r);
          }
        });
  }

  // The untyped call under call(): `payload` is wire::encode_args of the
  // handler's arguments; completes with the reply's encoded value.
  Future<std::string> call_encoded(const std::string& key, std::string_view method, std::string payload,
                                   const CallOptions& options);

  // ---- Placement --------------------------------------------------------

  // The agents, in the order given to connect(); in a cluster, followed by
  // the hosts the shard map named that were not given (the client connects
  // to them as it learns them, up to 256 agents in all). An index into it
  // names the same agent for the client's life.
  std::vector<AgentEndpoint> agents() const;
  // The agent that spawns and calls of `key` go to: the one that
  // acknowledged its spawn from this client, else the one whose registry
  // listed it in a lookup or watch, else the one of highest rendezvous
  // weight hash("host:port", key) over agents(). The last is the same for
  // every client naming the same agents, in any order, and moves only the
  // keys of an agent added to or removed from the list.
  std::size_t agent_for(const std::string& key) const;

  // ---- Registry (names in a namespace; several keys under a name form a
  // pool, see keel/client/remote_pool.h). Each agent has its own registry;
  // over several agents, a name's members are the union of theirs. In a
  // cluster (ClientOptions::cluster) every host serves the cluster's one
  // registry, and the newest answer (newest_members) is the members. ------

  // Registers the actor `key` under `ns`/`name` (again: no change), on
  // the agent agent_for(key). Errors: kNotFound (no such actor on that
  // agent), kInvalidArgument (an empty namespace or name, or a '/' in the
  // namespace), kUnavailable (that agent is down), kTimeout.
  Future<void> register_name(const std::string& ns, const std::string& name, const std::string& key);
  // Removes the registration (none: no change), on the agent
  // agent_for(key). Actors that go away (a failed spawn, a respawn that
  // fails) are removed by their agent.
  Future<void> unregister_name(const std::string& ns, const std::string& name, const std::string& key);
  // The members now (none: version 0 and no keys), asked of every agent:
  // the union of their keys, and the sum of their versions (in a cluster:
  // of every connected host, newest_members). An agent that does not
  // answer (down past the retries) adds nothing; the lookup fails with the
  // first agent's error only when none answers.
  Future<RegistryMembers> lookup(const std::string& ns, const std::string& name);
  // Completes with the members (as lookup) once their version differs from
  // `version`, at once when it does already; kTimeout after `deadline`.
  // Over several agents it looks up every agent, then watches each one that
  // answered and completes when the first of them changes; the watches of
  // the others stay with their agents until their deadline. A RemotePool
  // keeps one watch per agent instead (watch_on).
  Future<RegistryMembers> watch(const std::string& ns, const std::string& name, std::uint64_t version,
                                Duration deadline);
  // lookup and watch of the registry of agent `agent` alone (an index into
  // agents()); what they return also tells agent_for where its keys live.
  // Precondition: agent < agents().size().
  Future<RegistryMembers> lookup_on(std::size_t agent, const std::string& ns, const std::string& name);
  Future<RegistryMembers> watch_on(std::size_t agent, const std::string& ns, const std::string& name,
                                   std::uint64_t version, Duration deadline);

  // Whether the connections to all agents are open now (each reconnects by
  // itself after a loss); is_connected(i): agent i's alone.
  bool is_connected() const;
  bool is_connected(std::size_t agent) const;
  // Whether the agents are hosts of one cluster (ClientOptions::cluster).
  bool in_cluster() const;

  // Completes after `delay`, on the client's timer thread; kCancelled when
  // the client is destroyed first. For backoffs of code built on the
  // client (RemotePool waits with it before asking an unreachable agent
  // again).
  Future<void> after(Duration delay);

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  // call_encoded, sent to agent `agent` whatever agent_for(key) says.
  Future<SpawnInfo> spawn_on(std::size_t agent, const std::string& type, const std::string& key,
                             Duration deadline);
  // Calls `method` of the cluster key on the first connected agent; with
  // `elsewhere_when_lost`, a kUnavailable answer (its connection was lost)
  // passes the call on to the next connected agent.
  Future<std::string> call_cluster(std::string method, std::string payload, bool elsewhere_when_lost);
  void call_cluster_from(std::size_t from, std::string method, std::string payload, bool elsewhere_when_lost,
                         std::shared_ptr<Promise<std::string>> out);
  Future<std::string> call_on(std::size_t agent, const std::string& key, std::string_view method,
                              std::string payload, const CallOptions& options);
  // Records that agent `agent`'s registry lists `keys` (see agent_for).
  void learn_placement(std::size_t agent, const std::vector<std::string>& keys);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
