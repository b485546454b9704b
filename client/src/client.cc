// keel::Client: calls and spawns over one connection per agent, routed by
// key, with deadlines and retries kept by a timer thread (client_impl.h).
// The registry calls are in client_registry.cc, calls sent to workers
// directly in client_direct.cc.
#include "keel/client/client.h"

#include "keel/base/check.h"
#include "keel/base/rendezvous.h"
#include "keel/journal/pg_journal.h"
#include "keel/wire/control.h"
#include "keel/wire/envelope.h"
#include "client_impl.h"

namespace keel {
namespace {

using internal::kAgentErrorType;
using internal::kClusterKey;
using internal::kGangKeyPrefix;

}  // namespace

Status Client::Impl::connect() {
  if (options_.secret.empty()) return Status::invalid_argument("the client needs the agent's secret");
  if (listed_.empty()) return Status::invalid_argument("the client needs at least one agent");
  if (listed_.size() > internal::AgentTable::kMax) return Status::invalid_argument("more than 256 agents");
  for (std::size_t i = 0; i < listed_.size(); ++i) {
    if (std::find(listed_.begin(), listed_.begin() + i, listed_[i]) != listed_.begin() + i) {
      return Status::invalid_argument("agent " + listed_[i].to_string() + " is listed twice");
    }
  }
  {
    MutexLock lock(mu_);
    id_prefix_ = rng_() | 1;
    opened_.assign(listed_.size(), false);
    connect_errors_.assign(listed_.size(), Status::ok());
    for (const AgentEndpoint& e : listed_) agents_.add(e);
  }
  wire::TransportOptions topts;
  topts.secret = options_.secret;
  topts.node_name = options_.node_name;
  topts.tls = options_.tls;
  topts.rdma = options_.rdma;
  KEEL_ASSIGN_OR_RETURN(transport_, wire::TcpTransport::create(topts));
  for (std::size_t i = 0; i < listed_.size(); ++i) connect_agent(i);
  timer_thread_ = std::thread([this] { run_timers(); });

  MutexLock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
  connect_cv_.wait_until(lock, deadline, [&]() KEEL_REQUIRES(mu_) {
    for (std::size_t i = 0; i < listed_.size(); ++i) {
      if (!opened_[i] && connect_errors_[i].is_ok()) return false;
    }
    return true;
  });
  Status first;
  bool any = false;
  for (std::size_t i = 0; i < listed_.size(); ++i) {
    any = any || opened_[i];
    if (opened_[i] || !first.is_ok()) continue;
    first = connect_errors_[i].is_ok()
                ? Status::timeout("no connection to " + agents_[i].to_string() + " within the timeout")
                : connect_errors_[i];
  }
  if (!(any && options_.allow_partial_connect) && !first.is_ok()) return first;
  if (!options_.cluster) return Status::ok();
  // The first shard map, before any key is routed.
  refresh_map();
  add_timer(std::chrono::steady_clock::now() + options_.cluster_refresh, 0, TimerKind::kMapRefresh);
  connect_cv_.wait_until(lock, deadline, [&]() KEEL_REQUIRES(mu_) { return !shard_map_.empty() || map_call_ == 0; });
  if (shard_map_.empty()) return Status::unavailable("no agent answered with the cluster's shard map");
  return Status::ok();
}

void Client::Impl::connect_agent(std::size_t i) {
  wire::ConnectionCallbacks cb;
  cb.on_open = [this, i](wire::Connection&) {
    MutexLock lock(mu_);
    opened_[i] = true;
    connect_cv_.notify_all();
  };
  cb.on_connect_error = [this, i](const Status& why) {
    MutexLock lock(mu_);
    if (!opened_[i] && connect_errors_[i].is_ok()) connect_errors_[i] = why;
    connect_cv_.notify_all();
  };
  cb.on_frame = [this, i](wire::Connection&, const wire::Frame& f) { on_frame(i, f); };
  cb.on_close = [this, i](wire::Connection&, const Status& why) { on_lost(i, why); };
  agents_.set_conn(i, transport_->connect(agents_[i].host, agents_[i].port, std::move(cb)));
}

Client::Impl::~Impl() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
    timer_cv_.notify_all();
  }
  if (timer_thread_.joinable()) timer_thread_.join();
  agents_.close_all();  // no callback runs after this, so no link is added
  std::vector<std::unique_ptr<wire::TcpClient>> links;
  {
    MutexLock lock(mu_);
    links = direct_.take_all();
  }
  links.clear();  // closed outside the lock: their callbacks take it
  transport_.reset();
  Completions done;
  {
    MutexLock lock(mu_);
    for (auto& [id, c] : calls_) done.calls.emplace_back(std::move(c.promise), Status::cancelled("client destroyed"));
    for (auto& [id, s] : spawns_) done.spawns.emplace_back(std::move(s.promise), Status::cancelled("client destroyed"));
    for (auto& [id, p] : wakes_) done.wakes.emplace_back(std::move(p), Status::cancelled("client destroyed"));
    calls_.clear();
    spawns_.clear();
    wakes_.clear();
  }
  done.run();
}

