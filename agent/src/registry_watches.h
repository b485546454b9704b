// registry_watches.h: clients' registry watches, held by an agent until a
// name's members reach a version other than the one the client has. The
// in-memory Registry (registry.h) keeps its watches here, and so does an
// agent in a cluster, whose members live in the cluster's table
// (keel/cluster/cluster_registry.h): it reads the table again when a name
// changes (or now and then) and hands the members to changed(). Internal
// to Keel::agent.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "keel/base/status.h"

namespace keel::internal {

// An answer to a registry call: the client connection, its correlation id,
// and the reply payload (encode_registry_members: version and keys, in
// registration order) or the error.
struct RegistryAnswer {
  std::uint64_t client = 0;
  std::uint64_t correlation = 0;
  Result<std::string> payload;
};

// Not thread-safe: the agent calls it under its lock.
class RegistryWatches {
 public:
  using Name = std::pair<std::string, std::string>;  // namespace, name

  // Adds the watch of client `client`'s call `correlation` on `name`, for a
  // version other than `version`, until `deadline_ns` (system clock, ns
  // since the epoch; 0: none).
  void add(std::uint64_t client, std::uint64_t correlation, const Name& name, std::uint64_t version,
           std::int64_t deadline_ns);
  // `name` has members `payload` (encode_registry_members) at `version`:
  // answers, into `out`, its watches of other versions.
  void changed(const Name& name, std::uint64_t version, const std::string& payload, std::vector<RegistryAnswer>& out);
  // The client has gone: drops its watches.
  void forget_client(std::uint64_t client);
  // Drops the watches whose deadline has passed at `now_ns`.
  void drop_expired(std::int64_t now_ns);
  // The names with watches whose deadline has not passed at `now_ns`
  // (dropping the others).
  std::vector<Name> names(std::int64_t now_ns);
  bool is_watched(const Name& name) const { return watches_.count(name) != 0; }

  // Names due to be read again, gathered until the agent's database thread
  // takes them: mark_due() returns true when none was due before (the
  // caller then queues the read).
  bool mark_due(const std::vector<Name>& names);
  std::set<Name> take_due() { return std::exchange(due_, {}); }

 private:
  // A client's watch: its call, waiting for a version other than `version`
  // until `deadline_ns` (0: none).
  struct Watch {
    std::uint64_t client = 0;
    std::uint64_t correlation = 0;
    std::uint64_t version = 0;
    std::int64_t deadline_ns = 0;
  };
  // Drops the watches `pred` holds for, and names left without one.
  template <class Pred>
  void drop_if(Pred pred);

  std::map<Name, std::vector<Watch>> watches_;  // no empty vectors
  std::set<Name> due_;
};

}  // namespace keel::internal
