#include "keel/engine/actor.h"

#include "cell.h"
#include "runtime.h"

namespace keel {

std::string_view AnyRef::type_name() const {
  return cell_ ? std::string_view(cell_->type_name()) : std::string_view();
}

AnyRef AnyRef::current() const {
  if (!cell_ || cell_->is_stopped()) return AnyRef();
  cell_->acquire();
  return AnyRef::adopt(cell_, cell_->generation());
}

AnyRef AnyRef::any_incarnation() const {
  if (!cell_) return AnyRef();
  cell_->acquire();
  return AnyRef::adopt(cell_, kAnyGeneration);
}

bool AnyRef::is_stopped() const { return !cell_ || cell_->is_stopped(); }

AnyRef Actor::self() const {
  cell_->acquire();
  return AnyRef::adopt(cell_, cell_->generation());
}

ActorId Actor::id() const { return cell_->id(); }
ActorId Actor::sender_id() const { return cell_->current_sender(); }
System& Actor::system() const { return cell_->runtime().system(); }
Clock& Actor::clock() const { return cell_->runtime().clock(); }
std::vector<AnyRef> Actor::children() const { return cell_->supervisor().children_refs(); }
void Actor::stop() { cell_->request_stop(); }
void Actor::fail(const Status& error) { throw Failure(error); }
void Actor::monitor(const AnyRef& other) { cell_->supervisor().monitor(other.cell()); }
void Actor::demonitor(const AnyRef& other) { cell_->supervisor().demonitor(other.cell()); }
void Actor::link(const AnyRef& other) { cell_->supervisor().link(other.cell()); }
void Actor::unlink(const AnyRef& other) { cell_->supervisor().unlink(other.cell()); }
void Actor::set_trap_exit(bool trap) { cell_->supervisor().set_trap_exit(trap); }

TimerId Actor::track_timer(TimerId id) {
  cell_->track_timer(id);
  return id;
}

bool Actor::cancel_timer(TimerId id) {
  cell_->untrack_timer(id);
  return system().cancel_timer(id);
}

std::string_view actor_status_name(ActorStatus s) {
  switch (s) {
    case ActorStatus::kRunning: return "running";
    case ActorStatus::kSuspended: return "suspended";
    case ActorStatus::kRestarting: return "restarting";
    case ActorStatus::kStopping: return "stopping";
    case ActorStatus::kStopped: return "stopped";
  }
  return "?";
}

std::string_view directive_name(Directive d) {
  switch (d) {
    case Directive::kResume: return "resume";
    case Directive::kRestart: return "restart";
    case Directive::kStop: return "stop";
    case Directive::kEscalate: return "escalate";
  }
  return "?";
}

}  // namespace keel
