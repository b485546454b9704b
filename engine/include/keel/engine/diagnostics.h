// keel/engine/diagnostics.h: a snapshot of a running system, as data.
//
//   keel::SystemSnapshot s = system.snapshot();
//   for (const auto& a : s.actors)
//     std::printf("%llu %s depth=%zu processed=%llu\n", (unsigned long long)a.id,
//                 a.type.c_str(), a.mailbox_depth, (unsigned long long)a.processed);
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "keel/engine/dead_letters.h"
#include "keel/engine/options.h"

namespace keel {

struct ActorSnapshot {
  ActorId id = kNoActor;
  std::uint32_t generation = 0;
  std::string type;
  std::string name;                 // registered name, if any
  ActorId parent = kNoActor;        // kNoActor for top-level actors
  ActorStatus status = ActorStatus::kRunning;
  std::size_t mailbox_depth = 0;    // queued user messages
  std::uint64_t processed = 0;      // handled messages, all incarnations
  std::uint32_t restarts = 0;
  std::uint64_t failures = 0;
};

// Values read one after another from a live system: each is exact, the set
// is not one atomic instant.
struct SystemSnapshot {
  int worker_threads = 0;
  std::vector<ActorSnapshot> actors;  // ordered by id
  std::array<std::uint64_t, kDeadLetterReasonCount> dead_letters{};
  std::uint64_t dead_letters_total = 0;
  std::uint64_t late_replies = 0;
  std::uint64_t stop_hook_failures = 0;
  std::uint64_t pending_timers = 0;
};

}  // namespace keel
