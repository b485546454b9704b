// keel/engine/detail/message.h: typed messages and handler registration.
// Installed because ActorRef's templates need it; not API. Users see only
// keel::handler / keel::handlers (declared here) through keel/engine/actor.h.
#pragma once

#include <exception>
#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/engine/future.h"
#include "keel/engine/options.h"
#include "keel/wire/value.h"

namespace keel {

class Actor;
class DurableActorBase;

// One registered handler: a member function and its stable name (the name
// appears in dead letters and diagnostics, and later in journals).
template <auto M>
struct Handler {
  const char* name;
};
template <auto M>
constexpr Handler<M> handler(const char* name) {
  return Handler<M>{name};
}
template <class H>
struct handler_pointer;
template <auto M>
struct handler_pointer<Handler<M>> {
  static constexpr auto value = M;
};
template <class... Hs>
struct HandlerList {
  std::tuple<Hs...> items;
};
// An actor class lists its handlers as
//   static constexpr auto kHandlers = keel::handlers(
//       keel::handler<&Counter::add>("add"), keel::handler<&Counter::get>("get"));
template <class... Hs>
constexpr HandlerList<Hs...> handlers(Hs... hs) {
  return HandlerList<Hs...>{{hs...}};
}

// Throwing keel::Failure from a handler fails the actor with that Status
// (other exceptions fail it with kInternal and their what()).
class Failure : public std::exception {
 public:
  explicit Failure(Status s) : status_(std::move(s)), text_(status_.to_string()) {}
  const Status& status() const { return status_; }
  const char* what() const noexcept override { return text_.c_str(); }

 private:
  Status status_;
  std::string text_;
};

namespace detail {

class Cell;
struct Effects;

// The context a handler runs in, which the turn passes to Message::invoke:
// the actor's cell and, inside a durable actor's handler, the collector of
// the handler's effects, which its replies join. Owned by the turn
// (TurnScope, engine/src/cell_internal.h); not thread-safe.
struct HandlerContext {
  Cell* cell = nullptr;
  Effects* effects = nullptr;  // non-null: replies wait for the handler's commit
  int nesting = 0;             // turns run inside this one's thread (senders helping)
};

// The Status for the exception being handled (call inside a catch block).
Status status_from_current_exception();

// Cell operations the public templates need; defined in engine/src.
void cell_acquire(Cell* c);
void cell_release(Cell* c);
ActorId cell_id(const Cell* c);

// What only a message to a durable actor carries: its journal identity and
// its retry state. Part of DurableMessage (below), so that other messages
// stay small (see Message::durable_fields). Turn-owned once queued, like
// the message.
struct DurableFields {
  std::uint64_t inbox_lsn = 0;      // LSN of its INBOX record, or 0 (not journaled yet)
  std::uint32_t attempts = 0;       // failed handler runs so far
  std::uint64_t durable_timer = 0;  // the durable timer that sent it, or 0
  MessageId id;                     // chosen by the sender (SendOptions::id), or empty
  // An INBOX envelope not journaled yet. Until the message is accepted, the
  // sender's pre-encoded one (SendOptions::inbox_envelope), which
  // acceptance takes; then, for a message accepted by an idle actor, the
  // one that commits with the handler's batch. Otherwise empty.
  std::string unjournaled_inbox;
};

// A message on its way to an actor. Owned by whoever holds it: the sender
// until cell_send, then the mailbox, then the turn that runs it. The fields
// here are what every message needs; a message to an in-memory actor is
// this header (40 bytes) plus its arguments.
struct Message {
  Message* next = nullptr;               // intrusive mailbox link
  ActorId sender = kNoActor;             // kNoActor when sent from outside an actor
  std::uint32_t generation = 0;          // the incarnation it is addressed to, or kAnyGeneration
  TimePoint deadline = TimePoint::max(); // TTL expiry

  Message() = default;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  virtual ~Message() = default;

  // Messages are allocated from a pool that recycles blocks between the
  // sending and the receiving thread (engine/src/message_pool.h). Any
  // thread. Over-aligned messages use the global allocator.
  static void* operator new(std::size_t bytes);
  static void operator delete(void* p, std::size_t bytes) noexcept;
  static void* operator new(std::size_t bytes, std::align_val_t align) { return ::operator new(bytes, align); }
  // The unsized global form: sized deallocation is not declared under
  // every compiler's defaults (clang before 16 without -fsized-deallocation).
  static void operator delete(void* p, std::size_t, std::align_val_t align) noexcept { ::operator delete(p, align); }

