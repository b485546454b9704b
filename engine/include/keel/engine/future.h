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

 protected:
  // Runs `store` under the lock unless already complete; returns whether it
  // ran. Wakes waiters and runs the continuation after unlocking.
  bool complete(void (*store)(void* ctx), void* ctx) KEEL_EXCLUDES(mu_);

 private:
  std::atomic<int> refs_{1};
  std::atomic<bool> ready_{false};
  Mutex mu_;
  CondVar cv_;
  int waiters_ KEEL_GUARDED_BY(mu_) = 0;
  UniqueFunction<void()> continuation_ KEEL_GUARDED_BY(mu_);
  UniqueFunction<void()> cleanup_ KEEL_GUARDED_BY(mu_);
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
