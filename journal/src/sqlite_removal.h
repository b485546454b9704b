// sqlite_removal.h: removing records from a SQLite journal (Journal::truncate
// and remove_owner), the floors table that remembers each truncated owner's
// first kept sequence, and giving freed pages back to the file system.
// Journal writer thread only: each function takes the writer's connection.
// Layout: docs/journal-format.md, "Removal".
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "journal_base.h"
#include "keel/base/status.h"
#include "keel/journal/journal.h"

namespace keel::internal {

// Created by a writer's open (IF NOT EXISTS, so journals made before it gain
// it): owner -> first kept sequence, for owners truncate() removed records of.
inline constexpr char kFloorsTable[] =
    "CREATE TABLE IF NOT EXISTS floors (owner TEXT PRIMARY KEY, first_seq INTEGER NOT NULL) WITHOUT ROWID;";
// The counters row of records removed so far.
inline constexpr char kRemovedCounter[] = "removed";

// What remove_rows() removed.
struct RowsRemoved {
  std::uint64_t records = 0;
  std::array<std::uint64_t, kRecordKindSlots> by_kind{};  // by kind number
  bool owner_gone = false;
};

// Inside the caller's write transaction: deletes `owner`'s rows with seq <
// below_seq except its newest (with `whole`: all of them, its owners-table
// row and its floor), raises its floor and adds to the removed counter. The
// caller updates the kind and owner counters. Errors: kFailedPrecondition
// (`whole`, and the owner's newest row is the journal's newest), kIoError.
Result<RowsRemoved> remove_rows(sqlite3* db, const std::string& path, std::string_view owner,
                                std::uint64_t below_seq, bool whole);

// The removed counter and the floors, as of one read (the caller's read
// transaction, if any). Empty for a journal without the floors table.
Result<Removals> read_removals(sqlite3* db, const std::string& path);

// Outside a transaction, after a removal committed: when the file has at
// least kGiveBackPages free pages, runs PRAGMA incremental_vacuum, which
// truncates them off the file in a journal with auto_vacuum = INCREMENTAL
// (every journal created by this build) and does nothing in one without.
inline constexpr std::int64_t kGiveBackPages = 256;
Status give_back_free_pages(sqlite3* db, const std::string& path);

// Outside a transaction: turns on incremental auto-vacuum, rewrites the
// file with VACUUM, which gives every free page back, and checkpoints the
// WAL into the file (truncating the WAL). Errors: kIoError.
Status vacuum_file(sqlite3* db, const std::string& path);

}  // namespace keel::internal
