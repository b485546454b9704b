// cluster_tables.h: reading the cluster's tables (docs/cluster.md,
// "Tables"), shared by Membership, ShardClaims and read_cluster.
#pragma once

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

}  // namespace keel::internal