Future<SpawnInfo> Client::Impl::spawn(std::optional<std::size_t> pinned, const std::string& type,
                                      const std::string& key, Duration deadline) {
  Promise<SpawnInfo> promise;
  Future<SpawnInfo> out = promise.future();
  wire::Spawn s;
  s.actor_type = type;
  s.key = key;
  s.args = wire::encode_args();
  Status sent;
  {
    MutexLock lock(mu_);
    const std::size_t agent = pinned ? *pinned : route(key);
    s.request_id = next_id_++;
    if (options_.cluster && !stopping_) {
      const SteadyTime at = std::chrono::steady_clock::now() + deadline_or_default(deadline);
      spawns_.emplace(s.request_id, PendingSpawn{std::move(promise), key, agent, wire::encode_body(s), at, 0, pinned});
      add_timer(at, s.request_id, TimerKind::kSpawnDeadline);
      Completions done;
      send_spawn(s.request_id, done);
      lock.native().unlock();
      done.run();
      lock.native().lock();
      return out;
    }
    sent = stopping_ ? Status::cancelled("client destroyed")
                     : send_to(agent, wire::MessageType::kSpawn, wire::encode_body(s));
    if (!sent.is_ok() && !stopping_) sent = send_error(agent, sent);
    if (sent.is_ok()) {
      spawns_.emplace(s.request_id, PendingSpawn{std::move(promise), key, agent, {}, {}, 1, pinned});
      add_timer(std::chrono::steady_clock::now() + deadline_or_default(deadline), s.request_id,
                TimerKind::kSpawnDeadline);
    }
  }
  if (!sent.is_ok()) promise.set_error(sent);
  return out;
}

Future<std::string> Client::Impl::call(std::optional<std::size_t> agent, const std::string& key,
                                       std::string_view method, std::string payload, const CallOptions& options) {
  const Duration budget = deadline_or_default(options.deadline);
  Call c;
  Future<std::string> out = c.promise.future();
  c.what = "'" + key + "'." + std::string(method);
  c.key = key;
  c.routed = options_.cluster && !agent;
  c.deadline = std::chrono::steady_clock::now() + budget;
  c.idempotent = options.idempotent || !options.id.empty();
  wire::Envelope e;
  e.target.key = key;
  e.method = std::string(method);
  e.payload = std::move(payload);
  e.deadline_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      (std::chrono::system_clock::now() + budget).time_since_epoch())
                      .count();
  e.idempotent = c.idempotent;
  e.reply_to.emplace();
  Completions done;
  {
    MutexLock lock(mu_);
    c.agent = agent ? *agent : route(key);
    const std::uint64_t id = next_id_++;
    e.id = options.id.empty() ? wire::Id128{id_prefix_, id} : wire::Id128{options.id.hi, options.id.lo};
    e.reply_to->correlation_id = id;
    auto bytes = wire::encode_envelope(e);
    if (stopping_) {  // a continuation of a call the destructor cancelled
      done.calls.emplace_back(std::move(c.promise), Status::cancelled("client destroyed"));
    } else if (!bytes) {
      done.calls.emplace_back(std::move(c.promise), bytes.status());
    } else {
      c.envelope = std::move(*bytes);
      c.deadline_timer = add_timer(c.deadline, id, TimerKind::kCallDeadline);
      // Runs only if the future is cancelled while pending; the destructor
      // completes every pending call (client.h: no cancel may race with it).
      c.promise.on_cancel([this, id] { cancel_call(id); });
      calls_.emplace(id, std::move(c));
      send_call(id, done);
    }
  }
  done.run();
  return out;
}

