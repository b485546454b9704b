// journal_base.h: JournalBase, what SqliteJournal and RocksJournal share:
// argument checks, group commit, checksum-checked scans and verify().
// A backend supplies unchecked reads and its write path (CommitTarget).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "group_commit.h"
#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/journal/journal.h"

namespace keel::internal {

// Called for each stored record by the unchecked reads. `read` is ok, or
// kCorruption when the stored bytes could not be decoded (then only r.lsn,
// and r.owner when known, are meaningful). Returns false to stop.
using RawRecordFn = std::function<bool(const Record& r, const Status& read)>;

// What removals left behind: how many records were removed in all, and
// the first kept sequence of each truncated owner (owners absent from the
// map start at 1). Empty in a journal that never had a removal.
struct Removals {
  std::uint64_t removed = 0;
  std::unordered_map<std::string, std::uint64_t> first_seq;
};

// Thread-safe (see Journal). Backends call start_writer() at the end of a
// writable open and stop_writer() first thing in their destructor, before
// closing the handles the writer thread uses.
class JournalBase : public Journal {
 public:
  Result<LsnRange> append(std::vector<NewRecord> batch) override;
  using Journal::append_async;
  void append_async(std::vector<NewRecord> batch, AppendChain* chain,
                    UniqueFunction<void(Result<LsnRange>)> done) override;
  Status scan_owner(std::string_view owner, std::uint64_t from_seq,
                    const std::function<bool(const Record&)>& fn) override;
  Status scan_lsn(Lsn first, Lsn last, const std::function<bool(const Record&)>& fn) override;
  Status scan_lsn_skipping(Lsn first, Lsn last, const std::function<bool(const Record&)>& fn,
                           const std::function<void(const JournalProblem&)>& corrupt) override;
  Status scan_owner_skipping(std::string_view owner, std::uint64_t from_seq,
                             const std::function<bool(const Record&)>& fn,
                             const std::function<void(const JournalProblem&)>& corrupt) override;
  Result<std::optional<Record>> latest(std::string_view owner, RecordKind kind) override;
  Result<std::uint64_t> compact(std::string_view owner, std::uint64_t below_seq) override;
  Result<std::uint64_t> truncate(std::string_view owner, std::uint64_t below_seq) override;
  void truncate_async(std::string_view owner, std::uint64_t below_seq,
                      UniqueFunction<void(Result<std::uint64_t>)> done) override;
  Result<std::uint64_t> remove_owner(std::string_view owner) override;
  Status vacuum() override;
  Status verify(const std::function<void(const JournalProblem&)>& problem) override;
  Result<JournalStats> stats() override;

 protected:
  JournalBase(std::string path, const JournalOptions& options);

  void start_writer(CommitTarget* target, Lsn last_lsn);
  void stop_writer();

  // Unchecked reads, in seq or LSN order; fn returns false to stop.
  virtual Status read_owner(std::string_view owner, std::uint64_t from_seq,
                            const RawRecordFn& fn) = 0;
  virtual Status read_lsn(Lsn first, Lsn last, const RawRecordFn& fn) = 0;
  // The owner's records, newest first (for latest()).
  virtual Status read_owner_backwards(std::string_view owner, const RawRecordFn& fn) = 0;
  // The owner's newest SNAPSHOT record, through the backend's snapshot index:
  // fn is called once with it, or not at all when the owner has none.
  // Returns false (fn not called) when this journal has no such index (one
  // made before it existed, opened read-only); latest() then reads backwards.
  virtual Result<bool> read_latest_snapshot(std::string_view owner, const RawRecordFn& fn) = 0;
  // Journal writer thread only: drops payloads of `owner`'s records with
  // seq < below_seq in one synced write, after checking their checksums.
  virtual Result<std::uint64_t> compact_on_writer(std::string_view owner,
                                                  std::uint64_t below_seq) = 0;
  // Journal writer thread only: removes `owner`'s records with seq <
  // below_seq but its newest one (or, with `whole`, all of them and its
  // summary; kFailedPrecondition when its newest record is the journal's
  // newest), and updates the counters, summaries and first sequences in the
  // same commit, which need not be synced (Journal::truncate). Returns how
  // many records were removed.
  virtual Result<std::uint64_t> remove_on_writer(std::string_view owner, std::uint64_t below_seq,
                                                 bool whole) = 0;
  // Journal writer thread only: see Journal::vacuum.
  virtual Status vacuum_on_writer() = 0;
  // What removals left behind, as of one read.
  virtual Result<Removals> read_removals() = 0;
  // backend, path, first/last LSN, records, owners and size_bytes.
  virtual Result<JournalStats> read_stats() = 0;

  // The writer (null when read-only), for a backend's tasks on its thread.
  GroupCommitter* committer() const { return committer_.get(); }
  const std::string& path() const { return path_; }
  const JournalOptions& options() const { return options_; }
  Clock* clock() const { return clock_; }

 private:
  Status check_append(const std::vector<NewRecord>& batch) const;
  // kFailedPrecondition (read-only) or kInvalidArgument (empty owner).
  Status check_writable_owner(std::string_view owner, std::string_view what) const;

  const std::string path_;
  const JournalOptions options_;
  SystemClock system_clock_;
  Clock* const clock_;  // options_.clock or &system_clock_
  std::unique_ptr<GroupCommitter> committer_;  // null when read-only
};

}  // namespace keel::internal
