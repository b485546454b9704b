#include "cell.h"

#include <cmath>
#include <string>
#include <algorithm>
#include <unordered_map>
#include <utility>

#include "runtime.h"

namespace keel::detail {

namespace {
thread_local Cell* tls_cell = nullptr;
// Nesting of turns run by senders blocked on a full mailbox (wait_for_room).
thread_local int tls_help_depth = 0;
constexpr int kMaxHelpDepth = 4;

// Makes `c` the current cell for a scope (turns, hooks run during spawn).
class CurrentScope {
 public:
  explicit CurrentScope(Cell* c) : prev_(tls_cell) { tls_cell = c; }
  ~CurrentScope() { tls_cell = prev_; }
  CurrentScope(const CurrentScope&) = delete;
  CurrentScope& operator=(const CurrentScope&) = delete;

 private:
  Cell* prev_;
};

SysMsg* make_sys(SysMsg::Kind kind, Status status = Status::ok(), Cell* other = nullptr,
                 std::uint32_t gen = 0) {
  auto* m = new SysMsg;
  m->kind = kind;
  m->status = std::move(status);
  m->other = CellRef(other);
  m->gen = gen;
  return m;
}

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

std::string describe(const Cell& c) {
  return "actor " + std::to_string(c.id()) + " (" + c.type_name() + ")";
}

Cell* Cell::current() { return tls_cell; }
void Cell::set_current(Cell* c) { tls_cell = c; }

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

Status cell_send(Cell* cell, std::uint32_t gen, Message* msg, Duration ttl) {
  if (cell == nullptr) {
    Status why = Status::not_found("send through an empty actor ref");
    if (Cell* cur = Cell::current()) {
      msg->sender = cur->id();
      cur->runtime().dead_letter(DeadLetterReason::kUnknownTarget, nullptr, *msg, "empty ref");
    }
    msg->reject(why);
    delete msg;
    return why;
  }
  if (ttl > Duration::zero()) msg->deadline = cell->runtime().clock().now() + ttl;
  // Inside a durable actor's handler, sends wait for the handler's commit.
  if (Effects* e = current_effects()) return e->add_send(cell, gen, msg);
  return cell->send(gen, msg);
}

void cell_send_accepted(Cell* cell, std::uint32_t gen, Message* msg, Promise<void> accepted) {
  if (cell != nullptr && cell->is_durable() && current_effects() == nullptr) {
    cell->durable_accept(msg, &accepted).ignore();  // completes `accepted` either way
    return;
  }
  const Status s = cell_send(cell, gen, msg, Duration::zero());
  if (!s.is_ok()) {
    accepted.set_error(s);
    return;
  }
  release_reply([p = std::move(accepted)](const Status* failed) mutable {
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

Cell* current_cell() { return Cell::current(); }

// ---- Construction ------------------------------------------------------------

Cell::Cell(internal::Runtime* rt, ActorId id, const std::type_info& type, const std::string& type_name,
           MailboxConfig mailbox, System::Factory factory)
    : rt_(rt),
      id_(id),
      type_(&type),
      type_name_(type_name),
      mailbox_config_(mailbox),
      factory_(std::move(factory)) {
  rt_->add_ref();
}

Cell::~Cell() {
  IntrusiveQueue<Message> rest;
  IntrusiveQueue<SysMsg> sys;
  {
    MutexLock l(mu_);
    rest = user_q_.take_all();
    sys = sys_q_.take_all();
  }
  while (Message* m = rest.pop_front()) {
    m->reject(Status::not_found(describe(*this) + " stopped"));
    delete m;
  }
  while (SysMsg* m = sys.pop_front()) delete m;
  for (SysMsg* m : deferred_) delete m;
  if (durable_) {
    delete durable_->failed;
    for (Message* m : durable_->redeliver) delete m;
    for (Message* m : durable_->uncommitted) delete m;
  }
  for (Message* m : held_) delete m;
  rt_->release();
}

AnyRef Cell::ref_to_self() {
  acquire();
  return AnyRef::adopt(this, generation());
}

void Cell::attach(std::unique_ptr<Actor> instance, Cell* parent) {
  if (parent != nullptr) {
    parent_ = CellRef(parent);
    parent_id_ = parent->id();
  }
  instance->cell_ = this;
  instance_ = std::move(instance);
  if (durable_) static_cast<DurableActorBase&>(*instance_).key_ = durable_->key;
}

Status Cell::start(bool recovered, bool release) {
  Status st;
  {
    CurrentScope scope(this);
    if (durable_ && !recovered) st = durable_recover(/*redeliver=*/true);
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
  if (durable_ && release) release_recovered();
  return Status::ok();
}

void Cell::abandon(const Status& why) {
  // Children spawned by on_start stop; on_stop is not run.
  for (auto& c : children_) c->send_system(make_sys(SysMsg::kStop));
  forget_children();
  parent_ = {};
  pending_status_ = why;
  CurrentScope scope(this);
  finish_stop(/*run_stop_hook=*/false);
}

void Cell::add_child(Cell* child) {
  children_.emplace_back(child);
  child->in_parent_ = std::prev(children_.end());
  child->listed_in_parent_ = true;
}

void Cell::forget_children() {
  for (auto& c : children_) c->listed_in_parent_ = false;
  children_.clear();
}

std::vector<AnyRef> Cell::children_refs() const {
  std::vector<AnyRef> out;
  for (const auto& c : children_) {
    if (c->is_stopped()) continue;
    c->acquire();
    out.push_back(AnyRef::adopt(c.get(), c->generation()));
  }
  return out;
}

// ---- Sending -------------------------------------------------------------------

Status Cell::dead_letter_and_reject(Message* msg, DeadLetterReason reason, Status why,
                                    std::string detail) {
  rt_->dead_letter(reason, this, *msg, std::move(detail));
  msg->reject(why);
  delete msg;
  return why;
}

void Cell::schedule_self() {
  acquire();  // the run queue's reference
  rt_->scheduler().add_active();
  rt_->scheduler().schedule(this);
}

Status Cell::send(std::uint32_t gen, Message* msg, bool may_block) {
  if (durable_ && msg->inbox_lsn == 0) return durable_accept(msg, nullptr);
  if (Cell* cur = tls_cell) msg->sender = cur->id();
  msg->generation = gen;
  bool need_schedule = false;
  Message* victim = nullptr;
  {
    MutexLock l(mu_);
    if (closed_) {
      l.native().unlock();
      return dead_letter_and_reject(msg, DeadLetterReason::kStopped,
                                    Status::not_found(describe(*this) + " has stopped"), "actor stopped");
    }
    if (!durable_ && gen != kAnyGeneration && gen != generation()) {
      l.native().unlock();
      return dead_letter_and_reject(
          msg, DeadLetterReason::kStale,
          Status::not_found(describe(*this) + ": generation " + std::to_string(gen) +
                            " was restarted (now " + std::to_string(generation()) + ")"),
          "stale incarnation " + std::to_string(gen));
    }
    const std::size_t cap = mailbox_config_.capacity;
    if (cap != 0 && user_size_.load(std::memory_order_relaxed) >= cap) {
      const std::string detail = "mailbox full (capacity " + std::to_string(cap) + ", policy " +
                                 policy_name(mailbox_config_.policy) + ")";
      switch (mailbox_config_.policy) {
        case OverflowPolicy::kBlock:
          if (may_block) {
            ++blocked_senders_;
            const bool room = wait_for_room(l, cap);
            --blocked_senders_;
            if (closed_) {
              l.native().unlock();
              return dead_letter_and_reject(msg, DeadLetterReason::kStopped,
                                            Status::not_found(describe(*this) + " has stopped"),
                                            "actor stopped");
            }
            if (!room) {
              l.native().unlock();
              return dead_letter_and_reject(
                  msg, DeadLetterReason::kDropped,
                  Status::timeout(describe(*this) + ": " + detail + ", waited " +
                                  format_duration(mailbox_config_.block_timeout)),
                  detail + ", sender timed out");
            }
            break;
          }
          [[fallthrough]];
        case OverflowPolicy::kFail:
        case OverflowPolicy::kDropNewest: {
          l.native().unlock();
          // An ask fails with kOverloaded either way; a kDropNewest send succeeds.
          const bool fail = mailbox_config_.policy != OverflowPolicy::kDropNewest;
          Status why = dead_letter_and_reject(msg, DeadLetterReason::kDropped,
                                              Status::overloaded(describe(*this) + ": " + detail), detail);
          return fail ? why : Status::ok();
        }
        case OverflowPolicy::kDropOldest:
          victim = user_q_.pop_front();
          user_size_.fetch_sub(1, std::memory_order_relaxed);
          break;
      }
    }
    user_q_.push_back(msg);
    user_size_.fetch_add(1, std::memory_order_relaxed);
    if (!scheduled_ && !paused_) {
      scheduled_ = true;
      need_schedule = true;
    }
  }
  if (victim != nullptr) {
    const std::string detail = "mailbox full (capacity " + std::to_string(mailbox_config_.capacity) +
                               ", policy drop_oldest)";
    dead_letter_and_reject(victim, DeadLetterReason::kDropped,
                           Status::overloaded(describe(*this) + ": " + detail), detail)
        .ignore();
  }
  if (need_schedule) schedule_self();
  return Status::ok();
}

bool Cell::wait_for_room(MutexLock& l, std::size_t cap) {
  auto has_room = [&]() KEEL_REQUIRES(mu_) {
    return closed_ || user_size_.load(std::memory_order_relaxed) < cap;
  };
  const auto deadline = std::chrono::steady_clock::now() + mailbox_config_.block_timeout;
  // A sender that is itself an actor's turn runs other runnable actors while
  // it waits, so workers (or the deterministic stepper) blocked here cannot
  // starve the receiver. It re-checks for such work every millisecond.
  const bool can_help = tls_cell != nullptr && tls_help_depth < kMaxHelpDepth;
  while (!has_room()) {
    if (can_help) {
      l.native().unlock();
      ++tls_help_depth;
      const bool ran = rt_->scheduler().help_one();
      --tls_help_depth;
      l.native().lock();
      if (ran) continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    const auto until = can_help ? std::min(deadline, now + std::chrono::milliseconds(1)) : deadline;
    room_cv_.wait_until(l, until, has_room);
  }
  return true;
}

void Cell::send_system(SysMsg* msg) {
  bool need_schedule = false;
  bool dead = false;
  {
    MutexLock l(mu_);
    if (closed_) {
      dead = true;
    } else {
      sys_q_.push_back(msg);
      if (!scheduled_) {
        scheduled_ = true;
        need_schedule = true;
      }
    }
  }
  if (dead) {
    dispose_dead_system(msg);
    return;
  }
  if (need_schedule) schedule_self();
}

void Cell::dispose_dead_system(SysMsg* m) {
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
  delete m;
}

void Cell::set_paused(bool paused) {
  MutexLock l(mu_);
  paused_ = paused;
}

// ---- Turns ---------------------------------------------------------------------

bool Cell::run_turn(int max_user) {
  bool more = false;
  {
    CurrentScope scope(this);
    int handled = 0;
    for (;;) {
      IntrusiveQueue<SysMsg> sys;
      IntrusiveQueue<Message> batch;
      int n = 0;
      {
        // One lock per step: control messages first, else the next batch of
        // user messages, else the decision to go idle.
        MutexLock l(mu_);
        if (!sys_q_.empty()) {
          sys = sys_q_.take_all();
        } else if (paused_ || closed_ || handled >= max_user || user_q_.empty()) {
          more = !paused_ && !closed_ && !user_q_.empty();
          if (!more) scheduled_ = false;
          break;
        } else {
          while (handled + n < max_user) {
            Message* m = user_q_.pop_front();
            if (m == nullptr) break;
            batch.push_back(m);
            ++n;
          }
          const std::size_t left =
              user_size_.fetch_sub(static_cast<std::size_t>(n), std::memory_order_relaxed) - n;
          // Blocked senders are woken once the mailbox is half empty, so they
          // refill it in a burst instead of waking for every batch.
          if (blocked_senders_ > 0 && left <= mailbox_config_.capacity / 2) room_cv_.notify_all();
        }
      }
      if (!sys.empty()) {
        while (SysMsg* m = sys.pop_front()) handle_system(m);
        continue;
      }
      turn_batch_left_ = n;
      while (Message* m = batch.pop_front()) {
        --turn_batch_left_;
        deliver(m);
        ++handled;
        if (status_.load(std::memory_order_relaxed) != ActorStatus::kRunning) break;
      }
      turn_batch_left_ = 0;
      if (!batch.empty()) requeue_front(batch);
    }
  }
  if (!more) {
    rt_->scheduler().remove_active();
    release();  // the run queue's reference; may delete this
  }
  return more;
}

void Cell::requeue_front(IntrusiveQueue<Message>& batch) {
  std::size_t n = 0;
  bool closed;
  {
    MutexLock l(mu_);
    closed = closed_;
    if (!closed) {
      IntrusiveQueue<Message> copy = batch.take_all();
      for (Message* p = copy.pop_front(); p != nullptr; p = copy.pop_front()) {
        batch.push_back(p);
        ++n;
      }
      user_q_.prepend(batch);
      user_size_.fetch_add(n, std::memory_order_relaxed);
    }
  }
  if (closed) {
    while (Message* m = batch.pop_front()) {
      dead_letter_and_reject(m, DeadLetterReason::kStopped,
                             Status::not_found(describe(*this) + " has stopped"), "actor stopped")
          .ignore();
    }
  }
}

void Cell::deliver(Message* m) {
  if (durable_) {
    durable_deliver(m);
    return;
  }
  if (m->generation != kAnyGeneration && m->generation != generation()) {
    dead_letter_and_reject(m, DeadLetterReason::kStale,
                           Status::not_found(describe(*this) + ": generation " +
                                             std::to_string(m->generation) + " was restarted"),
                           "stale incarnation " + std::to_string(m->generation))
        .ignore();
    return;
  }
  if (m->deadline != TimePoint::max() && rt_->clock().now() > m->deadline) {
    dead_letter_and_reject(m, DeadLetterReason::kExpired,
                           Status::timeout("message to " + describe(*this) + " expired"),
                           "ttl passed before handling")
        .ignore();
    return;
  }
  if (drop_cancelled(m)) return;
  current_sender_ = m->sender;
  current_ask_ = m->ask_state();
  try {
    m->invoke(*instance_);
  } catch (...) {
    Status error = status_from_current_exception();
    delete m;
    current_sender_ = kNoActor;
    current_ask_ = nullptr;
    processed_.fetch_add(1, std::memory_order_relaxed);
    fail(error);
    return;
  }
  delete m;
  current_sender_ = kNoActor;
  current_ask_ = nullptr;
  processed_.fetch_add(1, std::memory_order_relaxed);
  if (stop_requested_) {
    stop_requested_ = false;
    begin_stop(Status::ok());
  }
}

// ---- Control messages ------------------------------------------------------------

void Cell::handle_system(SysMsg* m) {
  std::unique_ptr<SysMsg> owned(m);
  const ActorStatus st = status_.load(std::memory_order_relaxed);
  if (st == ActorStatus::kStopped) {  // stopped earlier in this turn: as if sent after the stop
    dispose_dead_system(owned.release());
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
          status_.store(ActorStatus::kRunning, std::memory_order_relaxed);
          set_paused(false);
          resume_escalated_children();
          std::vector<SysMsg*> deferred;
          deferred.swap(deferred_);
          for (SysMsg* d : deferred) handle_system(d);
        }
      }
      break;
    case SysMsg::kChildFailed:
      if (st == ActorStatus::kSuspended) {
        deferred_.push_back(owned.release());  // decided once this actor is resumed
        break;
      }
      handle_child_failure(m->other.get(), m->gen, m->status);
      break;
    case SysMsg::kChildTerminated:
      on_child_terminated(m->other.get());
      break;
    case SysMsg::kMonitor:
      watchers_.push_back(Watcher{std::move(m->other), m->gen, std::move(m->watch)});
      break;
    case SysMsg::kDemonitor:
      std::erase_if(watchers_, [&](const Watcher& w) { return w.cell == m->other; });
      break;
    case SysMsg::kLink:
      if (std::none_of(links_.begin(), links_.end(), [&](const Link& l) { return l.cell == m->other; }))
        links_.push_back(Link{std::move(m->other), m->gen});
      break;
    case SysMsg::kUnlink:
      std::erase_if(links_, [&](const Link& l) { return l.cell == m->other; });
      break;
    case SysMsg::kRebuild:
      if (st == ActorStatus::kRestarting && pending_ == Pending::kNone) rebuild(m->status);
      break;
    case SysMsg::kJournalFailed:
      if (durable_) {
        durable_->uncommitted.insert(durable_->uncommitted.end(), m->msgs.begin(), m->msgs.end());
        m->msgs.clear();
      }
      if (st == ActorStatus::kRunning) fail(m->status.with_context("journal commit of " + describe(*this)));
      break;
    case SysMsg::kDown:
    case SysMsg::kExit:
      if (m->gen != generation()) break;  // for an earlier incarnation
      if (st != ActorStatus::kRunning) {
        if (st == ActorStatus::kSuspended) deferred_.push_back(owned.release());
        break;
      }
      handle_signal(m);
      break;
  }
}

void Cell::handle_signal(SysMsg* m) {
  AnyRef from;
  if (m->other) {
    m->other->acquire();
    from = AnyRef::adopt(m->other.get(), m->other->generation());
  }
  Status error;
  if (m->kind == SysMsg::kDown) {
    error = run_hook([&] {
      instance_->on_down(Down{from, m->status});
      return Status::ok();
    });
  } else {
    std::erase_if(links_, [&](const Link& l) { return l.cell == m->other; });
    if (trap_exit_) {
      error = run_hook([&] {
        instance_->on_exit(ExitSignal{from, m->status});
        return Status::ok();
      });
    } else if (!m->status.is_ok()) {
      error = m->status.with_context("linked " + (m->other ? describe(*m->other.get()) : std::string("actor")) +
                                     " stopped");
    }
  }
  if (!error.is_ok()) fail(error);
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

// ---- Failure and supervision -------------------------------------------------------

void Cell::fail(const Status& error) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  status_.store(ActorStatus::kSuspended, std::memory_order_relaxed);
  set_paused(true);
  if (parent_) {
    parent_->send_system(make_sys(SysMsg::kChildFailed, error, this, generation()));
  } else {
    apply_root_directive(error);
  }
}

bool Cell::restart_allowed(std::vector<TimePoint>& history, const SupervisorStrategy& s,
                           Duration* delay) {
  const TimePoint now = rt_->clock().now();
  std::erase_if(history, [&](TimePoint t) { return t <= now - s.within; });
  if (static_cast<int>(history.size()) >= s.max_restarts) return false;
  history.push_back(now);
  *delay = Duration::zero();
  if (s.backoff.initial > Duration::zero()) {
    const double factor = std::pow(s.backoff.multiplier, static_cast<double>(history.size() - 1));
    const double ns = static_cast<double>(s.backoff.initial.count()) * factor;
    *delay = ns >= static_cast<double>(s.backoff.max.count()) ? s.backoff.max
                                                              : Duration(static_cast<std::int64_t>(ns));
  }
  return true;
}

void Cell::send_restart_after(Cell* target, const Status& cause, Duration delay) {
  const std::uint32_t gen = target->generation();
  if (delay <= Duration::zero()) {
    target->send_system(make_sys(SysMsg::kRestart, cause, nullptr, gen));
    return;
  }
  rt_->timers().schedule(rt_->clock().now() + delay, Duration::zero(),
                         [t = CellRef(target), cause, gen] {
                           t->send_system(make_sys(SysMsg::kRestart, cause, nullptr, gen));
                         });
}

void Cell::apply_root_directive(const Status& error) {
  const SupervisorStrategy& s = rt_->config().root_strategy;
  Directive d = Directive::kRestart;
  if (s.decider) {
    try {
      d = s.decider(error);
    } catch (...) {
      d = Directive::kEscalate;
    }
  }
  switch (d) {
    case Directive::kResume:
      if (durable_) {  // as in kResume of handle_system: rebuilt instead
        send_restart_after(this, error, Duration::zero());
        break;
      }
      status_.store(ActorStatus::kRunning, std::memory_order_relaxed);
      set_paused(false);
      resume_escalated_children();
      break;
    case Directive::kRestart: {
      Duration delay;
      if (!restart_allowed(root_restart_history_, s, &delay)) {
        rt_->log(describe(*this) + " stopped: more than " + std::to_string(s.max_restarts) +
                 " restarts in " + format_duration(s.within) + "; last error: " + error.to_string());
        begin_stop(error);
      } else {
        send_restart_after(this, error, delay);
      }
      break;
    }
    case Directive::kStop:
      begin_stop(error);
      break;
    case Directive::kEscalate:
      rt_->log(describe(*this) + " escalated to the root and stopped: " + error.to_string());
      begin_stop(error);
      break;
  }
}

void Cell::handle_child_failure(Cell* child, std::uint32_t gen, const Status& error) {
  if (!child->listed_in_parent_ || child->parent_id() != id_ || child->generation() != gen) {
    return;  // already handled
  }
  const auto it = child->in_parent_;
  if (status_.load(std::memory_order_relaxed) != ActorStatus::kRunning || !instance_) {
    return;  // suspended or tearing down: the children are handled with this actor
  }
  SupervisorStrategy s;
  Directive d = Directive::kRestart;
  try {
    s = instance_->supervisor_strategy();
    if (s.decider) d = s.decider(error);
  } catch (...) {
    escalated_.push_back(Link{CellRef(child), gen});
    fail(status_from_current_exception().with_context("supervisor strategy threw"));
    return;
  }
  std::vector<Cell*> affected;
  switch (s.kind) {
    case SupervisionKind::kOneForOne:
      affected.push_back(child);
      break;
    case SupervisionKind::kOneForAll:
      for (auto& c : children_) affected.push_back(c.get());
      break;
    case SupervisionKind::kRestForOne:
      for (auto i = it; i != children_.end(); ++i) affected.push_back(i->get());
      break;
  }
  switch (d) {
    case Directive::kResume:
      child->send_system(make_sys(SysMsg::kResume, Status::ok(), nullptr, gen));
      break;
    case Directive::kRestart: {
      Duration delay;
      if (!restart_allowed(restart_history_, s, &delay)) {
        escalated_.push_back(Link{CellRef(child), gen});
        fail(error.with_context("restart intensity exceeded (more than " +
                                std::to_string(s.max_restarts) + " restarts in " +
                                format_duration(s.within) + ") for " + describe(*child)));
        return;
      }
      for (Cell* c : affected) {
        send_restart_after(c, c == child ? error : error.with_context("sibling " + describe(*child) + " failed"),
                           delay);
      }
      break;
    }
    case Directive::kStop:
      for (Cell* c : affected) c->send_system(make_sys(SysMsg::kStop, c == child ? error : Status::ok()));
      break;
    case Directive::kEscalate:
      escalated_.push_back(Link{CellRef(child), gen});
      fail(error.with_context("escalated from " + describe(*child)));
      break;
  }
}

void Cell::resume_escalated_children() {
  std::vector<Link> escalated;
  escalated.swap(escalated_);
  for (auto& e : escalated) e.cell->send_system(make_sys(SysMsg::kResume, Status::ok(), nullptr, e.gen));
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
  if (children_.empty()) {
    if (then == Pending::kStop) finish_stop(); else finish_restart();
    return;
  }
  for (auto& c : children_) c->send_system(make_sys(SysMsg::kStop));
}

void Cell::begin_stop(const Status& reason) {
  const ActorStatus st = status_.load(std::memory_order_relaxed);
  if (st == ActorStatus::kStopping || st == ActorStatus::kStopped) return;
  if (st == ActorStatus::kRestarting) {  // children are already stopping; stop instead of rebuilding
    status_.store(ActorStatus::kStopping, std::memory_order_relaxed);
    pending_ = Pending::kStop;
    pending_status_ = reason;
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
  if (child->listed_in_parent_ && child->parent_id() == id_) {
    child->listed_in_parent_ = false;
    children_.erase(child->in_parent_);
  }
  if (pending_ != Pending::kNone && children_.empty()) {
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
  for (SysMsg* d : deferred_) delete d;
  deferred_.clear();
  escalated_.clear();  // stopped with the other children
  // A durable actor is rebuilt from what its commits made durable, so wait
  // for the ones in flight.
  if (durable_) durable_->wait_idle();
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
    const Status rs = durable_recover(/*redeliver=*/false);
    if (rs.code() == StatusCode::kIoError) {
      // The journal cannot be read now (RocksDB after a failed write reopens
      // only once the fault clears): stay paused and try again, backing off
      // from 10 ms to 2 s.
      const auto tries = std::min<std::uint32_t>(durable_->rebuild_tries++, 8);
      const Duration delay = std::chrono::milliseconds(10) * (1u << tries);
      rt_->log("rebuilding " + describe(*this) + " from the journal failed (" + rs.to_string() +
               "); retrying in " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      std::min<Duration>(delay, std::chrono::seconds(2)))
                                                      .count()) +
               " ms");
      rt_->timers().schedule(rt_->clock().now() + std::min<Duration>(delay, std::chrono::seconds(2)),
                             Duration::zero(), [self = CellRef(this), cause] {
                               SysMsg* m = make_sys(SysMsg::kRebuild);
                               m->status = cause;
                               self->send_system(m);
                             });
      return;
    }
    durable_->rebuild_tries = 0;
    if (!rs.is_ok()) {
      fail(rs.with_context("rebuilding " + describe(*this) + " from the journal"));
      return;
    }
    // Every accepted, unhandled message is in memory: queued, the one whose
    // handler failed, or one whose handler ran but whose commit failed. The
    // last two go back in front: `uncommitted` is in handling order (its
    // commits fail in order), and the failed one was handled last.
    std::vector<Message*> retry;
    retry.swap(durable_->uncommitted);
    if (Message* failed = std::exchange(durable_->failed, nullptr)) retry.push_back(failed);
    IntrusiveQueue<Message> front;
    for (Message* m : retry) front.push_back(m);
    requeue_front(front);
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

void Cell::finish_stop(bool run_stop_hook) {
  pending_ = Pending::kNone;
  const Status reason = pending_status_;
  if (instance_) {
    if (run_stop_hook) report_stop_hook(run_hook([&] { return instance_->on_stop(); }));
    instance_.reset();
  }
  cancel_timers();
  if (durable_) {  // all kept in the journal for the next spawn
    std::vector<Message*> gone;
    gone.swap(durable_->uncommitted);
    gone.insert(gone.end(), durable_->redeliver.begin(), durable_->redeliver.end());
    durable_->redeliver.clear();
    if (Message* failed = std::exchange(durable_->failed, nullptr)) gone.push_back(failed);
    for (Message* m : gone) {
      m->reject(Status::not_found(describe(*this) + " has stopped"));
      delete m;
    }
  }
  IntrusiveQueue<Message> rest;
  IntrusiveQueue<SysMsg> sys_rest;
  {
    MutexLock l(mu_);
    closed_ = true;
    paused_ = true;
    holding_ = false;
    rest = user_q_.take_all();
    for (Message* m : held_) rest.push_back(m);
    held_.clear();
    sys_rest = sys_q_.take_all();
    user_size_.store(0, std::memory_order_relaxed);
    if (blocked_senders_ > 0) room_cv_.notify_all();
  }
  status_.store(ActorStatus::kStopped, std::memory_order_relaxed);
  for (SysMsg* d : deferred_) delete d;
  deferred_.clear();
  escalated_.clear();
  while (Message* m = rest.pop_front()) {
    dead_letter_and_reject(m, DeadLetterReason::kStopped,
                           Status::not_found(describe(*this) + " has stopped"), "actor stopped")
        .ignore();
  }
  while (SysMsg* m = sys_rest.pop_front()) dispose_dead_system(m);

  std::vector<Watcher> watchers;
  watchers.swap(watchers_);
  for (auto& w : watchers) {
    if (w.promise) {
      w.promise->set_value(Down{ref_to_self(), reason});
    } else if (w.cell) {
      w.cell->send_system(make_sys(SysMsg::kDown, reason, this, w.gen));
    }
  }
  std::vector<Link> links;
  links.swap(links_);
  for (auto& l : links) l.cell->send_system(make_sys(SysMsg::kExit, reason, this, l.gen));
  if (parent_) {
    parent_->send_system(make_sys(SysMsg::kChildTerminated, Status::ok(), this));
    parent_ = {};
  }
  forget_children();
  rt_->on_cell_stopped(this);
}

void Cell::force_stop() {
  if (is_stopped()) return;
  CurrentScope scope(this);
  std::vector<CellRef> kids(children_.begin(), children_.end());
  forget_children();
  for (auto& c : kids) c->force_stop();
  IntrusiveQueue<SysMsg> sys;
  {
    MutexLock l(mu_);
    sys = sys_q_.take_all();
  }
  while (SysMsg* m = sys.pop_front()) {
    // Registrations still count; everything else is moot now.
    if (m->kind == SysMsg::kMonitor || m->kind == SysMsg::kLink) {
      handle_system(m);
    } else {
      delete m;
    }
  }
  if (pending_ == Pending::kNone) pending_status_ = Status::ok();
  finish_stop();
}

// ---- Monitors and links -------------------------------------------------------------

void Cell::monitor(Cell* target) {
  if (target == nullptr || target == this) return;
  target->send_system(make_sys(SysMsg::kMonitor, Status::ok(), this, generation()));
}

void Cell::demonitor(Cell* target) {
  if (target == nullptr || target == this) return;
  target->send_system(make_sys(SysMsg::kDemonitor, Status::ok(), this));
}

void Cell::link(Cell* other) {
  if (other == nullptr || other == this) return;
  if (std::none_of(links_.begin(), links_.end(), [&](const Link& l) { return l.cell.get() == other; }))
    links_.push_back(Link{CellRef(other), other->generation()});
  other->send_system(make_sys(SysMsg::kLink, Status::ok(), this, generation()));
}

void Cell::unlink(Cell* other) {
  if (other == nullptr || other == this) return;
  std::erase_if(links_, [&](const Link& l) { return l.cell.get() == other; });
  other->send_system(make_sys(SysMsg::kUnlink, Status::ok(), this));
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

}  // namespace keel::detail