void Client::Impl::send_call(std::uint64_t id, Completions& done) {
  Call& c = calls_.at(id);
  ++c.sends;
  if (c.routed) c.agent = route(c.key);
  if (send_direct(c)) return;
  c.link = internal::DirectLinks::kNone;
  Status s = send_to(c.agent, wire::MessageType::kCall, c.envelope);
  // A frame that could not be sent was not delivered: in a cluster it goes
  // to the key's host again whatever the call.
  if (!s.is_ok()) return retry_or_fail(id, send_error(c.agent, s), done, /*undelivered=*/c.routed);
  if (!c.through_agent && may_go_direct(c.key)) {
    c.through_agent = true;
    direct_.sent_through_agent(c.key);
  }
  ask_route(c.key, c.agent);
}

Future<void> Client::Impl::after(Duration delay) {
  Promise<void> p;
  Future<void> out = p.future();
  MutexLock lock(mu_);
  if (stopping_) {
    p.set_error(Status::cancelled("client destroyed"));  // no continuation runs: `out` has none yet
    return out;
  }
  const std::uint64_t id = next_id_++;
  wakes_.emplace(id, std::move(p));
  add_timer(std::chrono::steady_clock::now() + delay, id, TimerKind::kWake);
  return out;
}

std::optional<std::size_t> Client::Impl::map_holder(const std::string& key) const {
  if (!options_.cluster || shard_map_.empty() || key.starts_with(kGangKeyPrefix)) return std::nullopt;
  const std::string& holder = shard_map_[pg_shard_of("actor/" + key, static_cast<std::uint32_t>(shard_map_.size()))];
  for (std::size_t i = 0; i < agents_.size(); ++i) {
    if (!holder.empty() && agents_[i].to_string() == holder) return i;
  }
  return std::nullopt;
}

std::size_t Client::Impl::route(const std::string& key) const {
  if (std::optional<std::size_t> holder = map_holder(key)) return *holder;
  if (options_.cluster && !shard_map_.empty() && !key.starts_with(kGangKeyPrefix)) {
    // No live host holds its shard now (a failover under way): any
    // connected host refuses it unhandled, and it is sent again along the
    // next map. Not where it was last: that host is likely the one gone.
    for (std::size_t i = 0; i < agents_.size(); ++i) {
      if (is_connected(i)) return i;
    }
  }
  if (auto it = placed_.find(key); it != placed_.end()) return it->second.agent;
  std::size_t best = 0;
  std::uint64_t best_weight = 0;
  for (std::size_t i = 0; i < agents_.size(); ++i) {
    const std::uint64_t w = rendezvous_weight(agents_[i].to_string(), key);
    if (i == 0 || w > best_weight) {
      best = i;
      best_weight = w;
    }
  }
  return best;
}

void Client::Impl::learn_placement(std::size_t agent, const std::vector<std::string>& keys) {
  MutexLock lock(mu_);
  for (const std::string& k : keys) {
    Placement& p = placed_[k];
    if (!p.spawned) p.agent = agent;
  }
}

