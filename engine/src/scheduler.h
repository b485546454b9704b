// Scheduler: runs actor turns on a pool of worker threads.
//
// Each worker has a private "next" slot (the actor it just made runnable,
// run next on the same thread so request/response pairs stay on one core)
// and a local FIFO that idle workers steal from. Threads outside the pool
// submit to a global FIFO. Idle workers park on a condition variable; a
// submission wakes one only when some worker is parked.
//
// With zero threads nothing runs by itself: run_one() steps the global FIFO
// (deterministic mode).
//
// Thread-safe. A scheduled cell carries one reference owned by the queue.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "keel/base/thread_annotations.h"

namespace keel::detail {
class Cell;
}

namespace keel::internal {

class Scheduler {
 public:
  // `spin`: how long an idle worker spins before it parks (zero: parks at once).
  Scheduler(int threads, int throughput, std::chrono::microseconds spin);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  ~Scheduler();

  void start();
  // Wakes and joins the workers. Cells still queued keep their references;
  // drain_queued() releases them.
  void stop_and_join();

  // Makes `cell` runnable; the queue takes over one reference held by the caller.
  void schedule(detail::Cell* cell);

  // Runs one turn of some other runnable cell on the calling thread, for a
  // sender blocked on a full mailbox: a worker takes from its own queues (or
  // steals), the deterministic stepper from the global FIFO. Returns whether
  // a turn ran; false on threads outside the pool.
  bool help_one();

  // Deterministic mode: runs one turn (at most one user message) of the
  // oldest runnable cell. Returns false when none is runnable.
  bool run_one();

  // Number of cells scheduled or running (0 means quiescent).
  std::int64_t active() const { return active_.load(std::memory_order_acquire); }
  // acq_rel: pairs with active(); counts idle->scheduled transitions.
  void add_active() { active_.fetch_add(1, std::memory_order_acq_rel); }
  void remove_active();
  // Blocks until active() == 0 or `deadline`; returns whether quiescent.
  bool wait_quiescent(std::chrono::steady_clock::time_point deadline) KEEL_EXCLUDES(quiet_mu_);

  int threads() const { return static_cast<int>(workers_.size()); }

  // Cells left in queues after stop_and_join, with their references.
  std::vector<detail::Cell*> take_queued();

 private:
  struct Worker {
    Mutex mu;
    std::deque<detail::Cell*> queue KEEL_GUARDED_BY(mu);
    detail::Cell* next = nullptr;  // owner thread only
    int next_streak = 0;           // owner thread only
    int until_global_poll = 1;     // owner thread only: turns until the global FIFO goes first
    std::thread thread;
    int index = 0;
  };

  void worker_loop(Worker& w);
  detail::Cell* find_work(Worker& w);
  detail::Cell* pop_global() KEEL_EXCLUDES(global_mu_);
  detail::Cell* steal(Worker& thief);
  void run(detail::Cell* cell, int max_messages);
  // Runs a turn on worker `w`; a cell with more work goes to the back of w's FIFO.
  void run_on_worker(Worker& w, detail::Cell* cell);
  void wake_one() KEEL_EXCLUDES(park_mu_);
  // Busy-waits briefly for epoch_ to move past `seen`; returns whether it did.
  bool spin_for_work(std::uint64_t seen);

  const int throughput_;
  const std::chrono::microseconds spin_;
  std::vector<std::unique_ptr<Worker>> workers_;

  Mutex global_mu_;
  std::deque<detail::Cell*> global_ KEEL_GUARDED_BY(global_mu_);

  Mutex park_mu_;
  CondVar park_cv_;
  // seq_cst: a parking worker increments idle_ and then re-reads epoch_; a
  // submitter bumps epoch_ and then reads idle_. Sequential consistency
  // guarantees one of them sees the other (no lost wake-up).
  std::atomic<int> idle_{0};
  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<bool> stop_{false};  // seq_cst, read in the park predicate

  std::atomic<std::int64_t> active_{0};
  Mutex quiet_mu_;
  CondVar quiet_cv_;
  std::atomic<int> quiet_waiters_{0};  // seq_cst with active_ for the same reason as idle_
};

}  // namespace keel::internal
