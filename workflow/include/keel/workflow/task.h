// keel/workflow/task.h: Task<T>, the coroutine type of workflow bodies.
//
// A Task is lazy: it starts when awaited (or start()ed by the engine) and
// resumes its awaiter when it finishes. T is Status or a Result<U>: an
// exception escaping the body becomes Status::internal with its what().
//
//   keel::Task<keel::Result<int>> twice(keel::WorkflowContext& ctx) {
//     keel::Result<int> a = co_await ctx.step("a", [] { return 21; });
//     if (!a) co_return a.status();
//     co_return *a * 2;
//   }
//
// Not thread-safe: a task and everything it awaits belong to one run, whose
// coroutines the engine resumes on that run's strand only.
#pragma once

#include <coroutine>
#include <optional>
#include <utility>

#include "keel/base/status.h"

namespace keel {

template <class T>
class Task;

namespace detail {

// The Status for the exception being handled (call inside a catch or an
// unhandled_exception()): kInternal with its what().
Status current_exception_status();

template <class T>
struct TaskPromise {
  std::optional<T> value;
  std::coroutine_handle<> continuation;
  bool started = false;

  Task<T> get_return_object();
  std::suspend_always initial_suspend() noexcept { return {}; }
  struct Final {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<TaskPromise> h) noexcept {
      std::coroutine_handle<> c = h.promise().continuation;
      return c ? c : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  Final final_suspend() noexcept { return {}; }
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  void unhandled_exception() { value.emplace(current_exception_status()); }
};

}  // namespace detail

// Move-only owner of a coroutine frame; destroying the Task destroys the
// frame (and, through its locals, every task it was awaiting).
template <class T>
class [[nodiscard]] Task {
  static_assert(std::is_constructible_v<T, Status>, "Task<T>: T is Status or Result<U>");

 public:
  using promise_type = detail::TaskPromise<T>;

  Task() = default;
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool valid() const { return static_cast<bool>(h_); }
  bool done() const { return h_ && h_.done(); }

  // Runs the task until its first suspension, without an awaiter yet (for
  // fan-out: the branches of ctx.all() run side by side). Call at most once,
  // before any co_await of it.
  void start() {
    h_.promise().started = true;
    h_.resume();
  }
  // The result of a finished task. Precondition: done().
  T take() { return std::move(*h_.promise().value); }

  bool await_ready() const noexcept { return h_.done(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    h_.promise().continuation = awaiter;
    if (h_.promise().started) return std::noop_coroutine();  // it resumes us when done
    h_.promise().started = true;
    return h_;
  }
  T await_resume() { return take(); }

 private:
  void reset() {
    if (h_) h_.destroy();
    h_ = {};
  }
  std::coroutine_handle<promise_type> h_;
};

template <class T>
Task<T> detail::TaskPromise<T>::get_return_object() {
  return Task<T>(std::coroutine_handle<TaskPromise>::from_promise(*this));
}

}  // namespace keel

// Inside a workflow body: `lhs` = the value of the Result awaited from `expr`,
// or co_returns its error.
//   KEEL_CO_ASSIGN_OR_RETURN(int n, ctx.step("count", count_rows));
#define KEEL_CO_ASSIGN_OR_RETURN(lhs, expr) \
  KEEL_CO_ASSIGN_OR_RETURN_IMPL_(KEEL_STATUS_CONCAT_(keel_co_result_, __LINE__), lhs, expr)
#define KEEL_CO_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = co_await (expr);                          \
  if (!tmp.has_value()) co_return tmp.error();         \
  lhs = std::move(tmp).value()
// co_returns the error of the awaited Result or Status, if any.
#define KEEL_CO_RETURN_IF_ERROR(expr)                                               \
  do {                                                                              \
    ::keel::Status keel_co_status_ = ::keel::detail::to_status(co_await (expr));    \
    if (!keel_co_status_.is_ok()) co_return keel_co_status_;                        \
  } while (false)
