// executor.h: a small thread pool that runs strands. A strand runs its tasks
// one at a time, in the order they were posted, on any pool thread: each
// workflow run has one, so a run's coroutines never run on two threads at
// once, while different runs proceed side by side.
//
// Thread-safe. Tasks must not block for long (they hold a pool thread).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"

namespace keel::internal {

class Executor;

// Owned by whoever posts to it (a run); must outlive its queued tasks, so
// its owner stops the executor (or drains the strand) before destroying it.
class Strand {
 public:
  explicit Strand(Executor& executor) : executor_(executor) {}
  Strand(const Strand&) = delete;
  Strand& operator=(const Strand&) = delete;

  // Queues `task`; runs after every task posted before it.
  void post(UniqueFunction<void()> task) KEEL_EXCLUDES(mu_);

 private:
  friend class Executor;
  // Runs up to `budget` tasks; returns whether more are queued (the caller
  // then queues the strand again).
  bool run_some(int budget) KEEL_EXCLUDES(mu_);

  Executor& executor_;
  Mutex mu_;
  std::vector<UniqueFunction<void()>> queue_ KEEL_GUARDED_BY(mu_);
  bool scheduled_ KEEL_GUARDED_BY(mu_) = false;
};

class Executor {
 public:
  // Starts `threads` (at least 1) pool threads. `on_task_done` runs after
  // each task (the engine's idle accounting); `on_task_posted` when one is
  // queued.
  Executor(int threads, std::function<void()> on_task_posted, std::function<void()> on_task_done);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();

  // Stops and joins the threads; strands still queued are dropped (their
  // tasks are destroyed by their strands' owners). Idempotent.
  void stop() KEEL_EXCLUDES(mu_);

 private:
  friend class Strand;
  void schedule(Strand* strand) KEEL_EXCLUDES(mu_);
  void loop() KEEL_EXCLUDES(mu_);

  std::function<void()> on_task_posted_;
  std::function<void()> on_task_done_;
  Mutex mu_;
  CondVar cv_;
  std::deque<Strand*> ready_ KEEL_GUARDED_BY(mu_);
  bool stopped_ KEEL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace keel::internal
