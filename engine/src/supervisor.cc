// Supervisor: an actor's children, its monitors and links, and the
// directives of its SupervisorStrategy (and of the root strategy).
#include "supervisor.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "keel/base/check.h"
#include "cell.h"
#include "cell_internal.h"
#include "runtime.h"

namespace keel::detail {

namespace {

// Records a restart at `now` in `history` if `s` allows one more within its
// window, and sets `delay` to its backoff; returns false (nothing recorded)
// when the restart intensity is exceeded.
bool restart_allowed(std::vector<TimePoint>& history, const SupervisorStrategy& s, TimePoint now,
                     Duration* delay) {
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

}  // namespace

Supervisor::Supervisor(Cell& cell) : cell_(cell) {}

Supervisor::~Supervisor() = default;

// ---- Parent and children --------------------------------------------------------

void Supervisor::set_parent(Cell* parent) { parent_ = CellRef(parent); }

void Supervisor::add_child(Cell* child) {
  children_.emplace_back(child);
  Supervisor& entry = child->supervisor();
  entry.in_parent_ = std::prev(children_.end());
  entry.listed_in_parent_ = true;
}

std::vector<AnyRef> Supervisor::children_refs() const {
  std::vector<AnyRef> out;
  for (const auto& c : children_) {
    if (c->is_stopped()) continue;
    c->acquire();
    out.push_back(AnyRef::adopt(c.get(), c->generation()));
  }
  return out;
}

void Supervisor::stop_children() {
  for (auto& c : children_) c->send_system(make_sys(SysMsg::kStop));
}

void Supervisor::forget_children() {
  for (auto& c : children_) c->supervisor().listed_in_parent_ = false;
  children_.clear();
}

std::vector<CellRef> Supervisor::take_children() {
  std::vector<CellRef> kids(children_.begin(), children_.end());
  forget_children();
  return kids;
}

void Supervisor::remove_child(Cell* child) {
  Supervisor& entry = child->supervisor();
  if (entry.listed_in_parent_ && child->parent_id() == cell_.id()) {
    entry.listed_in_parent_ = false;
    children_.erase(entry.in_parent_);
  }
}

// ---- Failure ----------------------------------------------------------------------

void Supervisor::report_failure(const Status& error) {
  if (parent_) {
    parent_->send_system(make_sys(SysMsg::kChildFailed, error, &cell_, cell_.generation()));
  } else {
    apply_root_directive(error);
  }
}

void Supervisor::resume_escalated_children() {
  std::vector<Link> escalated;
  escalated.swap(escalated_);
  for (auto& e : escalated) e.cell->send_system(make_sys(SysMsg::kResume, Status::ok(), nullptr, e.gen));
}

std::vector<SysMsgPtr> Supervisor::take_deferred() {
  std::vector<SysMsgPtr> deferred;
  deferred.swap(deferred_);
  return deferred;
}

void Supervisor::clear_suspended() {
  deferred_.clear();
  escalated_.clear();
}

void Supervisor::handle_child_failure(Cell* child, std::uint32_t gen, const Status& error) {
  if (!child->supervisor().listed_in_parent_ || child->parent_id() != cell_.id() ||
      child->generation() != gen) {
    return;  // already handled
  }
  if (cell_.status() != ActorStatus::kRunning || cell_.instance() == nullptr) {
    return;  // suspended or tearing down: the children are handled with this actor
  }
  SupervisorStrategy s;
  Directive d = Directive::kRestart;
  try {
    s = cell_.instance()->supervisor_strategy();
    if (s.decider) d = s.decider(error);
  } catch (...) {
    escalate(child, gen, status_from_current_exception().with_context("supervisor strategy threw"));
    return;
  }
  switch (d) {
    case Directive::kResume:
      child->send_system(make_sys(SysMsg::kResume, Status::ok(), nullptr, gen));
      break;
    case Directive::kRestart:
      restart_affected(child, gen, error, s);
      break;
    case Directive::kStop:
      for (Cell* c : affected_children(child, s.kind)) {
        c->send_system(make_sys(SysMsg::kStop, c == child ? error : Status::ok()));
      }
      break;
    case Directive::kEscalate:
      escalate(child, gen, error.with_context("escalated from " + describe(*child)));
      break;
  }
}

void Supervisor::restart_affected(Cell* child, std::uint32_t gen, const Status& error,
                                  const SupervisorStrategy& s) {
  Duration delay;
  if (!restart_allowed(restart_history_, s, cell_.runtime().clock().now(), &delay)) {
    escalate(child, gen,
             error.with_context("restart intensity exceeded (more than " + std::to_string(s.max_restarts) +
                                " restarts in " + format_duration(s.within) + ") for " + describe(*child)));
    return;
  }
  for (Cell* c : affected_children(child, s.kind)) {
    send_restart_after(c, c == child ? error : error.with_context("sibling " + describe(*child) + " failed"),
                       delay);
  }
}

std::vector<Cell*> Supervisor::affected_children(Cell* child, SupervisionKind kind) const {
  std::vector<Cell*> affected;
  switch (kind) {
    case SupervisionKind::kOneForOne:
      affected.push_back(child);
      break;
    case SupervisionKind::kOneForAll:
      for (const auto& c : children_) affected.push_back(c.get());
      break;
    case SupervisionKind::kRestForOne:
      for (auto i = child->supervisor().in_parent_; i != children_.end(); ++i) affected.push_back(i->get());
      break;
  }
  return affected;
}

void Supervisor::escalate(Cell* child, std::uint32_t gen, const Status& error) {
  escalated_.push_back(Link{CellRef(child), gen});
  cell_.fail(error);
}

void Supervisor::apply_root_directive(const Status& error) {
  internal::Runtime& rt = cell_.runtime();
  const SupervisorStrategy& s = rt.config().root_strategy;
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
      if (cell_.is_durable()) {  // as in the cell's kResume: rebuilt instead
        send_restart_after(&cell_, error, Duration::zero());
        break;
      }
      cell_.resume();
      break;
    case Directive::kRestart: {
      Duration delay;
      if (!restart_allowed(root_restart_history_, s, rt.clock().now(), &delay)) {
        rt.log(describe(cell_) + " stopped: more than " + std::to_string(s.max_restarts) + " restarts in " +
               format_duration(s.within) + "; last error: " + error.to_string());
        cell_.begin_stop(error);
      } else {
        send_restart_after(&cell_, error, delay);
      }
      break;
    }
    case Directive::kStop:
      cell_.begin_stop(error);
      break;
    case Directive::kEscalate:
      rt.log(describe(cell_) + " escalated to the root and stopped: " + error.to_string());
      cell_.begin_stop(error);
      break;
  }
}

void Supervisor::send_restart_after(Cell* target, const Status& cause, Duration delay) {
  const std::uint32_t gen = target->generation();
  if (delay <= Duration::zero()) {
    target->send_system(make_sys(SysMsg::kRestart, cause, nullptr, gen));
    return;
  }
  internal::Runtime& rt = cell_.runtime();
  rt.timers().schedule(rt.clock().now() + delay, Duration::zero(), [t = CellRef(target), cause, gen] {
    t->send_system(make_sys(SysMsg::kRestart, cause, nullptr, gen));
  });
}

// ---- Monitors and links -------------------------------------------------------------

void Supervisor::monitor(Cell* target) {
  if (target == nullptr || target == &cell_) return;
  target->send_system(make_sys(SysMsg::kMonitor, Status::ok(), &cell_, cell_.generation()));
}

void Supervisor::demonitor(Cell* target) {
  if (target == nullptr || target == &cell_) return;
  target->send_system(make_sys(SysMsg::kDemonitor, Status::ok(), &cell_));
}

void Supervisor::link(Cell* other) {
  if (other == nullptr || other == &cell_) return;
  if (std::none_of(links_.begin(), links_.end(), [&](const Link& l) { return l.cell.get() == other; }))
    links_.push_back(Link{CellRef(other), other->generation()});
  other->send_system(make_sys(SysMsg::kLink, Status::ok(), &cell_, cell_.generation()));
}

void Supervisor::unlink(Cell* other) {
  if (other == nullptr || other == &cell_) return;
  std::erase_if(links_, [&](const Link& l) { return l.cell.get() == other; });
  other->send_system(make_sys(SysMsg::kUnlink, Status::ok(), &cell_));
}

// ---- Control messages ----------------------------------------------------------------

void Supervisor::handle_system(SysMsgPtr owned) {
  SysMsg* const m = owned.get();
  const ActorStatus st = cell_.status();
  switch (m->kind) {
    case SysMsg::kChildFailed:
      if (st == ActorStatus::kSuspended) {
        deferred_.push_back(std::move(owned));  // decided once this actor is resumed
        break;
      }
      handle_child_failure(m->other.get(), m->gen, m->status);
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
    case SysMsg::kDown:
    case SysMsg::kExit:
      if (m->gen != cell_.generation()) break;  // for an earlier incarnation
      if (st != ActorStatus::kRunning) {
        if (st == ActorStatus::kSuspended) deferred_.push_back(std::move(owned));
        break;
      }
      handle_signal(*m);
      break;
    default:
      KEEL_CHECK(false, "Supervisor::handle_system: not a supervision message");
  }
}

void Supervisor::handle_signal(SysMsg& msg) {
  SysMsg* const m = &msg;
  AnyRef from;
  if (m->other) {
    m->other->acquire();
    from = AnyRef::adopt(m->other.get(), m->other->generation());
  }
  Status error;
  if (m->kind == SysMsg::kDown) {
    error = cell_.run_hook([&] {
      cell_.instance()->on_down(Down{from, m->status});
      return Status::ok();
    });
  } else {
    std::erase_if(links_, [&](const Link& l) { return l.cell == m->other; });
    if (trap_exit_) {
      error = cell_.run_hook([&] {
        cell_.instance()->on_exit(ExitSignal{from, m->status});
        return Status::ok();
      });
    } else if (!m->status.is_ok()) {
      error = m->status.with_context("linked " + (m->other ? describe(*m->other.get()) : std::string("actor")) +
                                     " stopped");
    }
  }
  if (!error.is_ok()) cell_.fail(error);
}

void Supervisor::notify_stopped(const Status& reason) {
  std::vector<Watcher> watchers;
  watchers.swap(watchers_);
  for (auto& w : watchers) {
    if (w.promise) {
      w.promise->set_value(Down{cell_.ref_to_self(), reason});
    } else if (w.cell) {
      w.cell->send_system(make_sys(SysMsg::kDown, reason, &cell_, w.gen));
    }
  }
  std::vector<Link> links;
  links.swap(links_);
  for (auto& l : links) l.cell->send_system(make_sys(SysMsg::kExit, reason, &cell_, l.gen));
  if (parent_) {
    parent_->send_system(make_sys(SysMsg::kChildTerminated, Status::ok(), &cell_));
    parent_ = {};
  }
  forget_children();
}

}  // namespace keel::detail
