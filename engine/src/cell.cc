#include "cell.h"

#include <cmath>
#include <limits>
#include <string>
#include <algorithm>
#include <unordered_map>
#include <utility>

#include "cell_internal.h"
#include "runtime.h"

namespace keel::detail {

namespace {
// The context of the turn running on this thread (TurnScope), or null. The
// one piece of per-thread state of the engine: how a send made by handler
// code finds the handler it belongs to.
thread_local HandlerContext* tls_turn = nullptr;
// Turns nested in one thread by senders blocked on a full mailbox.
constexpr int kMaxHelpDepth = 4;

const char* policy_name(OverflowPolicy p) {
  switch (p) {
    case OverflowPolicy::kBlock: return "block";
    case OverflowPolicy::kFail: return "fail";
    case OverflowPolicy::kDropNewest: return "drop_newest";
    case OverflowPolicy::kDropOldest: return "drop_oldest";
  }
  return "?";
}
}  // namespace

std::string format_duration(Duration d) {
  using namespace std::chrono;
  // The largest unit that states `d` exactly: "2s", "10ms", "1500us", "7ns".
  if (d % seconds(1) == Duration::zero() && d != Duration::zero())
    return std::to_string(duration_cast<seconds>(d).count()) + "s";
  if (d % milliseconds(1) == Duration::zero())
    return std::to_string(duration_cast<milliseconds>(d).count()) + "ms";
  if (d % microseconds(1) == Duration::zero())
    return std::to_string(duration_cast<microseconds>(d).count()) + "us";
  return std::to_string(d.count()) + "ns";
}

std::string describe(const Cell& c) {
  return "actor " + std::to_string(c.id()) + " (" + c.type_name() + ")";
}

Cell* Cell::current() { return tls_turn != nullptr ? tls_turn->cell : nullptr; }

HandlerContext* current_turn() { return tls_turn; }

TurnScope::TurnScope(Cell* c) : prev_(tls_turn) {
  ctx_.cell = c;
  ctx_.nesting = prev_ != nullptr ? prev_->nesting + 1 : 0;
  tls_turn = &ctx_;
}

TurnScope::~TurnScope() { tls_turn = prev_; }

CellRef::CellRef(Cell* c) : c_(c) {
  if (c_) c_->acquire();
}
CellRef::~CellRef() {
  if (c_) c_->release();
}

void cell_acquire(Cell* c) { c->acquire(); }
void cell_release(Cell* c) { c->release(); }
ActorId cell_id(const Cell* c) { return c->id(); }

Status status_from_current_exception() {
  try {
    throw;
  } catch (const Failure& f) {
    return f.status();
  } catch (const std::exception& e) {
    return Status::internal(e.what());
  } catch (...) {
    return Status::internal("unknown exception");
  }
}

Status cell_send(Cell* cell, std::uint32_t gen, MessagePtr msg, Duration ttl) {
  if (cell == nullptr) {
    Status why = Status::not_found("send through an empty actor ref");
    if (Cell* cur = Cell::current()) {
      msg->sender = cur->id();
      cur->runtime().dead_letter(DeadLetterReason::kUnknownTarget, nullptr, *msg, "empty ref");
    }
    msg->reject(why);
    return why;
  }
  if (ttl > Duration::zero()) msg->deadline = cell->runtime().clock().now() + ttl;
  // Inside a durable actor's handler, sends wait for the handler's commit.
  if (Effects* e = current_effects()) return e->add_send(cell, gen, std::move(msg));
  return cell->send(gen, std::move(msg));
}

void cell_send_accepted(Cell* cell, std::uint32_t gen, MessagePtr msg, Promise<void> accepted) {
  if (cell != nullptr && cell->is_durable() && current_effects() == nullptr) {
    cell->durable_accept(std::move(msg), &accepted).ignore();  // completes `accepted` either way
    return;
  }
  const Status s = cell_send(cell, gen, std::move(msg), Duration::zero());
  if (!s.is_ok()) {
    accepted.set_error(s);
    return;
  }
  HandlerContext outside;
  release_reply(tls_turn != nullptr ? *tls_turn : outside, [p = std::move(accepted)](const Status* failed) mutable {
    if (failed != nullptr) {
      p.set_error(*failed);
    } else {
      p.set_value();
    }
  });
}

void arm_ask_timeout(Cell* cell, FutureStateBase* state, Duration timeout) {
  if (cell == nullptr) return;
  internal::Runtime& rt = cell->runtime();
  // Copyable owner of one state reference, for the std::function timer.
  struct Hold {
    explicit Hold(FutureStateBase* s) : s(s) { s->add_ref(); }
    Hold(const Hold& o) : s(o.s) { s->add_ref(); }
    Hold& operator=(const Hold&) = delete;
    ~Hold() { s->release(); }
    FutureStateBase* s;
  };
  const std::string what = "ask to " + describe(*cell) + " timed out after " + format_duration(timeout);
  const TimerId id = rt.timers().schedule(rt.clock().now() + timeout, Duration::zero(),
                                          [h = Hold(state), what] { h.s->fail(Status::timeout(what)); });
  rt.add_ref();
  state->set_cleanup([rt = &rt, id] {
    rt->timers().cancel(id);
    rt->release();
  });
}

void note_late_reply(Cell* cell) {
  if (cell == nullptr) cell = Cell::current();
  if (cell != nullptr) cell->runtime().note_late_reply();
}


// ---- Construction ------------------------------------------------------------

Cell::Cell(internal::Runtime* rt, ActorId id, const std::type_info& type, const std::string& type_name,
           MailboxConfig mailbox, System::Factory factory)
    : rt_(rt),
      id_(id),
      type_(&type),
      type_name_(type_name),
      mailbox_(mailbox),
      factory_(std::move(factory)) {
  rt_->add_ref();
}

Cell::~Cell() {
  Mailbox::Rest rest = mailbox_.close();
  while (MessagePtr m = rest.user.pop_front()) m->reject(Status::not_found(describe(*this) + " stopped"));
  rest.system.clear();
  rt_->release();
}

AnyRef Cell::ref_to_self() {
  acquire();
  return AnyRef::adopt(this, generation());
}

void Cell::attach(std::unique_ptr<Actor> instance, Cell* parent) {
  if (parent != nullptr) {
    supervisor_.set_parent(parent);
    parent_id_ = parent->id();
  }
  instance->cell_ = this;
  instance_ = std::move(instance);
  if (durable_) static_cast<DurableActorBase&>(*instance_).key_ = durable_->key;
}

Status Cell::start(bool recovered, bool release) {
  Status st;
  {
    TurnScope scope(this);
    if (durable_ && !recovered) st = durable_->recover(/*redeliver=*/true);
    if (st.is_ok()) st = run_hook([&] { return instance_->on_start(); });
  }
  if (!st.is_ok()) {
    abandon(st);
    return st;
  }
  if (stop_requested_) {
    stop_requested_ = false;
    send_system(make_sys(SysMsg::kStop));
  }
  if (durable_ && release) durable_->release_recovered();
  return Status::ok();
}

void Cell::abandon(const Status& why) {
  // Children spawned by on_start stop; on_stop is not run.
  supervisor_.stop_children();
  supervisor_.forget_children();
  supervisor_.forget_parent();  // it never listed this cell
  pending_status_ = why;
  TurnScope scope(this);
  finish_stop(/*run_stop_hook=*/false, /*wait_for_commits=*/false);
}

ActorSnapshot Cell::snapshot() const {
  ActorSnapshot s;
  s.id = id_;
  s.generation = generation();
  s.type = type_name_;
  s.name = rt_->name_of(this);
  s.parent = parent_id_;
  s.status = status();
  s.mailbox_depth = mailbox_depth();
  s.processed = processed_.load(std::memory_order_relaxed);
  s.restarts = restarts_.load(std::memory_order_relaxed);
  s.failures = failures_.load(std::memory_order_relaxed);
  return s;
}

// ---- Sending -------------------------------------------------------------------

Status Cell::dead_letter_and_reject(MessagePtr msg, DeadLetterReason reason, Status why,
                                    std::string detail) {
  rt_->dead_letter(reason, this, *msg, std::move(detail));
  msg->reject(why);
  return why;
}

void Cell::schedule_self() {
  acquire();  // the run queue's reference
  rt_->scheduler().add_active();
  rt_->scheduler().schedule(this);
}

Status Cell::send(std::uint32_t gen, MessagePtr msg, bool may_block) {
  if (durable_ && inbox_lsn_of(*msg) == 0) return durable_accept(std::move(msg), nullptr);
  if (Cell* cur = Cell::current()) {
    msg->sender = cur->id();
    if (cur == this) sent_to_self_ = true;  // this actor's turn runs on this thread
  }
  msg->generation = gen;
  const bool stale = !durable_ && gen != kAnyGeneration && gen != generation();
  std::function<bool()> help;
  if (tls_turn != nullptr && tls_turn->nesting < kMaxHelpDepth) {
    help = [rt = rt_] { return rt->scheduler().help_one(); };
  }
  Mailbox::Pushed pushed = mailbox_.push(std::move(msg), stale, may_block, help);
  if (pushed.evicted) {
    const std::string detail = "mailbox full (capacity " + std::to_string(mailbox_.config().capacity) +
                               ", policy drop_oldest)";
    dead_letter_and_reject(std::move(pushed.evicted), DeadLetterReason::kDropped,
                           Status::overloaded(describe(*this) + ": " + detail), detail)
        .ignore();
  }
  if (pushed.refused) return refuse(pushed);
  if (pushed.schedule) schedule_self();
  return Status::ok();
}

Status Cell::refuse(Mailbox::Pushed& pushed) {
  const MailboxConfig& config = mailbox_.config();
  const std::string full = "mailbox full (capacity " + std::to_string(config.capacity) + ", policy " +
                           policy_name(config.policy) + ")";
  MessagePtr msg = std::move(pushed.refused);
  switch (pushed.refusal) {
    case Mailbox::Refusal::kStale: {
      const std::uint32_t gen = msg->generation;
      return dead_letter_and_reject(std::move(msg), DeadLetterReason::kStale,
                                    Status::not_found(describe(*this) + ": generation " + std::to_string(gen) +
                                                      " was restarted (now " + std::to_string(generation()) + ")"),
                                    "stale incarnation " + std::to_string(gen));
    }
    case Mailbox::Refusal::kTimedOut:
      return dead_letter_and_reject(std::move(msg), DeadLetterReason::kDropped,
                                    Status::timeout(describe(*this) + ": " + full + ", waited " +
                                                    format_duration(config.block_timeout)),
                                    full + ", sender timed out");
    case Mailbox::Refusal::kFull: {
      // An ask fails with kOverloaded either way; a kDropNewest send succeeds.
      Status why = dead_letter_and_reject(std::move(msg), DeadLetterReason::kDropped,
                                          Status::overloaded(describe(*this) + ": " + full), full);
      return config.policy == OverflowPolicy::kDropNewest ? Status::ok() : why;
    }
    case Mailbox::Refusal::kClosed:
    case Mailbox::Refusal::kNone:
      break;
  }
  return dead_letter_and_reject(std::move(msg), DeadLetterReason::kStopped,
                                stopped_error(Status::ok()), "actor stopped");
}

void Cell::enqueue_accepted(MessagePtr msg, bool was_accepting) {
  bool need_schedule = false;
  if (MessagePtr closed = mailbox_.push_accepted(std::move(msg), was_accepting, &need_schedule)) {
    // Journaled: the next spawn_durable of this key delivers it again.
    dead_letter_and_reject(std::move(closed), DeadLetterReason::kStopped,
                           stopped_error(Status::ok()),
                           "actor stopped (kept in the journal)")
        .ignore();
    return;
  }
  if (need_schedule) schedule_self();
}

void Cell::send_system(SysMsgPtr msg) {
  bool need_schedule = false;
  if (SysMsgPtr dead = mailbox_.push_system(std::move(msg), &need_schedule)) {
    dispose_dead_system(std::move(dead));
    return;
  }
  if (need_schedule) schedule_self();
}

void Cell::dispose_dead_system(SysMsgPtr m) {
  const Status gone = Status::not_found(describe(*this) + " had already stopped");
  switch (m->kind) {
    case SysMsg::kMonitor:
      if (m->watch) {
        m->watch->set_value(Down{ref_to_self(), gone});
      } else if (m->other) {
        m->other->send_system(make_sys(SysMsg::kDown, gone, this, m->gen));
      }
      break;
    case SysMsg::kLink:
      if (m->other) m->other->send_system(make_sys(SysMsg::kExit, gone, this, m->gen));
      break;
    default:
      break;
  }
}

// ---- Turns ---------------------------------------------------------------------

namespace {
// How many user messages a turn takes at its next step (TurnBudget).
class TurnQuota {
 public:
  TurnQuota(const TurnBudget& b, std::size_t queued) : batch_(std::max(b.batch, 1)), limit_(batch_) {
    // A backlog: more queued at the start than one batch.
    if (b.max_batches > 1 && queued > static_cast<std::size_t>(batch_)) {
      const std::size_t most = static_cast<std::size_t>(batch_) * static_cast<std::size_t>(b.max_batches);
      limit_ = static_cast<int>(std::min({queued, most, static_cast<std::size_t>(std::numeric_limits<int>::max())}));
      slice_end_ = std::chrono::steady_clock::now() + b.slice;
    }
  }
  // The most the next step may take when `handled` messages were handled
  // so far; 0 ends the turn.
  int next(int handled) {
    if (handled >= batch_ && handled < limit_ && std::chrono::steady_clock::now() >= slice_end_) {
      limit_ = handled;  // the slice is over
    }
    return std::min(batch_, limit_ - handled);
  }
  // Ends the turn after `handled` messages.
  void end_at(int handled) { limit_ = handled; }

