// keel/engine/durable.h: durable actors, whose mailbox and state live in a
// Journal, so that a process killed at any instant resumes where it was.
//
// A durable actor derives from DurableActor<State>, where State is a value
// the wire codec can encode (a struct listing kFields, or a plain type).
// Its handlers change state(); the engine journals every accepted message
// (an INBOX record) before the actor sees it, and after each handled message
// commits one batch: the cursor (PROCESSED, or a SNAPSHOT of the state every
// `snapshot_every` messages), plus the INBOX records of the messages it sent
// to durable actors. Replies and sends are released only once that batch is
// durable (output commit), while the actor goes on with its next message.
//
//   struct Balance {
//     std::int64_t cents = 0;
//     static constexpr auto kFields = keel::fields(keel::field<&Balance::cents>("cents"));
//   };
//   class Account : public keel::DurableActor<Balance> {
//    public:
//     void deposit(std::int64_t c) { state().cents += c; }
//     std::int64_t balance() const { return state().cents; }
//     static constexpr auto kHandlers = keel::handlers(
//         keel::handler<&Account::deposit>("deposit"), keel::handler<&Account::balance>("balance"));
//   };
//
//   auto journal = keel::open_journal("bank.db", {}).value();
//   keel::SystemConfig config;
//   config.journal = journal.get();
//   keel::System system(config);
//   auto acct = system.spawn_durable<Account>("acct-7").value();  // recovers if it exists
//   acct.tell<&Account::deposit>(500);                               // journaled, then handled
//
// Recovery (spawn_durable of a key the journal knows, or a supervisor
// restart): the latest snapshot, then the messages handled after it are
// replayed through their handlers with their sends and replies discarded
// (so with snapshot_every > 1 handlers must be deterministic), then every
// accepted message not yet handled is delivered again, in order. A message
// whose handler throws is retried after the restart; after max_attempts
// failures it goes to dead letters (kFailed) and is marked handled.
//
// Many actors at start-up: a DurableGroup recovers them in one pass over
// the journal, and none runs before all are recovered:
//
//   keel::DurableGroup group(system);
//   auto a = group.add<Account>("acct-1").value();  // created; messages held
//   auto b = group.add<Account>("acct-2").value();
//   KEEL_RETURN_IF_ERROR(group.start());              // recover all, then run
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "keel/base/retry_policy.h"
#include "keel/engine/actor.h"
#include "keel/engine/outbox.h"
#include "keel/journal/format.h"
#include "keel/journal/journal.h"
#include "keel/wire/value.h"

namespace keel {

namespace detail {
template <class M>
struct MemberArgs;
}  // namespace detail

struct DurableOptions {
  // A SNAPSHOT of the state is committed with every Nth handled message; the
  // others commit only the cursor. 1 (the default) means recovery never
  // replays a handler.
  std::uint32_t snapshot_every = 1;
  // Handler failures on one message before it goes to dead letters.
  std::uint32_t max_attempts = 3;
  // After every Nth snapshot, the actor's records that its newest durable
  // snapshot supersedes (handled INBOX records, older cursors and
  // snapshots: everything before the last INBOX record that snapshot
  // handled) are removed from the journal (Journal::truncate). So the
  // actor's journal holds about its latest snapshot plus what followed, at
  // most about compact_every * snapshot_every handled messages' records
  // (docs/durable.md, "Compaction"). 0: never; the journal keeps every
  // record.
  std::uint32_t compact_every = 100;
  // Recovery stops at the first damaged record (kCorruption, naming its
  // LSN) unless this is set: then a record that fails its checksum, or an
  // INBOX record that does not decode, is skipped and reported through
  // SystemConfig::log, and recovery goes on. A damaged snapshot always
  // stops it.
  bool skip_corrupt = false;
  // How many sender-chosen message ids (MessageId) the actor remembers as
  // applied, oldest forgotten first; they are part of its snapshots.
  std::uint32_t dedupe_window = 10'000;
  // How a message sent by key (send_to) is sent again after its transport
  // failed (keel/engine/outbox.h): with a code in retry_on, after
  // backoff(attempt), up to max_attempts sends; then, or with another code,
  // it is given up (reported through SystemConfig::log).
  RetryPolicy outbox_retry = default_outbox_retry();