void Client::Impl::retry_or_fail(std::uint64_t id, const Status& why, Completions& done, bool undelivered) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& c = it->second;
  // A host that lost the key's shard (its commit was fenced) applied
  // nothing: an idempotent call goes to the key's new host.
  const bool fenced = c.routed && why.code() == StatusCode::kOwnershipLost;
  if (c.routed && (undelivered || fenced || why.code() == StatusCode::kUnavailable)) refresh_map();
  const bool again = c.routed && undelivered ? c.sends < options_.retry.max_attempts
                     : fenced ? c.idempotent && c.sends < options_.retry.max_attempts
                              : c.idempotent && options_.retry.should_retry(why, c.sends);
  if (!again) return fail_call(id, why, done);
  const Duration backoff = options_.retry.backoff(c.sends);
  std::uniform_int_distribution<Duration::rep> jitter(backoff.count() / 2, backoff.count());
  const SteadyTime at = std::chrono::steady_clock::now() + Duration(jitter(rng_));
  if (at >= c.deadline) return fail_call(id, why, done);
  add_timer(at, id, TimerKind::kCallRetry);
}

void Client::Impl::send_spawn(std::uint64_t id, Completions& done) {
  PendingSpawn& p = spawns_.at(id);
  ++p.sends;
  p.agent = p.pinned ? *p.pinned : route(p.key);
  if (Status s = send_to(p.agent, wire::MessageType::kSpawn, p.body); !s.is_ok()) {
    retry_spawn_or_fail(id, send_error(p.agent, s), done);
  }
}

void Client::Impl::retry_spawn_or_fail(std::uint64_t id, const Status& why, Completions& done) {
  auto it = spawns_.find(id);
  if (it == spawns_.end()) return;
  refresh_map();
  const Duration backoff = options_.retry.backoff(it->second.sends);
  std::uniform_int_distribution<Duration::rep> jitter(backoff.count() / 2, backoff.count());
  const SteadyTime at = std::chrono::steady_clock::now() + Duration(jitter(rng_));
  if (at < it->second.deadline && it->second.sends < options_.retry.max_attempts) {
    add_timer(at, id, TimerKind::kSpawnRetry);
    return;
  }
  done.spawns.emplace_back(std::move(it->second.promise), why);
  spawns_.erase(it);
}

std::uint64_t Client::Impl::send_own_call(std::size_t agent, std::string_view key, std::string_view method,
                                          std::string payload) {
  wire::Envelope e;
  e.target.key = std::string(key);
  e.method = std::string(method);
  e.payload = std::move(payload);
  e.reply_to.emplace();
  e.reply_to->correlation_id = next_id_++;
  e.id = wire::Id128{id_prefix_, e.reply_to->correlation_id};
  auto bytes = wire::encode_envelope(e);
  if (!bytes || !send_to(agent, wire::MessageType::kCall, *bytes).is_ok()) return 0;
  return e.reply_to->correlation_id;
}

Status Client::Impl::connection_lost(std::string_view peer, const AgentEndpoint& at, const Status& why) {
  // The cause's code is named only when it adds something to kUnavailable.
  const std::string cause = why.code() == StatusCode::kUnavailable ? std::string(why.message()) : why.to_string();
  return Status::unavailable("connection to the " + std::string(peer) + " " + at.to_string() + " lost: " + cause);
}

std::map<std::uint64_t, Client::Impl::Call>::iterator Client::Impl::find_call(std::uint64_t correlation,
                                                                              std::size_t agent, std::size_t link) {
  auto it = calls_.find(correlation);
  if (it == calls_.end() || it->second.link != link) return calls_.end();
  if (link == internal::DirectLinks::kNone && it->second.agent != agent) return calls_.end();
  return it;
}

