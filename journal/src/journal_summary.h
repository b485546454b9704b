// journal_summary.h: the counters and owner summaries that both backends
// keep beside the records, so stats() and owners() do not read every record.
// A backend writes them as a checkpoint in the transaction / WriteBatch of
// a commit, and readers add the records committed after it, so they stay
// exact across crashes. Layout: docs/journal-format.md, "Counters and owner
// summaries".
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
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
  // Counts one record after as_of (LSN order).
  void add(RecordKind kind, std::uint64_t seq, Lsn lsn);
  // Counts removed records (`removed`, by kind number) and, with
  // `owner_gone`, one owner less. as_of is unchanged: the last LSN stays.
  void remove(const std::array<std::uint64_t, kRecordKindSlots>& removed, bool owner_gone);
  std::uint64_t records() const;
};

// The summaries and counters are written as a checkpoint, not in every
// commit: a writer writes them every kCheckpointCommits commits or once
// kCheckpointRecords records wait (in that commit's transaction or batch),
// in every removal's commit, and when it closes. Readers of a journal of
// format 2 or later add the records after the checkpoint (at most about
// kCheckpointRecords plus one group) to what it says.
inline constexpr std::uint64_t kCheckpointCommits = 64;
inline constexpr std::uint64_t kCheckpointRecords = 1024;
// The first format whose summaries may lag behind the records (earlier
// ones wrote them in every commit: lagging ones were written by an older
// writer that did not know them, and are not used).
inline constexpr std::uint16_t kLazySummariesVersion = 2;

// What a writer has committed since its last checkpoint: the summary of
// each owner it appended to, and how much waits. Journal writer thread only.
class PendingSummaries {
 public:
  // Notes a committed group (records in LSN order).
  void add(const std::vector<StagedRecord*>& group);
  // Notes a committed group whose commit wrote a checkpoint when
  // `checkpointed` (nothing waits then), else add(group).
  void committed(const std::vector<StagedRecord*>& group, bool checkpointed) {
    if (checkpointed) {
      clear();
    } else {
      add(group);
    }
  }
  // Notes an owner's newest record (the records after a checkpoint, found
  // at open).
  void add(const OwnerInfo& newest);
  // Drops a removed owner.
  void forget(const std::string& owner) { owners_.erase(owner); }
  // Whether the next commit should write a checkpoint (counting it).
  bool due_with(std::size_t group_records) const {
    return commits_ + 1 >= kCheckpointCommits || records_ + group_records >= kCheckpointRecords;
  }
  // Each pending owner's summary, by owner.
  const std::unordered_map<std::string, OwnerInfo>& owners() const { return owners_; }
  bool empty() const { return owners_.empty(); }
  // After a checkpoint: nothing waits.
  void clear();

 private:
  std::unordered_map<std::string, OwnerInfo> owners_;
  std::uint64_t commits_ = 0;
  std::uint64_t records_ = 0;
};

// The newest record of each owner that appears in `group` (records in LSN
// order), as pointers into `group`, in order of the owners' first record.
std::vector<const Record*> newest_by_owner(const std::vector<StagedRecord*>& group);

// The owners of `checkpointed` (sorted by owner) with the summaries of
// `newer` (their newest records after the checkpoint) put over theirs, and
// the owners only `newer` has added, sorted by owner. An owner only in
// `newer` starts at seq 1: truncate() writes a checkpoint, so an owner
// with a raised first seq is in it.
std::vector<OwnerInfo> overlay_newest(std::vector<OwnerInfo> checkpointed,
                                      const std::map<std::string, OwnerInfo>& newer);

// Counters-table row names of the SQL backends (docs/journal-format.md).
inline constexpr char kAsOfCounterName[] = "as_of_lsn";
inline constexpr char kOwnersCounterName[] = "owners";
inline constexpr char kRemovedCounterName[] = "removed";

// The name of the counter of records of kind number `kind` in the counters
// table of the SQL backends: "records.inbox", ... (docs/journal-format.md).
std::string kind_counter_name(std::size_t kind);
// The counters-table rows (name, value) of a checkpoint of `counts`.
std::vector<std::pair<std::string, std::uint64_t>> counter_rows(const JournalCounts& counts);
// The checkpoint that counters-table rows `values` hold, when it is usable
// in a journal whose last LSN is `last` and whose header says `version`:
// counting up to `last`, or, from kLazySummariesVersion on, to an earlier
// LSN. nullopt when missing or not usable (a missing kind row counts 0).
std::optional<JournalCounts> counts_from_rows(const std::map<std::string, std::uint64_t>& values, Lsn last,
                                              int version);

// The summary of an owner whose newest record is `newest`.
OwnerInfo owner_info_of(const Record& newest);

// Fills the counts of `stats` (records, records_by_kind, owners) from `c`.
void set_counts(const JournalCounts& c, JournalStats* stats);

}  // namespace keel::internal
