// ledger.h: the actor of the remote example, shared by the worker program
// (which hosts it) and the client (which names its handlers in calls).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "keel/engine/durable.h"

struct Balance {
  std::int64_t cents = 0;
  std::int64_t entries = 0;
  static constexpr auto kFields =
      keel::fields(keel::field<&Balance::cents>("cents"), keel::field<&Balance::entries>("entries"));
};

// A durable account: its balance lives in the worker's journal, so it
// survives the worker (and the agent) being restarted.
class Ledger : public keel::DurableActor<Balance> {
 public:
  std::int64_t deposit(std::int64_t cents) {
    if (cents <= 0) throw std::invalid_argument("deposit of " + std::to_string(cents) + " cents");
    state().entries += 1;
    return state().cents += cents;
  }
  Balance balance() const { return state(); }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Ledger::deposit>("deposit"),
                                                   keel::handler<&Ledger::balance>("balance"));
};
