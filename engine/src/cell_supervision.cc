// Cell's failure handling and supervision of its children (directives,
// restart intensity and backoff), and its monitors and links.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cell.h"
#include "cell_internal.h"
#include "runtime.h"

namespace keel::detail {

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
