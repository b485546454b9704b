// pg_schema.h: the tables of a PostgreSQL journal (docs/journal-format.md,
// "PostgreSQL"): creating and upgrading them in a writer's open, checking
// them in a reader's, and claiming shards' writer epochs. Functions over
// the caller's connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/journal/pg_journal.h"
#include "pg_connection.h"

namespace keel::internal {

// The layout of the tables ("layout_version" in meta). Bumped when a
// change needs code that knows it; a writer's open upgrades an older
// layout in its transaction, and every open refuses a newer one.
// 2: the admin table, and writers hold the live lock (pg_live_writer.cc):
// a build that knows neither must not write beside one that relies on them.
inline constexpr int kPgLayoutVersion = 2;

// What a journal's meta table says. Value type.
struct PgHeader {
  int format_version = kJournalFormatVersion;
  int layout_version = kPgLayoutVersion;
  std::uint32_t shards = kPgShards;
};

// `sql` with every "S." that starts a word replaced by schema `s` and a
// dot. Schema names are [a-z0-9_] (is_valid_pg_schema): no quoting needed.
std::string in_schema(const std::string& s, std::string_view sql);

// The DDL of a new journal in schema `s` (after CREATE SCHEMA), and the
// statements that add what a journal made before them lacks (IF NOT EXISTS:
// the snapshot index, the summary and removal tables, the epochs, the commit
// ids, the admin table and the fencing function).
std::string pg_create_tables(const std::string& s);
std::string pg_upgrade_tables(const std::string& s);

// Writer open, in one transaction: creates the schema and its tables (when
// missing, and `create`), or checks the header and upgrades the layout.
// Errors: kNotFound (no schema, !create), kCorruption (a schema with other
// tables, or an empty one when !create: "not a Keel journal"; a damaged
// header), kFailedPrecondition (newer format or layout), kUnavailable,
// kIoError. The header's format_version is left as it was (the caller
// judges the summaries by it, then raises it).
Result<PgHeader> create_or_upgrade(PgConnection* c, const PgTarget& t, bool create, TimePoint deadline);
// Reader open: checks the header, writes nothing. Errors as above.
Result<PgHeader> check_pg_journal(PgConnection* c, const PgTarget& t, TimePoint deadline);

// Claims `shards` for `holder` in one transaction (see claim_pg_shards).
// Errors: kInvalidArgument (a shard out of range), kUnavailable, kIoError.
Result<std::vector<PgShardEpoch>> claim_shards(PgConnection* c, const PgTarget& t, const PgHeader& header,
                                               const std::vector<std::uint32_t>& shards, std::string_view holder,
                                               TimePoint deadline);

// Whether relation `name` (unqualified) exists in the journal's schema.
Result<bool> pg_has_relation(PgConnection* c, const PgTarget& t, const char* name, TimePoint deadline);

}  // namespace keel::internal
