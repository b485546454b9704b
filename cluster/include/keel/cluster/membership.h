// keel/cluster/membership.h: hosts that form a cluster on a PostgreSQL
// journal, with leases judged by the database's clock.
//
// A cluster lives in the schema of its shared journal (the URL's
// keel_schema; keel/journal/pg_journal.h): a `cluster` row with the
// cluster's name and a salted hash of its shared secret, and a `hosts`
// table with one row per host: id, incarnation, addresses, labels and the
// time its lease ends. The layout and DDL are in docs/cluster.md. Orleans'
// membership table is the model: no consensus of Keel's own, the table is
// the truth.
//
//   keel::HostSpec me{"host-a", {"127.10.0.1:7400"}, {{"zone", "a"}}};
//   keel::MembershipOptions o;
//   o.secret = secret_from_a_file;
//   KEEL_ASSIGN_OR_RETURN(auto m, keel::Membership::join(url, me, o));
//   m->on_lease_lost([](const keel::Status& why) { /* stop committing */ });
//   KEEL_ASSIGN_OR_RETURN(std::vector<keel::HostView> hosts, m->hosts());
//   m->leave();
//
// Leases. A host holds one lease for everything it owns, renewed by one
// statement every MembershipOptions::renew_every on a thread of its own. The
// database sets the lease's end (its clock, now() + lease) and judges it
// (a lease has ended when the database's clock has passed it), so hosts'
// clocks never need to agree. A host fences itself: it holds its lease
// only until `lease_deadline()`, a local monotonic time that is never later
// than the database's end of the lease (the renewal's send time plus the
// lease, less a margin for clock rates), and stops committing from then
// on; the writer epochs checked in every journal commit are the guarantee
// when that is late (a paused process).
//
// Incarnations. Joining with the id of an existing row starts a new
// incarnation of that host: the old incarnation's next renewal fails with
// kOwnershipLost, as does a renewal after the lease ended. A host whose
// lease is lost must join again.
//
// Thread-safe. Calls block on the network for at most
// MembershipOptions::timeout each.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/cluster/placement.h"

namespace keel {

// Who a host is, as it joins.
struct HostSpec {
  // 1 to 128 characters of [A-Za-z0-9._:-]: unique in the cluster and
  // stable across restarts of the host (a hostname, or an agent's name).
  std::string id;
  // Where peers and clients reach it ("127.10.0.1:7400"); no newlines.
  std::vector<std::string> addresses;
  Labels labels;  // keys [A-Za-z0-9._-]+, values without ',', '=' or newlines
  // How many gang members it takes (keel/cluster/gangs.h); 0: no limit.
  std::uint32_t slots = 0;
};

struct MembershipOptions {
  std::string cluster = "keel";  // the cluster's name: [A-Za-z0-9._-]{1,63}
  // The shared secret every host presents (at least 16 bytes). The first
  // host to join creates the cluster with it; a host with another secret
  // is refused with kUnauthenticated.
  std::string secret;
  // 1 s to 1 h. Short, so that a dead host's shards move within seconds
  // (docs/cluster.md, "Leases", on choosing it).
  std::chrono::milliseconds lease{2000};
  std::chrono::milliseconds renew_every{0};     // 0: lease / 3
  std::chrono::milliseconds timeout{5000};      // each call's wait for the database
};

// A host as the database records it, judged by the database's clock.
struct HostView {
  std::string id;
  std::uint64_t incarnation = 0;
  std::vector<std::string> addresses;
  Labels labels;
  std::uint32_t slots = 0;  // gang members it takes; 0: no limit
  bool live = false;  // joined, not left, lease not ended
  bool left = false;  // left gracefully (leave())
  // Marked draining (keel/cluster/drain.h): a live draining host keeps its
  // lease, but placement gives it no shard and gangs no member.
  bool draining = false;
  // Until the lease ends (negative: since it ended), by the database's clock.
  std::chrono::milliseconds lease_left{0};
};

class Membership {
 public:
  // Joins cluster `options.cluster` in the PostgreSQL database and schema
  // `url` names (a libpq URL or keyword string with keel_schema, as for
  // open_pg_journal), creating the cluster's tables and row on first use,
  // and starts renewing. Errors: kInvalidArgument (a malformed URL, id,
  // address, label or option), kUnauthenticated (wrong secret, or the
  // server refused the credentials), kFailedPrecondition (the schema holds
  // another cluster), kUnavailable (the server cannot be reached by
  // options.timeout), kIoError. No message holds the secret or the
  // database password.
  static Result<std::unique_ptr<Membership>> join(const std::string& url, HostSpec self,
                                                  MembershipOptions options);
  // Stops renewing without leaving: the lease runs out as if the host had
  // died (leave() first for a graceful exit).
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  const HostSpec& self() const { return self_; }
  std::uint64_t incarnation() const { return incarnation_; }
  // "<id>#<incarnation>": this incarnation as a shard's holder
  // (keel/cluster/shard_claims.h).
  std::string holder() const { return self_.id + "#" + std::to_string(incarnation_); }
  // The longest a call waits for the database (MembershipOptions::timeout).
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Whether this host still holds its lease by the local deadline.
  bool holds_lease() const;
  // The local monotonic time (SystemClock) until which the lease is held.
  TimePoint lease_deadline() const;

  // Renews the lease now (the renewal thread calls it too). Errors:
  // kOwnershipLost (the lease ended, the host left, or a newer incarnation
  // joined: join again), kUnavailable (the database did not answer; the
  // lease may still be held until lease_deadline()).
  Status renew();
  // Renewals of this incarnation that succeeded, and that failed (the
  // database did not answer in time, or the lease was gone), so far.
  std::uint64_t renewals() const;
  std::uint64_t renewal_failures() const;

  // `callback` runs once, on the renewal thread, when the lease is lost:
  // a renewal found it ended or superseded, or the database did not answer
  // before lease_deadline(). Set it before the lease can be lost.
  void on_lease_lost(std::function<void(const Status&)> callback);

  // Every host of the cluster, by id. Errors: kUnavailable, kIoError.
  Result<std::vector<HostView>> hosts() const;
  // The hosts placement may choose (keel/cluster/placement.h): live and
  // not draining. Errors: as hosts().
  Result<std::vector<PlacementHost>> live_hosts() const;

  // Leaves gracefully: the lease ends now and the host is marked left, so
  // its shards can be taken at once; renewing stops. Errors: as renew().
  Status leave();

 private:
  class Impl;
  Membership(HostSpec self, std::uint64_t incarnation, std::chrono::milliseconds timeout, std::unique_ptr<Impl> impl);

  const HostSpec self_;
  const std::uint64_t incarnation_;
  const std::chrono::milliseconds timeout_;
  std::unique_ptr<Impl> impl_;
};

// The hosts of `hosts` that placement may choose: live and not draining,
// in the same order.
std::vector<PlacementHost> placement_hosts(const std::vector<HostView>& hosts);

}  // namespace keel
