// wait_balanced.h: waiting, in a test, until the hosts of another process
// share a cluster's shards.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "keel/cluster/cluster_view.h"

namespace keel::testing {

// Re-reads the tables of the cluster at `url` every 100 ms, up to
// `deadline`, until its live hosts are exactly `ids` and every shard is held
// by one of them; returns whether that happened.
inline bool wait_balanced(const std::string& url, const std::set<std::string>& ids,
                          std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    Result<ClusterView> v = read_cluster(url);
    if (v.has_value()) {
      std::set<std::string> live, holding;
      for (const HostView& h : v->hosts) {
        if (h.live) live.insert(h.id);
      }
      bool all_held = true;
      for (const ShardHolder& s : v->shards) {
        all_held = all_held && s.live;
        if (s.live) holding.insert(s.host);
      }
      if (live == ids && holding == ids && all_held) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // other processes: their tables are polled
  }
  return false;
}

}  // namespace keel::testing
