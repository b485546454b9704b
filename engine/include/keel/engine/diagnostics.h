// keel/engine/diagnostics.h: a snapshot of a running system, as data.
//
//   keel::SystemSnapshot s = system.snapshot();
//   for (const auto& a : s.actors)
//     std::printf("%llu %s depth=%zu processed=%llu\n", (unsigned long long)a.id,
//                 a.type.c_str(), a.mailbox_depth, (unsigned long long)a.processed);
//
// and its counters, cheap enough to read every second (docs/metrics.md):
//
//   keel::EngineMetrics m = system.metrics();
//   std::printf("handled=%llu queued=%llu commits=%llu\n", (unsigned long long)m.messages_handled,
//               (unsigned long long)m.inbox_depth, (unsigned long long)m.durable_commits);
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "keel/base/histogram.h"
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

// A running system's counters (System::metrics()). The counters only go
// up for the life of the System; inbox_depth is a current value.
// messages_handled and inbox_depth are read together, under the lock of
// the actor table; the commit figures are read after them.
struct EngineMetrics {
  // User messages handled by every actor of the system, stopped ones and
  // earlier incarnations included.
  std::uint64_t messages_handled = 0;
  // User messages queued now in the mailboxes of the live actors.
  std::uint64_t inbox_depth = 0;
  // Journal writes of durable actors' commits (their handling, and the
  // acceptance of messages sent to them) that became durable; one write
  // carries one or more commits (group commit).
  std::uint64_t durable_commits = 0;
  // Records in those writes.
  std::uint64_t durable_records = 0;
  // Per durable commit, the seconds from its submission to its write being
  // durable, over latency_buckets_seconds() (keel/base/histogram.h).
  HistogramSnapshot commit_seconds;
};

}  // namespace keel
