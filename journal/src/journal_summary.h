// journal_summary.h: the counters and owner summaries that both backends
// keep beside the records, so stats() and owners() do not read every record.
// A backend writes them in the same transaction / WriteBatch as the records
// they count, so they stay exact across crashes. Layout:
// docs/journal-format.md, "Counters and owner summaries".
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "keel/journal/journal.h"
#include "staged_record.h"

namespace keel::internal {

// The journal's counts as of one LSN. They describe the journal only when
// `as_of` equals its last stored LSN: a writer that does not know them (one
// built before they existed) appends without updating them, and readers then
// see them behind and count another way. Value type.
struct JournalCounts {
  Lsn as_of = kNoLsn;  // the highest LSN counted
  std::uint64_t owners = 0;
  std::array<std::uint64_t, kRecordKindSlots> by_kind{};

  // Counts a committed group: consecutive LSNs after as_of, in order. An
  // owner's first record (seq 1) adds an owner.
  void add(const std::vector<StagedRecord*>& group);
  // Counts removed records (`removed`, by kind number) and, with
  // `owner_gone`, one owner less. as_of is unchanged: the last LSN stays.
  void remove(const std::array<std::uint64_t, kRecordKindSlots>& removed, bool owner_gone);
  std::uint64_t records() const;
};

// The newest record of each owner that appears in `group` (records in LSN
// order), as pointers into `group`, in order of the owners' first record.
std::vector<const Record*> newest_by_owner(const std::vector<StagedRecord*>& group);

// The summary of an owner whose newest record is `newest`.
OwnerInfo owner_info_of(const Record& newest);

// Fills the counts of `stats` (records, records_by_kind, owners) from `c`.
void set_counts(const JournalCounts& c, JournalStats* stats);

}  // namespace keel::internal
