// keel::Client: calls and spawns over one connection to an agent, with
// deadlines and retries kept by a timer thread.
//
// Threads: the transport's I/O thread delivers replies; the timer thread
// fires deadlines and retries; callers add calls. All share mu_. Futures
// are completed after mu_ is released, since their continuations may call
// the client again.
#include "keel/client/client.h"

#include <map>
#include <random>
#include <thread>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/wire/control.h"
#include "keel/wire/envelope.h"
#include "keel/wire/tcp_transport.h"

namespace keel {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// Completions gathered under the lock and run after it.
struct Completions {
  std::vector<std::pair<Promise<std::string>, Result<std::string>>> calls;
  std::vector<std::pair<Promise<SpawnInfo>, Result<SpawnInfo>>> spawns;
  void run() {
    for (auto& [p, v] : calls) p.try_set(std::move(v));
    for (auto& [p, v] : spawns) p.try_set(std::move(v));
  }
};

}  // namespace

class Client::Impl {
 public:
  explicit Impl(ClientOptions options) : options_(std::move(options)), rng_(std::random_device{}()) {}
  ~Impl();

  Status connect(const std::string& host, std::uint16_t port) KEEL_EXCLUDES(mu_);
  Future<SpawnInfo> spawn(const std::string& type, const std::string& key, Duration deadline) KEEL_EXCLUDES(mu_);
  Future<std::string> call(const std::string& key, std::string_view method, std::string payload,
                           const CallOptions& options) KEEL_EXCLUDES(mu_);
  bool is_connected() const { return conn_ && conn_->is_connected(); }

 private:
  enum class TimerKind { kCallDeadline, kCallRetry, kSpawnDeadline };
  struct Call {
    Promise<std::string> promise;
    std::string envelope;  // encoded, resent as is on a retry
    std::string what;      // "'key'.method", for error messages
    SteadyTime deadline;
    bool idempotent = false;
    int sends = 0;
  };
  struct PendingSpawn {
    Promise<SpawnInfo> promise;
    std::string key;
  };

  void on_frame(const wire::Frame& f) KEEL_EXCLUDES(mu_);
  void on_lost(const Status& why) KEEL_EXCLUDES(mu_);
  // Sends call `id`; on failure retries it (idempotent) or fails it.
  void send_call(std::uint64_t id, Completions& done) KEEL_REQUIRES(mu_);
  // Schedules a retry of `id` after `why`, or fails it with `why` when it
  // is not idempotent or out of attempts.
  void retry_or_fail(std::uint64_t id, const Status& why, Completions& done) KEEL_REQUIRES(mu_);
  void fail_call(std::uint64_t id, const Status& why, Completions& done) KEEL_REQUIRES(mu_);
  void run_timers() KEEL_EXCLUDES(mu_);
  void add_timer(SteadyTime at, std::uint64_t id, TimerKind kind) KEEL_REQUIRES(mu_) {
    timers_.emplace(at, std::make_pair(id, kind));
    timer_cv_.notify_all();
  }
  Duration deadline_or_default(Duration d) const { return d > Duration::zero() ? d : options_.default_deadline; }

  const ClientOptions options_;
  std::unique_ptr<wire::TcpTransport> transport_;
  std::unique_ptr<wire::TcpClient> conn_;
  std::thread timer_thread_;

  Mutex mu_;
  CondVar timer_cv_;
  CondVar connect_cv_;
  bool opened_ KEEL_GUARDED_BY(mu_) = false;
  Status connect_error_ KEEL_GUARDED_BY(mu_);
  bool stopping_ KEEL_GUARDED_BY(mu_) = false;
  std::uint64_t next_id_ KEEL_GUARDED_BY(mu_) = 1;
  std::uint64_t id_prefix_ KEEL_GUARDED_BY(mu_) = 0;  // random high half of message ids
  std::map<std::uint64_t, Call> calls_ KEEL_GUARDED_BY(mu_);
  std::map<std::uint64_t, PendingSpawn> spawns_ KEEL_GUARDED_BY(mu_);
  std::multimap<SteadyTime, std::pair<std::uint64_t, TimerKind>> timers_ KEEL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ KEEL_GUARDED_BY(mu_);
};

