// keel/engine/future.h: Future<T> and Promise<T>, the result of an ask.
//
// A Future completes exactly once with a value or an error Status (the
// handler's error, a timeout, an undeliverable request). It can be waited on
// from any thread, with or without a deadline, or given one continuation.
//
//   keel::Future<int> f = counter.ask<&Counter::get>();
//   if (!f.wait_for(std::chrono::seconds(1))) { /* not ready yet */ }
//   keel::Result<int> r = f.get();          // blocks until complete
//
//   counter.ask<&Counter::get>().then([](keel::Result<int> r) {
//     if (r) std::printf("%d\n", *r);       // runs on the completing thread
//   });
//
// Inside an actor, use Actor::continue_with() instead of then(), so the
// continuation runs in the actor's own turn.
//
// The asker may give up: cancel() completes the future with kCancelled at
// once, and the handler of an ask sees it (Actor::is_cancelled()). From
// another thread, or after then() consumed the future, cancel through a
// CancelHandle taken first:
//
//   keel::Future<int> f = worker.ask<&Worker::crunch>(job);
//   keel::CancelHandle h = f.cancel_handle();
//   ... h.cancel();                          // any thread; f fails with kCancelled
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"

namespace keel {

// The value of a Future<void>.
struct Unit {
  friend bool operator==(Unit, Unit) { return true; }
};

template <class T>
class Future;
template <class T>
class Promise;

namespace detail {

// Reference-counted completion state shared by one Promise and one Future.
// Thread-safe.
class FutureStateBase {
 public:
  FutureStateBase() = default;
  FutureStateBase(const FutureStateBase&) = delete;
  FutureStateBase& operator=(const FutureStateBase&) = delete;
  virtual ~FutureStateBase() = default;

  void add_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // acq_rel: the last release must see every write made through other refs.
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // acquire: pairs with the release store in complete(), so the value is
  // visible once this returns true.
  bool is_ready() const { return ready_.load(std::memory_order_acquire); }
  void wait() KEEL_EXCLUDES(mu_);
  bool wait_until(std::chrono::steady_clock::time_point deadline) KEEL_EXCLUDES(mu_);

  // Runs `fn` once the state is complete: at once on this thread if it is,
  // else on the completing thread. At most one continuation.
  void on_ready(UniqueFunction<void()> fn) KEEL_EXCLUDES(mu_);
  // Engine hook run once on completion before the continuation (cancels an
  // ask's timeout timer). At most one; runs at once if already complete.
  void set_cleanup(UniqueFunction<void()> fn) KEEL_EXCLUDES(mu_);
  // Completes with `error` unless already complete; returns whether it did.
  virtual bool fail(const Status& error) = 0;

