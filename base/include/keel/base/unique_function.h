// keel/base/unique_function.h: UniqueFunction<R(Args...)>, a move-only
// std::function (C++23's std::move_only_function), so callbacks may own
// move-only state such as promises.
//
//   keel::UniqueFunction<void()> f = [p = std::move(promise)]() mutable { p.set_value(); };
//   f();
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace keel {

template <class Sig>
class UniqueFunction;

// Move-only, empty when default-constructed. Calling an empty one is a bug.
// Not thread-safe; owned by one thread at a time.
template <class R, class... Args>
class UniqueFunction<R(Args...)> {
 public:
  UniqueFunction() = default;
  UniqueFunction(std::nullptr_t) {}  // NOLINT(implicit)
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, UniqueFunction> &&
                                              std::is_invocable_r_v<R, std::decay_t<F>&, Args...>>>
  UniqueFunction(F&& f)  // NOLINT(implicit)
      : impl_(std::make_unique<Impl<std::decay_t<F>>>(std::forward<F>(f))) {}
  UniqueFunction(UniqueFunction&&) noexcept = default;
  UniqueFunction& operator=(UniqueFunction&&) noexcept = default;

  explicit operator bool() const { return impl_ != nullptr; }
  R operator()(Args... args) { return impl_->call(std::forward<Args>(args)...); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual R call(Args... args) = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F&& f) : fn(std::move(f)) {}
    explicit Impl(const F& f) : fn(f) {}
    R call(Args... args) override { return fn(std::forward<Args>(args)...); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

}  // namespace keel