  // The default of outbox_retry: every transient failure is retried for as
  // long as it takes, 50 ms after the first attempt, at most 5 s apart.
  static RetryPolicy default_outbox_retry() {
    RetryPolicy r;
    r.max_attempts = std::numeric_limits<int>::max();
    r.initial_backoff = std::chrono::milliseconds(50);
    r.max_backoff = std::chrono::seconds(5);
    r.retry_on = {StatusCode::kUnavailable, StatusCode::kTimeout, StatusCode::kOwnershipLost,
                  StatusCode::kNotFound,    StatusCode::kIoError, StatusCode::kOverloaded,
                  StatusCode::kCancelled};
    return r;
  }
};

// The engine's view of a durable actor. Not thread-safe; owned by its cell.
class DurableActorBase : public Actor {
 public:
  // The key the actor was spawned with (its journal owner is actor_owner(key),
  // "actor/<key>").
  const std::string& key() const { return key_; }

  // What a SNAPSHOT holds besides the state (keel/journal/format.h).
  using SnapshotMeta = DurableSnapshotMeta;
  // Engine hooks, implemented by DurableActor<State>.
  virtual std::string encode_snapshot(const SnapshotMeta& meta) const = 0;
  // Replaces the state with a snapshot's and returns the rest.
  virtual Result<SnapshotMeta> decode_snapshot(std::string_view payload) = 0;

 protected:
  // Sends this actor M(args...) after `delay` (wall clock), durably: the
  // timer is committed with this handler's batch, survives restarts and
  // crashes, and fires late if the process was down at its time. Call
  // only from a handler of a journaled message; returns the timer's id.
  // Errors: kFailedPrecondition (outside such a handler).
  template <auto M, class... A>
  Result<std::uint64_t> schedule_durable(Duration delay, const A&... args) {
    return schedule_durable_erased(delay, detail::handler_name<ActorClassOf<M>, M>(),
                                   wire::encode_args(args...));
  }
  // Cancels a pending durable timer; returns whether it was pending.
  bool cancel_durable(std::uint64_t id);

  // Sends M(args...) to the durable actor `key`, wherever it lives (in
  // another worker of an agent, on another host of a cluster), through this
  // actor's outbox (keel/engine/outbox.h): the message is recorded in this
  // handler's batch (an OUTBOX record) and, once that batch is durable,
  // handed to SystemConfig::outbox until it is delivered, also after a
  // crash, a restart, or on the host that takes this actor over. The
  // receiver applies it once (every attempt has the same message id), and
  // this actor's messages sent by key are delivered in the order sent.
  // Call only from a handler of a journaled message. Errors:
  // kFailedPrecondition (outside such a handler, or the System has no
  // outbox transport), kInvalidArgument (an empty key).
  template <auto M, class... A>
  Status send_to(const std::string& key, A&&... args) {
    using T = ActorClassOf<M>;
    using Params = typename detail::MemberArgs<decltype(M)>::type;
    static_assert(detail::handler_name<T, M>() != nullptr, "the method is not registered in T::kHandlers");
    static_assert(std::is_constructible_v<Params, A&&...>, "the handler cannot be called with these arguments");
    const Params params(std::forward<A>(args)...);
    return send_to_erased(key, detail::handler_name<T, M>(),
                          std::apply([](const auto&... p) { return wire::encode_args(p...); }, params));
  }

 private:
  template <auto M>
  struct MemberClass;
  template <class C, class F, F C::*P>
  struct MemberClass<P> {
    using type = C;
  };
  template <auto M>
  using ActorClassOf = typename MemberClass<M>::type;

  Result<std::uint64_t> schedule_durable_erased(Duration delay, std::string_view method, std::string args);
  Status send_to_erased(const std::string& key, std::string_view method, std::string args);

  friend class detail::Cell;
  std::string key_;
};

template <class State>
class DurableActor : public DurableActorBase {
 public:
  using StateType = State;

  // SNAPSHOT payload: the values (cursor, state, timers, ...), self-describing.
  std::string encode_snapshot(const SnapshotMeta& meta) const final {
    return encode_durable_snapshot(meta, state_);
  }
  Result<SnapshotMeta> decode_snapshot(std::string_view payload) final {
    return decode_durable_snapshot(payload, state_);
  }

 protected:
  State& state() { return state_; }
  const State& state() const { return state_; }