Status Client::Impl::connect(const std::string& host, std::uint16_t port) {
  if (options_.secret.empty()) return Status::invalid_argument("the client needs the agent's secret");
  {
    MutexLock lock(mu_);
    id_prefix_ = rng_() | 1;
  }
  wire::TransportOptions topts;
  topts.secret = options_.secret;
  topts.node_name = options_.node_name;
  topts.tls = options_.tls;
  KEEL_ASSIGN_OR_RETURN(transport_, wire::TcpTransport::create(topts));
  wire::ConnectionCallbacks cb;
  cb.on_open = [this](wire::Connection&) {
    MutexLock lock(mu_);
    opened_ = true;
    connect_cv_.notify_all();
  };
  cb.on_connect_error = [this](const Status& why) {
    MutexLock lock(mu_);
    if (!opened_ && connect_error_.is_ok()) connect_error_ = why;
    connect_cv_.notify_all();
  };
  cb.on_frame = [this](wire::Connection&, const wire::Frame& f) { on_frame(f); };
  cb.on_close = [this](wire::Connection&, const Status& why) { on_lost(why); };
  conn_ = transport_->connect(host, port, std::move(cb));
  timer_thread_ = std::thread([this] { run_timers(); });

  MutexLock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
  if (!connect_cv_.wait_until(lock, deadline, [&]() KEEL_REQUIRES(mu_) { return opened_ || !connect_error_.is_ok(); })) {
    return Status::timeout("no connection to " + host + ":" + std::to_string(port) + " within the timeout");
  }
  return opened_ ? Status::ok() : connect_error_;
}

Client::Impl::~Impl() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
    timer_cv_.notify_all();
  }
  if (timer_thread_.joinable()) timer_thread_.join();
  conn_.reset();  // no callback runs after this
  transport_.reset();
  Completions done;
  {
    MutexLock lock(mu_);
    for (auto& [id, c] : calls_) done.calls.emplace_back(std::move(c.promise), Status::cancelled("client destroyed"));
    for (auto& [id, s] : spawns_) done.spawns.emplace_back(std::move(s.promise), Status::cancelled("client destroyed"));
    calls_.clear();
    spawns_.clear();
  }
  done.run();
}

Future<SpawnInfo> Client::Impl::spawn(const std::string& type, const std::string& key, Duration deadline) {
  Promise<SpawnInfo> promise;
  Future<SpawnInfo> out = promise.future();
  wire::Spawn s;
  s.actor_type = type;
  s.key = key;
  s.args = wire::encode_args();
  Status sent;
  {
    MutexLock lock(mu_);
    s.request_id = next_id_++;
    sent = conn_->send(wire::MessageType::kSpawn, wire::encode_body(s));
    if (sent.is_ok()) {
      spawns_.emplace(s.request_id, PendingSpawn{std::move(promise), key});
      add_timer(std::chrono::steady_clock::now() + deadline_or_default(deadline), s.request_id,
                TimerKind::kSpawnDeadline);
    }
  }
  if (!sent.is_ok()) promise.set_error(sent);
  return out;
}

Future<std::string> Client::Impl::call(const std::string& key, std::string_view method, std::string payload,
                                       const CallOptions& options) {
  const Duration budget = deadline_or_default(options.deadline);
  Call c;
  Future<std::string> out = c.promise.future();
  c.what = "'" + key + "'." + std::string(method);
  c.deadline = std::chrono::steady_clock::now() + budget;
  c.idempotent = options.idempotent;
  wire::Envelope e;
  e.target.key = key;
  e.method = std::string(method);
  e.payload = std::move(payload);
  e.deadline_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      (std::chrono::system_clock::now() + budget).time_since_epoch())
                      .count();
  e.idempotent = options.idempotent;
  e.reply_to.emplace();
  Completions done;
  {
    MutexLock lock(mu_);
    const std::uint64_t id = next_id_++;
    e.id = wire::Id128{id_prefix_, id};
    e.reply_to->correlation_id = id;
    auto bytes = wire::encode_envelope(e);
    if (!bytes) {
      done.calls.emplace_back(std::move(c.promise), bytes.status());
    } else {
      c.envelope = std::move(*bytes);
      add_timer(c.deadline, id, TimerKind::kCallDeadline);
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
  Status s = conn_->send(wire::MessageType::kCall, c.envelope);
  if (!s.is_ok()) retry_or_fail(id, s, done);
}

void Client::Impl::retry_or_fail(std::uint64_t id, const Status& why, Completions& done) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& c = it->second;
  if (!c.idempotent || why.code() != StatusCode::kUnavailable || c.sends >= options_.retry.max_attempts) {
    return fail_call(id, why, done);
  }
  Duration backoff = options_.retry.initial_backoff;
  for (int i = 1; i < c.sends && backoff < options_.retry.max_backoff; ++i) backoff *= 2;
  backoff = std::min(backoff, options_.retry.max_backoff);
  std::uniform_int_distribution<Duration::rep> jitter(backoff.count() / 2, backoff.count());
  const SteadyTime at = std::chrono::steady_clock::now() + Duration(jitter(rng_));
  if (at >= c.deadline) return fail_call(id, why, done);
  add_timer(at, id, TimerKind::kCallRetry);
}

void Client::Impl::fail_call(std::uint64_t id, const Status& why, Completions& done) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  done.calls.emplace_back(std::move(it->second.promise), why);
  calls_.erase(it);
}