void Client::Impl::refresh_map() {
  if (!options_.cluster || map_call_ != 0 || stopping_) return;
  for (std::size_t i = 0; i < agents_.size(); ++i) {
    if (!is_connected(i)) continue;
    const std::uint64_t sent = send_own_call(i, kClusterKey, "shards", wire::encode_args());
    if (sent == 0) continue;
    map_call_ = sent;
    map_agent_ = i;
    return;
  }
}

void Client::Impl::take_map(std::vector<std::string> map, Completions& done) {
  if (map == shard_map_) return;
  shard_map_ = std::move(map);
  // Hosts this client was not given (the cluster grew): connected to, so
  // that their keys are routed to them.
  for (const std::string& address : std::set<std::string>(shard_map_.begin(), shard_map_.end())) {
    const auto colon = address.rfind(':');
    if (address.empty() || colon == std::string::npos) continue;
    AgentEndpoint e{address.substr(0, colon),
                    static_cast<std::uint16_t>(std::strtoul(address.c_str() + colon + 1, nullptr, 10))};
    if (agents_.find(e) != agents_.size()) continue;
    const std::size_t i = agents_.add(std::move(e));
    if (i == internal::AgentTable::kMax) break;
    opened_.push_back(false);
    connect_errors_.push_back(Status::ok());
    done.new_agents.push_back(i);
  }
  std::vector<std::uint64_t> moved;
  for (const auto& [id, c] : calls_) {
    const std::optional<std::size_t> holder = map_holder(c.key);
    if (c.routed && c.idempotent && c.sends > 0 && holder && *holder != c.agent) moved.push_back(id);
  }
  // Sent again at once: a copy the old host applied is applied once. Any
  // other call waits for the old host's answer: a refusal (not delivered)
  // sends it to the new holder, a lost connection fails it with
  // kUnavailable, a host that stopped answering with kTimeout.
  for (std::uint64_t id : moved) send_call(id, done);
}

void Client::Impl::fail_call(std::uint64_t id, const Status& why, Completions& done) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  done.calls.emplace_back(std::move(it->second.promise), why);
  erase_call(it);
}

void Client::Impl::cancel_call(std::uint64_t id) {
  MutexLock lock(mu_);
  auto it = calls_.find(id);
  if (it == calls_.end() || stopping_) return;  // answered or failed meanwhile
  const std::size_t agent = it->second.agent;
  const std::size_t link = it->second.link;
  const bool sent = it->second.sends > 0;
  erase_call(it);
  wire::TcpClient* conn_ptr = link != internal::DirectLinks::kNone ? direct_.conn(link) : agents_.conn(agent);
  if (conn_ptr == nullptr) return;
  wire::TcpClient& conn = *conn_ptr;
  // An agent of an older protocol version lets the call run on.
  if (sent && conn.protocol_version() >= wire::kCancelVersion) {
    wire::Cancel cancel;
    cancel.correlation_id = id;
    conn.send(wire::MessageType::kCancel, wire::encode_body(cancel)).ignore();  // lost with the connection
  }
}

void Client::Impl::erase_call(std::map<std::uint64_t, Call>::iterator it) {
  if (it->second.deadline_timer) timers_.erase(*it->second.deadline_timer);
  if (it->second.through_agent) direct_.ended_through_agent(it->second.key);
  calls_.erase(it);
}