 private:
  State state_{};
};

namespace detail {

template <class M>
struct MemberArgs;
template <class C, class R, class... P>
struct MemberArgs<R (C::*)(P...)> {
  using type = std::tuple<std::decay_t<P>...>;
};
template <class C, class R, class... P>
struct MemberArgs<R (C::*)(P...) const> {
  using type = std::tuple<std::decay_t<P>...>;
};
template <class C, class R, class... P>
struct MemberArgs<R (C::*)(P...) noexcept> {
  using type = std::tuple<std::decay_t<P>...>;
};
template <class C, class R, class... P>
struct MemberArgs<R (C::*)(P...) const noexcept> {
  using type = std::tuple<std::decay_t<P>...>;
};

template <class T, auto M, class Tuple>
struct DecodeInto;
template <class T, auto M, class... Args>
struct DecodeInto<T, M, std::tuple<Args...>> {
  static Result<MessagePtr> run(std::string_view payload) {
    KEEL_ASSIGN_OR_RETURN(auto t, (wire::decode_args<Args...>(payload)));
    return std::apply(
        [](auto&&... a) -> MessagePtr { return std::make_unique<TellMessage<T, M, Args...>>(std::move(a)...); },
        std::move(t));
  }
};

// Rebuilds a message to a T from its journaled method name and arguments:
// kNotFound for an unknown method, kCorruption for arguments that do not
// decode as the handler's parameters.
template <class T>
Result<MessagePtr> decode_durable_message(std::string_view method, std::string_view payload) {
  Result<MessagePtr> out = Status::not_found("no handler '" + std::string(method) + "'");
  std::apply(
      [&](const auto&... h) {
        (([&] {
           using H = std::decay_t<decltype(h)>;
           if (!out.has_value() && out.error().code() == StatusCode::kNotFound && method == h.name) {
             out = DecodeInto<T, handler_pointer<H>::value,
                              typename MemberArgs<std::remove_cv_t<decltype(handler_pointer<H>::value)>>::type>::run(payload);
           }
         }()),
         ...);
      },
      T::kHandlers.items);
  return out;
}

using DurableDecoder = Result<MessagePtr> (*)(std::string_view method, std::string_view payload);

}  // namespace detail

template <class T, class... A>
Result<ActorRef<T>> System::spawn_durable(const std::string& key, A&&... args) {
  return spawn_durable_with<T>(key, DurableOptions{}, std::forward<A>(args)...);
}

template <class T, class... A>
Result<ActorRef<T>> System::spawn_durable_with(const std::string& key, const DurableOptions& options,
                                               A&&... args) {
  static_assert(std::is_base_of_v<DurableActorBase, T>, "durable actors derive from keel::DurableActor");
  Factory factory = [tup = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)]() {
    return std::apply([](const auto&... a) -> std::unique_ptr<Actor> { return std::make_unique<T>(a...); },
                      tup);
  };
  KEEL_ASSIGN_OR_RETURN(AnyRef r, spawn_durable_erased(key, options, typeid(T), std::move(factory),
                                                       &detail::decode_durable_message<T>));
  return ActorRef<T>(std::move(r));
}

// Durable actors spawned together (see the top of this file). add() creates
// a member and returns its ref at once: messages sent to it are journaled
// and held, and its key is reserved (lookups find it once started). start()
// rebuilds every member from the journal in one pass over the records since
// the oldest of their snapshots (instead of one scan per actor; a member
// with skip_corrupt is recovered on its own), then runs each one's on_start
// and lets them all handle their messages. Not thread-safe: one thread
// builds and starts a group.
class DurableGroup {
 public:
  explicit DurableGroup(System& system) : system_(&system) {}
  // Starts the members not started yet; an error goes to SystemConfig::log.
  ~DurableGroup();
  DurableGroup(const DurableGroup&) = delete;
  DurableGroup& operator=(const DurableGroup&) = delete;

  // Errors: as System::spawn_durable_with, except those of reading the
  // journal, which start() returns.
  template <class T, class... A>
  Result<ActorRef<T>> add(const std::string& key, A&&... args) {
    return add_with<T>(key, DurableOptions{}, std::forward<A>(args)...);
  }
  template <class T, class... A>
  Result<ActorRef<T>> add_with(const std::string& key, const DurableOptions& options, A&&... args);

  // Recovers and starts the members added since the last start(). Errors:
  // kCorruption / kIoError (the journal could not be read) and
  // kNonDeterministic (a replayed handler failed): then no member is
  // started; all of them stop, and their journaled messages wait for a later
  // spawn. An on_start that fails stops only its own actor; the first such
  // error is returned after the others started.
  Status start();

 private:
  System* system_;
  std::vector<AnyRef> created_;  // not started yet
};

template <class T, class... A>
Result<ActorRef<T>> DurableGroup::add_with(const std::string& key, const DurableOptions& options,
                                           A&&... args) {
  static_assert(std::is_base_of_v<DurableActorBase, T>, "durable actors derive from keel::DurableActor");
  System::Factory factory = [tup = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)]() {
    return std::apply([](const auto&... a) -> std::unique_ptr<Actor> { return std::make_unique<T>(a...); },
                      tup);
  };
  KEEL_ASSIGN_OR_RETURN(AnyRef r, system_->create_durable_erased(key, options, typeid(T), std::move(factory),
                                                                 &detail::decode_durable_message<T>));
  created_.push_back(r);
  return ActorRef<T>(std::move(r));
}

}  // namespace keel
