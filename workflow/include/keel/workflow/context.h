// keel/workflow/context.h: WorkflowContext, what a workflow body awaits.
//
// Every await of the context is a journaled step at a deterministic position
// in the run (0, 1, 2, ...; branches of all() get "3.0.0", "3.1.0", ...). The
// first time, the step runs and its outcome (value or error) is committed
// under the run's owner "workflow/<run id>"; after a restart the body runs
// again and each journaled step returns its outcome without running.
//
//   keel::Task<keel::Result<Receipt>> order(keel::WorkflowContext& ctx, Order o) {
//     KEEL_CO_ASSIGN_OR_RETURN(std::string charge, ctx.step("charge", [&] { return pay(o); }));
//     ctx.compensate("refund", [charge] { return refund(charge); });
//     KEEL_CO_ASSIGN_OR_RETURN(bool ok, ctx.signal<bool>("approved"));
//     KEEL_CO_RETURN_IF_ERROR(ctx.sleep(std::chrono::hours(1)));
//     co_return Receipt{charge, ok};
//   }
//
// Every awaitable yields a Result<T> (Result<Unit> for steps without a
// value). Errors: the step's own error (after its retries); kCancelled when
// the run was cancelled; kNonDeterministic when the journal holds another
// step at this position (the message names the run, the step and the code
// versions); kCorruption when the journaled value does not decode as T.
//
// Not thread-safe: a context belongs to its run's coroutines, which the
// engine resumes on the run's strand only. Step functions run there too.
#pragma once

#include <coroutine>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/retry_policy.h"
#include "keel/base/status.h"
#include "keel/base/unique_function.h"
#include "keel/engine/actor_ref.h"
#include "keel/engine/future.h"
#include "keel/wire/value.h"
#include "keel/workflow/task.h"

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#define KEEL_CO_AWAIT_DESTROYS_AGGREGATE_TEMPORARIES_TWICE 1
#else
#define KEEL_CO_AWAIT_DESTROYS_AGGREGATE_TEMPORARIES_TWICE 0
#endif

