#include "scheduler.h"

#include "cell.h"

namespace keel::internal {

namespace {
// The worker of the calling thread, when it is one of a scheduler's workers.
thread_local void* tls_scheduler = nullptr;
thread_local void* tls_worker = nullptr;

// After this many consecutive runs from the next slot, the worker takes from
// its FIFO instead, so two actors bouncing messages cannot starve the rest.
constexpr int kMaxNextStreak = 32;
// Every this many turns the global FIFO is polled first (fairness for
// submissions from outside the pool).
constexpr int kGlobalPollInterval = 61;
// A worker's turn works off a backlog (more than `throughput` messages
// queued at its start) in batches of `throughput`: at most this many
// batches and this long (TurnBudget). A receiver fed by many senders then
// keeps up with them instead of queueing without end. Each batch counts as
// a turn towards kGlobalPollInterval.
constexpr int kMaxBacklogBatches = 256;
constexpr std::chrono::microseconds kBacklogSlice{500};
}  // namespace

Scheduler::Scheduler(int threads, int throughput, std::chrono::microseconds spin)
    : throughput_(throughput), spin_(spin) {
  for (int i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    workers_.push_back(std::move(w));
  }
}

Scheduler::~Scheduler() { stop_and_join(); }

void Scheduler::start() {
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { worker_loop(*raw); });
  }
}

void Scheduler::stop_and_join() {
  stop_.store(true);
  {
    MutexLock l(park_mu_);
    park_cv_.notify_all();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::vector<detail::Cell*> Scheduler::take_queued() {
  std::vector<detail::Cell*> out;
  for (auto& w : workers_) {
    if (w->next) out.push_back(std::exchange(w->next, nullptr));
    MutexLock l(w->mu);
    out.insert(out.end(), w->queue.begin(), w->queue.end());
    w->queue.clear();
  }
  MutexLock l(global_mu_);
  out.insert(out.end(), global_.begin(), global_.end());
  global_.clear();
  return out;
}

void Scheduler::remove_active() {
  if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1 && quiet_waiters_.load() > 0) {
    MutexLock l(quiet_mu_);
    quiet_cv_.notify_all();
  }
}

bool Scheduler::wait_quiescent(std::chrono::steady_clock::time_point deadline) {
  MutexLock l(quiet_mu_);
  quiet_waiters_.fetch_add(1);
  const bool ok = quiet_cv_.wait_until(l, deadline, [&] { return active_.load() == 0; });
  quiet_waiters_.fetch_sub(1);
  return ok;
}

void Scheduler::wake_one() {
  epoch_.fetch_add(1);
  if (idle_.load() > 0) {
    // The empty critical section orders this wake after a parking worker's
    // predicate check; notifying outside it spares the woken worker a second
    // wait on park_mu_.
    { MutexLock l(park_mu_); }
    park_cv_.notify_one();
  }
}

bool Scheduler::spin_for_work(std::uint64_t seen) {
  if (spin_.count() <= 0) return epoch_.load() != seen || stop_.load(std::memory_order_relaxed);
  const auto until = std::chrono::steady_clock::now() + spin_;
  for (int i = 1;; ++i) {
    if (epoch_.load() != seen || stop_.load(std::memory_order_relaxed)) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) return false;
  }
}

void Scheduler::schedule(detail::Cell* cell) {
  if (tls_scheduler == this) {
    auto* w = static_cast<Worker*>(tls_worker);
    detail::Cell* old = std::exchange(w->next, cell);
    if (old == nullptr) return;  // runs next on this thread: nobody to wake
    {
      MutexLock l(w->mu);
      w->queue.push_back(old);
    }
    wake_one();
    return;
  }
  {
    MutexLock l(global_mu_);
    global_.push_back(cell);
  }
  wake_one();
}

detail::Cell* Scheduler::pop_global() {
  MutexLock l(global_mu_);
  if (global_.empty()) return nullptr;
  detail::Cell* c = global_.front();
  global_.pop_front();
  return c;
}

detail::Cell* Scheduler::steal(Worker& thief) {
  const std::size_t n = workers_.size();
  for (std::size_t i = 1; i < n; ++i) {
    Worker& victim = *workers_[(thief.index + i) % n];
    MutexLock l(victim.mu);
    if (!victim.queue.empty()) {
      detail::Cell* c = victim.queue.front();
      victim.queue.pop_front();
      return c;
    }
  }
  return nullptr;
}

detail::Cell* Scheduler::find_work(Worker& w) {
  if (--w.until_global_poll <= 0) {
    w.until_global_poll = kGlobalPollInterval;
    if (detail::Cell* c = pop_global()) return c;
  }
  if (w.next != nullptr) {
    if (++w.next_streak <= kMaxNextStreak) return std::exchange(w.next, nullptr);
    w.next_streak = 0;
    MutexLock l(w.mu);
    w.queue.push_back(std::exchange(w.next, nullptr));
  }
  w.next_streak = 0;
  {
    MutexLock l(w.mu);
    if (!w.queue.empty()) {
      detail::Cell* c = w.queue.front();
      w.queue.pop_front();
      return c;
    }
  }
  if (detail::Cell* c = pop_global()) return c;
  return steal(w);
}

void Scheduler::run(detail::Cell* cell, int max_messages) {
  if (cell->run_turn(detail::TurnBudget{max_messages, 1, std::chrono::microseconds::zero()}).more) {
    schedule(cell);  // more work: back of the queue (the reference moves with it)
  }
}

void Scheduler::run_on_worker(Worker& w, detail::Cell* c) {
  const detail::Cell::TurnEnd end = c->run_turn(detail::TurnBudget{throughput_, kMaxBacklogBatches, kBacklogSlice});
  // A long turn brings the next poll of the global FIFO closer, as so many
  // short turns would.
  if (end.handled > throughput_) w.until_global_poll -= end.handled / throughput_ - 1;
  // A cell that still has work after its turn goes behind the others.
  if (end.more) {
    {
      MutexLock l(w.mu);
      w.queue.push_back(c);
    }
    if (idle_.load() > 0) wake_one();
  }
}

bool Scheduler::help_one() {
  if (tls_scheduler == this) {
    auto& w = *static_cast<Worker*>(tls_worker);
    detail::Cell* c = find_work(w);
    if (c == nullptr) return false;
    run_on_worker(w, c);
    return true;
  }
  if (workers_.empty()) return run_one();
  return false;
}

void Scheduler::worker_loop(Worker& w) {
  tls_scheduler = this;
  tls_worker = &w;
  while (!stop_.load(std::memory_order_relaxed)) {
    const std::uint64_t seen = epoch_.load();
    if (detail::Cell* c = find_work(w)) {
      run_on_worker(w, c);
      continue;
    }
    // Spinning workers are not counted idle, so submitters do not pay for a
    // futex wake when work arrives within the spin.
    if (spin_for_work(seen)) continue;
    MutexLock l(park_mu_);
    idle_.fetch_add(1);
    park_cv_.wait(l, [&] { return epoch_.load() != seen || stop_.load(); });
    idle_.fetch_sub(1);
  }
  tls_scheduler = nullptr;
  tls_worker = nullptr;
}

bool Scheduler::run_one() {
  detail::Cell* c = pop_global();
  if (c == nullptr) return false;
  run(c, 1);
  return true;
}

}  // namespace keel::internal