 private:
  const int batch_;
  int limit_;
  std::chrono::steady_clock::time_point slice_end_{};
};
}  // namespace

Cell::TurnEnd Cell::run_turn(const TurnBudget& budget) {
  TurnEnd end;
  {
    TurnScope scope(this);
    TurnQuota quota(budget, mailbox_.depth());
    sent_to_self_ = false;
    for (;;) {
      // One lock per step: control messages first, else the next batch of
      // user messages, else the decision to go idle.
      Mailbox::Step step = mailbox_.take(quota.next(end.handled));
      if (step.end) {
        end.more = step.more;
        break;
      }
      if (!step.system.empty()) {
        while (SysMsgPtr m = step.system.pop_front()) handle_system(std::move(m));
        continue;
      }
      turn_batch_left_ = step.taken;
      while (MessagePtr m = mailbox_.next(step)) {
        --turn_batch_left_;
        deliver(std::move(m), scope.context());
        ++end.handled;
        if (status_.load(std::memory_order_relaxed) != ActorStatus::kRunning) break;
        if (std::exchange(sent_to_self_, false)) {
          // What the actor sent itself waits for its next turn, and so does
          // the rest: a loop of self-sends takes one step per turn.
          quota.end_at(end.handled);
          break;
        }
      }
      turn_batch_left_ = 0;
      put_back(step);
    }
  }
  if (!end.more) {
    rt_->scheduler().remove_active();
    release();  // the run queue's reference; may delete this
  }
  return end;
}

void Cell::put_back(Mailbox::Step& step) { dead_letter_stopped(mailbox_.put_back(step)); }

void Cell::requeue_front(IntrusiveQueue<Message> batch) {
  dead_letter_stopped(mailbox_.requeue_front(std::move(batch)));
}

void Cell::dead_letter_stopped(IntrusiveQueue<Message> msgs) {
  while (MessagePtr m = msgs.pop_front()) {
    dead_letter_and_reject(std::move(m), DeadLetterReason::kStopped,
                           stopped_error(Status::ok()), "actor stopped")
        .ignore();
  }
}

void Cell::deliver(MessagePtr m, HandlerContext& ctx) {
  if (durable_) {
    durable_->deliver(std::move(m), ctx);
    return;
  }
  if (m->generation != kAnyGeneration && m->generation != generation()) {
    dead_letter_and_reject(std::move(m), DeadLetterReason::kStale,
                           Status::not_found(describe(*this) + ": generation " +
                                             std::to_string(m->generation) + " was restarted"),
                           "stale incarnation " + std::to_string(m->generation))
        .ignore();
    return;
  }
  if (m->deadline != TimePoint::max() && rt_->clock().now() > m->deadline) {
    dead_letter_and_reject(std::move(m), DeadLetterReason::kExpired,
                           Status::timeout("message to " + describe(*this) + " expired"),
                           "ttl passed before handling")
        .ignore();
    return;
  }
  if (drop_cancelled(m)) return;
  current_sender_ = m->sender;
  current_ask_ = m->ask_state();
  try {
    m->invoke(*instance_, ctx);
  } catch (...) {
    Status error = status_from_current_exception();
    m.reset();
    current_sender_ = kNoActor;
    current_ask_ = nullptr;
    count_processed();
    fail(error);
    return;
  }
  m.reset();
  current_sender_ = kNoActor;
  current_ask_ = nullptr;
  count_processed();
  if (stop_requested_) {
    stop_requested_ = false;
    begin_stop(Status::ok());
  }
}

// ---- Control messages ------------------------------------------------------------

void Cell::handle_system(SysMsgPtr owned) {
  SysMsg* const m = owned.get();
  const ActorStatus st = status_.load(std::memory_order_relaxed);
  if (st == ActorStatus::kStopped) {  // stopped earlier in this turn: as if sent after the stop
    dispose_dead_system(std::move(owned));
    return;
  }
  switch (m->kind) {
    case SysMsg::kStop:
      begin_stop(m->status);
      break;
    case SysMsg::kRestart:
      if (m->gen == generation() && st != ActorStatus::kStopping && st != ActorStatus::kStopped &&
          st != ActorStatus::kRestarting) {
        begin_restart(m->status);
      }
      break;
    case SysMsg::kResume:
      if (m->gen == generation() && st == ActorStatus::kSuspended) {
        if (durable_) {
          // The in-memory state may hold a failed handler's partial changes,
          // which the journal never saw: a durable actor is rebuilt instead.
          begin_restart(Status::internal("resume of a durable actor rebuilds it from the journal"));
        } else if (!instance_) {
          begin_restart(Status::internal("resume of an actor whose constructor failed"));
        } else {
          resume();
          for (SysMsgPtr& d : supervisor_.take_deferred()) handle_system(std::move(d));
        }
      }
      break;
    case SysMsg::kChildTerminated:
      on_child_terminated(m->other.get());
      break;
    case SysMsg::kRebuild:
      if (st == ActorStatus::kRestarting && pending_ == Pending::kNone) rebuild(m->status);
      break;
    case SysMsg::kJournalFailed:
      if (m->status.code() == StatusCode::kOwnershipLost) {
        // Another writer owns the actor now: stop here at once, no retry.
        rt_->log(describe(*this) + " stops: " + m->status.to_string());
        begin_stop(m->status);
        break;
      }
      if (durable_) {
        for (MessagePtr& u : m->msgs) durable_->uncommitted.push_back(std::move(u));
        m->msgs.clear();
      }
      if (st == ActorStatus::kRunning) fail(m->status.with_context("journal commit of " + describe(*this)));
      break;
    case SysMsg::kChildFailed:
    case SysMsg::kMonitor:
    case SysMsg::kDemonitor:
    case SysMsg::kLink:
    case SysMsg::kUnlink:
    case SysMsg::kDown:
    case SysMsg::kExit:
      supervisor_.handle_system(std::move(owned));
      break;
  }
}

Status Cell::run_hook(const std::function<Status()>& hook) {
  try {
    return hook();
  } catch (...) {
    return status_from_current_exception();
  }
}

void Cell::report_stop_hook(const Status& s) {
  if (s.is_ok()) return;
  rt_->note_stop_hook_failure();
  rt_->log("on_stop of " + describe(*this) + " failed: " + s.to_string());
}

}  // namespace keel::detail
