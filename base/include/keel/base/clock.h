// keel/base/clock.h: the source of time for timers, deadlines and TTLs.
//
// Code never calls std::chrono::steady_clock::now() directly: it asks the
// Clock it was given, so tests can move time by hand.
//
//   keel::ManualClock clock;
//   auto t0 = clock.now();
//   clock.advance(std::chrono::seconds(5));   // timers due by then fire here
//   assert(clock.now() - t0 == std::chrono::seconds(5));
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "keel/base/thread_annotations.h"

namespace keel {

using Duration = std::chrono::nanoseconds;
// Monotonic time (steady_clock's epoch for SystemClock).
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
// Calendar time, for records people read.
using WallTime = std::chrono::time_point<std::chrono::system_clock, Duration>;

// A source of monotonic and wall time. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  virtual WallTime wall_now() const = 0;

  // True when time only moves by advance() (ManualClock): waiters must be
  // woken through on_advance, not by a real-time deadline.
  virtual bool is_manual() const { return false; }

  // Registers `fn` to run (on the advancing thread) after each advance().
  // Returns a handle for remove_listener. SystemClock never calls listeners.
  virtual std::uint64_t add_listener(std::function<void()> fn) {
    (void)fn;
    return 0;
  }
  virtual void remove_listener(std::uint64_t handle) { (void)handle; }
};

// The real clock: steady_clock and system_clock. Thread-safe, stateless.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
  }
  WallTime wall_now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
};

// A clock that moves only when told. Starts at an arbitrary fixed point.
// Thread-safe; listeners run on the thread that calls advance(), after the
// time has moved, without the clock's lock held.
class ManualClock final : public Clock {
 public:
  ManualClock();

  TimePoint now() const override KEEL_EXCLUDES(mu_);
  WallTime wall_now() const override KEEL_EXCLUDES(mu_);
  bool is_manual() const override { return true; }
  std::uint64_t add_listener(std::function<void()> fn) override KEEL_EXCLUDES(mu_);
  void remove_listener(std::uint64_t handle) override KEEL_EXCLUDES(mu_);

  // Moves time forward by `d` (>= 0) and runs the listeners.
  void advance(Duration d) KEEL_EXCLUDES(mu_);
  // Moves time to `t` if it is later than now(), and runs the listeners.
  void advance_to(TimePoint t) KEEL_EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  Duration offset_ KEEL_GUARDED_BY(mu_){0};
  std::uint64_t next_handle_ KEEL_GUARDED_BY(mu_) = 1;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> listeners_ KEEL_GUARDED_BY(mu_);
  // Serializes advance() calls so listeners see time move in order.
  Mutex advance_mu_;
};

}  // namespace keel
