// keel/engine/system.h: keel::System, the home of actors.
//
// A System owns a pool of worker threads that run actors one message at a
// time, a timer service, the name registry and the dead-letter channel.
// main() creates it (with the Clock tests may replace) and passes it down.
//
//   keel::System system;                               // one worker per core
//   auto counter = system.spawn<Counter>().value();    // top-level actor
//   counter.tell<&Counter::add>(2);
//   std::printf("%d\n", counter.ask<&Counter::get>().get().value());
//   system.shutdown(keel::ShutdownMode::kDrain, std::chrono::seconds(5)).ignore();
//
// Deterministic testing: with `threads = 0` no worker runs; the test steps the
// system with run_one() / run_until_idle(), and with a ManualClock timers fire
// when the test advances the clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <typeinfo>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/engine/actor_ref.h"
#include "keel/engine/dead_letters.h"
#include "keel/engine/diagnostics.h"
#include "keel/engine/options.h"
#include "keel/engine/supervision.h"
#include "keel/journal/fwd.h"

namespace keel {

class Actor;
struct DurableOptions;
class OutboxTransport;
namespace internal {
class Runtime;
}

// Identifies a timer for cancel_timer. 0 is never a valid id.
using TimerId = std::uint64_t;

struct SystemConfig {
  // Worker threads; -1 means one per core, 0 means none (deterministic mode:
  // the caller steps the system with run_one / run_until_idle).
  int threads = -1;
  // Most messages one actor handles per turn before others get a worker.
  int throughput = 64;
  // How long an idle worker thread watches for new work (spinning) before
  // it sleeps. A spin spares the sender a futex wake when work comes soon,
  // but takes a core from other threads; zero when the process shares few
  // cores with busier threads (keel-agent workers, see WorkerHostOptions).
  std::chrono::microseconds spin_before_park{50};
  // Time source for timers, TTLs and ask timeouts; must outlive the System.
  // Null means the real clock.
  Clock* clock = nullptr;
  // Dead letters kept in the channel's history.
  std::size_t dead_letter_history = 1024;
  // Supervision of top-level actors (spawned by System::spawn): kRestart,
  // kResume and kStop apply to the failing actor; kEscalate, or exceeding
  // the intensity, stops it.
  SupervisorStrategy root_strategy;
  // Receives engine reports (a failing stop hook, an actor stopped by the
  // root supervisor). Null means stderr. Called on any engine thread.
  std::function<void(std::string_view)> log;
  // Where durable actors keep their mailboxes and state (keel/engine/durable.h).
  // Must outlive the System. Null: spawn_durable fails with kFailedPrecondition.
  Journal* journal = nullptr;
  // Where durable actors' messages sent by key (DurableActorBase::send_to)
  // go (keel/engine/outbox.h). Null: send_to fails with kFailedPrecondition,
  // and recovered undelivered messages wait in the journal.
  std::shared_ptr<OutboxTransport> outbox;
};

enum class ShutdownMode : std::uint8_t {
  kDrain,  // handle every queued message (and what it causes) first, then stop
  kStop,   // stop now: queued messages go to dead letters as stopped
};

// Owns the actors and the threads. Not copyable or movable. All methods are
// thread-safe, but shutdown() must not be called from an actor's handler.
class System {
 public:
  System();
  explicit System(SystemConfig config);
  System(const System&) = delete;
  System& operator=(const System&) = delete;
  // Stops every actor (kStop) and joins the threads.
  ~System();

  // Creates a top-level actor T(args...) and runs its on_start() on this
  // thread before returning. Errors: the on_start error (the instance is
  // destroyed, on_stop not run), kAlreadyExists (name taken), kUnavailable
  // (the system is shutting down). Args are copied so that restarts can
  // construct T again.
  template <class T, class... A>
  Result<ActorRef<T>> spawn(A&&... args) {
    return spawn_with<T>(SpawnOptions{}, std::forward<A>(args)...);
  }
  template <class T, class... A>
  Result<ActorRef<T>> spawn_with(const SpawnOptions& options, A&&... args);

  // Spawns the durable actor T under `key` (keel/engine/durable.h): recovers
  // its state and unhandled messages when the journal has its records, then
  // runs on_start and registers it under the name `key`. Errors: those of
  // spawn_with, kFailedPrecondition (no journal in the SystemConfig),
  // kAlreadyExists (the key is live), kCorruption / kIoError (the journal
  // could not be read; nothing is started), kNonDeterministic (a replayed
  // handler failed).
  template <class T, class... A>
  Result<ActorRef<T>> spawn_durable(const std::string& key, A&&... args);
  template <class T, class... A>
  Result<ActorRef<T>> spawn_durable_with(const std::string& key, const DurableOptions& options,
                                         A&&... args);