  // Completes with kCancelled unless already complete, marks the state
  // cancelled and runs the cancel hook on this thread; returns whether it
  // did (false: already complete, nothing changes).
  bool cancel() KEEL_EXCLUDES(mu_);
  // Whether cancel() completed this state. acquire: pairs with the release
  // store in cancel(), made before the state is published as ready.
  bool is_cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Sets the hook that cancel() runs once it completed this state (the
  // engine passes the cancel on: upstream of then(), to a remote peer).
  // At most one; replaces an earlier one. Runs at once if the state is
  // already cancelled; destroyed unrun when it completes otherwise.
  void set_on_cancel(UniqueFunction<void()> fn) KEEL_EXCLUDES(mu_);

 protected:
  // Runs `store` under the lock unless already complete; returns whether it
  // ran. Wakes waiters and runs the continuation after unlocking; runs the
  // cancel hook too when `cancelling`, else destroys it.
  bool complete(void (*store)(void* ctx), void* ctx, bool cancelling = false) KEEL_EXCLUDES(mu_);
  // Stores `error` as the value. Called by cancel() under the lock, once.
  virtual void store_error(const Status& error) = 0;

 private:
  std::atomic<int> refs_{1};
  std::atomic<bool> ready_{false};
  std::atomic<bool> cancelled_{false};
  Mutex mu_;
  CondVar cv_;
  int waiters_ KEEL_GUARDED_BY(mu_) = 0;
  UniqueFunction<void()> continuation_ KEEL_GUARDED_BY(mu_);
  UniqueFunction<void()> cleanup_ KEEL_GUARDED_BY(mu_);
  UniqueFunction<void()> on_cancel_ KEEL_GUARDED_BY(mu_);
};

// An owning reference to a FutureStateBase (null allowed). Copyable.
class BaseRef {
 public:
  BaseRef() = default;
  explicit BaseRef(FutureStateBase* s) : s_(s) {  // adds a reference
    if (s_) s_->add_ref();
  }
  BaseRef(const BaseRef& o) : BaseRef(o.s_) {}
  BaseRef(BaseRef&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  BaseRef& operator=(BaseRef o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~BaseRef() {
    if (s_) s_->release();
  }
  FutureStateBase* get() const { return s_; }

 private:
  FutureStateBase* s_ = nullptr;
};

template <class T>
class FutureState final : public FutureStateBase {
 public:
  // Returns false (and drops `v`) when already complete.
  bool try_set(Result<T>&& v) {
    struct Ctx {
      FutureState* self;
      Result<T>* v;
    } ctx{this, &v};
    return complete(
        [](void* p) {
          auto* c = static_cast<Ctx*>(p);
          c->self->value_.emplace(std::move(*c->v));
        },
        &ctx);
  }
  bool fail(const Status& error) override { return try_set(Result<T>(error)); }
  // Precondition: is_ready(). The value is read by one consumer only.
  Result<T>& value() { return *value_; }

 private:
  void store_error(const Status& error) override { value_.emplace(Result<T>(error)); }

  std::optional<Result<T>> value_;  // written once under the base lock, before ready_
};

// Intrusive owning pointer to a FutureState.
template <class T>
class StateRef {
 public:
  StateRef() = default;
  explicit StateRef(FutureState<T>* s) : s_(s) {}  // adopts one reference
  StateRef(const StateRef& o) : s_(o.s_) {
    if (s_) s_->add_ref();
  }
  StateRef(StateRef&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  StateRef& operator=(StateRef o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~StateRef() {
    if (s_) s_->release();
  }
  FutureState<T>* get() const { return s_; }
  FutureState<T>* operator->() const { return s_; }
  explicit operator bool() const { return s_ != nullptr; }

 private:
  FutureState<T>* s_ = nullptr;
};

template <class T>
using Stored = std::conditional_t<std::is_void_v<T>, Unit, T>;

// What then(fn) returns for fn(Result<T>) -> R.
template <class R>
struct FutureOf {
  using type = Future<R>;
  using value = R;
};
template <class U>
struct FutureOf<Result<U>> {
  using type = Future<U>;
  using value = U;
};
template <>
struct FutureOf<Status> {
  using type = Future<void>;
  using value = void;
};

}  // namespace detail

// Cancels one future from any thread (Future::cancel_handle), also after
// the future was moved or consumed by then(). Copyable; thread-safe. An
// empty handle (default) cancels nothing.
class CancelHandle {
 public:
  CancelHandle() = default;
  explicit CancelHandle(detail::FutureStateBase* s) : state_(s) {}
  // See Future::cancel.
  bool cancel() const { return state_.get() != nullptr && state_.get()->cancel(); }
  bool is_cancelled() const { return state_.get() != nullptr && state_.get()->is_cancelled(); }

 private:
  detail::BaseRef state_;
};

// The read side of a cancellation, for the work done for an ask: whether
// its asker cancelled it (Actor::cancel_token). Copyable; thread-safe; may
// be kept after the handler returned. An empty token is never cancelled.
class CancelToken {
 public:
  CancelToken() = default;
  explicit CancelToken(detail::FutureStateBase* s) : state_(s) {}
  bool is_cancelled() const { return state_.get() != nullptr && state_.get()->is_cancelled(); }

 private:
  detail::BaseRef state_;
};

// The write side of a Future. Move-only. A Promise destroyed without having
// been completed completes its Future with kCancelled ("broken promise").
template <class T>
class Promise {
 public:
  using Stored = detail::Stored<T>;

  Promise() : state_(new detail::FutureState<Stored>()) {}
  Promise(Promise&&) noexcept = default;
  Promise& operator=(Promise&& o) noexcept {
    abandon();
    state_ = std::move(o.state_);
    return *this;
  }
  Promise(const Promise&) = delete;
  Promise& operator=(const Promise&) = delete;
  ~Promise() { abandon(); }

  // The Future for this promise. Call once.
  Future<T> future() { return Future<T>(state_); }

  // Completes with a value or an error. Returns false when the future was
  // already complete (for example by a timeout): the value is dropped.
  bool try_set(Result<Stored> v) { return state_ && state_->try_set(std::move(v)); }
  bool set_error(const Status& s) { return try_set(Result<Stored>(s)); }
  template <class U = T, class = std::enable_if_t<std::is_void_v<U>>>
  bool set_value() {
    return try_set(Result<Stored>(Unit{}));
  }
  template <class U, class V = T, class = std::enable_if_t<!std::is_void_v<V>>>
  bool set_value(U&& u) {
    return try_set(Result<Stored>(Stored(std::forward<U>(u))));
  }
  bool is_complete() const { return state_ && state_->is_ready(); }
  bool valid() const { return static_cast<bool>(state_); }
  // Whether the future's holder cancelled it (then a value set is dropped).
  bool is_cancelled() const { return state_ && state_->is_cancelled(); }
  // Runs `fn` on the cancelling thread when the future is cancelled (at
  // once if it is already); destroyed unrun when the future completes
  // otherwise. At most one; replaces an earlier one. For work done on the
  // promise's behalf that should stop with it.
  void on_cancel(UniqueFunction<void()> fn) {
    if (state_) state_->set_on_cancel(std::move(fn));
  }

  // Shared state access for the engine (timeouts).
  const detail::StateRef<Stored>& state() const { return state_; }

 private:
  void abandon() {
    if (state_ && !state_->is_ready())
      state_->try_set(Result<Stored>(Status::cancelled("broken promise: no reply was given")));
    state_ = {};
  }
  detail::StateRef<Stored> state_;
};

// The read side: completes once with Result<T> (Status for Future<void>).
// Move-only; one consumer. Waiting is thread-safe.
template <class T>
class Future {
 public:
  using Stored = detail::Stored<T>;
  using GetType = std::conditional_t<std::is_void_v<T>, Status, Result<T>>;

  Future() = default;
  explicit Future(detail::StateRef<Stored> s) : state_(std::move(s)) {}
  Future(Future&&) noexcept = default;
  Future& operator=(Future&&) noexcept = default;
  Future(const Future&) = delete;
  Future& operator=(const Future&) = delete;

  // A future that is already complete.
  static Future ready(Result<Stored> v) {
    Promise<T> p;
    Future f = p.future();
    p.try_set(std::move(v));
    return f;
  }

  bool valid() const { return static_cast<bool>(state_); }
  bool is_ready() const { return state_ && state_->is_ready(); }

  // Gives up on the result: completes the future with kCancelled at once
  // and returns true, or returns false and changes nothing when it is
  // already complete (a reply, an error, a timeout) or empty. For an ask
  // to an in-memory actor, a message whose handler has not started is not
  // handled (a kCancelled dead letter); a running handler sees
  // Actor::is_cancelled(). A durable actor handles the message all the
  // same (docs/durable.md). A reply that comes later is counted as a late
  // reply. On a future returned by then(), the cancel is passed to
  // the future it was made from. Call it from the future's owner thread;
  // from others, use cancel_handle().
  bool cancel() { return state_ && state_->cancel(); }
  // A handle that cancels this future from any thread, also after the
  // future was moved or consumed by then(). Precondition: valid().
  CancelHandle cancel_handle() const { return CancelHandle(state_.get()); }

  // Blocks until complete. Waiting in real time, so do not call it from an
  // actor's handler (it would block a worker thread).
  void wait() const { state_->wait(); }
  // Returns whether the future completed within `d` of real time.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) const {
    return state_->wait_until(std::chrono::steady_clock::now() + d);
  }
  bool wait_until(std::chrono::steady_clock::time_point deadline) const {
    return state_->wait_until(deadline);
  }

  // Waits and takes the result; the future is empty afterwards.
  GetType get() {
    state_->wait();
    auto s = std::move(state_);
    if constexpr (std::is_void_v<T>) {
      return s->value().status();
    } else {
      return std::move(s->value());
    }
  }

  // Runs fn(Result<T>) when complete (on the completing thread, or here if
  // already complete) and returns a Future of fn's result: fn may return a
  // plain value, void, Status or Result<U>. Consumes this future.
  template <class F>
  auto then(F&& fn) {
    using R = std::invoke_result_t<F, Result<Stored>>;
    using Out = detail::FutureOf<std::conditional_t<std::is_void_v<R>, void, R>>;
    Promise<typename Out::value> next;
    auto out = next.future();
    auto s = std::move(state_);
    auto* raw = s.get();
    // Cancelling the new future cancels this one (an ask's handler sees it).
    next.state()->set_on_cancel([up = detail::BaseRef(raw)] { up.get()->cancel(); });
    raw->on_ready([s = std::move(s), fn = std::forward<F>(fn), next = std::move(next)]() mutable {
      Result<Stored> v = std::move(s->value());
      if constexpr (std::is_void_v<R>) {
        fn(std::move(v));
        next.set_value();
      } else if constexpr (std::is_same_v<R, Status>) {
        Status st = fn(std::move(v));
        if (st.is_ok()) next.set_value(); else next.set_error(st);
      } else {
        next.try_set(fn(std::move(v)));
      }
    });
    return out;
  }

  const detail::StateRef<Stored>& state() const { return state_; }

 private:
  detail::StateRef<Stored> state_;
};

}  // namespace keel
