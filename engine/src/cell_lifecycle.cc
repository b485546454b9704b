// Cell's failing, stopping and restarting: timers, children first, hooks,
// rebuild.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "cell.h"
#include "cell_internal.h"
#include "runtime.h"

namespace keel::detail {

// ---- Failing ---------------------------------------------------------------------

void Cell::fail(const Status& error) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  status_.store(ActorStatus::kSuspended, std::memory_order_relaxed);
  set_paused(true);
  supervisor_.report_failure(error);
}

void Cell::resume() {
  status_.store(ActorStatus::kRunning, std::memory_order_relaxed);
  set_paused(false);
  supervisor_.resume_escalated_children();
}

// ---- Stopping and restarting ------------------------------------------------------

void Cell::cancel_timers() {
  for (TimerId id : timers_) rt_->timers().cancel(id);
  timers_.clear();
}

void Cell::track_timer(TimerId id) {
  if (timers_.size() >= 64) {
    std::erase_if(timers_, [&](TimerId t) { return !rt_->timers().is_pending(t); });
  }
  timers_.push_back(id);
}

bool Cell::untrack_timer(TimerId id) {
  auto it = std::find(timers_.begin(), timers_.end(), id);
  if (it == timers_.end()) return false;
  timers_.erase(it);
  return true;
}

void Cell::stop_children_then(Pending then, const Status& why) {
  pending_ = then;
  pending_status_ = why;
  if (!supervisor_.has_children()) {
    if (then == Pending::kStop) finish_stop(); else finish_restart();
    return;
  }
  supervisor_.stop_children();
}

void Cell::begin_stop(const Status& reason) {
  const ActorStatus st = status_.load(std::memory_order_relaxed);
  if (st == ActorStatus::kStopping || st == ActorStatus::kStopped) return;
  if (st == ActorStatus::kRestarting) {
    status_.store(ActorStatus::kStopping, std::memory_order_relaxed);
    pending_status_ = reason;
    if (pending_ == Pending::kNone) {
      // Waiting to retry a rebuild the journal could not serve: the children
      // are gone and the fresh instance never started, so stop now (no
      // kRebuild is acted on from here, nor would a child's end come).
      finish_stop(/*run_stop_hook=*/false);
      return;
    }
    pending_ = Pending::kStop;  // children are already stopping; stop instead of rebuilding
    return;
  }
  status_.store(ActorStatus::kStopping, std::memory_order_relaxed);
  set_paused(true);
  cancel_timers();
  stop_children_then(Pending::kStop, reason);
}

void Cell::begin_restart(const Status& cause) {
  status_.store(ActorStatus::kRestarting, std::memory_order_relaxed);
  set_paused(true);
  cancel_timers();
  stop_children_then(Pending::kRestart, cause);
}

void Cell::on_child_terminated(Cell* child) {
  supervisor_.remove_child(child);
  if (pending_ != Pending::kNone && !supervisor_.has_children()) {
    if (pending_ == Pending::kStop) finish_stop(); else finish_restart();
  }
}

void Cell::finish_restart() {
  pending_ = Pending::kNone;
  const Status cause = pending_status_;
  if (instance_) {
    report_stop_hook(run_hook([&] { return instance_->on_stop(); }));
    instance_.reset();
  }
  supervisor_.clear_suspended();
  // A durable actor is rebuilt from what its commits made durable, so wait
  // for the ones in flight.
  if (durable_) durable_->commits->wait_idle();
  // release: a sender that reads the new generation sees the reset above.
  generation_.fetch_add(1, std::memory_order_release);
  restarts_.fetch_add(1, std::memory_order_relaxed);
  rebuild(cause);
}

