// agent_metrics.h: what keel-agent's /metrics reports (docs/metrics.md):
// the agent's own counts and the engine figures its workers send in their
// heartbeat echoes, kept per worker slot. Internal to Keel::agent.
//
//   AgentMetrics metrics(2);                        // two worker slots
//   metrics.count_frame(ClientFrame::kCall);        // a client's call routed
//   metrics.worker_stats(0, echo.stats.value());    // worker 0's latest figures
//   metrics.worker_gone(0);                         // its process went away
//   std::string text = metrics.render(AgentState{1, 1, 3});
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keel/base/counter.h"
#include "keel/base/thread_annotations.h"
#include "keel/wire/control.h"

namespace keel::internal {

// The client frames the agent acts on, counted by kind.
enum class ClientFrame : std::uint8_t { kSpawn, kCall, kCancel };
inline constexpr int kClientFrameKinds = 3;

// An agent's figures as a host of a cluster.
struct ClusterFigures {
  std::size_t shards_held = 0;
  std::uint64_t shards_gained = 0;       // claimed, counted per shard
  std::uint64_t shards_handed_over = 0;  // given up while this host lived
  std::uint64_t shards_lost = 0;         // taken by another host, or the lease ended
  std::uint64_t actors_recovered = 0;    // remembered actors spawned on gained shards
  std::uint64_t rejoins = 0;             // joins again after the lease was lost
  std::uint64_t lease_renewals = 0;      // every incarnation of this process
  std::uint64_t lease_renewal_failures = 0;
};

// The agent's state at the time of a scrape, read by the agent under its
// own lock.
struct AgentState {
  std::uint64_t worker_restarts = 0;  // Agent::restart_count()
  int workers_up = 0;                 // slots whose worker is registered
  std::size_t clients = 0;            // client connections open
  // In a cluster (docs/cluster.md, "Agents in a cluster"); none otherwise.
  std::optional<ClusterFigures> cluster{};
};

// Owned by the agent. Thread-safe: count_frame is lock-free (relaxed
// counters, bumped on the agent's I/O thread); the rest take a mutex of
// their own, so no caller needs to hold the agent's lock.
class AgentMetrics {
 public:
  explicit AgentMetrics(int slots);
  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  void count_frame(ClientFrame kind) { frames_[static_cast<int>(kind)].add(); }

  // The latest figures of the worker process in `slot` (0 <= slot < slots),
  // counted from that process's start.
  void worker_stats(int slot, const wire::WorkerStats& stats) KEEL_EXCLUDES(mu_);
  // The worker process in `slot` is gone: its last figures are added to
  // those of the slot's earlier processes, so the slot's counters never go
  // back, and its inbox depth is 0 until the next process reports.
  void worker_gone(int slot) KEEL_EXCLUDES(mu_);

  // The metrics in the Prometheus text format 0.0.4.
  std::string render(const AgentState& state) const KEEL_EXCLUDES(mu_);

 private:
  struct Slot {
    wire::WorkerStats past;                // the slot's earlier processes, added up
    wire::WorkerStats current;             // its running process's latest report
  };

  Counter frames_[kClientFrameKinds];
  mutable Mutex mu_;
  std::vector<Slot> slots_ KEEL_GUARDED_BY(mu_);
};

}  // namespace keel::internal
