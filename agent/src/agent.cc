// keel::Agent: start and stop, and the routing of clients' spawns and calls
// to the workers (docs/distribution.md). The threads and locking are
// described in agent_impl.h.
#include "keel/agent/agent.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "keel/wire/envelope.h"
#include "keel/wire/value.h"
#include "agent_impl.h"

namespace keel {

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
  if (in_cluster()) KEEL_RETURN_IF_ERROR(join_cluster());
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return Status::io_error(std::string("eventfd: ") + std::strerror(errno));
  supervisor_ = std::thread([this] { supervise(); });
  // While the workers start: their first handshake then finds OpenSSL ready.
  wire::prepare_handshake_crypto();

  KEEL_RETURN_IF_ERROR(wait_for_workers());
  if (in_cluster()) KEEL_RETURN_IF_ERROR(start_keeping());
  return Status::ok();
}

Status Agent::Impl::wait_for_workers() {
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
  // The shards are handed over while the workers still run their actors.
  if (in_cluster()) leave_cluster();
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
    if (in_cluster()) {
      state.cluster = cluster_figures_;
      state.cluster->shards_held = held_.size();
    }
  }
  if (in_cluster()) {
    MutexLock lock(keeper_mu_);
    if (membership_) {
      state.cluster->lease_renewals += membership_->renewals();
      state.cluster->lease_renewal_failures += membership_->renewal_failures();
    }
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
    registry_watches_.forget_client(c.id());
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
  if (in_cluster() && hosted_.count(s.key) == 0 && internal::is_gang_key(s.key)) {
    return spawn_gang_member(c.id(), std::move(s));
  }
  if (in_cluster() && hosted_.count(s.key) == 0 && check_held(s.key).is_ok()) {
    return remember_and_spawn(c.id(), std::move(s));
  }
  route_spawn(c.id(), s);
}

void Agent::Impl::route_spawn(std::uint64_t client_id, const wire::Spawn& s) {
  wire::Connection* c = client(client_id);
  if (c == nullptr) return;
  if (Status held = check_held(s.key); !held.is_ok()) {
    internal::send_error(*c, s.request_id, held, internal::kAgentErrorType).ignore();
    return;
  }
  const int slot = slot_for(s.key);
  auto it = hosted_.find(s.key);
  if (it != hosted_.end() && it->second.type != s.actor_type) {
    internal::send_error(*c, s.request_id,
                         Status::already_exists("actor '" + s.key + "' is a " + it->second.type + ", not a " +
                                                s.actor_type + " (" + slot_name(it->second.slot) + ")"),
                         internal::kAgentErrorType)
        .ignore();
    return;
  }
  if (slots_[slot].state != SlotState::kReady || slots_[slot].conn == nullptr) {
    internal::send_error(*c, s.request_id, Status::unavailable(slot_name(slot) + " is not running"),
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
  spawn_on(slot, client_id, s.request_id, s.key, s.actor_type, s.args, fresh);
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
  if (view->target().key == internal::kRegistryKey && in_cluster()) {
    return serve_cluster_registry(c.id(), corr, view->method(), view->payload(), view->deadline_ns());
  }
  if (view->target().key == internal::kRegistryKey) {
    std::vector<internal::RegistryAnswer> answers;
    registry_.handle(
        c.id(), corr, view->method(), view->payload(), view->deadline_ns(),
        [&](const std::string& key) KEEL_REQUIRES(mu_) { return hosted_.count(key) != 0; }, answers);
    return send_answers(answers);
  }
  if (view->target().key == internal::kClusterKey && corr != 0) {
    if (!in_cluster()) return fail(Status::failed_precondition("this agent is not in a cluster"));
    if (view->method() == internal::kShardMap) return serve_shard_map(c.id(), corr);
    return serve_gang_call(c.id(), corr, std::string(view->method()), std::string(view->payload()));
  }
  if (view->target().key == internal::kRouteKey && corr != 0) {
    if (view->method() != internal::kWhere) {
      return fail(Status::not_found("no route call '" + std::string(view->method()) + "'"));
    }
    return answer_route(c, corr, view->payload());
  }
  if (Status held = check_held(view->target().key); !held.is_ok()) return fail(held);
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

void Agent::Impl::answer_route(wire::Connection& c, std::uint64_t correlation, std::string_view payload) {
  auto key = wire::decode_args<std::string>(payload);
  if (!key) {
    internal::send_error(c, correlation, key.status(), internal::kAgentErrorType).ignore();
    return;
  }
  std::uint32_t port = 0;
  auto h = hosted_.find(std::get<0>(*key));
  if (h != hosted_.end() && h->second.ready && check_held(h->first).is_ok()) {
    const Slot& slot = slots_[h->second.slot];
    if (slot.state == SlotState::kReady && slot.conn != nullptr) port = slot.direct_port;
  }
  wire::Reply reply;
  reply.correlation_id = correlation;
  reply.payload = wire::encode_args(port);
  internal::send_message(c, reply).ignore();
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
std::vector<std::uint32_t> Agent::held_shards() const { return impl_->held_shards(); }

}  // namespace keel
