// pg_summary.h: the owners and counters tables of a PostgreSQL journal
// (docs/journal-format.md, "Counters and owner summaries"): reading them,
// with the records committed after their last checkpoint, and the
// statements that write a checkpoint. Functions over the caller's
// connection, inside its transaction (a writer's, or a reader's
// repeatable-read transaction, so that every read sees one commit).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "journal_summary.h"
#include "keel/base/status.h"
#include "keel/journal/journal.h"
#include "pg_connection.h"

namespace keel::internal {

// The counters as of their checkpoint when usable (counts_from_rows);
// nullopt when the table is missing or they are not usable.
Result<std::optional<JournalCounts>> pg_read_checkpoint(PgConnection* c, const PgTarget& t, Lsn last,
                                                        int version, TimePoint deadline);
// Adds the records after counts->as_of up to `last`; as_of becomes `last`.
Status pg_count_rows_after(PgConnection* c, const PgTarget& t, Lsn last, JournalCounts* counts,
                           TimePoint deadline);
// Counts every record (no payloads): for a journal without usable counters.
Result<JournalCounts> pg_count_rows(PgConnection* c, const PgTarget& t, Lsn last, TimePoint deadline);
// The newest record of each owner after `after`, by owner.
Result<std::map<std::string, OwnerInfo>> pg_newest_after(PgConnection* c, const PgTarget& t, Lsn after,
                                                        TimePoint deadline);
// Every owner's summary, sorted by owner (bytewise): with a usable
// checkpoint (as of `checkpoint`), its rows overlaid by the newest records
// after it; without, each owner's newest record through the owner index.
Result<std::vector<OwnerInfo>> pg_read_owners(PgConnection* c, const PgTarget& t, std::optional<Lsn> checkpoint,
                                              TimePoint deadline);
// Inside the caller's write transaction: refills both tables from the
// records and returns the counts.
Result<JournalCounts> pg_refill_summaries(PgConnection* c, const PgTarget& t, Lsn last, TimePoint deadline);

// The statements of a checkpoint, to run or queue in the caller's write
// transaction: one upsert of every counter, and one upsert per owner.
std::string pg_write_counters_sql(const std::string& schema);
PgParams pg_write_counters_params(const JournalCounts& counts);
std::string pg_write_owner_sql(const std::string& schema);
// `o` must outlive the statement's send (its owner is borrowed).
PgParams pg_write_owner_params(const OwnerInfo& o);

// A checkpoint the server computes in the caller's write transaction, for
// a journal with several writers, none of which counted every record: the
// owners' summaries and the counters are brought forward by the records
// after the stored checkpoint (whoever wrote them), then the checkpoint's
// LSN becomes the highest stored. Three statements without parameters, in
// this order.
std::string pg_shared_checkpoint_owners_sql(const std::string& schema);
std::string pg_shared_checkpoint_counters_sql(const std::string& schema);
std::string pg_shared_checkpoint_as_of_sql(const std::string& schema);
// Takes what a removal removed (by kind, and an owner when `whole`) off the
// stored counters, in the caller's transaction after a shared checkpoint.
std::string pg_subtract_counters_sql(const std::string& schema);
PgParams pg_subtract_counters_params(const std::array<std::uint64_t, kRecordKindSlots>& by_kind, bool whole);

// The header's format_version. Errors: kIoError, kUnavailable.
Result<int> pg_header_version(PgConnection* c, const PgTarget& t, TimePoint deadline);
// The highest stored LSN (kNoLsn when empty).
Result<Lsn> pg_max_lsn(PgConnection* c, const PgTarget& t, TimePoint deadline);

}  // namespace keel::internal
