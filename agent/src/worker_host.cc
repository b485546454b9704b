// The worker side of keel-agent: one connection to the agent, over which
// spawns and calls arrive and replies go back (docs/distribution.md).
#include "keel/agent/worker_host.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "keel/base/thread_annotations.h"
#include "keel/client/client_outbox.h"
#include "keel/journal/journal.h"
#include "keel/journal/pg_journal.h"
#include "keel/net/tcp_transport.h"
#include "keel/wire/control.h"
#include "keel/wire/envelope.h"
#include "protocol.h"

namespace keel {
namespace {

struct WorkerArgs {
  std::string agent;
  std::string client;  // the agent's client listener, for actors' own calls
  int slot = -1;
  std::string journal;
  bool tls = false;             // the agent listens with TLS
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
  return tls;
}

// The actors' client of the agent (keel::Client over the agent's client
// listener), connected in the background from the worker's start so that
// start-up does not wait for its handshake; the first spawn waits for it.
// start() from main(), get() from the session's I/O thread only.
class AgentClient {
 public:
  explicit AgentClient(int slot) : slot_(slot) {}
  ~AgentClient() {
    if (connecting_.valid()) connecting_.wait();
  }
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // Starts connecting to `host_port` ("HOST:PORT"). Once, before get().
  void start(const std::string& host_port, ClientOptions options) {
    {
      MutexLock lock(mu_);
      started_ = true;
    }
    connecting_ = std::async(std::launch::async, [this, host_port, options = std::move(options)]() mutable {
      Result<std::unique_ptr<Client>> c = [&]() -> Result<std::unique_ptr<Client>> {
        KEEL_ASSIGN_OR_RETURN(auto at, internal::parse_host_port(host_port));
        return Client::connect(at.first, at.second, std::move(options));
      }();
      MutexLock lock(mu_);
      if (c) {
        client_ = std::move(*c);
      } else {
        error_ = Status(c.status().code(), "client of the agent: " + std::string(c.status().message()));
        std::fprintf(stderr, "keel worker %d: %s\n", slot_, error_.to_string().c_str());
      }
      done_ = true;
      cv_.notify_all();
    });
  }

  // The client once connected (waits for it); nullptr when the worker was
  // started without one. Errors: the connect's (kUnavailable,
  // kUnauthenticated, kTimeout...), reported to stderr once. Any thread.
  Result<Client*> get() KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    cv_.wait(lock, [&]() KEEL_REQUIRES(mu_) { return !started_ || done_; });
    if (!error_.is_ok()) return error_;
    return client_.get();
  }
  // The client if it is connected by now, without waiting; nullptr while
  // it connects, or when there is none or its connect failed. Any thread.
  Client* ready() KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return done_ ? client_.get() : nullptr;
  }

 private:
  const int slot_;
  std::future<void> connecting_;
  Mutex mu_;
  CondVar cv_;
  bool started_ KEEL_GUARDED_BY(mu_) = false;
  bool done_ KEEL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Client> client_ KEEL_GUARDED_BY(mu_);
  Status error_ KEEL_GUARDED_BY(mu_);
};

// The worker's outbox transport (keel/engine/outbox.h): durable actors'
// messages sent by key go out as calls of the worker's client of its
// agent (a ClientOutbox), which in a cluster follows the shard map.
class AgentOutbox : public OutboxTransport {
 public:
  explicit AgentOutbox(AgentClient& client) : client_(client) {}
  Future<void> deliver(const OutboxMessage& m) override {
    Client* c = client_.ready();
    if (c == nullptr) {
      return Future<void>::ready(Status::unavailable("the worker's client of its agent is not connected"));
    }
    return ClientOutbox(*c).deliver(m);
  }

 private:
  AgentClient& client_;
};

// Serves one agent connection. Frames arrive on the transport's I/O thread;
// replies are sent from whichever engine thread completes them.
class WorkerSession {
 public:
  using Types = std::map<std::string, std::pair<detail::RemoteSpawnFn, detail::RemoteAskFn>, std::less<>>;
  WorkerSession(System& system, Journal* journal, const Types& types, int slot, AgentClient* client)
      : system_(system), journal_(journal), types_(types), slot_(slot), client_(client) {}
  ~WorkerSession() { wait_releases(); }

  // Waits for the shard releases still running (they end once the system
  // has stopped their actors). Called by run() once the system is shut
  // down, before the connection the releases answer on goes.
  void wait_releases() KEEL_EXCLUDES(releases_mu_) {
    std::vector<std::future<void>> running;
    {
      MutexLock lock(releases_mu_);
      releases_closed_ = true;
      running.swap(releases_);
    }
    for (auto& r : running) r.wait();
  }