void Client::Impl::on_frame(std::size_t agent, const wire::Frame& f) {
  Completions done;
  {
    MutexLock lock(mu_);
    if (f.type == wire::MessageType::kReply) {
      wire::Reply r;
      if (!wire::decode_body(f.body, r).is_ok()) {
        // A reply that does not decode answers nothing.
      } else if (map_call_ != 0 && r.correlation_id == map_call_) {
        map_call_ = 0;
        auto map = wire::decode_args<std::vector<std::string>>(r.payload);
        if (map && !std::get<0>(*map).empty()) take_map(std::move(std::get<0>(*map)), done);
        connect_cv_.notify_all();
      } else if (!take_route_answer(agent, r.correlation_id, &r.payload, done)) {
        if (auto it = find_call(r.correlation_id, agent, internal::DirectLinks::kNone); it != calls_.end()) {
          done.calls.emplace_back(std::move(it->second.promise), std::move(r.payload));
          erase_call(it);
        }
      }
    } else if (f.type == wire::MessageType::kSpawnAck) {
      wire::SpawnAck a;
      if (wire::decode_body(f.body, a).is_ok()) {
        if (auto it = spawns_.find(a.request_id); it != spawns_.end() && it->second.agent == agent) {
          done.spawns.emplace_back(std::move(it->second.promise), SpawnInfo{a.key, a.node, agent, agents_[agent]});
          placed_[it->second.key] = Placement{agent, true};
          spawns_.erase(it);
        }
      }
    } else if (f.type == wire::MessageType::kError) {
      wire::ErrorMessage e;
      if (wire::decode_body(f.body, e).is_ok()) {
        // A host of a cluster that does not hold the key refused it unhandled.
        const bool undelivered = options_.cluster && e.code == StatusCode::kOwnershipLost &&
                                 e.remote_type == kAgentErrorType;
        if (map_call_ != 0 && e.correlation_id == map_call_) {
          map_call_ = 0;
          connect_cv_.notify_all();
        } else if (take_route_answer(agent, e.correlation_id, nullptr, done)) {
          // A route question the agent refused: its key goes through it.
        } else if (auto it = spawns_.find(e.correlation_id); it != spawns_.end()) {
          if (it->second.agent == agent && undelivered) {
            retry_spawn_or_fail(e.correlation_id, e.to_status(), done);
          } else if (it->second.agent == agent) {
            done.spawns.emplace_back(std::move(it->second.promise), e.to_status());
            spawns_.erase(it);
          }
        } else if (find_call(e.correlation_id, agent, internal::DirectLinks::kNone) != calls_.end()) {
          retry_or_fail(e.correlation_id, e.to_status(), done, undelivered);
        }
      }
    }
  }
  for (std::size_t i : done.new_agents) connect_agent(i);
  for (std::size_t i : done.new_links) connect_link(i);
  done.run();
}

void Client::Impl::on_lost(std::size_t agent, const Status& why) {
  const Status lost = connection_lost("agent", agents_[agent], why);
  Completions done;
  {
    MutexLock lock(mu_);
    std::vector<std::uint64_t> ids;
    for (auto& [id, c] : calls_) {
      if (c.agent == agent && c.link == internal::DirectLinks::kNone) ids.push_back(id);
    }
    for (std::uint64_t id : ids) retry_or_fail(id, lost, done);
    if (map_call_ != 0 && map_agent_ == agent) {
      map_call_ = 0;
      connect_cv_.notify_all();
    }
    for (auto it = spawns_.begin(); it != spawns_.end();) {
      if (it->second.agent != agent) {
        ++it;
        continue;
      }
      if (options_.cluster) {  // spawns are idempotent by key: to the key's next host
        const std::uint64_t id = it->first;
        ++it;
        retry_spawn_or_fail(id, lost, done);
        continue;
      }
      done.spawns.emplace_back(std::move(it->second.promise), lost);
      it = spawns_.erase(it);
    }
  }
  done.run();
}