namespace keel {

// What a step is; journaled by name ("step", "call", ...). Stable: append only.
enum class StepKind : std::uint8_t {
  kStep = 0,        // ctx.step: a function run once
  kCall = 1,        // ctx.call: an ask to an actor
  kSleep = 2,       // ctx.sleep: a durable timer
  kSignal = 3,      // ctx.signal: an external signal taken from the inbox
  kNow = 4,         // ctx.now
  kRandom = 5,      // ctx.random
  kChild = 6,       // ctx.child: a child run's result
  kPatch = 7,       // ctx.patched: a version marker
  kCompensate = 8,  // an undo action run after the body failed
};
std::string_view step_kind_name(StepKind kind);

struct StepOptions {
  // How often a failing step function runs again (keel/base/retry_policy.h).
  // The default runs it once. Each attempt's number and due time are
  // journaled, so a restart keeps both.
  RetryPolicy retry;
  // A pure computation: the body goes on before the step's record is durable
  // (later records commit after it, and the run's result waits for all).
  bool deterministic = false;
};

class WorkflowContext;

// One branch of ctx.all(): a coroutine over its own context.
template <class T>
using Branch = std::function<Task<Result<T>>(WorkflowContext&)>;

namespace detail {

class RunCore;
struct StepBuilder;

using StepDone = UniqueFunction<void(Result<std::string>)>;
// Runs one attempt and calls `done` once with the encoded value or the
// error, from any thread.
using StepAttempt = UniqueFunction<void(StepDone done)>;

struct OpSpec {
  std::string name;
  StepKind kind = StepKind::kStep;
  StepOptions options;
  StepAttempt attempt;  // kStep, kCall, kCompensate
  Duration delay{};     // kSleep; kSignal's deadline (zero: none)
  std::string child_workflow, child_id, child_input;  // kChild
};

// Filled by the run before the awaiting coroutine resumes.
struct OpResult {
  Status error;
  std::string value;  // encoded; empty for Unit
  std::string label;  // "run 'r', step 3 ('charge')", for decode errors
};

// Submits an op at `position`. Returns true when the op completes later (the
// run resumes `awaiter` on its strand) and false when `out` is already set
// (a replayed step, or an error).
bool submit_op(RunCore& run, std::string position, OpSpec spec, OpResult* out,
               std::coroutine_handle<> awaiter);
// ctx.patched at `position`; sets *consumed when the position is used.
bool patch_at(RunCore& run, const std::string& position, std::string_view id, bool* consumed);
void add_compensation(RunCore& run, std::string name, std::function<Status()> undo,
                      RetryPolicy retry);
const std::string& run_id_of(const RunCore& run);
bool is_replaying(const RunCore& run);

template <class T>
struct OpDecode {
  static Result<T> decode(std::string_view bytes) { return wire::decode_value<T>(bytes); }
};
template <>
struct OpDecode<Unit> {
  static Result<Unit> decode(std::string_view) { return Unit{}; }
};
template <>
struct OpDecode<WallTime> {
  static Result<WallTime> decode(std::string_view bytes) {
    KEEL_ASSIGN_OR_RETURN(std::int64_t ns, wire::decode_value<std::int64_t>(bytes));
    return WallTime(Duration(ns));
  }
};

template <class R>
struct IsResult : std::false_type {};
template <class U>
struct IsResult<Result<U>> : std::true_type {};
template <class R>
struct IsFuture : std::false_type {};
template <class U>
struct IsFuture<Future<U>> : std::true_type {};

// The value type a step function's return type R yields: as for an ask's
// reply (void and Status yield Unit, Result<U> and Future<U> yield U).
template <class R>
using StepValueOf = Stored<typename AskValue<R>::type>;

// g++ before 13 miscompiles a temporary built by aggregate initialization
// inside a co_await expression when a member has a destructor: a lambda
// written in the co_await with by-value captures of std::string,
// std::vector, std::unique_ptr, ..., or an aggregate like Order{name,
// items}. Each such member is built in a frame temporary of its own, copied
// bitwise into the object, and destroyed twice (a double free). Nothing the
// callee does with the argument avoids it, so the awaitables that take a
// callable or arguments refuse such temporaries at compile time there.
// KEEL_CO_AWAIT_DESTROYS_AGGREGATE_TEMPORARIES_TWICE is 1 for such a
// compiler (checked with g++ 12.2; clang is not affected) and 0 otherwise.
inline constexpr bool kCoAwaitDestroysAggregateTemporariesTwice =
    KEEL_CO_AWAIT_DESTROYS_AGGREGATE_TEMPORARIES_TWICE != 0;

// Whether a callable passed as F&& (F deduced) is safe to take inside a
// co_await expression: an lvalue, or an rvalue with nothing to destroy.
// An rvalue with a destructor may be a lambda temporary written in the
// co_await (an xvalue cannot be told apart from it).
template <class F>
inline constexpr bool kCallableSafeInCoAwait = !kCoAwaitDestroysAggregateTemporariesTwice ||
                                               std::is_lvalue_reference_v<F> ||
                                               std::is_trivially_destructible_v<std::remove_cvref_t<F>>;

// The same for an argument passed as A&&: only aggregates are built member
// by member, so other class temporaries (std::string("x")) are fine.
template <class A>
inline constexpr bool kArgumentSafeInCoAwait = !kCoAwaitDestroysAggregateTemporariesTwice ||
                                               std::is_lvalue_reference_v<A> ||
                                               !std::is_aggregate_v<std::remove_cvref_t<A>> ||
                                               std::is_trivially_destructible_v<std::remove_cvref_t<A>>;

template <class U>
std::string encode_step_value(const U& v) {
  if constexpr (std::is_same_v<U, Unit>) {
    return std::string();
  } else {
    return wire::encode_value(v);
  }
}

// Runs fn once and reports its encoded outcome to `done`. A thrown
// exception is the step's error (kInternal).
template <class F>
void run_step_fn(F& fn, StepDone done) {
  using R = std::invoke_result_t<F&>;
  Result<std::string> out = Status::internal("step not run");
  try {
    if constexpr (std::is_void_v<R>) {
      fn();
      out = std::string();
    } else if constexpr (std::is_same_v<R, Status>) {
      Status s = fn();
      out = s.is_ok() ? Result<std::string>(std::string()) : Result<std::string>(s);
    } else if constexpr (IsResult<R>::value) {
      R r = fn();
      out = r ? Result<std::string>(encode_step_value(*r)) : Result<std::string>(r.status());
    } else if constexpr (IsFuture<R>::value) {
      R f = fn();
      f.then([done = std::move(done)](auto r) mutable {
        done(r ? Result<std::string>(encode_step_value(*r)) : Result<std::string>(r.status()));
      });
      return;
    } else {
      out = encode_step_value(fn());
    }
  } catch (...) {
    out = current_exception_status();
  }
  done(std::move(out));
}

}  // namespace detail

// What ctx.step(), ctx.sleep(), ... return: await it once for a Result<T>.
template <class T>
class [[nodiscard]] OpAwaitable {
 public:
  OpAwaitable(detail::RunCore* run, std::string position, detail::OpSpec spec)
      : run_(run), position_(std::move(position)), spec_(std::move(spec)) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiter) {
    return detail::submit_op(*run_, std::move(position_), std::move(spec_), &out_, awaiter);
  }
  Result<T> await_resume() {
    if (!out_.error.is_ok()) return out_.error;
    Result<T> v = detail::OpDecode<T>::decode(out_.value);
    if (!v) {
      return Status::corruption(out_.label + ": the journaled value does not decode: " +
                                std::string(v.status().message()));
    }
    return v;
  }

