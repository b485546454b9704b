// keel/cluster/gangs.h: gangs allocated all or none over the cluster's
// live hosts and recorded in its tables, with a ticket to find and release
// them by (Spoke's gang allocation, Ray's placement groups).
//
// A gang is N members, each a rank on a host, placed by keel::plan_gang
// (keel/cluster/gang_plan.h) over the live hosts with the required labels
// and free slots (HostSpec::slots less the members of other gangs on the
// host). allocate() plans and records in one transaction, under a lock that
// serializes allocations of the cluster, so two gangs never take the same
// slot; nothing is recorded when the gang does not fit. A member is dead
// once the incarnation of its host that it was placed on no longer holds a
// lease (the host died, left, or restarted): dead_members() tells the
// gang's owner.
//
//   KEEL_ASSIGN_OR_RETURN(auto gangs, keel::Gangs::open(url, *membership));
//   KEEL_ASSIGN_OR_RETURN(keel::GangTicket t, gangs->allocate({"trainer", 4, keel::GangPolicy::kStrictSpread}));
//   for (const keel::GangMember& m : t.members) spawn_rank_on(m.host, m.rank);
//   gangs->release(t.ticket);
//
// Thread-safe; calls block on the network for at most the membership's
// timeout.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/cluster/gang_plan.h"
#include "keel/cluster/membership.h"

namespace keel {

// Value type: a recorded gang.
struct GangTicket {
  std::string ticket;  // 32 hexadecimal digits
  std::string name;
  std::string owner;   // the allocating incarnation ("host-a#3")
  GangPolicy policy = GangPolicy::kSpread;
  std::vector<GangMember> members;  // by rank
};

class Gangs {
 public:
  // Gangs for `membership`'s host in the cluster at `url` (the URL it
  // joined with). `membership` must outlive this object. Errors:
  // kInvalidArgument (a malformed URL).
  static Result<std::unique_ptr<Gangs>> open(const std::string& url, const Membership& membership);
  ~Gangs();
  Gangs(const Gangs&) = delete;
  Gangs& operator=(const Gangs&) = delete;

  // Plans and records `request`, all or none. Errors: kInvalidArgument
  // (size 0, an empty name), kFailedPrecondition (it does not fit: see
  // plan_gang), kOwnershipLost (this host holds no lease), kUnavailable,
  // kIoError.
  Result<GangTicket> allocate(const GangRequest& request);
  // Frees the gang's slots. Errors: kNotFound (no such ticket),
  // kUnavailable, kIoError.
  Status release(const std::string& ticket);
  // The recorded gang. Errors: kNotFound, kUnavailable, kIoError.
  Result<GangTicket> find(const std::string& ticket);
  // Its members whose host incarnation no longer holds a lease, by rank.
  // Errors: kNotFound, kUnavailable, kIoError.
  Result<std::vector<GangMember>> dead_members(const std::string& ticket);

 private:
  class Impl;
  explicit Gangs(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
