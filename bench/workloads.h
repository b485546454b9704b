// workloads.h: the actor workloads, written once against Keel
// (keel_workloads.cc) and once against CAF 0.17 (caf_reference.cc, built
// only when CAF is found). Each runs on a fresh system with 2 worker threads
// and returns one Sample; run it through run_isolated so that peak_rss is
// the workload's own.
#pragma once

#include "bench_support.h"

namespace keel_bench {

inline constexpr int kWorkerThreads = 2;

// One entry point per workload and runtime.
struct WorkloadSet {
  // Two actors bounce a counter: ops = round trips (two messages each).
  Sample (*ping_pong)(const Sizes&) = nullptr;
  // fan_in_senders external threads tell one receiver; for Keel its mailbox
  // is bounded (fan_in_capacity, kBlock); CAF 0.17 has no bounded mailbox.
  // ops = messages.
  Sample (*fan_in_threads)(const Sizes&) = nullptr;
  // fan_in_senders sender actors, fan_in_chunk messages per turn, then a
  // message to themselves to continue; unbounded receiver. ops = messages.
  Sample (*fan_in_actors)(const Sizes&) = nullptr;
  // A spawner actor spawns spawn_actors actors in one handler and sends
  // each one message; each replies to a collector actor. ops = actors;
  // extra = seconds outside the measured part (set-up and teardown).
  Sample (*spawn)(const Sizes&) = nullptr;
  // The same, with the main thread spawning and sending.
  Sample (*spawn_external)(const Sizes&) = nullptr;
  // An asker actor asks a server, and asks again in the reply's
  // continuation. ops = completed asks.
  Sample (*asks)(const Sizes&) = nullptr;
  // The main thread asks and blocks on each reply. ops = completed asks.
  Sample (*external_asks)(const Sizes&) = nullptr;
  // Median time from constructing the system to the first handler running
  // (startup_repetitions systems). ops = 1, seconds = that time.
  Sample (*startup)(const Sizes&) = nullptr;
};

WorkloadSet keel_workloads();
// Empty (all null) when the benchmark was built without CAF.
WorkloadSet caf_workloads();
// "CAF 0.17.6", or empty without CAF.
const char* caf_version();

}  // namespace keel_bench