 private:
  detail::RunCore* run_;
  std::string position_;
  detail::OpSpec spec_;
  detail::OpResult out_;
};

// A run's view of itself. Owned by the engine (one per run, one per branch
// of all()); the body borrows it for its whole execution.
class WorkflowContext {
 public:
  WorkflowContext(detail::RunCore& run, std::string prefix) : run_(&run), prefix_(std::move(prefix)) {}
  WorkflowContext(const WorkflowContext&) = delete;
  WorkflowContext& operator=(const WorkflowContext&) = delete;

  const std::string& run_id() const { return detail::run_id_of(*run_); }
  // True while the body is re-running steps the journal already holds.
  bool is_replaying() const { return detail::is_replaying(*run_); }

  // Runs fn() once and journals its outcome. fn may return a value, void,
  // Status, Result<U> or Future<U> (awaited without blocking); the value
  // must be wire-encodable (keel/wire/value.h). It runs on the run's strand
  // and should not block for long. The body continues once the record is
  // durable (unless options.deterministic).
  //
  // fn is copied (an lvalue) or moved (an rvalue) into the step. Under g++
  // before 13 an rvalue fn must have nothing to destroy (see
  // detail::kCoAwaitDestroysAggregateTemporariesTwice): capture by reference ([&];
  // the body waits for the step, so its locals outlive fn), or declare the
  // lambda first and pass it by name (copied) or as std::ref(name).
  template <class F>
  auto step(std::string_view name, F&& fn, StepOptions options = {}) {
    static_assert(detail::kCallableSafeInCoAwait<F>,
                  "ctx.step: g++ < 13 destroys the by-value captures of a lambda written inside a co_await "
                  "twice. Capture by reference ([&]; the body waits for the step), or declare the lambda "
                  "first and pass it by name (copied) or as std::ref(name). See docs/workflow.md, \"What a "
                  "step may capture\".");
    return make_step(name, std::decay_t<F>(std::forward<F>(fn)), std::move(options));
  }

