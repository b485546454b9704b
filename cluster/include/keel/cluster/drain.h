// keel/cluster/drain.h: draining a host, asked for without joining the
// cluster (`keel cluster drain HOST`, an operator's script).
//
// A draining host keeps its lease and stays a member, but placement no
// longer chooses it (Membership::live_hosts and placement_hosts leave it
// out): its ShardKeeper hands every shard it holds over in its next round
// (losing(lost = false), then release) and the other hosts claim them in
// theirs; its claims are refused from the moment the drain is recorded;
// gangs allocated from then on place no member on it. The state belongs to
// the host's incarnation: the next incarnation (the host restarted and
// joined again) is not draining. undrain_host() undoes a drain, after which
// placement gives the host its share again.
//
//   keel::DrainOptions o;
//   o.secret = read_secret_file();   // the cluster's shared secret
//   KEEL_ASSIGN_OR_RETURN(std::uint64_t incarnation, keel::drain_host(url, "host-b", o));
//   // then poll keel::read_cluster(url) until no shard's holder is host-b#incarnation
//
// Thread-safe: each call opens a connection of its own and closes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "keel/base/status.h"

namespace keel {

struct DrainOptions {
  // The cluster's shared secret (MembershipOptions::secret): draining a host
  // takes what joining takes. Checked against the cluster's salted hash;
  // never stored or shown.
  std::string secret;
  // The longest the call waits for the database.
  std::chrono::milliseconds timeout{10000};
};

// Marks host `host` of the cluster in the journal `url` names (as for
// Membership::join) as draining, in one transaction that waits for any
// claim of the host in progress. Draining a draining host again changes
// nothing. Returns the incarnation marked: once no shard's holder is that
// incarnation (keel/cluster/cluster_view.h), the drain is done. Needs
// UPDATE on S.hosts besides what read_cluster needs. Errors:
// kInvalidArgument (a malformed URL), kNotFound (no journal, no cluster,
// or no host `host` in it: the message names it), kUnauthenticated (the
// secret is not the cluster's, or the server refused the credentials),
// kFailedPrecondition (the host is not live: down or left; or the hosts
// table predates draining, as no host of this build has joined since),
// kUnavailable (the server cannot be reached by options.timeout), kIoError.
Result<std::uint64_t> drain_host(const std::string& url, const std::string& host, const DrainOptions& options);

// Undoes drain_host: placement chooses `host` again, and its ShardKeeper
// claims its share in its next rounds. Undraining a host that is not
// draining changes nothing. Returns the incarnation. Errors: as
// drain_host.
Result<std::uint64_t> undrain_host(const std::string& url, const std::string& host, const DrainOptions& options);

}  // namespace keel