void Cell::rebuild(const Status& cause) {
  std::unique_ptr<Actor> fresh;
  try {
    fresh = factory_();
  } catch (...) {
    fail(status_from_current_exception().with_context("constructor threw on restart"));
    return;
  }
  fresh->cell_ = this;
  instance_ = std::move(fresh);
  if (durable_) {
    static_cast<DurableActorBase&>(*instance_).key_ = durable_->key;
    const Status rs = durable_->recover(/*redeliver=*/false);
    if (rs.code() == StatusCode::kIoError || rs.code() == StatusCode::kUnavailable) {
      // The journal cannot be read now (RocksDB after a failed write reopens
      // only once the fault clears; a PostgreSQL journal's server is away):
      // stay paused and try again, backing off from 10 ms to 2 s.
      const auto tries = std::min<std::uint32_t>(durable_->rebuild_tries++, 8);
      const Duration delay = std::chrono::milliseconds(10) * (1u << tries);
      rt_->log("rebuilding " + describe(*this) + " from the journal failed (" + rs.to_string() +
               "); retrying in " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      std::min<Duration>(delay, std::chrono::seconds(2)))
                                                      .count()) +
               " ms");
      rt_->timers().schedule(rt_->clock().now() + std::min<Duration>(delay, std::chrono::seconds(2)),
                             Duration::zero(), [self = CellRef(this), cause] {
                               self->send_system(make_sys(SysMsg::kRebuild, cause));
                             });
      return;
    }
    durable_->rebuild_tries = 0;
    if (!rs.is_ok()) {
      fail(rs.with_context("rebuilding " + describe(*this) + " from the journal"));
      return;
    }
    durable_->start_outbox();
    // Every accepted, unhandled message is in memory: queued, the one whose
    // handler failed, or one whose handler ran but whose commit failed. The
    // last two go back in front: `uncommitted` is in handling order (its
    // commits fail in order), and the failed one was handled last.
    std::vector<MessagePtr> retry;
    retry.swap(durable_->uncommitted);
    if (durable_->failed) retry.push_back(std::move(durable_->failed));
    IntrusiveQueue<Message> front;
    for (MessagePtr& m : retry) front.push_back(std::move(m));
    requeue_front(std::move(front));
  }
  status_.store(ActorStatus::kRunning, std::memory_order_relaxed);
  const Status st = run_hook([&] { return instance_->on_restart(cause); });
  if (!st.is_ok()) {
    fail(st.with_context("on_restart"));
    return;
  }
  set_paused(false);
  if (stop_requested_) {
    stop_requested_ = false;
    begin_stop(Status::ok());
  }
}

void Cell::finish_stop(bool run_stop_hook, bool wait_for_commits) {
  pending_ = Pending::kNone;
  const Status reason = pending_status_;
  if (instance_) {
    if (run_stop_hook) report_stop_hook(run_hook([&] { return instance_->on_stop(); }));
    instance_.reset();
  }
  cancel_timers();
  if (durable_) durable_->stop_outbox();
  if (durable_ && wait_for_commits) {
    durable_->commits->wait_idle();
    durable_->accepts->wait_idle();
  }
  if (durable_) {  // all kept in the journal for the next spawn
    std::vector<MessagePtr> gone;
    gone.swap(durable_->uncommitted);
    for (MessagePtr& m : durable_->redeliver) gone.push_back(std::move(m));
    durable_->redeliver.clear();
    if (durable_->failed) gone.push_back(std::move(durable_->failed));
    for (MessagePtr& m : gone) m->reject(stopped_error(reason));
  }
  Mailbox::Rest rest = mailbox_.close();
  status_.store(ActorStatus::kStopped, std::memory_order_relaxed);
  supervisor_.clear_suspended();
  while (MessagePtr m = rest.user.pop_front()) {
    dead_letter_and_reject(std::move(m), DeadLetterReason::kStopped, stopped_error(reason), "actor stopped")
        .ignore();
  }
  while (SysMsgPtr m = rest.system.pop_front()) dispose_dead_system(std::move(m));

  supervisor_.notify_stopped(reason);
  rt_->on_cell_stopped(this);
}

Status Cell::stopped_error(const Status& reason) const {
  // A fenced actor's messages are another writer's now: their senders learn why.
  if (reason.code() == StatusCode::kOwnershipLost) return reason.with_context(describe(*this) + " stopped");
  return Status::not_found(describe(*this) + " has stopped");
}

void Cell::force_stop() {
  if (is_stopped()) return;
  TurnScope scope(this);
  for (CellRef& c : supervisor_.take_children()) c->force_stop();
  IntrusiveQueue<SysMsg> sys = mailbox_.take_system();
  while (SysMsgPtr m = sys.pop_front()) {
    // Registrations still count; everything else is moot now.
    if (m->kind == SysMsg::kMonitor || m->kind == SysMsg::kLink) handle_system(std::move(m));
  }
  if (pending_ == Pending::kNone) pending_status_ = Status::ok();
  finish_stop(/*run_stop_hook=*/true, /*wait_for_commits=*/false);
}

}  // namespace keel::detail
