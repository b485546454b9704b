// keel/agent/agent.h: keel::Agent, the daemon behind `keel-agent`. It
// starts worker processes (the user's program, see keel/agent/worker_host.h)
// by fork+exec, listens for clients on TCP with the HMAC handshake, and
// routes their spawns and calls to the worker that hosts each actor. A
// crashed worker is restarted within intensity limits and its actors are
// spawned again (durable ones recover from the journal).
//
//   keel::AgentOptions options;
//   options.listen_port = 7700;
//   options.worker_argv = {"/usr/local/bin/my-worker"};
//   options.journal_dir = "/var/lib/keel";
//   options.secret = "s3cret";
//   KEEL_ASSIGN_OR_RETURN(auto agent, keel::Agent::start(options));   // workers are ready
//   std::printf("listening on port %u\n", agent->port());
//   // ... until shutdown: destroying the agent stops its workers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/status.h"
#include "keel/cluster/membership.h"
#include "keel/cluster/shard_keeper.h"
#include "keel/wire/transport.h"

namespace keel {

// The agent as a host of a cluster (docs/cluster.md, "Agents in a
// cluster"): it joins the cluster in the PostgreSQL journal at `url`, keeps
// its share of the shards with a ShardKeeper, and its workers write that
// journal as the cluster's writers, each the shards mapped to it. An actor
// lives on the host that holds its key's shard; spawns and calls of keys
// whose shard another host holds are refused with kOwnershipLost, and a
// cluster client (ClientOptions::cluster) follows the shard map to the
// right host. The actors spawned here are remembered in the cluster's
// tables (keel/cluster/remembered_actors.h), so the host that gains their
// shard, after a hand-over or once this host's lease ended, spawns them
// again; durable ones recover from the journal.
struct AgentClusterOptions {
  // A PostgreSQL journal URL (keel/journal/pg_journal.h). Empty: no
  // cluster.
  std::string url;
  // This host: its id, labels and gang slots. Its address is `advertise`.
  HostSpec host;
  // "HOST:PORT" where clients and peers reach this agent. Empty: the
  // listen host and the port the agent listens on.
  std::string advertise;
  MembershipOptions membership;  // the cluster's name and secret, the lease
  ShardKeeperOptions keeper;
  // How long a hand-over waits for a worker to stop the actors of the
  // shards it gives back.
  std::chrono::milliseconds release_timeout{30'000};
};

struct AgentOptions {
  // Where clients connect; port 0 picks a free one (see Agent::port).
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;
  // Shared secret of the handshake, for clients and workers. Required.
  std::string secret;
  // TLS for every connection (keel/wire/transport.h): with `enabled`, the
  // agent listens with certificate_chain_file and private_key_file, and
  // clients need ClientOptions::tls. Workers connect over loopback with TLS
  // too, without checking the agent's certificate (the secret proves it).
  wire::TlsOptions tls;
  // RDMA for the data frames of client connections whose client has a
  // device too (on by default; keel/wire/transport.h). Workers use the
  // defaults on their loopback connections.
  wire::RdmaOptions rdma;
  // Workers take clients' calls directly, each on a port of listen_host
  // (chosen by the system), which a client learns from the agent and uses
  // instead of the hop through the agent (docs/distribution.md, "Direct
  // calls"). Off: every call goes through the agent.
  bool direct_calls = true;
  // The worker program and its arguments (argv[0] is the executable's path).
  std::vector<std::string> worker_argv;
  // Worker processes; an actor lives on the worker chosen by a hash of its
  // key (in a cluster: by its shard), so the same key lands on the same
  // worker each time.
  int workers = 1;
  // Directory of the journals: worker i uses "<journal_dir>/worker-<i>.db".
  // Empty: no journal, so spawning a durable type fails
  // (kFailedPrecondition). In a cluster the workers write the cluster's
  // journal instead, and this must be empty.
  std::string journal_dir;
  // Empty url: not in a cluster.
  AgentClusterOptions cluster;
  // Supervision: a worker that exits is started again, unless it exited
  // more than `max_restarts` times within `restart_window`; then its slot
  // fails for good and calls to its actors fail with kUnavailable.
  int max_restarts = 5;
  std::chrono::milliseconds restart_window{10'000};
  // The agent sends each worker a heartbeat every `heartbeat_interval`; a
  // worker that has not echoed one for `heartbeat_timeout` (stopped,
  // deadlocked, its I/O thread stuck) is killed and restarted like a
  // crashed one. A zero timeout turns this off.
  std::chrono::milliseconds heartbeat_interval{1'000};
  std::chrono::milliseconds heartbeat_timeout{5'000};
  // The metrics endpoint (docs/metrics.md): with a metrics_host, the agent
  // serves GET /metrics over HTTP there, in the Prometheus text format
  // 0.0.4. The host must be a numeric loopback address (127.0.0.0/8 or
  // ::1): the endpoint has no authentication. Port 0 picks a free one (see
  // Agent::metrics_port). Empty: no endpoint. The workers' figures come
  // with their heartbeat echoes, so heartbeats are sent every
  // heartbeat_interval even with a zero heartbeat_timeout.
  std::string metrics_host;
  std::uint16_t metrics_port = 0;
  // How long start() waits for the workers to connect.
  std::chrono::milliseconds start_timeout{10'000};
  // Receives one line per notable event (a worker exit, a restart, a
  // refused handshake). Empty: stderr, prefixed "keel-agent: ". Called on
  // the agent's threads.
  std::function<void(std::string_view)> log;
};

// A running agent. Owned by main() (or a test); not copyable or movable.
// Thread-safe.
class Agent {
 public:
  // Starts the workers and the listener and returns once every worker has
  // connected (the agent is ready); in a cluster, joins it first and starts
  // keeping shards last (the first round runs at once, in the background).
  // Errors: kInvalidArgument (no secret, no worker program, workers < 1, a
  // metrics_host that is not a loopback address, a cluster with a
  // journal_dir or a bad advertise address), kIoError (cannot listen,
  // cannot create the journal directory, fork failed), kUnavailable (a
  // worker did not connect within start_timeout; it is stopped), and those
  // of Membership::join.
  static Result<std::unique_ptr<Agent>> start(AgentOptions options);
  // In a cluster, hands its shards over and leaves first. Asks the workers
  // to shut down, kills those still running after two seconds, and reaps
  // them.
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // The port clients connect to.
  std::uint16_t port() const;
  // The port of the metrics endpoint; 0 without one (no metrics_host).
  std::uint16_t metrics_port() const;
  // Its URL, "http://127.0.0.1:PORT/metrics" ("http://[::1]:PORT/metrics");
  // empty without one.
  std::string metrics_url() const;
  // The current pid of each worker slot (-1 while a slot is restarting or
  // has failed).
  std::vector<pid_t> worker_pids() const;
  // Worker restarts so far, all slots together.
  std::uint64_t restart_count() const;
  // In a cluster: the shards this host serves now, by shard; empty
  // otherwise.
  std::vector<std::uint32_t> held_shards() const;

  class Impl;

 private:
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
