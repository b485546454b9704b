// keel/engine/actor_ref.h: handles to actors.
//
// An ActorRef<T> names one incarnation of an actor of class T. It is cheap to
// copy (an atomic count on the actor's control block) and safe to hold after
// the actor stopped: messages sent through it then go to dead letters. When
// an actor is restarted it keeps its id and gets a new generation; a message
// sent through a ref to an older generation goes to dead letters as stale
// (registry lookups and parents' children() return current refs). A ref from
// any_incarnation() names the actor by its id alone and follows restarts.
//
//   keel::ActorRef<Counter> c = *system.spawn<Counter>();
//   c.tell<&Counter::add>(5);                          // fire and forget
//   keel::Result<int> v = c.ask<&Counter::get>().get(); // request/response
//   keel::AskOptions o; o.timeout = std::chrono::milliseconds(100);
//   auto f = c.ask_with<&Counter::get>(o);             // fails with kTimeout
//
// A ref may be used after its System is destroyed only to copy or destroy it.
#pragma once

#include <string_view>
#include <utility>

#include "keel/engine/detail/message.h"
#include "keel/engine/future.h"
#include "keel/engine/options.h"

namespace keel {

// A handle to any actor, without its type. Thread-safe value.
class AnyRef {
 public:
  AnyRef() = default;
  AnyRef(const AnyRef& o) : cell_(o.cell_), gen_(o.gen_) {
    if (cell_) detail::cell_acquire(cell_);
  }
  AnyRef(AnyRef&& o) noexcept : cell_(std::exchange(o.cell_, nullptr)), gen_(o.gen_) {}
  AnyRef& operator=(AnyRef o) noexcept {
    std::swap(cell_, o.cell_);
    std::swap(gen_, o.gen_);
    return *this;
  }
  ~AnyRef() {
    if (cell_) detail::cell_release(cell_);
  }

  bool valid() const { return cell_ != nullptr; }
  explicit operator bool() const { return valid(); }
  ActorId id() const { return cell_ ? detail::cell_id(cell_) : kNoActor; }
  std::uint32_t generation() const { return gen_; }
  // The actor class's name as given by typeid (demangled).
  std::string_view type_name() const;
  // A ref to the current incarnation of the same actor (same id); empty when
  // the actor has stopped.
  AnyRef current() const;
  // A ref to the same actor that names no incarnation (generation()
  // kAnyGeneration): a message sent through it is handled by whichever
  // incarnation is current when its turn comes, so one sent or queued while
  // the actor restarts reaches the new instance instead of going stale. Its
  // sends fail only once the actor has stopped (kNotFound). For callers
  // that address an actor by name or key rather than by a conversation with
  // one instance, as remote callers do. Empty for an empty ref.
  AnyRef any_incarnation() const;
  // Whether the actor (any incarnation) has stopped.
  bool is_stopped() const;

  friend bool operator==(const AnyRef& a, const AnyRef& b) {
    return a.cell_ == b.cell_ && a.gen_ == b.gen_;
  }

  // Engine access; not for users.
  detail::Cell* cell() const { return cell_; }
  static AnyRef adopt(detail::Cell* c, std::uint32_t gen) {  // takes one reference
    AnyRef r;
    r.cell_ = c;
    r.gen_ = gen;
    return r;
  }

 protected:
  detail::Cell* cell_ = nullptr;
  std::uint32_t gen_ = 0;
};

// A typed handle to an actor of class T. Its methods may be called from any
// thread. `M` is a pointer to a member function of T registered in
// T::kHandlers (checked at compile time).
template <class T>
class ActorRef : public AnyRef {
 public:
  ActorRef() = default;
  explicit ActorRef(AnyRef r) : AnyRef(std::move(r)) {}

