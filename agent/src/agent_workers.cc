// keel::Agent: its workers, their frames, and their supervision
// (docs/distribution.md). The threads and locking are described in
// agent_impl.h.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "keel/wire/envelope.h"
#include "agent_impl.h"

namespace keel {

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
  s.direct_port = r.request_id <= 65535 ? static_cast<std::uint16_t>(r.request_id) : 0;
  s.state = SlotState::kReady;
  s.last_seen = std::chrono::steady_clock::now();
  worker_conns_[c.id()] = slot;
  // In a cluster, its shards first: the spawns below follow on the same
  // connection.
  if (in_cluster()) hold_shards_of(slot);
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
  if (!wire::decode_body(body, reply).is_ok() || answer_shard_call(reply.correlation_id, Status::ok())) return;
  forward_to_caller(reply, &wire::Reply::correlation_id);
}

void Agent::Impl::on_worker_error(std::string_view body) {
  wire::ErrorMessage e;
  if (!wire::decode_body(body, e).is_ok() || answer_shard_call(e.correlation_id, e.to_status())) return;
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
  s.direct_port = 0;
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
  for (auto it = shard_calls_.begin(); it != shard_calls_.end();) {
    if (it->second.slot != slot) {
      ++it;
      continue;
    }
    auto done = std::move(it->second.done);
    it = shard_calls_.erase(it);
    done(gone);
  }
}

void Agent::Impl::forget_actor(const std::string& key) {
  hosted_.erase(key);
  if (in_cluster()) return forget_registrations(key);
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
  if (options_.tls.enabled) {
    argv.push_back("--keel-tls");
    argv.insert(argv.end(), {"--keel-tls-certificate", options_.tls.certificate_chain_file, "--keel-tls-key",
                             options_.tls.private_key_file});
  }
  if (options_.direct_calls) {
    argv.push_back("--keel-direct");
    argv.push_back(options_.listen_host.empty() ? std::string("0.0.0.0") : options_.listen_host);
  }
  argv.push_back("--keel-slot");
  argv.push_back(std::to_string(slot));
  if (!options_.journal_dir.empty()) {
    argv.push_back("--keel-journal");
    argv.push_back(options_.journal_dir + "/worker-" + std::to_string(slot) + ".db");
  } else if (in_cluster()) {
    argv.push_back("--keel-journal");
    argv.push_back(options_.cluster.url);
    argv.push_back("--keel-cluster-writer");
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

}  // namespace keel