  // Registers `ref` under `name` until the actor stops. kAlreadyExists when
  // taken, kNotFound when the actor has stopped.
  Status register_name(const std::string& name, const AnyRef& ref);
  // Removes a registration; kNotFound when absent.
  Status unregister_name(const std::string& name);
  // The current incarnation registered under `name`: kNotFound when none,
  // kInvalidArgument when it is not a T.
  template <class T>
  Result<ActorRef<T>> lookup(const std::string& name) const {
    KEEL_ASSIGN_OR_RETURN(AnyRef r, lookup_any(name, &typeid(T)));
    return ActorRef<T>(std::move(r));
  }
  Result<AnyRef> lookup_any(const std::string& name, const std::type_info* type = nullptr) const;
  // tell by name; an unknown name is a dead letter (kUnknownTarget) and kNotFound.
  template <class T, auto M, class... A>
  Status tell_named(const std::string& name, A&&... args) {
    auto r = lookup<T>(name);
    if (!r) {
      note_unknown_target(name, detail::handler_name<T, M>());
      return r.status();
    }
    return r->template try_tell<M>(SendOptions{}, std::forward<A>(args)...);
  }

  // Stops the actor (its children first); queued messages go to dead letters.
  // Asynchronous: watch() tells when it is done.
  void stop(const AnyRef& ref);
  // A future that completes with the actor's Down when it stops (reason
  // kNotFound if it already had).
  Future<Down> watch(const AnyRef& ref);

  // Sends ref.tell<M>(args...) after `delay` / every `period`, on the system
  // clock. Args are copied. cancel_timer returns whether it was pending.
  template <auto M, class T, class... A>
  TimerId send_after(Duration delay, const ActorRef<T>& ref, A&&... args) {
    return schedule_timer(delay, Duration::zero(), make_fire<M>(ref, std::forward<A>(args)...), kNoActor);
  }
  template <auto M, class T, class... A>
  TimerId send_every(Duration period, const ActorRef<T>& ref, A&&... args) {
    return schedule_timer(period, period, make_fire<M>(ref, std::forward<A>(args)...), kNoActor);
  }
  bool cancel_timer(TimerId id);

  // Stops the system: kDrain first lets queued work finish, then every actor
  // is stopped (children before parents, on_stop hooks run) and the threads
  // are joined. Returns kTimeout when `deadline` (real time) passed; the
  // stop still completes. Later spawns fail, later sends are dead letters.
  Status shutdown(ShutdownMode mode, Duration deadline = std::chrono::seconds(10));
  bool is_shut_down() const;

  // Deterministic mode (threads = 0): runs one turn of the next runnable
  // actor with at most one user message. Returns false when nothing ran.
  bool run_one();
  // Runs until no actor is runnable or `max_steps` turns ran; returns turns run.
  std::size_t run_until_idle(std::size_t max_steps = SIZE_MAX);

  DeadLetterChannel& dead_letters();
  SystemSnapshot snapshot() const;
  // The system's counters (keel/engine/diagnostics.h): a sum over the live
  // actors and a copy of the commit histogram, without the per-actor
  // strings snapshot() builds. Thread-safe; usable after shutdown (the
  // counters then stay as they were).
  EngineMetrics metrics() const;
  Clock& clock() const;
  int worker_threads() const;

  // Engine internals for Actor and Pool; not for users.
  using Factory = std::function<std::unique_ptr<Actor>()>;
  Result<AnyRef> spawn_erased(const SpawnOptions& options, const std::type_info& type,
                              Factory factory, detail::Cell* parent);
  using DurableDecoder = Result<detail::MessagePtr> (*)(std::string_view method,
                                                      std::string_view payload);
  Result<AnyRef> spawn_durable_erased(const std::string& key, const DurableOptions& options,
                                      const std::type_info& type, Factory factory,
                                      DurableDecoder decoder);
  // DurableGroup: a created, not started durable actor; then the start of
  // created ones (each ref in `members` must come from create_durable_erased
  // and be started once).
  Result<AnyRef> create_durable_erased(const std::string& key, const DurableOptions& options,
                                       const std::type_info& type, Factory factory,
                                       DurableDecoder decoder);
  Status start_durable_erased(const std::vector<AnyRef>& members);
  TimerId schedule_timer(Duration delay, Duration period, std::function<void()> fire,
                         ActorId owner);
  internal::Runtime& runtime() const { return *rt_; }

 private:
  template <auto M, class T, class... A>
  static std::function<void()> make_fire(const ActorRef<T>& ref, A&&... args) {
    return [ref, tup = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)]() {
      std::apply([&](const auto&... a) { ref.template tell<M>(a...); }, tup);
    };
  }
  void note_unknown_target(std::string_view name, std::string_view method);

  internal::Runtime* rt_;  // owned; reference-counted by cells, see system.cc
};

template <class T, class... A>
Result<ActorRef<T>> System::spawn_with(const SpawnOptions& options, A&&... args) {
  static_assert(std::is_base_of_v<Actor, T>, "actors derive from keel::Actor");
  Factory factory = [tup = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)]() {
    return std::apply([](const auto&... a) -> std::unique_ptr<Actor> { return std::make_unique<T>(a...); },
                      tup);
  };
  KEEL_ASSIGN_OR_RETURN(AnyRef r, spawn_erased(options, typeid(T), std::move(factory), nullptr));
  return ActorRef<T>(std::move(r));
}

}  // namespace keel