  // Sends M(args...) to the actor. Never blocks except under kBlock; anything
  // undeliverable goes to dead letters with the reason.
  template <auto M, class... A>
  void tell(A&&... args) const {
    send<M>(SendOptions{}, std::forward<A>(args)...).ignore();
  }
  template <auto M, class... A>
  void tell_with(const SendOptions& o, A&&... args) const {
    send<M>(o, std::forward<A>(args)...).ignore();
  }
  // Like tell, and returns whether the mailbox accepted the message:
  // kOverloaded (full, kFail), kTimeout (full, kBlock timed out), kNotFound
  // (stopped, stale or empty ref). Refused messages are also dead letters.
  template <auto M, class... A>
  Status try_tell(const SendOptions& o, A&&... args) const {
    return send<M>(o, std::forward<A>(args)...);
  }

  // Sends M(args...) and returns a future that completes once the message
  // is accepted: for a durable actor, when its INBOX record is durable
  // (errors: kIoError from the journal, kNotFound for a stopped actor,
  // kFailedPrecondition for arguments that do not encode); inside a durable
  // actor's handler, when that handler's batch is; otherwise when it is
  // queued (the errors of try_tell).
  template <auto M, class... A>
  Future<void> tell_durable(A&&... args) const {
    return tell_durable_with<M>(SendOptions{}, std::forward<A>(args)...);
  }
  // The same with options; only `id` and `inbox_envelope` apply (a durable
  // acceptance has no TTL).
  template <auto M, class... A>
  Future<void> tell_durable_with(const SendOptions& o, A&&... args) const {
    check_call<M, A...>();
    auto msg = std::make_unique<detail::TellMessage<T, M, std::decay_t<A>...>>(std::forward<A>(args)...);
    apply_options(*msg, o);
    Promise<void> accepted;
    Future<void> f = accepted.future();
    detail::cell_send_accepted(cell_, gen_, std::move(msg), std::move(accepted));
    return f;
  }

  // Sends M(args...) and returns a Future of its reply. Handlers may return a
  // plain value, void, Status, Result<U> or Future<U>; a handler that throws
  // completes the future with the error (and the actor fails). An
  // undeliverable request completes the future with the dead-letter reason.
  template <auto M, class... A>
  auto ask(A&&... args) const {
    return ask_with<M>(AskOptions{}, std::forward<A>(args)...);
  }
  template <auto M, class... A>
  auto ask_with(const AskOptions& o, A&&... args) const {
    check_call<M, A...>();
    using R = detail::ask_value_t<T, M, std::decay_t<A>...>;
    auto msg = std::make_unique<detail::AskMessage<T, M, R, std::decay_t<A>...>>(std::forward<A>(args)...);
    apply_options(*msg, o);
    auto fut = msg->promise.future();
    if (o.timeout > Duration::zero()) detail::arm_ask_timeout(cell_, fut.state().get(), o.timeout);
    detail::cell_send(cell_, gen_, std::move(msg), o.ttl).ignore();
    return fut;
  }

 private:
  template <auto M, class... A>
  static constexpr void check_call() {
    static_assert(detail::handler_name<T, M>() != nullptr,
                  "the method is not registered in T::kHandlers");
    static_assert(std::is_invocable_v<decltype(M), T&, std::decay_t<A>&&...>,
                  "the handler cannot be called with these arguments");
  }
  template <auto M, class... A>
  Status send(const SendOptions& o, A&&... args) const {
    check_call<M, A...>();
    auto msg = std::make_unique<detail::TellMessage<T, M, std::decay_t<A>...>>(std::forward<A>(args)...);
    apply_options(*msg, o);
    return detail::cell_send(cell_, gen_, std::move(msg), o.ttl);
  }
  // For a durable T only (in-memory actors ignore both), copies the
  // sender's message id and pre-encoded INBOX envelope into `msg`.
  template <class Msg, class Options>
  static void apply_options(Msg& msg, const Options& o) {
    if constexpr (detail::is_durable_v<T>) {
      msg.durable.id = o.id;
      msg.durable.unjournaled_inbox = o.inbox_envelope;
    }
  }
};

}  // namespace keel
