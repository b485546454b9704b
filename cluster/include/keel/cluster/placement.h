// keel/cluster/placement.h: which host owns a shard, by rendezvous hashing
// over the live hosts that carry the required labels.
//
// Every host computes the same map from the same membership: a shard goes to
// the matching host with the highest keel::rendezvous_weight(host id,
// shard number in decimal) (keel/base/rendezvous.h), so a host that
// joins takes about 1/N of the shards from the others and a host that dies
// gives its shards away without moving any other shard. An owner (a durable
// actor's or a workflow run's journal owner name) falls into the shard
// keel::pg_shard_of gives, the same shard whose writer epoch fences its
// commits in the PostgreSQL journal (keel/journal/pg_journal.h).
//
//   keel::PlacementHost a{"host-a", {{"zone", "a"}}}, b{"host-b", {{"gpu", "1"}}};
//   keel::Result<std::string> host = keel::place_shard(7, {a, b}, {{"gpu", "1"}});  // "host-b"
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/status.h"

namespace keel {

// A host's labels ("gpu" -> "1", "zone" -> "a"), and a placement's
// requirement: every required key present with the same value.
using Labels = std::map<std::string, std::string>;

// What placement needs to know of a live host.
struct PlacementHost {
  std::string id;
  Labels labels;
};

// Whether `labels` satisfy `required`.
bool labels_match(const Labels& labels, const Labels& required);

// "gpu=1,zone=a": labels for messages and the command line.
std::string labels_to_string(const Labels& labels);
// Parses "gpu=1,zone=a" (empty: no labels). Errors: kInvalidArgument for an
// entry without '=', an empty key, or a key given twice.
Result<Labels> labels_from_string(std::string_view text);

// The owner of `shard` among `hosts`: the host with required labels with
// the highest score (ties: the smaller id). Errors: kFailedPrecondition
// naming the requirement when no host matches (none is live, or none has
// the labels).
Result<std::string> place_shard(std::uint32_t shard, const std::vector<PlacementHost>& hosts,
                                const Labels& required = {});

// The owner of every shard 0..shards-1 among `hosts` (no requirement): an
// empty vector when `hosts` is empty.
std::vector<std::string> shard_map(std::uint32_t shards, const std::vector<PlacementHost>& hosts);

}  // namespace keel
