// keel/cluster/cluster_view.h: what a cluster's tables say, read without
// joining it (`keel cluster status | hosts | shards`, monitoring). A role
// with SELECT on the journal's schema suffices (docs/operations.md).
//
//   KEEL_ASSIGN_OR_RETURN(keel::ClusterView v, keel::read_cluster(url));
//   for (const keel::HostView& h : v.hosts) std::cout << h.id << (h.live ? " live\n" : " down\n");
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/cluster/membership.h"
#include "keel/cluster/shard_claims.h"

namespace keel {

// Value type: one consistent read (one transaction), judged by the
// database's clock.
struct ClusterView {
  std::string name;                  // the cluster's name
  std::string journal;               // the journal's name, without the password
  std::vector<HostView> hosts;       // by id
  std::vector<ShardHolder> shards;   // every shard of the journal, by number
};

// Reads the cluster in the journal `url` names (as for Membership::join).
// Errors: kInvalidArgument (a malformed URL), kNotFound (no journal there,
// or a journal no host has joined a cluster on), kUnavailable (the server
// cannot be reached by `timeout`), kUnauthenticated, kIoError.
Result<ClusterView> read_cluster(const std::string& url,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace keel
