// keel::Agent: routing between clients and workers, and process-level
// supervision of the workers (docs/distribution.md).
//
// Threads: the transport's I/O thread runs every connection callback; the
// supervisor thread forks the workers (it must outlive them, since
// PR_SET_PDEATHSIG follows the forking thread), waits on their pidfds and
// sends the heartbeats.
// Both take mu_ around the routing state; sends happen under mu_, which is
// what keeps a Connection* in the maps valid (its on_close takes mu_ before
// it returns).
#include "keel/agent/agent.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

#include "keel/base/thread_annotations.h"
#include "keel/net/tcp_transport.h"
#include "keel/wire/control.h"
#include "keel/wire/envelope.h"
#include "agent_metrics.h"
#include "metrics_endpoint.h"
#include "protocol.h"
#include "registry.h"
#include "worker_process.h"

namespace keel {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// FNV-1a: a placement hash that is the same in every run of every build.
std::uint64_t stable_hash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char ch : s) {
    h ^= static_cast<unsigned char>(ch);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

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

 private:
  enum class SlotState { kStarting, kReady, kFailed };
  struct Slot {
    internal::WorkerProcess proc;                   // pid -1 while not running
    wire::Connection* conn = nullptr;               // null until it registers
    SlotState state = SlotState::kStarting;
    std::deque<SteadyTime> exits;                   // within restart_window
    SteadyTime last_seen;                           // its registration or last heartbeat echo
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
  void wake() { eventfd_write(wake_fd_, 1); }
  // The metrics text (docs/metrics.md). Metrics endpoint's thread.
  std::string render_metrics() const KEEL_EXCLUDES(mu_);
  // Keeps the engine figures of a worker's heartbeat echo, unless `c` is
  // an earlier process's connection (whose figures were folded into the
  // slot's totals when it was lost). I/O thread.
  void on_worker_heartbeat(wire::Connection& c, int slot, std::string_view body) KEEL_REQUIRES(mu_);

  // ---- I/O thread --------------------------------------------------------
  wire::ConnectionCallbacks client_callbacks();
  wire::ConnectionCallbacks worker_callbacks();
  void on_client_spawn(wire::Connection& c, std::string_view body) KEEL_EXCLUDES(mu_);
  void on_client_call(wire::Connection& c, std::string_view body) KEEL_EXCLUDES(mu_);
  // The client gave up on a call it made on `c`: forgets it and passes the
  // cancel on to the call's worker. An unknown call (answered already) is
  // ignored.
  void on_client_cancel(wire::Connection& c, std::string_view body) KEEL_EXCLUDES(mu_);
  void on_worker_frame(wire::Connection& c, const wire::Frame& f) KEEL_EXCLUDES(mu_);
  void on_worker_register(wire::Connection& c, std::string_view body) KEEL_REQUIRES(mu_);
  void on_worker_spawn_ack(std::string_view body) KEEL_REQUIRES(mu_);
  void on_worker_reply(std::string_view body) KEEL_REQUIRES(mu_);
  void on_worker_error(std::string_view body) KEEL_REQUIRES(mu_);
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
  SteadyTime next_heartbeat_ KEEL_GUARDED_BY(mu_);
  std::uint64_t heartbeat_seq_ KEEL_GUARDED_BY(mu_) = 0;
};

// ---- start and stop --------------------------------------------------------

namespace {

// The worker program must be an executable regular file; otherwise every
// worker's execve fails, and the agent restarts them until it gives up.
// Errors: kInvalidArgument naming the program and why.
Status check_worker_program(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::invalid_argument("worker program " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::invalid_argument("worker program " + path + ": not a regular file");
  if (::access(path.c_str(), X_OK) != 0) {
    return Status::invalid_argument("worker program " + path + ": not executable");
  }
  return Status::ok();
}

}  // namespace

Status Agent::Impl::start() {
  if (options_.secret.empty()) return Status::invalid_argument("the agent needs a secret");
  if (options_.worker_argv.empty()) return Status::invalid_argument("the agent needs a worker program");
  KEEL_RETURN_IF_ERROR(check_worker_program(options_.worker_argv.front()));
  if (options_.workers < 1) return Status::invalid_argument("the agent needs at least one worker");
  if (!options_.metrics_host.empty()) {
    KEEL_ASSIGN_OR_RETURN(metrics_endpoint_,
                          internal::MetricsEndpoint::open(options_.metrics_host, options_.metrics_port,
                                                          [this] { return render_metrics(); }));
  }
  if (!options_.journal_dir.empty() && mkdir(options_.journal_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::io_error("journal directory " + options_.journal_dir + ": " + std::strerror(errno));
  }
  wire::TransportOptions topts;
  topts.secret = options_.secret;
  topts.node_name = "keel-agent";
  topts.tls = options_.tls;
  topts.rdma = options_.rdma;
  if (options_.log) topts.log = options_.log;
  KEEL_ASSIGN_OR_RETURN(transport_, wire::TcpTransport::create(topts));
  KEEL_ASSIGN_OR_RETURN(worker_listener_, transport_->listen("127.0.0.1", 0, worker_callbacks()));
  KEEL_ASSIGN_OR_RETURN(client_listener_,
                        transport_->listen(options_.listen_host, options_.listen_port, client_callbacks()));
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return Status::io_error(std::string("eventfd: ") + std::strerror(errno));
  supervisor_ = std::thread([this] { supervise(); });
  // While the workers start: their first handshake then finds OpenSSL ready.
  wire::prepare_handshake_crypto();

  MutexLock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto all_ready = [&]() KEEL_REQUIRES(mu_) {
    for (const Slot& s : slots_) {
      if (s.state != SlotState::kReady) return false;
    }
    return true;
  };
  auto any_failed = [&]() KEEL_REQUIRES(mu_) {
    for (const Slot& s : slots_) {
      if (s.state == SlotState::kFailed) return true;
    }
    return false;
  };
  if (!changed_.wait_until(lock, deadline, [&]() KEEL_REQUIRES(mu_) { return all_ready() || any_failed(); })) {
    return Status::unavailable("the workers did not all connect within " +
                               std::to_string(options_.start_timeout.count()) + " ms");
  }
  if (!all_ready()) return Status::unavailable("a worker kept exiting before it connected (see the log)");
  return Status::ok();
}

void Agent::Impl::stop() {
  metrics_endpoint_.reset();  // render_metrics reads what the rest of stop() tears down
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    wire::Shutdown bye;
    bye.reason = "the agent is stopping";
    bye.drain_ms = 2000;
    for (Slot& s : slots_) {
      if (s.conn != nullptr) {
        internal::send_message(*s.conn, bye).ignore();
      } else if (s.proc.pid > 0) {
        kill(s.proc.pid, SIGTERM);  // not registered yet: it cannot be told
      }
    }
  }
  if (supervisor_.joinable()) {
    wake();
    supervisor_.join();
  }
  client_listener_.reset();
  worker_listener_.reset();
  transport_.reset();
  if (wake_fd_ >= 0) close(wake_fd_);
}

std::string Agent::Impl::render_metrics() const {
  internal::AgentState state;
  {
    MutexLock lock(mu_);
    state.worker_restarts = restarts_;
    for (const Slot& s : slots_) state.workers_up += s.state == SlotState::kReady ? 1 : 0;
    state.clients = clients_.size();
  }
  return metrics_.render(state);
}

std::vector<pid_t> Agent::Impl::worker_pids() const {
  MutexLock lock(mu_);
  std::vector<pid_t> out;
  for (const Slot& s : slots_) out.push_back(s.state == SlotState::kReady ? s.proc.pid : -1);
  return out;
}

// ---- clients ---------------------------------------------------------------

wire::ConnectionCallbacks Agent::Impl::client_callbacks() {
  wire::ConnectionCallbacks cb;
  cb.on_open = [this](wire::Connection& c) {
    MutexLock lock(mu_);
    clients_[c.id()] = &c;
  };
  cb.on_frame = [this](wire::Connection& c, const wire::Frame& f) {
    if (f.type == wire::MessageType::kSpawn) {
      metrics_.count_frame(internal::ClientFrame::kSpawn);
      on_client_spawn(c, f.body);
    } else if (f.type == wire::MessageType::kCall) {
      metrics_.count_frame(internal::ClientFrame::kCall);
      on_client_call(c, f.body);
    } else if (f.type == wire::MessageType::kCancel) {
      metrics_.count_frame(internal::ClientFrame::kCancel);
      on_client_cancel(c, f.body);
    } else if (f.type != wire::MessageType::kHeartbeat) {
      // A frame a client may not send: the protocol closes the connection.
      c.close(Status::invalid_argument("unexpected " + std::string(wire::message_type_name(f.type)) + " frame"));
    }
  };
  cb.on_close = [this](wire::Connection& c, const Status&) {
    MutexLock lock(mu_);
    clients_.erase(c.id());
    registry_.forget_client(c.id());
  };
  return cb;
}

void Agent::Impl::on_client_spawn(wire::Connection& c, std::string_view body) {
  wire::Spawn s;
  if (Status st = wire::decode_body(body, s); !st.is_ok()) {
    c.close(st);  // a body that does not decode closes the connection
    return;
  }
  MutexLock lock(mu_);
  const int slot = static_cast<int>(stable_hash(s.key) % slots_.size());
  auto it = hosted_.find(s.key);
  if (it != hosted_.end() && it->second.type != s.actor_type) {
    internal::send_error(c, s.request_id,
                         Status::already_exists("actor '" + s.key + "' is a " + it->second.type + ", not a " +
                                                s.actor_type + " (" + slot_name(it->second.slot) + ")"),
                         internal::kAgentErrorType)
        .ignore();
    return;
  }
  if (slots_[slot].state != SlotState::kReady || slots_[slot].conn == nullptr) {
    internal::send_error(c, s.request_id, Status::unavailable(slot_name(slot) + " is not running"),
                         internal::kAgentErrorType)
        .ignore();
    return;
  }
  // A key spawned already with this type goes to its worker too, which
  // answers with the actor it hosts (idempotent by key), or starts it again
  // if it has stopped; frames to a worker keep their order, so it also
  // waits for a first spawn still in flight.
  const bool fresh = it == hosted_.end();
  if (fresh) hosted_[s.key] = Hosted{s.actor_type, slot, false};
  spawn_on(slot, c.id(), s.request_id, s.key, s.actor_type, s.args, fresh);
}

void Agent::Impl::spawn_on(int slot, std::uint64_t client, std::uint64_t request, const std::string& key,
                           const std::string& type, const std::string& args, bool fresh) {
  wire::Spawn out;
  out.request_id = next_id_++;
  out.actor_type = type;
  out.key = key;
  out.args = args;
  spawns_[out.request_id] = PendingSpawn{client, request, key, type, slot, fresh};
  internal::send_message(*slots_[slot].conn, out).ignore();
}

void Agent::Impl::on_client_call(wire::Connection& c, std::string_view body) {
  auto view = wire::EnvelopeView::open(body);
  if (!view) {
    c.close(view.status());  // an envelope that does not decode closes the connection
    return;
  }
  const std::uint64_t corr = view->has_reply_to() ? view->correlation_id() : 0;
  auto fail = [&](const Status& s) {
    if (corr != 0) internal::send_error(c, corr, s, internal::kAgentErrorType).ignore();
  };
  MutexLock lock(mu_);
  if (view->target().key == internal::kRegistryKey) {
    std::vector<internal::RegistryAnswer> answers;
    registry_.handle(
        c.id(), corr, view->method(), view->payload(), view->deadline_ns(),
        [&](const std::string& key) KEEL_REQUIRES(mu_) { return hosted_.count(key) != 0; }, answers);
    return send_answers(answers);
  }
  auto h = hosted_.find(view->target().key);
  if (h == hosted_.end()) return fail(Status::not_found("no actor '" + std::string(view->target().key) + "'"));
  Slot& slot = slots_[h->second.slot];
  if (slot.state == SlotState::kFailed) {
    return fail(Status::unavailable(slot_name(h->second.slot) + " failed: restarted too often"));
  }
  if (slot.conn == nullptr) return fail(Status::unavailable(slot_name(h->second.slot) + " is restarting"));
  if (!h->second.ready) {
    return fail(Status::unavailable("actor '" + h->first + "' is being spawned on " + slot_name(h->second.slot)));
  }
  wire::Envelope e = view->to_envelope();
  const std::uint64_t forwarded = next_id_++;
  if (e.reply_to) e.reply_to->correlation_id = forwarded;
  auto bytes = wire::encode_envelope(e);
  if (!bytes) return fail(bytes.status());
  if (Status st = slot.conn->send_owned(wire::MessageType::kCall, std::move(*bytes)); !st.is_ok()) return fail(st);
  if (corr != 0) calls_[forwarded] = PendingCall{c.id(), corr, h->second.slot};
}

void Agent::Impl::on_client_cancel(wire::Connection& c, std::string_view body) {
  wire::Cancel cancel;
  if (Status st = wire::decode_body(body, cancel); !st.is_ok()) {
    c.close(st);  // a body that does not decode closes the connection
    return;
  }
  MutexLock lock(mu_);
  // A scan of the calls in flight: cancels are rare next to calls, so they
  // keep no index of their own.
  for (auto it = calls_.begin(); it != calls_.end(); ++it) {
    if (it->second.client != c.id() || it->second.correlation != cancel.correlation_id) continue;
    const std::uint64_t forwarded = it->first;
    wire::Connection* worker = slots_[it->second.slot].conn;
    calls_.erase(it);  // the worker's answer, if it still comes, is dropped
    // A worker built on an older protocol version lets the call run on.
    if (worker != nullptr && worker->protocol_version() >= wire::kCancelVersion) {
      wire::Cancel out;
      out.correlation_id = forwarded;
      internal::send_message(*worker, out).ignore();  // lost with the worker: then nothing runs on
    }
    return;
  }
}

// ---- workers ---------------------------------------------------------------

wire::ConnectionCallbacks Agent::Impl::worker_callbacks() {
  wire::ConnectionCallbacks cb;
  cb.on_frame = [this](wire::Connection& c, const wire::Frame& f) { on_worker_frame(c, f); };
  cb.on_close = [this](wire::Connection& c, const Status& why) {
    MutexLock lock(mu_);
    auto it = worker_conns_.find(c.id());
    if (it == worker_conns_.end()) return;
    const int slot = it->second;
    worker_conns_.erase(it);
    if (slots_[slot].conn != &c) return;
    // The cause's code is named only when it adds something to kUnavailable.
    worker_lost(slot, "its connection closed: " +
                          (why.code() == StatusCode::kUnavailable ? std::string(why.message()) : why.to_string()));
    // A worker without its connection is of no use: make sure it exits, so
    // the supervisor restarts it.
    if (!stopping_ && slots_[slot].proc.pid > 0) kill(slots_[slot].proc.pid, SIGKILL);
  };
  return cb;
}

void Agent::Impl::on_worker_frame(wire::Connection& c, const wire::Frame& f) {
  MutexLock lock(mu_);
  if (f.type == wire::MessageType::kRegister) return on_worker_register(c, f.body);
  if (worker_conns_.count(c.id()) == 0) {
    c.close(Status::failed_precondition("a worker must register first"));
    return;
  }
  switch (f.type) {
    case wire::MessageType::kSpawnAck:
      return on_worker_spawn_ack(f.body);
    case wire::MessageType::kReply:
      return on_worker_reply(f.body);
    case wire::MessageType::kError:
      return on_worker_error(f.body);
    case wire::MessageType::kHeartbeat:
      return on_worker_heartbeat(c, worker_conns_[c.id()], f.body);
    default:
      return;
  }
}

void Agent::Impl::on_worker_register(wire::Connection& c, std::string_view body) {
  wire::Register r;
  if (!wire::decode_body(body, r).is_ok() || r.name != internal::kWorkerRegisterName ||
      r.node >= slots_.size() || r.key != std::to_string(slots_[r.node].proc.pid)) {
    c.close(Status::failed_precondition("not a worker of this agent"));
    return;
  }
  const int slot = static_cast<int>(r.node);
  Slot& s = slots_[slot];
  s.conn = &c;
  s.state = SlotState::kReady;
  s.last_seen = std::chrono::steady_clock::now();
  worker_conns_[c.id()] = slot;
  // After a restart: spawn its actors again (durable ones recover).
  for (auto& [key, h] : hosted_) {
    if (h.slot == slot) spawn_on(slot, 0, 0, key, h.type, "", false);
  }
  changed_.notify_all();
}

void Agent::Impl::on_worker_heartbeat(wire::Connection& c, int slot, std::string_view body) {
  slots_[slot].last_seen = std::chrono::steady_clock::now();
  if (slots_[slot].conn != &c) return;
  // An echo whose stats do not decode still answers the heartbeat.
  wire::Heartbeat beat;
  if (wire::decode_body(body, beat).is_ok() && beat.stats) metrics_.worker_stats(slot, *beat.stats);
}

void Agent::Impl::on_worker_spawn_ack(std::string_view body) {
  wire::SpawnAck ack;
  if (!wire::decode_body(body, ack).is_ok()) return;
  auto it = spawns_.find(ack.request_id);
  if (it == spawns_.end()) return;
  PendingSpawn p = std::move(it->second);
  spawns_.erase(it);
  // The entry is gone if an earlier spawn of the key failed after this one
  // was sent; the worker has the actor now.
  hosted_.try_emplace(p.key, Hosted{p.type, p.slot, false}).first->second.ready = true;
  if (wire::Connection* c = client(p.client)) {
    ack.request_id = p.request;
    internal::send_message(*c, ack).ignore();
  }
}

void Agent::Impl::on_worker_reply(std::string_view body) {
  wire::Reply reply;
  if (wire::decode_body(body, reply).is_ok()) forward_to_caller(reply, &wire::Reply::correlation_id);
}

void Agent::Impl::on_worker_error(std::string_view body) {
  wire::ErrorMessage e;
  if (!wire::decode_body(body, e).is_ok()) return;
  if (auto s = spawns_.find(e.correlation_id); s != spawns_.end()) {
    PendingSpawn p = std::move(s->second);
    spawns_.erase(s);
    // The worker acks a spawn of a key it hosts a running actor for, so an
    // error means it has none.
    forget_actor(p.key);
    if (p.client == 0) log("could not spawn '" + p.key + "' again: " + e.to_status().to_string());
    if (wire::Connection* c = client(p.client)) {
      e.correlation_id = p.request;
      internal::send_message(*c, e).ignore();
    }
    return;
  }
  forward_to_caller(e, &wire::ErrorMessage::correlation_id);
}

void Agent::Impl::worker_lost(int slot, const std::string& why) {
  Slot& s = slots_[slot];
  if (s.conn == nullptr && s.state != SlotState::kReady) return;
  metrics_.worker_gone(slot);
  s.conn = nullptr;
  if (s.state == SlotState::kReady) s.state = SlotState::kStarting;
  const Status gone = Status::unavailable(slot_name(slot) + " is gone: " + why);
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.slot != slot) {
      ++it;
      continue;
    }
    if (wire::Connection* c = client(it->second.client)) {
      internal::send_error(*c, it->second.correlation, gone, internal::kAgentErrorType).ignore();
    }
    it = calls_.erase(it);
  }
  for (auto it = spawns_.begin(); it != spawns_.end();) {
    if (it->second.slot != slot) {
      ++it;
      continue;
    }
    if (wire::Connection* c = client(it->second.client)) {
      internal::send_error(*c, it->second.request, gone, internal::kAgentErrorType).ignore();
    }
    // A fresh spawn that never acked is forgotten; actors spawned before
    // stay, to be spawned again when the worker is back.
    if (it->second.fresh) forget_actor(it->second.key);
    it = spawns_.erase(it);
  }
  for (auto& [key, h] : hosted_) {
    if (h.slot == slot) h.ready = false;
  }
}

