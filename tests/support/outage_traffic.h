// outage_traffic.h: calls made one after another on a thread of their own
// while a test takes a server away and brings it back, with what came of
// each: which call ids were acknowledged and the codes of the failures.
//
//   testing::OutageTraffic traffic([&](std::uint64_t id) { return append_numbered(id); });
//   ASSERT_TRUE(traffic.wait_for_acks(20));
//   ... kill the server ...
//   ASSERT_TRUE(traffic.wait_for_failures(2)) << "calls hang while the server is away";
//   traffic.stop();
//   for (std::uint64_t id : traffic.acked()) ...
//
// Thread-safe. Each call must return (succeed or fail) on its own: a call
// that never returns makes stop() hang, so calls wait on their futures with
// a deadline.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"

namespace keel::testing {

class OutageTraffic {
 public:
  // Makes call(id) for id = first_id, first_id + 1, ... until stop(), or
  // until a call fails with `end_on` (when set): then the thread ends, for
  // the test to see (ended_with()).
  using Call = std::function<Status(std::uint64_t id)>;
  explicit OutageTraffic(Call call, std::uint64_t first_id = 1, std::optional<StatusCode> end_on = std::nullopt)
      : call_(std::move(call)), next_id_(first_id), end_on_(end_on), thread_([this] { run(); }) {}
  ~OutageTraffic() { stop(); }
  OutageTraffic(const OutageTraffic&) = delete;
  OutageTraffic& operator=(const OutageTraffic&) = delete;

  // Waits (up to 120 s) until `n` calls in all were acknowledged; false
  // after the deadline or once the thread ended short of that.
  bool wait_for_acks(std::size_t n) KEEL_EXCLUDES(mu_) {
    return wait([&]() KEEL_REQUIRES(mu_) { return acked_.size() >= n; });
  }
  // The same for `n` failed calls in all.
  bool wait_for_failures(int n) KEEL_EXCLUDES(mu_) {
    return wait([&]() KEEL_REQUIRES(mu_) { return failures_ >= n; });
  }
  // Waits until `n` calls were acknowledged or the thread ended; false
  // only after the deadline.
  bool wait_for_acks_or_end(std::size_t n) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(120),
                             [&]() KEEL_REQUIRES(mu_) { return ended_ || acked_.size() >= n; });
  }
  // Stops after the call in flight and joins the thread.
  void stop() KEEL_EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  std::size_t ack_count() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return acked_.size();
  }
  std::set<std::uint64_t> acked() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return acked_;
  }
  // The codes of the failed calls, with how many failed so.
  std::map<StatusCode, int> codes() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return codes_;
  }
  // The first failure of each code.
  std::map<StatusCode, Status> first_failures() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return first_failures_;
  }
  // The last failure's status (ok when none failed).
  Status last_failure() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return last_failure_;
  }
  // Whether the thread ended on a call that failed with `end_on`.
  bool ended_on_code() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return ended_on_code_;
  }
  // The id the next call would have had (after stop(): one past the last).
  std::uint64_t next_id() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return next_id_;
  }

 private:
  template <class Pred>
  bool wait(Pred pred) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(120), [&]() KEEL_REQUIRES(mu_) { return ended_ || pred(); }) &&
           pred();
  }
  void run() KEEL_EXCLUDES(mu_) {
    for (;;) {
      std::uint64_t id;
      {
        MutexLock lock(mu_);
        if (stop_) break;
        id = next_id_;
      }
      const Status s = call_(id);
      bool end = false;
      {
        MutexLock lock(mu_);
        ++next_id_;
        if (s.is_ok()) {
          acked_.insert(id);
        } else {
          ++failures_;
          ++codes_[s.code()];
          first_failures_.try_emplace(s.code(), s);
          last_failure_ = s;
          end = end_on_ && s.code() == *end_on_;
          ended_on_code_ = end;
        }
      }
      changed_.notify_all();
      if (end) break;
    }
    {
      MutexLock lock(mu_);
      ended_ = true;
    }
    changed_.notify_all();
  }

  const Call call_;
  mutable Mutex mu_;
  CondVar changed_;
  std::uint64_t next_id_ KEEL_GUARDED_BY(mu_);
  const std::optional<StatusCode> end_on_;
  std::set<std::uint64_t> acked_ KEEL_GUARDED_BY(mu_);
  int failures_ KEEL_GUARDED_BY(mu_) = 0;
  std::map<StatusCode, int> codes_ KEEL_GUARDED_BY(mu_);
  std::map<StatusCode, Status> first_failures_ KEEL_GUARDED_BY(mu_);
  Status last_failure_ KEEL_GUARDED_BY(mu_);
  bool stop_ KEEL_GUARDED_BY(mu_) = false;
  bool ended_ KEEL_GUARDED_BY(mu_) = false;
  bool ended_on_code_ KEEL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the members above are built
};

}  // namespace keel::testing
