// keel/base/rendezvous.h: the weight of rendezvous (highest random weight)
// hashing, shared by everything that picks a place for a key: the client's
// choice of agent and the cluster's choice of a shard's host.
#pragma once

#include <cstdint>
#include <string_view>

namespace keel {

// FNV-1a over `place`, a zero byte and `key`, then the SplitMix64 finalizer
// so that nearby inputs give unrelated weights. The same in every run of
// every build on every machine: hosts that compute it agree without talking.
// The place with the highest weight for a key wins it.
std::uint64_t rendezvous_weight(std::string_view place, std::string_view key);

}  // namespace keel
