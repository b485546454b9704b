// round_thread.h: RoundThread, a thread that runs rounds of work until it
// is stopped: the membership's renewals and the shard keeper's rebalancing.
#pragma once

#include <functional>
#include <optional>
#include <thread>

#include "keel/base/clock.h"
#include "keel/base/thread_annotations.h"

namespace keel::internal {

// Thread-safe. The round runs on the thread only.
class RoundThread {
 public:
  // Runs a round and returns when the next one is due (SystemClock time),
  // or nullopt to end the thread.
  using Round = std::function<std::optional<TimePoint>()>;

  RoundThread() = default;
  ~RoundThread() { stop(); }
  RoundThread(const RoundThread&) = delete;
  RoundThread& operator=(const RoundThread&) = delete;

  // Starts the thread; its first round runs at once.
  void start(Round round) {
    round_ = std::move(round);
    thread_ = std::thread([this] { run(); });
  }

  // The next round runs now rather than when it is due.
  void wake() KEEL_EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }

  // No round starts after this; the one running finishes.
  void request_stop() KEEL_EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }
  bool stopping() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return stopping_;
  }

  // request_stop(), then waits for the thread to end; called by a round
  // itself, the thread ends once that round returns.
  void stop() {
    request_stop();
    if (!thread_.joinable()) return;
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

 private:
  void run() KEEL_EXCLUDES(mu_) {
    for (;;) {
      {
        MutexLock lock(mu_);
        if (stopping_) return;
      }
      const std::optional<TimePoint> next = round_();
      if (!next) return;
      MutexLock lock(mu_);
      cv_.wait_until(lock, *next, [this]() KEEL_REQUIRES(mu_) { return stopping_ || woken_; });
      woken_ = false;
    }
  }

  Round round_;
  mutable Mutex mu_;
  CondVar cv_;
  bool stopping_ KEEL_GUARDED_BY(mu_) = false;
  bool woken_ KEEL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace keel::internal
