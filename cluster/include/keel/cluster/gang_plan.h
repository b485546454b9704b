// keel/cluster/gang_plan.h: where the members of a gang go: N members over
// the live hosts that carry the required labels and have free slots, by a
// pack or spread policy, all or none (Spoke's gang allocation, Ray's
// placement groups). A pure function of its arguments; the allocation that
// records it is keel/cluster/gangs.h.
//
//   keel::GangRequest r{"trainer", 4, keel::GangPolicy::kStrictSpread, {{"gpu", "1"}}};
//   keel::Result<std::vector<keel::GangMember>> plan = keel::plan_gang(hosts, r);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/status.h"
#include "keel/cluster/placement.h"

namespace keel {

enum class GangPolicy : std::uint8_t {
  kPack = 0,          // as few hosts as the free slots allow
  kSpread = 1,        // one member per host in turn, as many hosts as there are
  kStrictPack = 2,    // every member on one host
  kStrictSpread = 3,  // every member on a host of its own
};

// "pack", "spread", "strict-pack", "strict-spread".
std::string_view gang_policy_name(GangPolicy policy);

struct GangRequest {
  std::string name;          // the gang's name, for people and for balance
  std::uint32_t size = 0;    // 1 or more members
  GangPolicy policy = GangPolicy::kSpread;
  Labels required;           // every member's host carries these
};

// A member of a gang: its rank (0..size-1) and its host.
struct GangMember {
  std::uint32_t rank = 0;
  std::string host;
};

// A live host as gang planning sees it.
struct HostCapacity {
  std::string id;
  Labels labels;
  // Members it can still take; kUnlimited for a host without a slot limit.
  std::uint32_t free_slots = 0;
  static constexpr std::uint32_t kUnlimited = 0xffffffffu;
};

// The members of `request` over `hosts`, ranks in order. Hosts are tried in
// the order of keel::rendezvous_weight(host id, gang name), so gangs of
// other names start elsewhere; kPack prefers the hosts with the most free
// slots. Errors: kInvalidArgument (size 0), kFailedPrecondition (the hosts
// cannot take the whole gang by the policy: nothing is planned; the message
// names the policy, the labels and what the hosts offer).
Result<std::vector<GangMember>> plan_gang(const std::vector<HostCapacity>& hosts, const GangRequest& request);

}  // namespace keel
