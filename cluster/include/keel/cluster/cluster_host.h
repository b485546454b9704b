// keel/cluster/cluster_host.h: one host of a cluster in one object: its
// membership (keel/cluster/membership.h), its writer of the shared journal,
// and its share of the shards (keel/cluster/shard_keeper.h), which it hands
// to the journal and to the application, to recover the owners of the
// shards it gains and to stop those of the shards it loses.
//
//   keel::ClusterHostOptions o;
//   o.membership.cluster = "orders";
//   o.membership.secret = secret;
//   KEEL_ASSIGN_OR_RETURN(auto host, keel::ClusterHost::join(url, {"host-a", {"10.0.0.5:7400"}}, o));
//   keel::SystemConfig config;
//   config.journal = &host->journal();   // this host's writer of the shared journal
//   keel::System system(config);
//   keel::ClusterHost::Callbacks cb;
//   cb.gained = [&](const std::vector<keel::PgShardEpoch>& shards) {
//     for (const std::string& owner : *host->owners_in(shards)) recover(system, owner);  // spawn_durable
//   };
//   cb.losing = [&](const std::vector<std::uint32_t>& shards, bool lost) { stop_owners_in(system, shards); };
//   KEEL_RETURN_IF_ERROR(host->start(std::move(cb)));
//   ...
//   host->leave();   // hands every shard over, then leaves; before the
//                    // System goes, as no callback may run after that
//
// The journal is opened as one of the cluster's writers
// (JournalOptions::pg_claim_all_shards = false, keel/journal/pg_journal.h):
// it writes only the shards this host holds. `gained` runs once the journal
// holds the new shards; `losing` runs before it lets them go (a hand-over:
// stop their owners so that they commit what they have), or after they were
// lost (the lease ended, or another host claimed them: their commits are
// refused already). A WorkflowEngine on the host's journal is handed its
// shards the same way (WorkflowEngine::resume_shards and release_shards;
// docs/cluster.md, "Workflow runs on a cluster host"). Thread-safe;
// callbacks run on the keeper's thread, one at a time, and must not call
// leave() or destroy the host.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/status.h"
#include "keel/cluster/membership.h"
#include "keel/cluster/shard_keeper.h"
#include "keel/journal/journal.h"
#include "keel/journal/pg_journal.h"

namespace keel {

struct ClusterHostOptions {
  MembershipOptions membership;
  ShardKeeperOptions keeper;
  // For the journal (pg_timeout, durability, group sizes); the schema comes
  // from the URL, and pg_claim_all_shards is always false here.
  JournalOptions journal;
};

class ClusterHost {
 public:
  using Callbacks = ShardKeeper::Callbacks;

  // Joins the cluster at `url` (a PostgreSQL journal's URL) as `spec`, and
  // opens the journal there as one of the cluster's writers, holding no
  // shard until start(). Errors: those of Membership::join and of
  // open_pg_journal (the host leaves again when the open fails).
  static Result<std::unique_ptr<ClusterHost>> join(const std::string& url, const HostSpec& spec,
                                                   ClusterHostOptions options);
  // Stops keeping shards without handing them over, closes the journal and
  // stops renewing the lease, as a crash would (the shards move once the
  // lease ends). leave() first for a graceful exit.
  ~ClusterHost();
  ClusterHost(const ClusterHost&) = delete;
  ClusterHost& operator=(const ClusterHost&) = delete;

  // Starts keeping this host's share of the shards (the first round runs at
  // once). Call once, after whatever `callbacks` use exists. Errors:
  // kFailedPrecondition (started already).
  Status start(Callbacks callbacks);
  // The journal this host writes; lives as long as the host.
  Journal& journal();
  Membership& membership();
  // The shards held now, by shard (empty before start()).
  std::vector<PgShardEpoch> held() const;
  // Whether `owner`'s shard is held now.
  bool holds(std::string_view owner) const;
  // The owners stored in the journal whose shards are among `shards`, in
  // order (for a gained callback to recover). Errors: those of
  // Journal::owners().
  Result<std::vector<std::string>> owners_in(const std::vector<PgShardEpoch>& shards);
  // Hands every shard over (losing(all, false) first) and leaves the
  // cluster. Errors: those of ShardKeeper::leave / Membership::leave.
  Status leave();
  // Stops keeping shards without handing them over: no callback runs once
  // it returns, and the shards move once the lease ends (the lease is still
  // renewed until the host is destroyed). Call leave() or stop() before
  // destroying what the callbacks use (the System). Idempotent.
  void stop();

 private:
  struct Parts;
  explicit ClusterHost(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace keel