void Client::Impl::on_frame(const wire::Frame& f) {
  Completions done;
  {
    MutexLock lock(mu_);
    if (f.type == wire::MessageType::kReply) {
      wire::Reply r;
      if (wire::decode_body(f.body, r).is_ok()) {
        if (auto it = calls_.find(r.correlation_id); it != calls_.end()) {
          done.calls.emplace_back(std::move(it->second.promise), std::move(r.payload));
          calls_.erase(it);
        }
      }
    } else if (f.type == wire::MessageType::kSpawnAck) {
      wire::SpawnAck a;
      if (wire::decode_body(f.body, a).is_ok()) {
        if (auto it = spawns_.find(a.request_id); it != spawns_.end()) {
          done.spawns.emplace_back(std::move(it->second.promise), SpawnInfo{a.key, a.node});
          spawns_.erase(it);
        }
      }
    } else if (f.type == wire::MessageType::kError) {
      wire::ErrorMessage e;
      if (wire::decode_body(f.body, e).is_ok()) {
        if (auto it = spawns_.find(e.correlation_id); it != spawns_.end()) {
          done.spawns.emplace_back(std::move(it->second.promise), e.to_status());
          spawns_.erase(it);
        } else {
          retry_or_fail(e.correlation_id, e.to_status(), done);
        }
      }
    }
  }
  done.run();
}

void Client::Impl::on_lost(const Status& why) {
  const Status lost = Status::unavailable("connection to the agent lost: " + why.to_string());
  Completions done;
  {
    MutexLock lock(mu_);
    std::vector<std::uint64_t> ids;
    for (auto& [id, c] : calls_) ids.push_back(id);
    for (std::uint64_t id : ids) retry_or_fail(id, lost, done);
    for (auto& [id, s] : spawns_) done.spawns.emplace_back(std::move(s.promise), lost);
    spawns_.clear();
  }
  done.run();
}

void Client::Impl::run_timers() {
  MutexLock lock(mu_);
  while (!stopping_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock, [&]() KEEL_REQUIRES(mu_) { return stopping_ || !timers_.empty(); });
      continue;
    }
    const SteadyTime next = timers_.begin()->first;
    if (std::chrono::steady_clock::now() < next) {
      timer_cv_.wait_until(lock, next, [&]() KEEL_REQUIRES(mu_) {
        return stopping_ || timers_.begin()->first < next;
      });
      continue;
    }
    auto [id, kind] = timers_.begin()->second;
    timers_.erase(timers_.begin());
    Completions done;
    if (kind == TimerKind::kSpawnDeadline) {
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
    if (!done.calls.empty() || !done.spawns.empty()) {
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
  auto impl = std::make_unique<Impl>(std::move(options));
  KEEL_RETURN_IF_ERROR(impl->connect(host, port));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Future<SpawnInfo> Client::spawn(const std::string& type, const std::string& key, Duration deadline) {
  return impl_->spawn(type, key, deadline);
}

Future<std::string> Client::call_encoded(const std::string& key, std::string_view method, std::string payload,
                                         const CallOptions& options) {
  return impl_->call(key, method, std::move(payload), options);
}

bool Client::is_connected() const { return impl_->is_connected(); }

// The registry is served by the agent under a reserved key; its replies
// are wire::encode_value(std::pair(version, keys)).
namespace {
constexpr const char* kRegistryKey = "keel.registry";

Result<RegistryMembers> decode_members(Result<std::string> r) {
  if (!r) return r.status();
  KEEL_ASSIGN_OR_RETURN(auto m, (wire::decode_value<std::pair<std::uint64_t, std::vector<std::string>>>(*r)));
  return RegistryMembers{m.first, std::move(m.second)};
}
}  // namespace

Future<void> Client::register_name(const std::string& ns, const std::string& name, const std::string& key) {
  CallOptions o;
  o.idempotent = true;
  return call_encoded(kRegistryKey, "register", wire::encode_args(ns, name, key), o)
      .then([](Result<std::string> r) { return r.status(); });
}

Future<void> Client::unregister_name(const std::string& ns, const std::string& name, const std::string& key) {
  CallOptions o;
  o.idempotent = true;
  return call_encoded(kRegistryKey, "unregister", wire::encode_args(ns, name, key), o)
      .then([](Result<std::string> r) { return r.status(); });
}

Future<RegistryMembers> Client::lookup(const std::string& ns, const std::string& name) {
  CallOptions o;
  o.idempotent = true;
  return call_encoded(kRegistryKey, "lookup", wire::encode_args(ns, name), o).then(&decode_members);
}

Future<RegistryMembers> Client::watch(const std::string& ns, const std::string& name, std::uint64_t version,
                                      Duration deadline) {
  CallOptions o;
  o.idempotent = true;
  o.deadline = deadline;
  return call_encoded(kRegistryKey, "watch", wire::encode_args(ns, name, version), o).then(&decode_members);
}

}  // namespace keel
