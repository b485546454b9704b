#include "keel/base/clock.h"

#include "keel/base/check.h"

namespace keel {

namespace {
// ManualClock starts here so that values print recognisably in tests.
constexpr auto kManualEpoch = std::chrono::hours(24 * 365);
// 2026-01-01T00:00:00Z, the wall time a ManualClock starts at.
constexpr auto kManualWallEpoch = std::chrono::seconds(1767225600);
}  // namespace

ManualClock::ManualClock() = default;

TimePoint ManualClock::now() const {
  MutexLock l(mu_);
  return TimePoint(kManualEpoch) + offset_;
}

WallTime ManualClock::wall_now() const {
  MutexLock l(mu_);
  return WallTime(kManualWallEpoch) + offset_;
}

std::uint64_t ManualClock::add_listener(std::function<void()> fn) {
  MutexLock l(mu_);
  const std::uint64_t h = next_handle_++;
  listeners_.emplace_back(h, std::move(fn));
  return h;
}

void ManualClock::remove_listener(std::uint64_t handle) {
  // Taking advance_mu_ first guarantees the listener is not running when this
  // returns, so its owner may be destroyed right after.
  MutexLock a(advance_mu_);
  MutexLock l(mu_);
  std::erase_if(listeners_, [&](const auto& p) { return p.first == handle; });
}

void ManualClock::advance(Duration d) {
  KEEL_CHECK(d >= Duration::zero(), "ManualClock::advance with a negative duration");
  MutexLock a(advance_mu_);
  std::vector<std::function<void()>> to_run;
  {
    MutexLock l(mu_);
    offset_ += d;
    for (auto& [h, fn] : listeners_) to_run.push_back(fn);
  }
  for (auto& fn : to_run) fn();
}

void ManualClock::advance_to(TimePoint t) {
  const TimePoint n = now();
  if (t > n) advance(t - n);
}

}  // namespace keel
