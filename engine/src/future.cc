#include "keel/engine/future.h"

namespace keel::detail {

void FutureStateBase::wait() {
  if (is_ready()) return;
  MutexLock l(mu_);
  ++waiters_;
  cv_.wait(l, [&] { return ready_.load(std::memory_order_relaxed); });
  --waiters_;
}

bool FutureStateBase::wait_until(std::chrono::steady_clock::time_point deadline) {
  if (is_ready()) return true;
  MutexLock l(mu_);
  ++waiters_;
  const bool ok = cv_.wait_until(l, deadline, [&] { return ready_.load(std::memory_order_relaxed); });
  --waiters_;
  return ok;
}

void FutureStateBase::on_ready(UniqueFunction<void()> fn) {
  {
    MutexLock l(mu_);
    if (!ready_.load(std::memory_order_relaxed)) {
      continuation_ = std::move(fn);
      return;
    }
  }
  fn();
}

void FutureStateBase::set_cleanup(UniqueFunction<void()> fn) {
  {
    MutexLock l(mu_);
    if (!ready_.load(std::memory_order_relaxed)) {
      cleanup_ = std::move(fn);
      return;
    }
  }
  fn();
}

bool FutureStateBase::cancel() {
  return complete(
      [](void* p) {
        auto* self = static_cast<FutureStateBase*>(p);
        self->store_error(Status::cancelled("cancelled by the asker"));
        // release: read by is_cancelled() (acquire), also on other threads.
        self->cancelled_.store(true, std::memory_order_release);
      },
      this, /*cancelling=*/true);
}

void FutureStateBase::set_on_cancel(UniqueFunction<void()> fn) {
  {
    MutexLock l(mu_);
    if (!ready_.load(std::memory_order_relaxed)) {
      on_cancel_ = std::move(fn);
      return;
    }
  }
  if (is_cancelled()) fn();
}

bool FutureStateBase::complete(void (*store)(void*), void* ctx, bool cancelling) {
  // Hold this state for the whole call: once ready_ is published, a waiter
  // may destroy the Promise and Future (and their references) while the
  // callbacks below still run on this thread.
  add_ref();
  UniqueFunction<void()> cont;
  UniqueFunction<void()> cleanup;
  UniqueFunction<void()> on_cancel;
  bool wake = false;
  {
    MutexLock l(mu_);
    if (ready_.load(std::memory_order_relaxed)) {
      l.native().unlock();
      release();
      return false;
    }
    store(ctx);
    // release: publishes the stored value to is_ready() readers.
    ready_.store(true, std::memory_order_release);
    cont = std::move(continuation_);
    cleanup = std::move(cleanup_);
    on_cancel = std::move(on_cancel_);
    wake = waiters_ > 0;
  }
  // Notified after unlocking, so woken waiters do not block on mu_ again.
  if (wake) cv_.notify_all();
  if (cleanup) cleanup();
  // The hook may hold references (the future a then() was made from), so
  // it is run or destroyed here, outside the lock, on either path.
  if (cancelling && on_cancel) on_cancel();
  on_cancel = nullptr;
  if (cont) cont();
  release();
  return true;
}

}  // namespace keel::detail