  wire::ConnectionCallbacks callbacks() {
    wire::ConnectionCallbacks cb;
    cb.on_open = [this](wire::Connection& c) {
      wire::Register hello;
      hello.name = std::string(internal::kWorkerRegisterName);
      hello.node = static_cast<std::uint64_t>(slot_);
      hello.key = std::to_string(getpid());
      internal::send_message(c, hello).ignore();
    };
    cb.on_frame = [this](wire::Connection& c, const wire::Frame& f) { on_frame(c, f); };
    cb.on_close = [this](wire::Connection&, const Status& why) { finish(why); };
    cb.on_connect_error = [this](const Status& why) { finish(why); };
    return cb;
  }

  // The TcpClient replies are sent through; set once, right after connect
  // (frames can arrive only after the handshake, which takes a round trip).
  void set_link(wire::Connection* link) { link_.store(link, std::memory_order_release); }

  // Blocks until the agent is gone or asked for a shutdown; returns why.
  Status wait() KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    cv_.wait(lock, [&]() KEEL_REQUIRES(mu_) { return done_; });
    return why_;
  }

 private:
  void finish(const Status& why) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (done_) return;
    done_ = true;
    why_ = why;
    cv_.notify_all();
  }

  void on_frame(wire::Connection& c, const wire::Frame& f) {
    switch (f.type) {
      case wire::MessageType::kSpawn:
        on_spawn(c, f.body);
        break;
      case wire::MessageType::kCall:
        on_call(c, f.body);
        break;
      case wire::MessageType::kCancel:
        on_cancel(c, f.body);
        break;
      case wire::MessageType::kHeartbeat:
        echo_heartbeat(c, f.body);
        break;
      case wire::MessageType::kShutdown:
        finish(Status::ok());
        break;
      default:
        break;
    }
  }

  // Echoes the agent's heartbeat with this worker's engine counters added
  // (docs/distribution.md, section 7); one that does not decode is echoed
  // as it came.
  void echo_heartbeat(wire::Connection& c, std::string_view body) {
    wire::Heartbeat beat;
    if (!wire::decode_body(body, beat).is_ok()) {
      c.send(wire::MessageType::kHeartbeat, body).ignore();
      return;
    }
    const EngineMetrics m = system_.metrics();
    beat.stats = wire::WorkerStats{m.messages_handled, m.inbox_depth, m.durable_commits, m.durable_records,
                                   m.commit_seconds};
    internal::send_message(c, beat).ignore();
  }

  // Spawns on the I/O thread: a durable spawn recovers before it returns,
  // and the ack must follow the recovery. A key whose actor runs already is
  // acked as it is (the agent sends only spawns of the same type); one
  // whose actor has stopped (its supervision gave up) is spawned afresh.
  void on_spawn(wire::Connection& c, std::string_view body) {
    wire::Spawn s;
    if (Status st = wire::decode_body(body, s); !st.is_ok()) {
      c.close(st);  // a body that does not decode closes the connection
      return;
    }
    if (auto hosted = actors_.find(s.key); hosted != actors_.end()) {
      if (hosted->second.type != s.actor_type) {
        internal::send_error(c, s.request_id,
                             Status::already_exists("actor '" + s.key + "' is a " + hosted->second.type +
                                                    ", not a " + s.actor_type),
                             internal::kAgentErrorType)
            .ignore();
        return;
      }
      if (!hosted->second.ref.is_stopped()) return send_spawn_ack(c, s);
      actors_.erase(hosted);
    }
    auto type = types_.find(s.actor_type);
    if (type == types_.end()) {
      internal::send_error(c, s.request_id,
                           Status::not_found("unknown actor type '" + s.actor_type + "'"),
                           internal::kAgentErrorType)
          .ignore();
      return;
    }
    // Without a client (none, or its connect failed: logged), only types
    // that do not take one can be spawned.
    Result<Client*> client = client_->get();
    Result<AnyRef> ref = type->second.first(system_, s.key, client ? *client : nullptr);
    if (!ref) {
      internal::send_error(c, s.request_id, ref.status(), s.actor_type).ignore();
      return;
    }
    // Calls address the actor, not one incarnation: a call that arrives
    // while a handler's exception restarts it waits for the new instance.
    actors_[s.key] = Hosted{ref->any_incarnation(), type->second.second, s.actor_type};
    send_spawn_ack(c, s);
  }

  void send_spawn_ack(wire::Connection& c, const wire::Spawn& s) {
    wire::SpawnAck ack;
    ack.request_id = s.request_id;
    ack.node = static_cast<std::uint64_t>(slot_);
    ack.key = s.key;
    internal::send_message(c, ack).ignore();
  }

  void on_call(wire::Connection& c, std::string_view body) {
    auto view = wire::EnvelopeView::open(body);
    if (!view) {
      c.close(view.status());  // an envelope that does not decode closes the connection
      return;
    }
    const std::uint64_t corr = view->has_reply_to() ? view->correlation_id() : 0;
    if (view->target().key == internal::kShardsKey) return on_shards_call(c, corr, view->method(), view->payload());
    auto it = actors_.find(view->target().key);
    if (it == actors_.end() || it->second.ref.is_stopped()) {
      if (corr != 0) {
        internal::send_error(c, corr, Status::not_found("no actor '" + std::string(view->target().key) + "'"),
                             internal::kAgentErrorType)
            .ignore();
      }
      return;
    }
    AskOptions options;
    if (view->deadline_ns() != 0) {
      const auto now = std::chrono::system_clock::now().time_since_epoch();
      const auto left = std::chrono::nanoseconds(view->deadline_ns()) - now;
      if (left <= Duration::zero()) {
        internal::send_error(c, corr, Status::timeout("deadline exceeded before the call was handled"),
                             internal::kAgentErrorType)
            .ignore();
        return;
      }
      options.timeout = std::chrono::duration_cast<Duration>(left);
    }
    if (view->idempotent()) options.id = MessageId{view->id().hi, view->id().lo};
    // A durable actor journals the call as it arrived; `body` outlives the
    // send, which copies it.
    options.inbox_envelope = body;
    std::string remote_type = it->second.type + "." + std::string(view->method());
    // Replies go through the TcpClient (link_), which outlives the actors;
    // `c` itself is valid only until its on_close returns.
    Future<std::string> answer = it->second.ask(it->second.ref, view->method(), view->payload(), options);
    if (corr != 0) {
      MutexLock lock(running_mu_);
      running_.insert_or_assign(corr, answer.cancel_handle());
    }
    answer.then([this, corr, remote_type = std::move(remote_type)](Result<std::string> r) {
      wire::Connection* link = link_.load(std::memory_order_acquire);
      if (corr == 0 || !finish_call(corr) || link == nullptr) return;
      if (!r) {
        internal::send_error(*link, corr, r.status(), remote_type).ignore();
        return;
      }
      wire::Reply reply;
      reply.correlation_id = corr;
      reply.payload = std::move(*r);
      internal::send_message(*link, reply).ignore();
    });
  }

  // The agent hands this worker's journal the shards it holds ("hold":
  // shards and their epochs) or takes them back ("release": shards). A
  // release stops the worker's actors of those shards and waits for them,
  // so that what they handled is committed, then drops the shards from the
  // journal, and answers after that, from a thread of its own. The agent
  // sends these only to a worker started as a cluster's writer.
  void on_shards_call(wire::Connection& c, std::uint64_t corr, std::string_view method, std::string_view payload)
      KEEL_EXCLUDES(releases_mu_) {
    auto fail = [&](const Status& s) { internal::send_error(c, corr, s, internal::kAgentErrorType).ignore(); };
    if (journal_ == nullptr) return fail(Status::failed_precondition("worker " + std::to_string(slot_) + " has no journal"));
    if (method == internal::kHoldShards) {
      auto args = wire::decode_args<std::vector<std::uint32_t>, std::vector<std::uint64_t>>(payload);
      if (!args) return fail(args.status());
      const auto& [shards, epochs] = *args;
      if (shards.size() != epochs.size()) return fail(Status::invalid_argument("shards and epochs differ in number"));
      std::vector<PgShardEpoch> held;
      for (std::size_t i = 0; i < shards.size(); ++i) held.push_back(PgShardEpoch{shards[i], epochs[i]});
      if (Status s = hold_pg_shards(*journal_, held); !s.is_ok()) return fail(s);
      return answer_shards_call(corr);
    }
    if (method != internal::kReleaseShards) return fail(Status::not_found("no shard call '" + std::string(method) + "'"));
    auto args = wire::decode_args<std::vector<std::uint32_t>>(payload);
    if (!args) return fail(args.status());
    const std::vector<std::uint32_t> shards = std::get<0>(*args);
    const std::set<std::uint32_t> going(shards.begin(), shards.end());
    const std::uint32_t count = pg_shard_count(*journal_).value_or(kPgShards);
    std::vector<AnyRef> stopping;
    for (auto it = actors_.begin(); it != actors_.end();) {
      if (internal::is_gang_key(it->first) || going.count(pg_shard_of(internal::durable_owner(it->first), count)) == 0) {
        ++it;
        continue;
      }
      stopping.push_back(it->second.ref);
      it = actors_.erase(it);
    }
    MutexLock lock(releases_mu_);
    if (releases_closed_) return fail(Status::unavailable("worker " + std::to_string(slot_) + " is stopping"));
    std::erase_if(releases_, [](const std::future<void>& r) {
      return r.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
    releases_.push_back(std::async(std::launch::async, [this, corr, shards, stopping = std::move(stopping)] {
      std::vector<Future<Down>> downs;
      for (const AnyRef& ref : stopping) {
        downs.push_back(system_.watch(ref));
        system_.stop(ref);
      }
      for (Future<Down>& d : downs) static_cast<void>(d.get());
      const Status dropped = drop_pg_shards(*journal_, shards);
      wire::Connection* link = link_.load(std::memory_order_acquire);
      if (link == nullptr) return;
      if (!dropped.is_ok()) {
        internal::send_error(*link, corr, dropped, internal::kAgentErrorType).ignore();
      } else {
        answer_shards_call(corr);
      }
    }));
  }

  void answer_shards_call(std::uint64_t corr) {
    wire::Connection* link = link_.load(std::memory_order_acquire);
    if (link == nullptr) return;
    wire::Reply reply;
    reply.correlation_id = corr;
    reply.payload = wire::encode_args();
    internal::send_message(*link, reply).ignore();
  }

  // The agent cancelled call `corr`: cancels its ask (docs/engine.md,
  // "Cancelling an ask"), whose answer is then not sent. An unknown call
  // (answered already) is ignored.
  void on_cancel(wire::Connection& c, std::string_view body) KEEL_EXCLUDES(running_mu_) {
    wire::Cancel cancel;
    if (Status st = wire::decode_body(body, cancel); !st.is_ok()) {
      c.close(st);  // a body that does not decode closes the connection
      return;
    }
    CancelHandle handle;
    {
      MutexLock lock(running_mu_);
      auto it = running_.find(cancel.correlation_id);
      if (it == running_.end()) return;
      handle = std::move(it->second);
      running_.erase(it);
    }
    handle.cancel();  // completes the reply here, outside the lock
  }

  // Forgets call `corr` once it completed; false when it was cancelled
  // (its answer must not be sent).
  bool finish_call(std::uint64_t corr) KEEL_EXCLUDES(running_mu_) {
    MutexLock lock(running_mu_);
    return running_.erase(corr) != 0;
  }

  struct Hosted {
    AnyRef ref;  // any_incarnation(): follows restarts
    detail::RemoteAskFn ask;
    std::string type;
  };

  System& system_;
  Journal* const journal_;  // null: no journal
  const Types& types_;
  const int slot_;
  AgentClient* const client_;
  std::map<std::string, Hosted, std::less<>> actors_;  // I/O thread only
  // release/acquire: a reply sent from an engine thread sees the TcpClient
  // fully constructed.
  std::atomic<wire::Connection*> link_{nullptr};
  // Shard releases running on threads of their own; closed once run() is
  // tearing the session down.
  Mutex releases_mu_;
  std::vector<std::future<void>> releases_ KEEL_GUARDED_BY(releases_mu_);
  bool releases_closed_ KEEL_GUARDED_BY(releases_mu_) = false;

  // Calls with a reply_to that have not completed, by correlation id: the
  // handles that cancel them. Inserted on the I/O thread, erased by it (a
  // cancel) or by the engine thread that completes the call.
  Mutex running_mu_;
  std::map<std::uint64_t, CancelHandle> running_ KEEL_GUARDED_BY(running_mu_);

  Mutex mu_;
  CondVar cv_;
  bool done_ KEEL_GUARDED_BY(mu_) = false;
  Status why_ KEEL_GUARDED_BY(mu_);
};

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
  AgentClient client(args->slot);
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
  if (!args->client.empty()) config.outbox = std::make_shared<AgentOutbox>(client);
  System system(config);

  WorkerSession::Types types;
  for (const Type& t : types_) types.emplace(t.name, std::make_pair(t.spawn, t.ask));
  WorkerSession session(system, journal.get(), types, args->slot, &client);

  wire::TransportOptions topts;
  topts.secret = secret;
  topts.node_name = "keel-worker-" + std::to_string(args->slot);
  topts.tls = worker_tls(*args);
  auto transport = wire::TcpTransport::create(topts);
  if (!transport) {
    std::fprintf(stderr, "keel worker: %s\n", transport.status().to_string().c_str());
    return 1;
  }
  wire::ReconnectOptions no_reconnect;
  no_reconnect.enabled = false;
  auto conn = (*transport)->connect(endpoint->first, endpoint->second, session.callbacks(), no_reconnect);
  session.set_link(conn.get());
  const Status why = session.wait();
  // Replies in flight may still use `conn`: stop the actors first.
  system.shutdown(ShutdownMode::kStop, std::chrono::seconds(5)).ignore();
  session.wait_releases();
  conn.reset();
  if (!why.is_ok() && why.code() != StatusCode::kUnavailable && why.code() != StatusCode::kCancelled) {
    std::fprintf(stderr, "keel worker %d: %s\n", args->slot, why.to_string().c_str());
    return 1;
  }
  return 0;
}

}  // namespace keel
