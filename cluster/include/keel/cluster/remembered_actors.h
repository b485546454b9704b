// keel/cluster/remembered_actors.h: which actors live in which shard, and
// of which type, so that the host that gains a shard spawns its actors
// again (Akka's remembered entities). The journal holds a durable actor's
// state under its key but not its type; this table holds the type.
//
// An actor is remembered by the host that holds its shard, in a statement
// that checks that holding (the shard's holder in S.epochs is this
// incarnation), so a host that lost the shard cannot add to it. Rows live
// in S.actors (docs/cluster.md, "Tables") until forgotten.
//
//   KEEL_ASSIGN_OR_RETURN(auto actors, keel::RememberedActors::open(url, *membership));
//   KEEL_RETURN_IF_ERROR(actors->remember("order-17", "Order", pg_shard_of("actor/order-17")));
//   for (const keel::RememberedActor& a : *actors->in_shards(gained)) spawn(a.type, a.key);
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

namespace keel {

// Value type: one remembered actor.
struct RememberedActor {
  std::string key;
  std::string type;
  std::uint32_t shard = 0;
  friend bool operator==(const RememberedActor&, const RememberedActor&) = default;
};

class RememberedActors {
 public:
  // The table of the cluster at `url` (the URL `membership` joined with),
  // as `membership`'s host; `membership` must outlive this object. Errors:
  // kInvalidArgument (a malformed URL).
  static Result<std::unique_ptr<RememberedActors>> open(const std::string& url, const Membership& membership);
  ~RememberedActors();
  RememberedActors(const RememberedActors&) = delete;
  RememberedActors& operator=(const RememberedActors&) = delete;

  // Records actor `key` of `type` in `shard`; a key recorded already with
  // the same type is left as it is. Errors: kOwnershipLost (this
  // incarnation does not hold `shard`: nothing is recorded),
  // kAlreadyExists (the key is recorded with another type, named),
  // kInvalidArgument (an empty key or type), kUnavailable, kIoError.
  Status remember(const std::string& key, const std::string& type, std::uint32_t shard);
  // Removes `key`'s row; a key not recorded is fine. Errors: kUnavailable,
  // kIoError.
  Status forget(const std::string& key);
  // The actors recorded in `shards`, by key. Errors: kUnavailable, kIoError.
  Result<std::vector<RememberedActor>> in_shards(const std::vector<std::uint32_t>& shards);

 private:
  class Impl;
  explicit RememberedActors(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
