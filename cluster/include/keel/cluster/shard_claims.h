// keel/cluster/shard_claims.h: which host owns which shard of the shared
// journal, recorded in the journal's own writer epochs.
//
// A shard's row in the journal's `epochs` table (docs/journal-format.md,
// "Fencing") holds its writer epoch and its holder. A host claims a shard
// by raising the epoch and writing itself ("<host id>#<incarnation>") as
// the holder, in one transaction, and only when the shard is free: never
// claimed, released, held by this same host, or held by a host whose lease
// has ended (by the database's clock), that has left, or that a newer
// incarnation of itself has superseded. A shard held by another live host
// is never taken: that host releases it first (a graceful hand-over) or
// its lease runs out. So two live hosts never hold a shard at once, and a
// stale holder's journal commits fail with kOwnershipLost once the epoch
// has moved on.
//
//   KEEL_ASSIGN_OR_RETURN(auto claims, keel::ShardClaims::open(url, *membership));
//   KEEL_ASSIGN_OR_RETURN(keel::ClaimOutcome got, claims->claim({3, 7, 9}));
//   // got.claimed: {shard, new epoch} now held; got.busy: held by live hosts
//   claims->release(got.claimed);   // hand over
//
// Thread-safe; calls block on the network for at most the membership's
// timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/cluster/membership.h"
#include "keel/journal/pg_journal.h"

namespace keel {

struct ClaimOutcome {
  std::vector<PgShardEpoch> claimed;  // now held by this host, at these epochs
  std::vector<std::uint32_t> busy;    // held by another live host: left alone
};

// A shard's holder as the database records it.
struct ShardHolder {
  std::uint32_t shard = 0;
  std::uint64_t epoch = 0;
  std::string host;              // empty: free (never claimed by a host, or released)
  std::uint64_t incarnation = 0;
  bool live = false;             // the holder's incarnation holds a live lease
};

class ShardClaims {
 public:
  // Claims for `membership`'s host in the cluster at `url` (the URL it
  // joined with). `membership` must outlive this object. Errors:
  // kInvalidArgument (a malformed URL).
  static Result<std::unique_ptr<ShardClaims>> open(const std::string& url, const Membership& membership);
  ~ShardClaims();
  ShardClaims(const ShardClaims&) = delete;
  ShardClaims& operator=(const ShardClaims&) = delete;

  // Claims the free ones of `shards` (see above) in one transaction.
  // Errors: kOwnershipLost (this host's own lease has ended or it was
  // superseded: nothing is claimed), kFailedPrecondition (this host is
  // draining, keel/cluster/drain.h: nothing is claimed), kInvalidArgument
  // (a shard beyond the journal's shard count), kUnavailable, kIoError.
  Result<ClaimOutcome> claim(const std::vector<std::uint32_t>& shards);

  // Gives `held` back (each only if this host still holds it at that
  // epoch), so another host can claim it at once. Returns how many were
  // released. Errors: kUnavailable, kIoError.
  Result<std::size_t> release(const std::vector<PgShardEpoch>& held);

  // Every shard's holder (shards never claimed at all are free, epoch 0).
  // Errors: kUnavailable, kIoError.
  Result<std::vector<ShardHolder>> holders();

 private:
  class Impl;
  explicit ShardClaims(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
