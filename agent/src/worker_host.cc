// The worker side of keel-agent: one connection to the agent, over which
// spawns and calls arrive and replies go back, and a listener for clients
// that call the actors hosted here directly (docs/distribution.md).
#include "keel/agent/worker_host.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>

#include "keel/journal/journal.h"
#include "keel/net/tcp_transport.h"
#include "agent_client.h"
#include "protocol.h"
#include "worker_session.h"

namespace keel {
namespace {

struct WorkerArgs {
  std::string agent;
  std::string client;  // the agent's client listener, for actors' own calls
  std::string direct;  // the host clients call this worker's actors on directly; empty: none
  int slot = -1;
  std::string journal;
  bool tls = false;             // the agent listens with TLS
  std::string tls_certificate;  // with tls: the agent's, for the direct listener
  std::string tls_key;
  bool cluster_writer = false;  // the journal is one of a cluster's writers
};

Result<WorkerArgs> parse_worker_args(int argc, char** argv) {
  WorkerArgs a;
  // The agent appends its flags to the user's own arguments, which are
  // left for the program.
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--keel-tls") {
      a.tls = true;
      continue;
    }
    if (flag == "--keel-cluster-writer") {
      a.cluster_writer = true;
      continue;
    }
    if (i + 1 >= argc) break;
    if (flag == "--keel-agent") {
      a.agent = argv[++i];
    } else if (flag == "--keel-client") {
      a.client = argv[++i];
    } else if (flag == "--keel-direct") {
      a.direct = argv[++i];
    } else if (flag == "--keel-tls-certificate") {
      a.tls_certificate = argv[++i];
    } else if (flag == "--keel-tls-key") {
      a.tls_key = argv[++i];
    } else if (flag == "--keel-slot") {
      a.slot = std::atoi(argv[++i]);
    } else if (flag == "--keel-journal") {
      a.journal = argv[++i];
    }
  }
  if (a.agent.empty() || a.slot < 0) {
    return Status::invalid_argument("this program is a Keel worker: start it with keel-agent --worker " +
                                    std::string(argc > 0 ? argv[0] : "<program>"));
  }
  return a;
}

// A worker reaches its own agent over loopback: TLS when the agent uses it,
// without checking the agent's certificate (the shared secret proves it).
wire::TlsOptions worker_tls(const WorkerArgs& a) {
  wire::TlsOptions tls;
  tls.enabled = a.tls;
  tls.verify_server = false;
  tls.certificate_chain_file = a.tls_certificate;
  tls.private_key_file = a.tls_key;
  return tls;
}

}  // namespace

WorkerHost::WorkerHost(WorkerHostOptions options) : options_(options) {}
WorkerHost::~WorkerHost() = default;

void WorkerHost::add_type(std::string type_name, detail::RemoteSpawnFn spawn, detail::RemoteAskFn ask) {
  for (const Type& t : types_) {
    if (t.name == type_name) return;
  }
  types_.push_back(Type{std::move(type_name), spawn, ask});
}

int WorkerHost::run(int argc, char** argv) {
  // OpenSSL readies its HMAC on a thread of its own while the worker starts.
  auto crypto = std::async(std::launch::async, &wire::prepare_handshake_crypto);
  auto args = parse_worker_args(argc, argv);
  if (!args) {
    std::fprintf(stderr, "%s\n", args.status().to_string().c_str());
    return 2;
  }
  auto endpoint = internal::parse_host_port(args->agent);
  const char* secret = std::getenv("KEEL_SECRET");
  if (!endpoint || secret == nullptr || *secret == '\0') {
    std::fprintf(stderr, "keel worker: %s\n",
                 endpoint ? "KEEL_SECRET is not set" : endpoint.status().to_string().c_str());
    return 2;
  }
  // The journal opens on its own thread (creating one syncs the disk several
  // times) while the transport starts; the worker registers with the agent
  // once it is open.
  std::future<Result<std::unique_ptr<Journal>>> opening;
  if (!args->journal.empty()) {
    JournalOptions jo;
    jo.pg_claim_all_shards = !args->cluster_writer;
    opening = std::async(std::launch::async, [path = args->journal, jo] { return open_journal(path, jo); });
  }
  // The actors' own client of the agent connects in the background; it
  // outlives the System below.
  internal::AgentClient client(args->slot);
  if (!args->client.empty()) {
    ClientOptions copts;
    copts.secret = secret;
    copts.node_name = "keel-worker-" + std::to_string(args->slot) + "-client";
    copts.tls = worker_tls(*args);
    // In a cluster, the actors' calls follow the shard map from their own
    // agent to the host of each key.
    copts.cluster = args->cluster_writer;
    copts.allow_partial_connect = args->cluster_writer;
    client.start(args->client, std::move(copts));
  }
  std::unique_ptr<Journal> journal;
  if (opening.valid()) {
    auto j = opening.get();
    if (!j) {
      // The journal's errors name its file.
      std::fprintf(stderr, "keel worker %d: %s\n", args->slot, j.status().to_string().c_str());
      return 1;
    }
    journal = std::move(*j);
  }
  SystemConfig config;
  config.threads = options_.threads;
  config.spin_before_park = options_.spin_before_park;
  config.root_strategy = options_.supervision;
  config.journal = journal.get();
  if (!args->client.empty()) config.outbox = std::make_shared<internal::AgentOutbox>(client);
  System system(config);

  internal::WorkerSession::Types types;
  for (const Type& t : types_) types.emplace(t.name, std::make_pair(t.spawn, t.ask));
  internal::WorkerSession session(system, journal.get(), types, args->slot, &client);

  wire::TransportOptions topts;
  topts.secret = secret;
  topts.node_name = "keel-worker-" + std::to_string(args->slot);
  topts.tls = worker_tls(*args);
  auto transport = wire::TcpTransport::create(topts);
  if (!transport) {
    std::fprintf(stderr, "keel worker: %s\n", transport.status().to_string().c_str());
    return 1;
  }
  // Clients call the actors here directly on a port of the agent's
  // listening host; without one (it cannot listen: logged), they go
  // through the agent.
  std::unique_ptr<wire::TcpListener> direct;
  if (!args->direct.empty()) {
    auto listening = (*transport)->listen(args->direct, 0, session.direct_callbacks());
    if (listening) {
      direct = std::move(*listening);
      session.set_direct_port(direct->port());
    } else {
      std::fprintf(stderr, "keel worker %d: no direct calls: %s\n", args->slot,
                   listening.status().to_string().c_str());
    }
  }
  wire::ReconnectOptions no_reconnect;
  no_reconnect.enabled = false;
  auto conn = (*transport)->connect(endpoint->first, endpoint->second, session.callbacks(), no_reconnect);
  session.set_link(conn.get());
  const Status why = session.wait();
  // Replies in flight may still use the connections: stop the actors first.
  system.shutdown(ShutdownMode::kStop, std::chrono::seconds(5)).ignore();
  session.wait_releases();
  direct.reset();
  conn.reset();
  if (!why.is_ok() && why.code() != StatusCode::kUnavailable && why.code() != StatusCode::kCancelled) {
    std::fprintf(stderr, "keel worker %d: %s\n", args->slot, why.to_string().c_str());
    return 1;
  }
  return 0;
}

}  // namespace keel
