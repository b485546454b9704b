// keel/engine/supervision.h: how a parent treats a failing child, and the
// signals an actor receives about others' deaths.
//
// An actor fails when a handler or hook throws (keel::Failure carries a
// Status; any other exception becomes kInternal). The failed actor is
// suspended, and its parent's supervisor_strategy() decides:
//
//   keel::SupervisorStrategy supervisor_strategy() const override {
//     keel::SupervisorStrategy s;
//     s.kind = keel::SupervisionKind::kOneForAll;
//     s.decider = [](const keel::Status& e) {
//       return e.code() == keel::StatusCode::kCorruption ? keel::Directive::kStop
//                                                        : keel::Directive::kRestart;
//     };
//     s.max_restarts = 5; s.within = std::chrono::seconds(10);  // then escalate
//     s.backoff = {std::chrono::milliseconds(10), std::chrono::seconds(1)};
//     return s;
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "keel/base/status.h"
#include "keel/engine/actor_ref.h"

namespace keel {

enum class Directive : std::uint8_t {
  kResume,    // keep the instance and its state; the failed message is lost
  kRestart,   // rebuild the instance (new generation); see SupervisionKind
  kStop,      // stop the child (and, per the kind, its siblings)
  kEscalate,  // the parent fails with the child's error
};

enum class SupervisionKind : std::uint8_t {
  kOneForOne,   // the directive applies to the failed child only
  kOneForAll,   // restart/stop applies to every child
  kRestForOne,  // restart/stop applies to the failed child and those spawned after it
};

// Delay before a restart: initial * multiplier^(n-1) for the n-th restart
// within the intensity window, capped at `max`. Zero initial means at once.
struct Backoff {
  Duration initial = Duration::zero();
  Duration max = std::chrono::seconds(30);
  double multiplier = 2.0;
};

struct SupervisorStrategy {
  SupervisionKind kind = SupervisionKind::kOneForOne;
  // Null means kRestart for every error.
  std::function<Directive(const Status&)> decider;
  // Restart intensity: more than max_restarts restarts within `within`
  // (system clock) and the parent escalates instead.
  int max_restarts = 3;
  Duration within = std::chrono::seconds(5);
  Backoff backoff;
};

std::string_view directive_name(Directive d);

// Delivered to Actor::on_down of a monitoring actor (and to System::watch
// futures) when the monitored actor stops. `reason` is ok for a normal stop,
// kNotFound when it was already gone when monitored.
struct Down {
  AnyRef actor;
  Status reason;
};

// Delivered to Actor::on_exit of an actor that traps exits when a linked
// actor stops. Without trapping, an abnormal reason makes the receiver fail
// with the same error (a normal stop is ignored).
struct ExitSignal {
  AnyRef from;
  Status reason;
};

}  // namespace keel
