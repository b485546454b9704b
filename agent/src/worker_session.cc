#include "worker_session.h"

#include <unistd.h>

#include <chrono>
#include <set>

#include "keel/journal/pg_journal.h"
#include "keel/wire/control.h"
#include "keel/wire/envelope.h"
#include "protocol.h"

namespace keel::internal {

void WorkerSession::wait_releases() {
  std::vector<std::future<void>> running;
  {
    MutexLock lock(releases_mu_);
    releases_closed_ = true;
    running.swap(releases_);
  }
  for (auto& r : running) r.wait();
}

wire::ConnectionCallbacks WorkerSession::callbacks() {
  wire::ConnectionCallbacks cb;
  cb.on_open = [this](wire::Connection& c) {
    wire::Register hello;
    hello.name = std::string(kWorkerRegisterName);
    hello.node = static_cast<std::uint64_t>(slot_);
    hello.key = std::to_string(getpid());
    hello.request_id = direct_port_;
    send_message(c, hello).ignore();
  };
  cb.on_frame = [this](wire::Connection& c, const wire::Frame& f) { on_frame(c, f); };
  cb.on_close = [this](wire::Connection&, const Status& why) { finish(why); };
  cb.on_connect_error = [this](const Status& why) { finish(why); };
  return cb;
}

wire::ConnectionCallbacks WorkerSession::direct_callbacks() {
  wire::ConnectionCallbacks cb;
  cb.on_open = [this](wire::Connection& c) {
    MutexLock lock(direct_mu_);
    direct_[c.id()] = &c;
  };
  cb.on_frame = [this](wire::Connection& c, const wire::Frame& f) {
    if (f.type == wire::MessageType::kCall) {
      on_call(c.id(), c, f.body);
    } else if (f.type == wire::MessageType::kCancel) {
      on_cancel(c.id(), c, f.body);
    }
  };
  cb.on_close = [this](wire::Connection& c, const Status&) {
    MutexLock lock(direct_mu_);
    direct_.erase(c.id());
  };
  return cb;
}

Status WorkerSession::wait() {
  MutexLock lock(mu_);
  cv_.wait(lock, [&]() KEEL_REQUIRES(mu_) { return done_; });
  return why_;
}

void WorkerSession::finish(const Status& why) {
  MutexLock lock(mu_);
  if (done_) return;
  done_ = true;
  why_ = why;
  cv_.notify_all();
}

template <class M>
void WorkerSession::send_on(Via via, const M& m) {
  if (via == kAgent) {
    if (wire::Connection* link = link_.load(std::memory_order_acquire)) send_message(*link, m).ignore();
    return;
  }
  MutexLock lock(direct_mu_);
  if (auto it = direct_.find(via); it != direct_.end()) send_message(*it->second, m).ignore();
}

void WorkerSession::on_frame(wire::Connection& c, const wire::Frame& f) {
  switch (f.type) {
    case wire::MessageType::kSpawn:
      on_spawn(c, f.body);
      break;
    case wire::MessageType::kCall:
      on_call(kAgent, c, f.body);
      break;
    case wire::MessageType::kCancel:
      on_cancel(kAgent, c, f.body);
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
void WorkerSession::echo_heartbeat(wire::Connection& c, std::string_view body) {
  wire::Heartbeat beat;
  if (!wire::decode_body(body, beat).is_ok()) {
    c.send(wire::MessageType::kHeartbeat, body).ignore();
    return;
  }
  const EngineMetrics m = system_.metrics();
  beat.stats = wire::WorkerStats{m.messages_handled, m.inbox_depth, m.durable_commits, m.durable_records,
                                 m.commit_seconds};
  send_message(c, beat).ignore();
}

// Spawns on the I/O thread: a durable spawn recovers before it returns,
// and the ack must follow the recovery. A key whose actor runs already is
// acked as it is (the agent sends only spawns of the same type); one
// whose actor has stopped (its supervision gave up) is spawned afresh.
void WorkerSession::on_spawn(wire::Connection& c, std::string_view body) {
  wire::Spawn s;
  if (Status st = wire::decode_body(body, s); !st.is_ok()) {
    c.close(st);  // a body that does not decode closes the connection
    return;
  }
  if (auto hosted = actors_.find(s.key); hosted != actors_.end()) {
    if (hosted->second.type != s.actor_type) {
      send_error(c, s.request_id,
                 Status::already_exists("actor '" + s.key + "' is a " + hosted->second.type + ", not a " +
                                        s.actor_type),
                 kAgentErrorType)
          .ignore();
      return;
    }
    if (!hosted->second.ref.is_stopped()) return send_spawn_ack(c, s);
    actors_.erase(hosted);
  }
  auto type = types_.find(s.actor_type);
  if (type == types_.end()) {
    send_error(c, s.request_id, Status::not_found("unknown actor type '" + s.actor_type + "'"), kAgentErrorType)
        .ignore();
    return;
  }
  // Without a client (none, or its connect failed: logged), only types
  // that do not take one can be spawned.
  Result<Client*> client = client_->get();
  Result<AnyRef> ref = type->second.first(system_, s.key, client ? *client : nullptr);
  if (!ref) {
    send_error(c, s.request_id, ref.status(), s.actor_type).ignore();
    return;
  }
  // Calls address the actor, not one incarnation: a call that arrives
  // while a handler's exception restarts it waits for the new instance.
  actors_[s.key] = Hosted{ref->any_incarnation(), type->second.second, s.actor_type};
  send_spawn_ack(c, s);
}

void WorkerSession::send_spawn_ack(wire::Connection& c, const wire::Spawn& s) {
  wire::SpawnAck ack;
  ack.request_id = s.request_id;
  ack.node = static_cast<std::uint64_t>(slot_);
  ack.key = s.key;
  send_message(c, ack).ignore();
}

void WorkerSession::on_call(Via via, wire::Connection& c, std::string_view body) {
  auto view = wire::EnvelopeView::open(body);
  if (!view) {
    c.close(view.status());  // an envelope that does not decode closes the connection
    return;
  }
  const std::uint64_t corr = view->has_reply_to() ? view->correlation_id() : 0;
  if (via == kAgent && view->target().key == kShardsKey) {
    return on_shards_call(c, corr, view->method(), view->payload());
  }
  auto it = actors_.find(view->target().key);
  if (it == actors_.end() || it->second.ref.is_stopped()) {
    // Not handled: a direct client sends it through the agent instead.
    if (corr != 0) {
      send_error(c, corr, Status::not_found("no actor '" + std::string(view->target().key) + "'"), kAgentErrorType)
          .ignore();
    }
    return;
  }
  AskOptions options;
  if (view->deadline_ns() != 0) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto left = std::chrono::nanoseconds(view->deadline_ns()) - now;
    if (left <= Duration::zero()) {
      send_error(c, corr, Status::timeout("deadline exceeded before the call was handled"), kAgentErrorType)
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
  // Answers go through send_on: `c` itself is valid only until its
  // on_close returns.
  Future<std::string> answer = it->second.ask(it->second.ref, view->method(), view->payload(), options);
  if (corr != 0) {
    MutexLock lock(running_mu_);
    running_.insert_or_assign(std::make_pair(via, corr), answer.cancel_handle());
  }
  answer.then([this, via, corr, remote_type = std::move(remote_type)](Result<std::string> r) {
    if (corr == 0 || !finish_call(via, corr)) return;
    if (!r) return send_on(via, error_message(corr, r.status(), remote_type));
    wire::Reply reply;
    reply.correlation_id = corr;
    reply.payload = std::move(*r);
    send_on(via, reply);
  });
}

// The agent hands this worker's journal the shards it holds ("hold":
// shards and their epochs) or takes them back ("release": shards). A
// release stops the worker's actors of those shards and waits for them,
// so that what they handled is committed, then drops the shards from the
// journal, and answers after that, from a thread of its own. The agent
// sends these only to a worker started as a cluster's writer.
void WorkerSession::on_shards_call(wire::Connection& c, std::uint64_t corr, std::string_view method,
                                   std::string_view payload) {
  auto fail = [&](const Status& s) { send_error(c, corr, s, kAgentErrorType).ignore(); };
  if (journal_ == nullptr) return fail(Status::failed_precondition("worker " + std::to_string(slot_) + " has no journal"));
  if (method == kHoldShards) {
    auto args = wire::decode_args<std::vector<std::uint32_t>, std::vector<std::uint64_t>>(payload);
    if (!args) return fail(args.status());
    const auto& [shards, epochs] = *args;
    if (shards.size() != epochs.size()) return fail(Status::invalid_argument("shards and epochs differ in number"));
    std::vector<PgShardEpoch> held;
    for (std::size_t i = 0; i < shards.size(); ++i) held.push_back(PgShardEpoch{shards[i], epochs[i]});
    if (Status s = hold_pg_shards(*journal_, held); !s.is_ok()) return fail(s);
    return answer_shards_call(corr);
  }
  if (method != kReleaseShards) return fail(Status::not_found("no shard call '" + std::string(method) + "'"));
  auto args = wire::decode_args<std::vector<std::uint32_t>>(payload);
  if (!args) return fail(args.status());
  const std::vector<std::uint32_t> shards = std::get<0>(*args);
  const std::set<std::uint32_t> going(shards.begin(), shards.end());
  const std::uint32_t count = pg_shard_count(*journal_).value_or(kPgShards);
  std::vector<AnyRef> stopping;
  for (auto it = actors_.begin(); it != actors_.end();) {
    if (is_gang_key(it->first) || going.count(pg_shard_of(durable_owner(it->first), count)) == 0) {
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
    if (!dropped.is_ok()) return send_on(kAgent, error_message(corr, dropped, kAgentErrorType));
    answer_shards_call(corr);
  }));
}

void WorkerSession::answer_shards_call(std::uint64_t corr) {
  wire::Reply reply;
  reply.correlation_id = corr;
  reply.payload = wire::encode_args();
  send_on(kAgent, reply);
}

void WorkerSession::on_cancel(Via via, wire::Connection& c, std::string_view body) {
  wire::Cancel cancel;
  if (Status st = wire::decode_body(body, cancel); !st.is_ok()) {
    c.close(st);  // a body that does not decode closes the connection
    return;
  }
  CancelHandle handle;
  {
    MutexLock lock(running_mu_);
    auto it = running_.find(std::make_pair(via, cancel.correlation_id));
    if (it == running_.end()) return;
    handle = std::move(it->second);
    running_.erase(it);
  }
  handle.cancel();  // completes the reply here, outside the lock
}

bool WorkerSession::finish_call(Via via, std::uint64_t corr) {
  MutexLock lock(running_mu_);
  return running_.erase(std::make_pair(via, corr)) != 0;
}

}  // namespace keel::internal
