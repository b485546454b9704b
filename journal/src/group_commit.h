// group_commit.h: GroupCommitter, the one writer thread of a journal.
//
// Appenders on any thread submit batches; the writer thread takes every
// waiting batch (up to max_group_records / max_group_bytes, at least one),
// assigns global LSNs and per-owner sequence numbers, writes the whole group
// through its CommitTarget in one transaction with one sync, then runs every
// batch's callback. A lone batch on an idle journal is committed at once: the
// writer never waits for company. This is LevelDB's BuildBatchGroup with a
// dedicated thread instead of a leader writer.
//
//   GroupCommitter committer(&target, options, last_lsn);
//   committer.submit(std::move(batch), [](Result<LsnRange> r) { ... });
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"
#include "keel/journal/journal.h"

namespace keel::internal {

// The backend side of group commit. Journal writer thread only (and the
// thread that constructs the GroupCommitter, before its thread starts).
class CommitTarget {
 public:
  virtual ~CommitTarget() = default;
  // Returns the owner's highest stored sequence number, 0 when it has none.
  virtual Result<std::uint64_t> load_last_seq(std::string_view owner) = 0;
  // Writes `records` (LSNs consecutive, checksums set) atomically with one
  // sync under Durability::kSync. On error nothing of them may be visible,
  // and the target must accept later writes; return kIoError.
  virtual Status write_group(const std::vector<Record>& records) = 0;
};

using AppendCallback = UniqueFunction<void(Result<LsnRange>)>;

// Owns the writer thread. Thread-safe. The destructor commits every batch
// already submitted, runs their callbacks, then joins the thread.
class GroupCommitter {
 public:
  struct Limits {
    std::size_t max_group_records = 4096;
    std::size_t max_group_bytes = 16u << 20;
  };

  // `target` and `clock` must outlive this object. `last_lsn` is the highest
  // LSN already stored (kNoLsn for an empty journal).
  GroupCommitter(CommitTarget* target, Limits limits, Lsn last_lsn, Clock* clock);
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues a validated, non-empty batch. `done` runs on the writer thread with
  // the batch's LSN range, or kIoError if its group failed to commit.
  void submit(std::vector<NewRecord> batch, AppendCallback done) KEEL_EXCLUDES(mu_);

  // Runs `task` on the writer thread between two groups (so it may use the
  // target's write handle) and returns once it has run.
  void run_on_writer(UniqueFunction<void()> task) KEEL_EXCLUDES(mu_);
  // The same without waiting: `task` runs on the writer thread between two
  // groups, in submission order with batches and other tasks (also when
  // the committer is being destroyed).
  void post_to_writer(UniqueFunction<void()> task) KEEL_EXCLUDES(mu_);
  // Writer thread only (inside a run_on_writer task): forgets the cached
  // last sequence of `owner`, whose records were all removed, so its next
  // append reads it from the target again.
  void forget_owner(std::string_view owner) { last_seq_.erase(std::string(owner)); }

  // Commit groups written (successful or not) and batches submitted so far.
  std::uint64_t commits() const KEEL_EXCLUDES(mu_);
  std::uint64_t batches() const KEEL_EXCLUDES(mu_);
  // The highest LSN handed out by a successful commit.
  Lsn last_lsn() const KEEL_EXCLUDES(mu_);

 private:
  struct Pending {
    std::vector<NewRecord> batch;  // empty for a task
    std::size_t bytes = 0;
    AppendCallback done;
    UniqueFunction<void()> task;
  };

  void run() KEEL_EXCLUDES(mu_);
  // Takes the next group (or one task) off the queue; false once stopping
  // with an empty queue.
  bool take_group(std::vector<Pending>* group) KEEL_EXCLUDES(mu_);
  void commit_group(std::vector<Pending>* group);
  Status assign(std::vector<Pending>& group, std::vector<Record>* records,
                std::vector<LsnRange>* ranges);
  void roll_back(Lsn first_unused);

  // Constant after construction.
  CommitTarget* const target_;
  const Limits limits_;
  Clock* const clock_;

  // Writer thread only.
  Lsn next_lsn_;
  // owner -> last assigned sequence number; filled from the index on first use.
  std::unordered_map<std::string, std::uint64_t> last_seq_;
  // Sequence numbers the current group changed, with their previous values.
  std::vector<std::pair<std::string, std::uint64_t>> seq_undo_;

  mutable Mutex mu_;
  CondVar work_cv_;
  std::deque<Pending> queue_ KEEL_GUARDED_BY(mu_);
  bool stopping_ KEEL_GUARDED_BY(mu_) = false;
  std::uint64_t commits_ KEEL_GUARDED_BY(mu_) = 0;
  std::uint64_t batches_ KEEL_GUARDED_BY(mu_) = 0;
  Lsn committed_lsn_ KEEL_GUARDED_BY(mu_);

  std::thread thread_;  // started last, joined by the destructor
};

}  // namespace keel::internal
