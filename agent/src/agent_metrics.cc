#include "agent_metrics.h"

#include "keel/base/metrics_registry.h"

namespace keel::internal {

namespace {

wire::WorkerStats empty_stats() {
  wire::WorkerStats s;
  s.commit_seconds.bounds = latency_buckets_seconds();
  s.commit_seconds.counts.assign(s.commit_seconds.bounds.size() + 1, 0);
  return s;
}

// `a` plus the counters of `b` (inbox depth is not a counter: it is b's).
// A histogram with other bounds than a's (a worker built with other
// buckets) replaces a's.
wire::WorkerStats plus(wire::WorkerStats a, const wire::WorkerStats& b) {
  a.messages_handled += b.messages_handled;
  a.durable_commits += b.durable_commits;
  a.durable_records += b.durable_records;
  a.inbox_depth = b.inbox_depth;
  if (!a.commit_seconds.add(b.commit_seconds).is_ok()) a.commit_seconds = b.commit_seconds;
  return a;
}

constexpr const char* kFrameNames[kClientFrameKinds] = {"spawn", "call", "cancel"};

}  // namespace

AgentMetrics::AgentMetrics(int slots) : slots_(static_cast<std::size_t>(slots), Slot{empty_stats(), empty_stats()}) {}

void AgentMetrics::worker_stats(int slot, const wire::WorkerStats& stats) {
  MutexLock l(mu_);
  slots_[slot].current = stats;
}

void AgentMetrics::worker_gone(int slot) {
  MutexLock l(mu_);
  Slot& s = slots_[slot];
  s.past = plus(std::move(s.past), s.current);
  s.past.inbox_depth = 0;
  s.current = empty_stats();
}

std::string AgentMetrics::render(const AgentState& state) const {
  MetricsRegistry r;
  for (int k = 0; k < kClientFrameKinds; ++k) {
    r.counter("keel_agent_messages_total", "Client frames the agent routed, by kind (spawn, call, cancel).",
              {{"kind", kFrameNames[k]}})
        .add(frames_[k].value());
  }
  r.counter("keel_agent_worker_restarts_total", "Worker processes restarted by the agent, all slots.")
      .add(state.worker_restarts);
  r.gauge("keel_agent_workers_up", "Worker slots whose process is registered and serving.")
      .set(static_cast<double>(state.workers_up));
  r.gauge("keel_agent_clients", "Client connections open.").set(static_cast<double>(state.clients));
  if (const std::optional<ClusterFigures>& c = state.cluster) {
    r.gauge("keel_cluster_shards_held", "Shards this host holds and serves.")
        .set(static_cast<double>(c->shards_held));
    r.counter("keel_cluster_shards_gained_total", "Shards this host claimed (after a hand-over or a failover).")
        .add(c->shards_gained);
    r.counter("keel_cluster_shards_handed_over_total", "Shards this host gave to another while it lived.")
        .add(c->shards_handed_over);
    r.counter("keel_cluster_shards_lost_total", "Shards taken from this host: another claimed them, or its lease ended.")
        .add(c->shards_lost);
    r.counter("keel_cluster_actors_recovered_total", "Remembered actors spawned again on shards this host gained.")
        .add(c->actors_recovered);
    r.counter("keel_cluster_rejoins_total", "Times this host joined again after losing its lease.").add(c->rejoins);
    r.counter("keel_cluster_lease_renewals_total", "Lease renewals that succeeded.").add(c->lease_renewals);
    r.counter("keel_cluster_lease_renewal_failures_total", "Lease renewals that failed (no answer in time, or the lease was gone).")
        .add(c->lease_renewal_failures);
  }
  std::vector<wire::WorkerStats> totals;
  {
    MutexLock l(mu_);
    for (const Slot& s : slots_) totals.push_back(plus(s.past, s.current));
  }
  for (std::size_t i = 0; i < totals.size(); ++i) {
    const wire::WorkerStats& t = totals[i];
    const MetricLabels worker{{"worker", std::to_string(i)}};
    r.counter("keel_worker_messages_handled_total", "Messages handled by the worker's actors.", worker)
        .add(t.messages_handled);
    r.gauge("keel_worker_inbox_depth", "Messages queued in the worker's actor mailboxes at its last report.",
            worker)
        .set(static_cast<double>(t.inbox_depth));
    r.counter("keel_worker_commits_total", "Durable journal writes of the worker's durable actors.", worker)
        .add(t.durable_commits);
    r.counter("keel_worker_commit_records_total", "Records in the worker's durable journal writes.", worker)
        .add(t.durable_records);
    // A worker reporting other buckets than the agent's is left out of
    // this family (its bounds could not share the family's le labels).
    if (t.commit_seconds.bounds != latency_buckets_seconds()) continue;
    r.histogram("keel_worker_commit_seconds",
                "Seconds from a durable commit's submission to its write being durable.", latency_buckets_seconds(),
                worker)
        .add(t.commit_seconds)
        .ignore();  // bounds equal, and decoded snapshots are well-formed
  }
  return r.render();
}

}  // namespace keel::internal