void Agent::Impl::forget_actor(const std::string& key) {
  hosted_.erase(key);
  std::vector<internal::RegistryAnswer> answers;
  registry_.forget_key(key, answers);
  send_answers(answers);
}

void Agent::Impl::send_answers(std::vector<internal::RegistryAnswer>& answers) {
  for (internal::RegistryAnswer& a : answers) {
    wire::Connection* c = client(a.client);
    if (c == nullptr || a.correlation == 0) continue;
    if (!a.payload) {
      internal::send_error(*c, a.correlation, a.payload.status(), internal::kRegistryKey).ignore();
      continue;
    }
    wire::Reply reply;
    reply.correlation_id = a.correlation;
    reply.payload = std::move(*a.payload);
    internal::send_message(*c, reply).ignore();
  }
}

// ---- supervision -----------------------------------------------------------

void Agent::Impl::launch(int slot) {
  std::vector<std::string> argv = options_.worker_argv;
  argv.push_back("--keel-agent");
  argv.push_back("127.0.0.1:" + std::to_string(worker_listener_->port()));
  argv.push_back("--keel-client");
  const bool any = options_.listen_host.empty() || options_.listen_host == "0.0.0.0" || options_.listen_host == "::";
  argv.push_back((any ? std::string("127.0.0.1") : options_.listen_host) + ":" +
                 std::to_string(client_listener_->port()));
  if (options_.tls.enabled) argv.push_back("--keel-tls");
  argv.push_back("--keel-slot");
  argv.push_back(std::to_string(slot));
  if (!options_.journal_dir.empty()) {
    argv.push_back("--keel-journal");
    argv.push_back(options_.journal_dir + "/worker-" + std::to_string(slot) + ".db");
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "KEEL_SECRET=", 12) != 0) env.emplace_back(*e);
  }
  env.push_back("KEEL_SECRET=" + options_.secret);
  Slot& s = slots_[slot];
  auto p = internal::launch_worker(argv, env);
  if (!p) {
    log("cannot start worker " + std::to_string(slot) + ": " + p.status().to_string());
    s.state = SlotState::kFailed;
    changed_.notify_all();
    return;
  }
  s.proc = *p;
  s.state = SlotState::kStarting;
}

