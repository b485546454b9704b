// keel/engine/actor.h: keel::Actor, the base class of user actors.
//
// An actor is a class deriving from keel::Actor whose handlers are member
// functions listed in kHandlers. It handles one message at a time, so its
// members need no lock. Hooks and the context methods below may be called
// only from the actor's own handlers and hooks (its turn).
//
//   class Counter : public keel::Actor {
//    public:
//     void add(int n) { value_ += n; }
//     int get() const { return value_; }
//     static constexpr auto kHandlers = keel::handlers(
//         keel::handler<&Counter::add>("add"), keel::handler<&Counter::get>("get"));
//    private:
//     int value_ = 0;
//   };
//
//   keel::System system;
//   keel::ActorRef<Counter> c = system.spawn<Counter>().value();
//   c.tell<&Counter::add>(5);
//   int v = c.ask<&Counter::get>().get().value();   // 5
#pragma once

#include <memory>
#include <typeinfo>
#include <utility>
#include <vector>

#include "keel/engine/actor_ref.h"
#include "keel/engine/supervision.h"
#include "keel/engine/system.h"

namespace keel {

namespace detail {
class Supervisor;
}  // namespace detail

// Base class of actors. Owned by the engine (one instance per incarnation);
// not thread-safe: called only in the actor's turn.
class Actor {
 public:
  Actor() = default;
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;
  virtual ~Actor() = default;

 protected:
  // ---- Lifecycle hooks -----------------------------------------------------

  // Runs before the first message, on the spawning thread. An error (returned
  // or thrown) makes spawn fail with it; on_stop is then not run.
  virtual Status on_start() { return Status::ok(); }
  // Runs when the actor stops (after its children stopped) and on the old
  // instance before a restart. An error is reported; the stop completes.
  virtual Status on_stop() { return Status::ok(); }
  // Runs on the new instance after a restart, instead of on_start (which it
  // calls by default). An error fails the new instance again.
  virtual Status on_restart(const Status& cause) {
    (void)cause;
    return on_start();
  }
  // A monitored actor stopped.
  virtual void on_down(const Down& down) { (void)down; }
  // A linked actor stopped, while trapping exits (set_trap_exit(true)).
  virtual void on_exit(const ExitSignal& exit) { (void)exit; }
  // How this actor supervises its children; asked on each child failure.
  virtual SupervisorStrategy supervisor_strategy() const { return SupervisorStrategy{}; }

  // ---- Context -------------------------------------------------------------

  AnyRef self() const;
  template <class T>
  ActorRef<T> self() const {
    return ActorRef<T>(self());
  }
  ActorId id() const;
  // The sender of the message being handled; kNoActor when sent from outside.
  ActorId sender_id() const;
  // Whether the asker of the message being handled has cancelled its
  // future (Future::cancel): the reply is no longer awaited, and the
  // handler may stop early. False for a tell, outside a handler, and for a
  // message a durable actor recovered from its journal (it has no asker).
  bool is_cancelled() const;
  // The same, as a token that may be kept and read later or on another
  // thread (by work the handler started); empty when there is no asker.
  CancelToken cancel_token() const;
  System& system() const;
  Clock& clock() const;

  // Spawns a child supervised by this actor (see System::spawn_with).
  template <class T, class... A>
  Result<ActorRef<T>> spawn(A&&... args) {
    return spawn_with<T>(SpawnOptions{}, std::forward<A>(args)...);
  }
  template <class T, class... A>
  Result<ActorRef<T>> spawn_with(const SpawnOptions& options, A&&... args);
  // Current refs to the living children, in spawn order.
  std::vector<AnyRef> children() const;

  // Stops this actor once the current message is handled (reason ok).
  void stop();
  // Fails this actor with `error` (throws keel::Failure; supervision decides).
  [[noreturn]] void fail(const Status& error);

  // Death notifications: on_down when `other` stops.
  void monitor(const AnyRef& other);
  void demonitor(const AnyRef& other);
  // Bidirectional: when either stops abnormally, the other fails too (or
  // gets on_exit when trapping exits).
  void link(const AnyRef& other);
  void unlink(const AnyRef& other);
  void set_trap_exit(bool trap);

  // Timers owned by this actor: cancelled when it stops or restarts.
  template <auto M, class T, class... A>
  TimerId send_after(Duration delay, const ActorRef<T>& ref, A&&... args) {
    return track_timer(system().send_after<M>(delay, ref, std::forward<A>(args)...));
  }
  template <auto M, class T, class... A>
  TimerId send_every(Duration period, const ActorRef<T>& ref, A&&... args) {
    return track_timer(system().send_every<M>(period, ref, std::forward<A>(args)...));
  }
  bool cancel_timer(TimerId id);

  // Runs fn(Result<T>) in this actor's turn once `future` completes (a reply
  // to this incarnation: dropped as stale after a restart).
  template <class T, class F>
  void continue_with(Future<T> future, F&& fn);

 private:
  friend class internal::Runtime;
  friend class DurableActorBase;
  friend class detail::Cell;
  friend class detail::Supervisor;  // calls the supervision hooks
  TimerId track_timer(TimerId id);
  detail::Cell* cell_ = nullptr;  // set by the engine before on_start
};

template <class T, class... A>
Result<ActorRef<T>> Actor::spawn_with(const SpawnOptions& options, A&&... args) {
  static_assert(std::is_base_of_v<Actor, T>, "actors derive from keel::Actor");
  System::Factory factory = [tup = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)]() {
    return std::apply([](const auto&... a) -> std::unique_ptr<Actor> { return std::make_unique<T>(a...); },
                      tup);
  };
  KEEL_ASSIGN_OR_RETURN(AnyRef r, system().spawn_erased(options, typeid(T), std::move(factory), cell_));
  return ActorRef<T>(std::move(r));
}

template <class T, class F>
void Actor::continue_with(Future<T> future, F&& fn) {
  using Stored = detail::Stored<T>;
  auto* state = future.state().get();
  AnyRef me = self();
  state->on_ready([me = std::move(me), f = std::move(future), fn = std::forward<F>(fn)]() mutable {
    Result<Stored> v = std::move(f.state()->value());
    auto body = [fn = std::move(fn), v = std::move(v)](Actor&) mutable { fn(std::move(v)); };
    auto msg = std::make_unique<detail::ClosureMessage<decltype(body)>>("continuation", std::move(body));
    detail::cell_send(me.cell(), me.generation(), std::move(msg), Duration::zero()).ignore();
  });
}

}  // namespace keel
