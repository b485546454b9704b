// sqlite_summary.h: the owners and counters tables of a SQLite journal
// (docs/journal-format.md, "Counters and owner summaries"): reading them,
// with the records committed after their last checkpoint, and writing a
// checkpoint. Functions over the caller's connection, inside its
// transaction (a writer's, or a reader's read transaction).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "journal_summary.h"
#include "keel/base/status.h"
#include "keel/journal/journal.h"
#include "sqlite_connection.h"

namespace keel::internal {

// Creates the owners and counters tables where they are missing (journals
// made before them gain them at a writer's open).
extern const char kSummaryTables[];
// The counters row of the last LSN the checkpoint counts.
extern const char kAsOfCounter[];

// The header's format_version. Errors: kIoError.
Result<int> header_version(SqliteConnection* c);

// The counters of a journal whose last LSN is `last` and whose header says
// `version`, as of their checkpoint (as_of), when they are usable: as of
// `last`, or, from kLazySummariesVersion on, as of an earlier LSN. nullopt
// when they are missing or not usable (then count_rows).
Result<std::optional<JournalCounts>> read_checkpoint(SqliteConnection* c, Lsn last, int version);
// Adds the rows after counts->as_of up to `last`, and sets as_of to `last`.
Status count_rows_after(SqliteConnection* c, Lsn last, JournalCounts* counts);
// Counts every row (no payloads): for a journal without usable counters.
Result<JournalCounts> count_rows(SqliteConnection* c, Lsn last);
// The newest row of each owner after `after`, by owner.
Result<std::map<std::string, OwnerInfo>> newest_after(SqliteConnection* c, Lsn after);
// The summaries of every owner, sorted by owner: with a usable checkpoint
// (as of `checkpoint`), its rows overlaid by the newest rows after it;
// without, each owner's newest row through the owner index.
Result<std::vector<OwnerInfo>> read_owners(SqliteConnection* c, std::optional<Lsn> checkpoint);

// Inside the caller's write transaction: writes every counter of `counts`
// and the owners-table row of each owner in `owners`.
Status write_checkpoint(SqliteConnection* c, const JournalCounts& counts,
                        const std::unordered_map<std::string, OwnerInfo>& owners);
// Inside the caller's write transaction: refills both tables from the rows.
Result<JournalCounts> refill_summaries(SqliteConnection* c, Lsn last);

}  // namespace keel::internal