void Agent::Impl::supervise() {
  {
    MutexLock lock(mu_);
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) launch(i);
  }
  std::optional<SteadyTime> kill_at;
  while (true) {
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}};
    std::vector<int> owners{-1};
    bool stopping = false;
    {
      MutexLock lock(mu_);
      stopping = stopping_;
      for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
        if (slots_[i].proc.pidfd >= 0) {
          fds.push_back({slots_[i].proc.pidfd, POLLIN, 0});
          owners.push_back(i);
        }
      }
    }
    if (stopping) {
      if (fds.size() == 1) return;
      if (!kill_at) kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      if (std::chrono::steady_clock::now() >= *kill_at) return kill_and_reap_all();
    }
    std::optional<SteadyTime> wake_at = kill_at;
    // The workers' metrics come with their heartbeat echoes.
    if (!stopping && (options_.heartbeat_timeout.count() > 0 || !options_.metrics_host.empty())) {
      const SteadyTime next_beat = check_heartbeats();
      if (!wake_at || next_beat < *wake_at) wake_at = next_beat;
    }
    int timeout_ms = -1;
    if (wake_at) {
      timeout_ms = std::max(0, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    *wake_at - std::chrono::steady_clock::now())
                                                    .count()) +
                                   1);
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      log(std::string("poll: ") + std::strerror(errno));
      return kill_and_reap_all();
    }
    if (fds[0].revents != 0) {
      eventfd_t ignored;
      eventfd_read(wake_fd_, &ignored);
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) on_exit(owners[i]);
    }
  }
}