void Client::Impl::run_timers() {
  MutexLock lock(mu_);
  while (!stopping_) {
    if (timers_.empty()) {
      timer_wakes_at_ = SteadyTime::max();
      timer_cv_.wait(lock, [&]() KEEL_REQUIRES(mu_) { return stopping_ || !timers_.empty(); });
      continue;
    }
    const SteadyTime next = timers_.begin()->first;
    if (std::chrono::steady_clock::now() < next) {
      // Timers removed meanwhile (calls that completed) do not wake it; it
      // looks again at `next`.
      timer_wakes_at_ = next;
      timer_cv_.wait_until(lock, next, [&]() KEEL_REQUIRES(mu_) {
        return stopping_ || (!timers_.empty() && timers_.begin()->first < next);
      });
      continue;
    }
    auto [id, kind] = timers_.begin()->second;
    timers_.erase(timers_.begin());
    if (kind == TimerKind::kCallDeadline) {
      if (auto it = calls_.find(id); it != calls_.end()) it->second.deadline_timer.reset();  // just erased
    }
    Completions done;
    if (kind == TimerKind::kWake) {
      if (auto it = wakes_.find(id); it != wakes_.end()) {
        done.wakes.emplace_back(std::move(it->second), Status::ok());
        wakes_.erase(it);
      }
    } else if (kind == TimerKind::kMapRefresh) {
      refresh_map();
      add_timer(std::chrono::steady_clock::now() + options_.cluster_refresh, 0, TimerKind::kMapRefresh);
    } else if (kind == TimerKind::kSpawnRetry) {
      if (spawns_.count(id) != 0) send_spawn(id, done);
    } else if (kind == TimerKind::kSpawnDeadline) {
      if (auto it = spawns_.find(id); it != spawns_.end()) {
        done.spawns.emplace_back(std::move(it->second.promise),
                                 Status::timeout("deadline exceeded spawning '" + it->second.key + "'"));
        spawns_.erase(it);
      }
    } else if (auto it = calls_.find(id); it != calls_.end()) {
      if (kind == TimerKind::kCallDeadline) {
        fail_call(id, Status::timeout("deadline exceeded calling " + it->second.what), done);
      } else {
        send_call(id, done);
      }
    }
    if (!done.empty()) {
      lock.native().unlock();
      done.run();
      lock.native().lock();
    }
  }
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::connect(const std::string& host, std::uint16_t port,
                                                ClientOptions options) {
  return connect({AgentEndpoint{host, port}}, std::move(options));
}

Result<std::unique_ptr<Client>> Client::connect(std::vector<AgentEndpoint> agents, ClientOptions options) {
  auto impl = std::make_unique<Impl>(std::move(agents), std::move(options));
  KEEL_RETURN_IF_ERROR(impl->connect());
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Future<SpawnInfo> Client::spawn(const std::string& type, const std::string& key, Duration deadline) {
  return impl_->spawn(std::nullopt, type, key, deadline);
}

Future<SpawnInfo> Client::spawn_on(std::size_t agent, const std::string& type, const std::string& key,
                                   Duration deadline) {
  KEEL_CHECK(agent < impl_->agent_count(), "agent index out of range");
  return impl_->spawn(agent, type, key, deadline);
}

Future<std::string> Client::call_encoded(const std::string& key, std::string_view method, std::string payload,
                                         const CallOptions& options) {
  return impl_->call(std::nullopt, key, method, std::move(payload), options);
}

Future<std::string> Client::call_on(std::size_t agent, const std::string& key, std::string_view method,
                                    std::string payload, const CallOptions& options) {
  KEEL_CHECK(agent < impl_->agent_count(), "agent index out of range");
  return impl_->call(agent, key, method, std::move(payload), options);
}

std::vector<AgentEndpoint> Client::agents() const { return impl_->agents(); }

std::size_t Client::agent_for(const std::string& key) const { return impl_->agent_for(key); }

void Client::learn_placement(std::size_t agent, const std::vector<std::string>& keys) {
  impl_->learn_placement(agent, keys);
}

bool Client::is_connected() const {
  for (std::size_t i = 0; i < impl_->agent_count(); ++i) {
    if (!impl_->is_connected(i)) return false;
  }
  return true;
}

bool Client::is_connected(std::size_t agent) const { return impl_->is_connected(agent); }

bool Client::in_cluster() const { return impl_->in_cluster(); }

Future<void> Client::after(Duration delay) { return impl_->after(delay); }

}  // namespace keel
