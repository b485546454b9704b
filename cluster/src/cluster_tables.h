// cluster_tables.h: reading the cluster's tables (docs/cluster.md,
// "Tables"), shared by Membership, ShardClaims and read_cluster.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "keel/cluster/membership.h"
#include "keel/cluster/shard_claims.h"
#include "pg_connection.h"
#include "pg_conninfo.h"

namespace keel::internal {

// Every host row, by id, judged by the database's clock. Errors: those of
// PgConnection::exec.
Result<std::vector<HostView>> read_hosts(PgConnection* c, const PgTarget& t, TimePoint deadline);

// Every shard's holder, 0..shards-1. Errors: those of PgConnection::exec.
Result<std::vector<ShardHolder>> read_holders(PgConnection* c, const PgTarget& t, std::uint32_t shards,
                                              TimePoint deadline);

// The holder's host row when that holder is a live incarnation: the join
// (of `S.epochs e` with `S.hosts h`) that the statements on shards share.
inline constexpr std::string_view kLiveHolderJoin =
    "LEFT JOIN S.hosts h ON h.id = split_part(e.holder, '#', 1) "
    "AND h.incarnation::text = split_part(e.holder, '#', 2) AND h.state = 'joined' "
    "AND h.lease_ends > clock_timestamp()";

// This incarnation's own live lease ($1 id, $2 incarnation), share-locked
// until the transaction ends, so no new incarnation supersedes it meanwhile.
inline constexpr std::string_view kOwnLeaseSql =
    "SELECT draining FROM S.hosts WHERE id = $1 AND incarnation = $2::bigint AND state = 'joined' "
    "AND lease_ends > clock_timestamp() FOR SHARE";

// Checks, inside a transaction, that `m`'s incarnation holds a live lease
// (and keeps it share-locked, so a drain of the host waits for the
// transaction). Errors: kOwnershipLost naming `what` it may not do,
// kFailedPrecondition when `refuse_draining` and the host is draining, or
// those of PgConnection::exec.
Status check_own_lease(PgConnection* c, const PgTarget& t, const Membership& m, std::string_view what,
                       TimePoint deadline, bool refuse_draining = false);

// Runs `body` in a transaction on `c`: COMMIT when it succeeds, else
// ROLLBACK and its error.
Status run_transaction(PgConnection* c, TimePoint deadline, const std::function<Status()>& body);

// The payload of the notification on the cluster's channel (its schema's
// name, keel/cluster/cluster_listener.h) that says the hosts or the shards'
// holders changed; a registry change's payload is "ns/name".
inline constexpr std::string_view kShardsChanged = "shards";

// Notifies kShardsChanged on the cluster's channel: at once outside a
// transaction, at its commit inside one. A wake-up only: the caller's
// change has been made (or is in the transaction) whatever this returns.
// Errors: those of PgConnection::exec.
Status notify_shards_changed(PgConnection* c, const PgTarget& t, TimePoint deadline);

// "gpu=1\nzone=a" (the hosts table's labels) -> labels.
Labels labels_from_lines(std::string_view text);

}  // namespace keel::internal
