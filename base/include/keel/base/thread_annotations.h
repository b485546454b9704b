// keel/base/thread_annotations.h: Clang thread-safety annotations, empty on
// other compilers. Mark mutex-protected members KEEL_GUARDED_BY(mu_), functions
// that expect the lock KEEL_REQUIRES(mu_), functions that take it
// KEEL_EXCLUDES(mu_). keel::Mutex and keel::MutexLock are annotated wrappers
// over std::mutex so the analysis sees lock and unlock.
//
//   class Counter {
//     keel::Mutex mu_;
//     int n_ KEEL_GUARDED_BY(mu_) = 0;
//    public:
//     void add() KEEL_EXCLUDES(mu_) { keel::MutexLock l(mu_); ++n_; }
//   };
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define KEEL_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define KEEL_THREAD_ANNOTATION_(x)
#endif

#define KEEL_CAPABILITY(x) KEEL_THREAD_ANNOTATION_(capability(x))
#define KEEL_SCOPED_CAPABILITY KEEL_THREAD_ANNOTATION_(scoped_lockable)
#define KEEL_GUARDED_BY(x) KEEL_THREAD_ANNOTATION_(guarded_by(x))
#define KEEL_PT_GUARDED_BY(x) KEEL_THREAD_ANNOTATION_(pt_guarded_by(x))
#define KEEL_REQUIRES(...) KEEL_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define KEEL_EXCLUDES(...) KEEL_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define KEEL_ACQUIRE(...) KEEL_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define KEEL_RELEASE(...) KEEL_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define KEEL_TRY_ACQUIRE(...) KEEL_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#define KEEL_NO_THREAD_SAFETY_ANALYSIS KEEL_THREAD_ANNOTATION_(no_thread_safety_analysis)

namespace keel {

// std::mutex with capability annotations. Not copyable or movable.
class KEEL_CAPABILITY("mutex") Mutex {
 public:
  void lock() KEEL_ACQUIRE() { mu_.lock(); }
  void unlock() KEEL_RELEASE() { mu_.unlock(); }
  bool try_lock() KEEL_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// Scoped lock over keel::Mutex; usable with CondVar.
class KEEL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) KEEL_ACQUIRE(mu) : lock_(mu.native()) {}
  ~MutexLock() KEEL_RELEASE() = default;
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// Condition variable for keel::Mutex. Every wait takes a predicate; waits
// with a deadline return whether the predicate held.
class CondVar {
 public:
  template <class Pred>
  void wait(MutexLock& lock, Pred pred) {
    cv_.wait(lock.native(), pred);
  }
  template <class TimePoint, class Pred>
  bool wait_until(MutexLock& lock, const TimePoint& deadline, Pred pred) {
    return cv_.wait_until(lock.native(), deadline, pred);
  }
  template <class Duration, class Pred>
  bool wait_for(MutexLock& lock, const Duration& d, Pred pred) {
    return cv_.wait_for(lock.native(), d, pred);
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace keel