  // Runs the handler on `actor` (the target's current instance), in `ctx`.
  // May throw.
  virtual void invoke(Actor& actor, HandlerContext& ctx) = 0;
  // The message will not be handled: complete a waiting asker with `why`.
  virtual void reject(const Status& why) { (void)why; }
  // An ask's completion state (its asker may cancel it), or null for a
  // message nobody waits on. Owned by the message.
  virtual FutureStateBase* ask_state() const { return nullptr; }
  virtual std::string_view method() const = 0;
  // Whether the message is journaled when a durable actor accepts or sends
  // it: a handler call on a durable actor. Others (a continuation of
  // continue_with, a message to a plain actor) stay in memory.
  virtual bool journalable() const { return false; }
  // The handler arguments, self-describing (keel/wire/value.h), for the
  // journal. Errors: kFailedPrecondition for a message that is not
  // journalable().
  virtual Result<std::string> encode_args() const {
    return Status::failed_precondition("only messages to durable actors are journaled");
  }
  // The durable fields of a message to a durable actor class (a
  // DurableMessage), or null for any other message, which is never
  // journaled and reads as having none (see the free functions below).
  virtual DurableFields* durable_fields() { return nullptr; }
  virtual const DurableFields* durable_fields() const { return nullptr; }
};

// The base of the handler messages of a durable actor class: a Message
// with its DurableFields.
struct DurableMessage : Message {
  DurableFields durable;
  DurableFields* durable_fields() final { return &durable; }
  const DurableFields* durable_fields() const final { return &durable; }
};

// A message's durable fields, read as their defaults for a message that
// has none.
inline std::uint64_t inbox_lsn_of(const Message& m) {
  const DurableFields* d = m.durable_fields();
  return d != nullptr ? d->inbox_lsn : 0;
}
inline MessageId id_of(const Message& m) {
  const DurableFields* d = m.durable_fields();
  return d != nullptr ? d->id : MessageId{};
}
inline std::uint64_t durable_timer_of(const Message& m) {
  const DurableFields* d = m.durable_fields();
  return d != nullptr ? d->durable_timer : 0;
}
// Whether `m` holds an INBOX envelope not journaled yet.
inline bool is_unjournaled(const Message& m) {
  const DurableFields* d = m.durable_fields();
  return d != nullptr && !d->unjournaled_inbox.empty();
}

// The owner of a message: the sender until cell_send, then the mailbox, then
// the turn that runs it, then whoever waits for its commit.
using MessagePtr = std::unique_ptr<Message>;

// Runs `fn`, which completes an asker's future, at once with nullptr, or,
// in a durable actor's handler (ctx.effects), once the handler's batch is
// committed: with nullptr when it is durable, with the commit's error when
// it failed.
void release_reply(HandlerContext& ctx, UniqueFunction<void(const Status*)> fn);

template <class T>
inline constexpr bool is_durable_v = std::is_base_of_v<DurableActorBase, T>;

// How a message passes its stored argument `x` to the handler: moved, or,
// for a durable actor, copied, since that message may run again (a retry
// after its handler threw or its commit failed) and must not see
// moved-from arguments.
// The base of the messages to a T: DurableMessage for a durable actor
// class, else Message.
template <class T>
using MessageBase = std::conditional_t<is_durable_v<T>, DurableMessage, Message>;

template <class T, class X>
decltype(auto) handler_arg(X& x) {
  if constexpr (is_durable_v<T>) {
    return X(x);
  } else {
    return std::move(x);
  }
}

template <class T, class Tuple>
Result<std::string> encode_tuple(const Tuple& args) {
  if constexpr (is_durable_v<T>) {
    return std::apply([](const auto&... a) { return wire::encode_args(a...); }, args);
  } else {
    return Status::failed_precondition("only messages to durable actors are journaled");
  }
}

// Sends `msg` (ownership passes) to `cell`'s incarnation `gen`, with a TTL
// when positive. Never blocks except under OverflowPolicy::kBlock. Returns
// what try_tell documents; an undelivered message is rejected, dead-lettered
// and deleted. `cell` may be null (an empty ref).
Status cell_send(Cell* cell, std::uint32_t gen, MessagePtr msg, Duration ttl);
// cell_send, completing `accepted` when the message is accepted (see
// ActorRef::tell_durable).
void cell_send_accepted(Cell* cell, std::uint32_t gen, MessagePtr msg, Promise<void> accepted);
// Fails `state` with kTimeout after `timeout` on the cell's system clock.
void arm_ask_timeout(Cell* cell, FutureStateBase* state, Duration timeout);
// Counts a reply that came after its ask had completed (timed out), on the
// system of `cell`, or of the actor whose turn runs on this thread when null.
void note_late_reply(Cell* cell = nullptr);
// An owning handle to a cell (null allowed).
using CellHold = std::unique_ptr<Cell, void (*)(Cell*)>;
inline CellHold hold_cell(Cell* c) {
  if (c != nullptr) cell_acquire(c);
  return CellHold(c, &cell_release);
}

template <auto M, class... Hs>
constexpr const char* find_handler_name(const HandlerList<Hs...>& list) {
  const char* r = nullptr;
  std::apply(
      [&](const auto&... h) {
        ((r = std::is_same_v<std::decay_t<decltype(h)>, Handler<M>> ? h.name : r), ...);
      },
      list.items);
  return r;
}
template <class T, auto M>
constexpr const char* handler_name() {
  return find_handler_name<M>(T::kHandlers);
}

template <class T, auto M, class... Args>
using handler_result_t = std::invoke_result_t<decltype(M), T&, Args&&...>;

// The value type of the Future an ask returns, from the handler's return type.
template <class R>
struct AskValue {
  using type = R;
};
template <>
struct AskValue<void> {
  using type = void;
};
template <>
struct AskValue<Status> {
  using type = void;
};
template <class U>
struct AskValue<Result<U>> {
  using type = U;
};
template <class U>
struct AskValue<Future<U>> {
  using type = U;
};
template <class T, auto M, class... Args>
using ask_value_t = typename AskValue<handler_result_t<T, M, Args...>>::type;

template <class T, auto M, class... Args>
struct TellMessage final : MessageBase<T> {
  template <class... A>
  explicit TellMessage(A&&... a) : args(std::forward<A>(a)...) {}
  void invoke(Actor& actor, HandlerContext&) override {
    std::apply([&](auto&... xs) { (void)(static_cast<T&>(actor).*M)(handler_arg<T>(xs)...); }, args);
  }
  std::string_view method() const override { return handler_name<T, M>(); }
  bool journalable() const override { return is_durable_v<T>; }
  Result<std::string> encode_args() const override { return encode_tuple<T>(args); }
  std::tuple<Args...> args;
};

template <class T>
void complete_late_aware(HandlerContext& ctx, Promise<T>& p, Result<Stored<T>>&& v) {
  if (ctx.effects == nullptr) {
    if (!p.try_set(std::move(v))) note_late_reply(ctx.cell);
    return;
  }
  release_reply(ctx, [p = std::move(p), v = std::move(v), cell = hold_cell(ctx.cell)](const Status* failed) mutable {
    if (failed != nullptr) v = Result<Stored<T>>(*failed);
    if (!p.try_set(std::move(v))) note_late_reply(cell.get());
  });
}

template <class T, auto M, class R, class... Args>
struct AskMessage final : MessageBase<T> {
  template <class... A>
  explicit AskMessage(A&&... a) : args(std::forward<A>(a)...) {}
  void invoke(Actor& actor, HandlerContext& ctx) override {
    using Raw = handler_result_t<T, M, Args...>;
    try {
      if constexpr (std::is_void_v<Raw>) {
        call(actor);
        complete_late_aware(ctx, promise, Result<Unit>(Unit{}));
      } else if constexpr (std::is_same_v<Raw, Status>) {
        Status s = call(actor);
        complete_late_aware(ctx, promise, s.is_ok() ? Result<Unit>(Unit{}) : Result<Unit>(s));
      } else if constexpr (is_future<Raw>::value) {
        // `f` may complete on any thread: a late reply is counted on this
        // actor's system, which the held cell keeps alive. In a durable
        // actor the reply waits for the handler's commit as well.
        auto attach = [f = call(actor), p = std::move(promise), hold = hold_cell(ctx.cell)](
                          const Status* failed) mutable {
          if (failed != nullptr) {
            if (!p.try_set(Result<Stored<R>>(*failed))) note_late_reply(hold.get());
            return;
          }
          auto* st = f.state().get();
          // The asker's cancel reaches the work the handler's future stands for.
          p.on_cancel([f_state = BaseRef(st)] { f_state.get()->cancel(); });
          st->on_ready([f = std::move(f), p = std::move(p), hold = std::move(hold)]() mutable {
            if (!p.try_set(std::move(f.state()->value()))) note_late_reply(hold.get());
          });
        };
        release_reply(ctx, std::move(attach));
      } else {
        complete_late_aware(ctx, promise, Result<Stored<R>>(call(actor)));
      }
    } catch (...) {
      promise.set_error(status_from_current_exception());
      throw;
    }
  }
  void reject(const Status& why) override { promise.set_error(why); }
  FutureStateBase* ask_state() const override { return promise.state().get(); }
  std::string_view method() const override { return handler_name<T, M>(); }
  bool journalable() const override { return is_durable_v<T>; }
  Result<std::string> encode_args() const override { return encode_tuple<T>(args); }

  template <class F>
  struct is_future : std::false_type {};
  template <class U>
  struct is_future<Future<U>> : std::true_type {};

  decltype(auto) call(Actor& actor) {
    return std::apply([&](auto&... xs) -> decltype(auto) {
      return (static_cast<T&>(actor).*M)(handler_arg<T>(xs)...);
    }, args);
  }

  std::tuple<Args...> args;
  Promise<R> promise;
};

// A message that runs a closure in the target actor's turn (continuations,
// internal work). `Fn` is called as fn(Actor&).
template <class Fn>
struct ClosureMessage final : Message {
  template <class F>
  ClosureMessage(std::string_view name, F&& f) : name_(name), fn(std::forward<F>(f)) {}
  void invoke(Actor& actor, HandlerContext&) override { fn(actor); }
  std::string_view method() const override { return name_; }
  std::string_view name_;
  Fn fn;
};

}  // namespace detail
}  // namespace keel