  // Asks `ref` M(args...) and journals the reply (a step of kind "call"
  // named after the handler). The actor may see the ask again if the process
  // dies before the reply is journaled: make such handlers idempotent, or
  // durable actors that deduplicate.
  template <auto M, class T, class... A>
  auto call(const ActorRef<T>& ref, A&&... args) {
    return call_with<M>(StepOptions{}, ref, std::forward<A>(args)...);
  }
  // Under g++ before 13 an argument that is an aggregate temporary with a
  // destructor (Order{name, items}) must be declared first and passed by
  // name (see detail::kCoAwaitDestroysAggregateTemporariesTwice).
  template <auto M, class T, class... A>
  auto call_with(StepOptions options, const ActorRef<T>& ref, A&&... args) {
    static_assert((detail::kArgumentSafeInCoAwait<A> && ...),
                  "ctx.call: g++ < 13 destroys the members of an aggregate temporary written inside a "
                  "co_await twice. Declare the argument first and pass it by name. See docs/workflow.md, "
                  "\"What a step may capture\".");
    auto fn = [ref, tup = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)]() {
      return std::apply([&](const auto&... a) { return ref.template ask<M>(a...); }, tup);
    };
    using V = detail::StepValueOf<std::invoke_result_t<decltype(fn)&>>;
    detail::OpSpec spec = make_spec(detail::handler_name<T, M>(), StepKind::kCall, std::move(options));
    spec.attempt = [fn = std::move(fn)](detail::StepDone done) mutable {
      detail::run_step_fn(fn, std::move(done));
    };
    return OpAwaitable<V>(run_, next_position(), std::move(spec));
  }

  // A durable timer: its fire time (wall clock) is journaled, so a restart
  // waits only for what is left, and fires at once if the time has passed.
  OpAwaitable<Unit> sleep(Duration d);

  // Waits for the signal `name` sent with WorkflowEngine::signal. Signals
  // are kept in the run's inbox, so one sent before the wait is not lost;
  // each wait takes the oldest signal of that name not yet taken.
  template <class T>
  OpAwaitable<T> signal(std::string_view name) {
    return signal<T>(name, Duration::zero());
  }
  // The same with a deadline: kTimeout if no signal `name` came within
  // `timeout` (a durable timer, like sleep's). Zero: no deadline.
  template <class T>
  OpAwaitable<T> signal(std::string_view name, Duration timeout) {
    detail::OpSpec spec = make_spec(name, StepKind::kSignal, {});
    spec.delay = timeout;
    return OpAwaitable<T>(run_, next_position(), std::move(spec));
  }

  // The wall time and a random number, journaled so that a replay sees the
  // same values.
  OpAwaitable<WallTime> now();
  OpAwaitable<std::uint64_t> random();

  // Starts (or finds: idempotent by id) the run `run_id` of `workflow` and
  // waits for its result. The child runs and recovers on its own.
  template <class Out, class In>
  OpAwaitable<Out> child(std::string_view workflow, std::string run_id, const In& input) {
    detail::OpSpec spec = make_spec(workflow, StepKind::kChild, {});
    spec.child_workflow = std::string(workflow);
    spec.child_id = std::move(run_id);
    spec.child_input = wire::encode_value(input);
    return OpAwaitable<Out>(run_, next_position(), std::move(spec));
  }

  // Versioning: true for runs that reach this point with code that has the
  // patch `id` (new runs, and old runs past their journaled steps); false
  // for a run whose journal already holds a step here that is not this
  // marker (an old run replaying the old path). Keep the old path until no
  // unfinished run can take it.
  bool patched(std::string_view id) {
    bool consumed = false;
    bool result = detail::patch_at(*run_, prefix_ + std::to_string(next_), id, &consumed);
    if (consumed) ++next_;
    return result;
  }

  // Runs the branches side by side (each on a context of its own, so their
  // step positions do not depend on timing) and waits for all of them.
  // Returns the values in branch order, or the first failed branch's error
  // (after every branch has finished).
  template <class T>
  Task<Result<std::vector<T>>> all(std::vector<Branch<T>> branches) {
    const std::string fork = next_position();
    std::vector<std::unique_ptr<WorkflowContext>> contexts;
    std::vector<Task<Result<T>>> tasks;
    for (std::size_t i = 0; i < branches.size(); ++i) {
      contexts.push_back(std::make_unique<WorkflowContext>(*run_, fork + "." + std::to_string(i) + "."));
      tasks.push_back(branches[i](*contexts.back()));
    }
    for (auto& t : tasks) t.start();
    std::vector<T> values;
    Status first_error;
    for (auto& t : tasks) {
      Result<T> r = co_await t;
      if (r) {
        values.push_back(std::move(*r));
      } else if (first_error.is_ok()) {
        first_error = r.status();
      }
    }
    if (!first_error.is_ok()) co_return first_error;
    co_return values;
  }

  // Registers an undo action. If the body fails (or is cancelled), the
  // registered actions run as journaled steps of kind "compensate", newest
  // first, before the run is marked failed. Register after the step it
  // undoes succeeded; a replay registers again in the same order.
  void compensate(std::string name, std::function<Status()> undo, RetryPolicy retry = {}) {
    detail::add_compensation(*run_, std::move(name), std::move(undo), std::move(retry));
  }

 private:
  friend struct detail::StepBuilder;

  // The step op of ctx.step, taking fn without the check on temporaries
  // (for callers that are not coroutines, such as graph node visits).
  template <class Fn>
  auto make_step(std::string_view name, Fn fn, StepOptions options) {
    using V = detail::StepValueOf<std::invoke_result_t<Fn&>>;
    detail::OpSpec spec = make_spec(name, StepKind::kStep, std::move(options));
    spec.attempt = [fn = std::move(fn)](detail::StepDone done) mutable {
      detail::run_step_fn(fn, std::move(done));
    };
    return OpAwaitable<V>(run_, next_position(), std::move(spec));
  }
  std::string next_position() { return prefix_ + std::to_string(next_++); }
  static detail::OpSpec make_spec(std::string_view name, StepKind kind, StepOptions options) {
    detail::OpSpec spec;
    spec.name = std::string(name);
    spec.kind = kind;
    spec.options = std::move(options);
    return spec;
  }

  detail::RunCore* run_;
  std::string prefix_;
  std::uint32_t next_ = 0;
};

namespace detail {

// ctx.step for library code that builds a step outside any coroutine (so
// no co_await can hold its temporaries): takes fn as it is.
struct StepBuilder {
  template <class Fn>
  static auto step(WorkflowContext& ctx, std::string_view name, Fn fn, StepOptions options) {
    return ctx.make_step(name, std::move(fn), std::move(options));
  }
};

}  // namespace detail

}  // namespace keel
