// poll_tables.h: waiting, in a test, for what other processes write to a
// cluster's tables. They signal nothing this process can wait on, so the
// tables are read again every period until a condition holds or a deadline
// passes.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "keel/cluster/cluster_view.h"

namespace keel::testing {

// Calls `done()` every `period` until it returns true (then true) or
// `deadline` has passed (then false).
template <class Done>
bool poll_until(Done done, std::chrono::milliseconds deadline,
                std::chrono::milliseconds period = std::chrono::milliseconds(100)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(period);  // keel-allow-sleep: other processes' writes to the tables are polled
  }
}

// Waits until the live hosts of the cluster at `url` are exactly `ids` and
// every shard is held by one of them.
inline bool wait_balanced(const std::string& url, const std::set<std::string>& ids,
                          std::chrono::milliseconds deadline) {
  return poll_until(
      [&] {
        Result<ClusterView> v = read_cluster(url);
        if (!v.has_value()) return false;
        std::set<std::string> live, holding;
        for (const HostView& h : v->hosts) {
          if (h.live) live.insert(h.id);
        }
        bool all_held = true;
        for (const ShardHolder& s : v->shards) {
          all_held = all_held && s.live;
          if (s.live) holding.insert(s.host);
        }
        return live == ids && holding == ids && all_held;
      },
      deadline);
}

}  // namespace keel::testing
