// TimerService: runs callbacks at times of a Clock.
//
// With a real clock a thread of its own waits for the earliest timer. With a
// manual clock there is no thread: fire_due() runs on the thread that
// advances the clock (a clock listener), so tests control exactly when timers
// fire. Callbacks run with no lock held and must not block.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>

#include "keel/base/clock.h"
#include "keel/base/thread_annotations.h"

namespace keel::internal {

class TimerService {
 public:
  explicit TimerService(Clock& clock);
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;
  ~TimerService();

  // Runs `fn` at `at`, then every `period` if positive. Returns its id (> 0).
  std::uint64_t schedule(TimePoint at, Duration period, std::function<void()> fn)
      KEEL_EXCLUDES(mu_);
  // Returns whether the timer was pending. A callback already running is not
  // interrupted, but a periodic timer will not run again.
  bool cancel(std::uint64_t id) KEEL_EXCLUDES(mu_);
  bool is_pending(std::uint64_t id) const KEEL_EXCLUDES(mu_);
  // Runs every callback due by clock.now().
  void fire_due() KEEL_EXCLUDES(mu_);
  std::size_t pending() const KEEL_EXCLUDES(mu_);
  // Drops all timers and stops the thread; later schedules are ignored.
  void stop() KEEL_EXCLUDES(mu_);

 private:
  struct Entry {
    Duration period;
    std::shared_ptr<std::function<void()>> fn;
  };
  using Key = std::pair<TimePoint, std::uint64_t>;

  void thread_loop() KEEL_EXCLUDES(mu_);

  Clock& clock_;
  mutable Mutex mu_;
  CondVar cv_;
  std::map<Key, Entry> by_time_ KEEL_GUARDED_BY(mu_);
  std::unordered_map<std::uint64_t, TimePoint> by_id_ KEEL_GUARDED_BY(mu_);
  std::uint64_t next_id_ KEEL_GUARDED_BY(mu_) = 1;
  bool stopped_ KEEL_GUARDED_BY(mu_) = false;
  std::uint64_t listener_ = 0;
  std::thread thread_;
};

}  // namespace keel::internal
