// remote_actors.h: the actor types the agent tests host in their worker
// (remote_worker.cc) and call from the test process.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "keel/client/client.h"
#include "keel/engine/actor.h"
#include "keel/engine/durable.h"

namespace keel::testing {

// A plain actor: its state lives in the worker's memory.
class RemoteCounter : public Actor {
 public:
  int add(int n) { return value_ += n; }
  int get() const { return value_; }
  std::int64_t pid() const { return getpid(); }
  // Throws, so the caller sees a remote handler error.
  int fail(std::string why) { throw std::runtime_error(why); }
  // Keeps the actor busy for `ms` (the deadline test's slow handler).
  int slow(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // keel-allow-sleep: a handler slower than the call's deadline
    return ms;
  }
  // Stops the actor, as its supervision does once it gives up on it;
  // replies with the value it had.
  int quit() {
    stop();
    return value_;
  }
  static constexpr auto kHandlers = handlers(
      handler<&RemoteCounter::add>("add"), handler<&RemoteCounter::get>("get"),
      handler<&RemoteCounter::pid>("pid"), handler<&RemoteCounter::fail>("fail"),
      handler<&RemoteCounter::slow>("slow"), handler<&RemoteCounter::quit>("quit"));

 private:
  int value_ = 0;
};

struct Tally {
  std::int64_t total = 0;
  std::int64_t adds = 0;
  static constexpr auto kFields = fields(field<&Tally::total>("total"), field<&Tally::adds>("adds"));
};

// A durable actor: its state survives the worker.
class RemoteTally : public DurableActor<Tally> {
 public:
  std::int64_t add(std::int64_t n) {
    state().adds += 1;
    return state().total += n;
  }
  Tally get() const { return state(); }
  std::int64_t pid() const { return getpid(); }
  static constexpr auto kHandlers = handlers(handler<&RemoteTally::add>("add"), handler<&RemoteTally::get>("get"),
                                             handler<&RemoteTally::pid>("pid"));
};

struct Ops {
  std::vector<std::int64_t> ids;
  static constexpr auto kFields = fields(field<&Ops::ids>("ids"));
};

// A durable actor that keeps every operation id it applied, in order: what
// the cluster's nemesis test checks for "applied exactly once".
class RemoteOpLog : public DurableActor<Ops> {
 public:
  std::int64_t apply(std::int64_t op) {
    state().ids.push_back(op);
    return static_cast<std::int64_t>(state().ids.size());
  }
  std::vector<std::int64_t> ids() const { return state().ids; }
  static constexpr auto kHandlers = handlers(handler<&RemoteOpLog::apply>("apply"), handler<&RemoteOpLog::ids>("ids"));
};

struct Relayed {
  std::int64_t sent = 0;
  static constexpr auto kFields = fields(field<&Relayed::sent>("sent"));
};

// A durable actor that sends operations by key to RemoteOpLogs, wherever
// they live, through its outbox (DurableActorBase::send_to): an
// acknowledged relay is applied once by its log, across crashes and
// failovers of either side.
// [snippet relay]
class RemoteRelay : public DurableActor<Relayed> {
 public:
  Result<std::int64_t> relay(std::string to, std::int64_t op) {
    KEEL_RETURN_IF_ERROR(send_to<&RemoteOpLog::apply>(to, op));
    return ++state().sent;
  }
  static constexpr auto kHandlers = handlers(handler<&RemoteRelay::relay>("relay"));
};
// [/snippet relay]

// An actor that calls other actors through its worker's client of the
// agent, wherever they live.
// [snippet forwarder]
class RemoteForwarder : public Actor {
 public:
  explicit RemoteForwarder(Client& client) : client_(client) {}
  // Adds `n` to the RemoteCounter `key` and replies with its new value.
  Future<int> add_to(std::string key, int n) { return client_.call<&RemoteCounter::add>(key, n); }
  std::int64_t pid() const { return getpid(); }
  static constexpr auto kHandlers =
      handlers(handler<&RemoteForwarder::add_to>("add_to"), handler<&RemoteForwarder::pid>("pid"));

 private:
  Client& client_;
};
// [/snippet forwarder]

// A value set once in the worker process, and the futures of those who
// wait for it (the cancel test's signals from one actor to another).
class OnceSignal {
 public:
  void set(bool v) {
    std::vector<Promise<bool>> waiting;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (value_) return;
      value_ = v;
      waiting.swap(waiting_);
    }
    for (Promise<bool>& p : waiting) p.set_value(v);
  }
  Future<bool> wait() {
    std::lock_guard<std::mutex> l(mu_);
    if (value_) return Future<bool>::ready(*value_);
    waiting_.emplace_back();
    return waiting_.back().future();
  }

 private:
  std::mutex mu_;
  std::optional<bool> value_;
  std::vector<Promise<bool>> waiting_;
};

// Signals of the worker process's RemoteCancellable actors.
inline OnceSignal& spin_started() {
  static OnceSignal s;
  return s;
}
inline OnceSignal& spin_saw_cancel() {
  static OnceSignal s;
  return s;
}

// A handler that runs until its caller cancels, and handlers through which
// another instance tells the test what it did.
class RemoteCancellable : public Actor {
 public:
  // Polls is_cancelled() as a long computation would between steps (up to
  // a generous deadline, shorter than the tests' kWait), and reports
  // whether it saw the cancel.
  int spin() {
    spin_started().set(true);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!is_cancelled() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    spin_saw_cancel().set(is_cancelled());
    return 1;
  }
  Future<bool> wait_started() { return spin_started().wait(); }
  Future<bool> wait_saw_cancel() { return spin_saw_cancel().wait(); }
  int bump() { return ++bumps_; }
  int bumps() const { return bumps_; }
  static constexpr auto kHandlers =
      handlers(handler<&RemoteCancellable::spin>("spin"), handler<&RemoteCancellable::wait_started>("wait_started"),
               handler<&RemoteCancellable::wait_saw_cancel>("wait_saw_cancel"),
               handler<&RemoteCancellable::bump>("bump"), handler<&RemoteCancellable::bumps>("bumps"));

 private:
  int bumps_ = 0;
};

}  // namespace keel::testing
