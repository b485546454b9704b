#include "timer_service.h"

namespace keel::internal {

TimerService::TimerService(Clock& clock) : clock_(clock) {
  if (clock_.is_manual()) {
    listener_ = clock_.add_listener([this] { fire_due(); });
  } else {
    thread_ = std::thread([this] { thread_loop(); });
  }
}

TimerService::~TimerService() { stop(); }

std::uint64_t TimerService::schedule(TimePoint at, Duration period, std::function<void()> fn) {
  MutexLock l(mu_);
  const std::uint64_t id = next_id_++;
  if (stopped_) return id;
  const bool earliest = by_time_.empty() || Key{at, id} < by_time_.begin()->first;
  by_time_.emplace(Key{at, id}, Entry{period, std::make_shared<std::function<void()>>(std::move(fn))});
  by_id_.emplace(id, at);
  if (earliest) cv_.notify_one();
  return id;
}

bool TimerService::cancel(std::uint64_t id) {
  std::shared_ptr<std::function<void()>> dropped;  // destroyed after unlocking
  MutexLock l(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  auto e = by_time_.find(Key{it->second, id});
  dropped = std::move(e->second.fn);
  by_time_.erase(e);
  by_id_.erase(it);
  return true;
}

bool TimerService::is_pending(std::uint64_t id) const {
  MutexLock l(mu_);
  return by_id_.count(id) != 0;
}

std::size_t TimerService::pending() const {
  MutexLock l(mu_);
  return by_id_.size();
}

void TimerService::fire_due() {
  for (;;) {
    std::shared_ptr<std::function<void()>> fn;
    {
      MutexLock l(mu_);
      if (stopped_ || by_time_.empty()) return;
      auto it = by_time_.begin();
      if (it->first.first > clock_.now()) return;
      const auto [at, id] = it->first;
      Entry e = std::move(it->second);
      by_time_.erase(it);
      fn = e.fn;
      if (e.period > Duration::zero()) {
        const TimePoint next = at + e.period;
        by_id_[id] = next;
        by_time_.emplace(Key{next, id}, std::move(e));
      } else {
        by_id_.erase(id);
      }
    }
    (*fn)();
  }
}

void TimerService::stop() {
  std::map<Key, Entry> dropped;
  {
    MutexLock l(mu_);
    if (stopped_) return;
    stopped_ = true;
    dropped.swap(by_time_);
    by_id_.clear();
    cv_.notify_all();
  }
  if (listener_ != 0) clock_.remove_listener(listener_);
  if (thread_.joinable()) thread_.join();
}

void TimerService::thread_loop() {
  for (;;) {
    {
      MutexLock l(mu_);
      if (stopped_) return;
      if (by_time_.empty()) {
        cv_.wait(l, [&]() KEEL_REQUIRES(mu_) { return stopped_ || !by_time_.empty(); });
        continue;
      }
      const TimePoint at = by_time_.begin()->first.first;
      if (at > clock_.now()) {
        // The real clock is steady_clock, so its time points are waitable.
        cv_.wait_until(l, std::chrono::time_point_cast<std::chrono::steady_clock::duration>(at),
                       [&]() KEEL_REQUIRES(mu_) {
                         return stopped_ || by_time_.empty() || by_time_.begin()->first.first < at;
                       });
        continue;
      }
    }
    fire_due();
  }
}

}  // namespace keel::internal