SteadyTime Agent::Impl::check_heartbeats() {
  const SteadyTime now = std::chrono::steady_clock::now();
  MutexLock lock(mu_);
  if (now < next_heartbeat_) return next_heartbeat_;
  next_heartbeat_ = now + options_.heartbeat_interval;
  wire::Heartbeat beat;
  beat.sequence = ++heartbeat_seq_;
  beat.sent_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    Slot& s = slots_[i];
    if (s.conn == nullptr) continue;
    if (options_.heartbeat_timeout.count() > 0 && now - s.last_seen > options_.heartbeat_timeout) {
      log(slot_name(i) + " has not answered a heartbeat for " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - s.last_seen).count()) +
          " ms: killing it");
      worker_lost(i, "it stopped answering heartbeats");
      kill(s.proc.pid, SIGKILL);
      continue;
    }
    internal::send_message(*s.conn, beat).ignore();
  }
  return next_heartbeat_;
}

void Agent::Impl::on_exit(int slot) {
  internal::WorkerProcess proc;
  {
    MutexLock lock(mu_);
    proc = slots_[slot].proc;
  }
  const std::string how = internal::reap(proc);
  MutexLock lock(mu_);
  const std::string name = slot_name(slot);
  worker_lost(slot, how);
  Slot& s = slots_[slot];
  s.proc = internal::WorkerProcess{};
  if (stopping_) return;
  const auto now = std::chrono::steady_clock::now();
  s.exits.push_back(now);
  while (!s.exits.empty() && now - s.exits.front() > options_.restart_window) s.exits.pop_front();
  if (static_cast<int>(s.exits.size()) > options_.max_restarts) {
    log(name + " exited (" + how + ") " + std::to_string(s.exits.size()) + " times within " +
        std::to_string(options_.restart_window.count()) + " ms: giving up on it");
    s.state = SlotState::kFailed;
    changed_.notify_all();
    return;
  }
  log(name + " exited (" + how + "): restarting it");
  ++restarts_;
  launch(slot);
}

void Agent::Impl::kill_and_reap_all() {
  std::vector<internal::WorkerProcess> procs;
  {
    MutexLock lock(mu_);
    for (Slot& s : slots_) {
      if (s.proc.pid > 0) procs.push_back(s.proc);
      s.proc = internal::WorkerProcess{};
    }
  }
  for (auto& p : procs) {
    kill(p.pid, SIGKILL);
    internal::reap(p);
  }
}

// ---- Agent -----------------------------------------------------------------

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::start(AgentOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  KEEL_RETURN_IF_ERROR(impl->start());
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

std::uint16_t Agent::port() const { return impl_->port(); }
std::uint16_t Agent::metrics_port() const { return impl_->metrics_port(); }
std::string Agent::metrics_url() const { return impl_->metrics_url(); }
std::vector<pid_t> Agent::worker_pids() const { return impl_->worker_pids(); }
std::uint64_t Agent::restart_count() const { return impl_->restart_count(); }

}  // namespace keel
