// group_commit.h: GroupCommitter, the one writer thread of a journal.
//
// Appenders on any thread submit batches. Each appending thread prepares
// its own records first (payload checksum, the backend's encoding:
// CommitTarget::stage), so the writer thread does only what needs the
// order: it takes every waiting batch (up to max_group_records /
// max_group_bytes, at least one), assigns global LSNs and per-owner
// sequence numbers, checksums the record headers, writes the whole group
// through its CommitTarget in one transaction with one sync, then completes
// the group's callbacks. A lone batch on an idle journal is committed at
// once: the writer never waits for company. This is LevelDB's
// BuildBatchGroup with a dedicated thread instead of a leader writer.
//
// Callbacks run on the writer thread when it has nothing else to do, and
// otherwise on a completion thread, so the next group's write need not wait
// for the last group's callbacks; either way one group at a time, in commit
// order. Spent batches go back to a pool that appenders reuse, so records
// are neither allocated nor freed on the writer thread.
//
//   GroupCommitter committer(&target, options, last_lsn);
//   committer.submit(std::move(batch), [](Result<LsnRange> r) { ... });
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"
#include "keel/journal/journal.h"
#include "staged_record.h"

namespace keel::internal {

// The backend side of group commit. Journal writer thread only (and the
// thread that constructs the GroupCommitter, before its thread starts),
// except stage().
class CommitTarget {
 public:
  virtual ~CommitTarget() = default;
  // Returns the owner's highest stored sequence number, 0 when it has none.
  virtual Result<std::uint64_t> load_last_seq(std::string_view owner) = 0;
  // Any thread, concurrently with everything else: prepares what the backend
  // can of `r` before its LSN, sequence, time and checksum are known (for
  // example its encoding, into r->value). Touches only *r.
  virtual void stage(StagedRecord* r) const { (void)r; }
  // Whether `batch` (staged, not yet numbered) may be written: ok, or the
  // reason it is refused (kOwnershipLost: its owner's shard is not this
  // writer's). A refused batch is left out of its group, fails its chain
  // and gets the reason.
  virtual Status admit(const std::vector<StagedRecord>& batch) {
    (void)batch;
    return Status::ok();
  }
  // Writes `records` (LSNs consecutive, checksums set) atomically with one
  // sync under Durability::kSync. On error nothing of them may be visible,
  // and the target must accept later writes; return kIoError. A target
  // whose LSNs are decided by the store (several writers) may number the
  // records again, consecutive and from a higher start, setting their
  // checksums to match; the committer takes the LSNs from the records. A
  // kOwnershipLost after which admit() refuses more of the group's
  // batches than before gets the group written again without them.
  virtual Status write_group(const std::vector<StagedRecord*>& records) = 0;
};

using AppendCallback = UniqueFunction<void(Result<LsnRange>)>;

// Owns the writer thread and the completion thread. Thread-safe. The
// destructor commits every batch already submitted (including those that
// callbacks submit meanwhile), runs their callbacks, then joins the threads.
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

  // Stages a validated, non-empty batch on the calling thread and queues it
  // on `chain` (null: none; see AppendChain). `done` runs on the writer or
  // the completion thread with the batch's LSN range, kIoError if its group
  // failed to commit, or the chain's refusal when an earlier batch on the
  // chain failed (the batch is then left out of its group); callbacks run
  // one at a time, in commit order.
  void submit(std::vector<NewRecord> batch, AppendChain* chain, AppendCallback done)
      KEEL_EXCLUDES(mu_, pool_mu_);

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
  // Writer thread only: forgets the cached last sequence of every owner
  // for which `pred` holds (owners another writer may have written since).
  template <class Pred>
  void forget_owners_if(Pred pred) {
    std::erase_if(last_seq_, [&](const auto& entry) { return pred(std::string_view(entry.first)); });
  }

  // Commit groups written (successful or not) and batches submitted so far.
  std::uint64_t commits() const KEEL_EXCLUDES(mu_);
  std::uint64_t batches() const KEEL_EXCLUDES(mu_);
  // The highest LSN handed out by a successful commit.
  Lsn last_lsn() const KEEL_EXCLUDES(mu_);

 private:
  using Batch = std::vector<StagedRecord>;
  struct Pending {
    Batch batch;  // empty for a task
    std::size_t bytes = 0;
    AppendChain* chain = nullptr;
    Status refused;  // not written: an earlier batch on its chain failed, or the target refused it
    AppendCallback done;
    UniqueFunction<void()> task;
    LsnRange range;  // set by a successful commit
  };
  // A committed (or failed) group whose callbacks are still to run.
  struct Completion {
    std::vector<Pending> group;
    Status status;
  };

  void run() KEEL_EXCLUDES(mu_);
  void run_completions() KEEL_EXCLUDES(mu_);
  // Takes the next group (or one task) off the queue; false once stopping
  // with an empty queue and no callback left to run.
  bool take_group(std::vector<Pending>* group) KEEL_EXCLUDES(mu_);
  void commit_group(std::vector<Pending>* group) KEEL_EXCLUDES(mu_);
  // Refuses each batch not yet refused whose chain has failed, or that the
  // target does not admit (failing its chain); returns how many it refused
  // now.
  std::size_t admit(std::vector<Pending>& group);
  Status assign(std::vector<Pending>& group);
  // Assigns and writes the group's admitted batches (ok when none is left).
  Status write(std::vector<Pending>& group);
  void roll_back(Lsn first_unused);
  // Runs the callbacks of `c`, then gives its batches back to the pool.
  void complete(Completion* c) KEEL_EXCLUDES(pool_mu_);
  // A batch from the pool (or a new one), and back.
  Batch take_spare() KEEL_EXCLUDES(pool_mu_);
  void give_back(std::vector<Pending>* group) KEEL_EXCLUDES(pool_mu_);

  // Constant after construction.
  CommitTarget* const target_;
  const Limits limits_;
  Clock* const clock_;

  // Writer thread only.
  Lsn next_lsn_;
  // owner -> last assigned sequence number; filled from the index on first use.
  std::unordered_map<std::string, std::uint64_t> last_seq_;
  // Sequence numbers the current group changed, with their previous values
  // (pointers into last_seq_, whose nodes stay put).
  std::vector<std::pair<std::uint64_t*, std::uint64_t>> seq_undo_;
  std::vector<StagedRecord*> records_;  // the current group's, reused

  mutable Mutex mu_;
  CondVar work_cv_;  // queue_ gained work, or the completion thread went idle
  CondVar done_cv_;  // completions_ gained a group, or the writer finished
  std::deque<Pending> queue_ KEEL_GUARDED_BY(mu_);
  std::deque<Completion> completions_ KEEL_GUARDED_BY(mu_);
  bool completing_ KEEL_GUARDED_BY(mu_) = false;  // the completion thread runs callbacks
  bool stopping_ KEEL_GUARDED_BY(mu_) = false;
  bool writer_done_ KEEL_GUARDED_BY(mu_) = false;
  std::uint64_t commits_ KEEL_GUARDED_BY(mu_) = 0;
  std::uint64_t batches_ KEEL_GUARDED_BY(mu_) = 0;
  Lsn committed_lsn_ KEEL_GUARDED_BY(mu_);

  // Spent batches with their records' storage, for appenders to reuse.
  Mutex pool_mu_;
  std::vector<Batch> pool_ KEEL_GUARDED_BY(pool_mu_);
  std::size_t pooled_records_ KEEL_GUARDED_BY(pool_mu_) = 0;

  std::thread completer_;  // started before, and joined after, thread_
  std::thread thread_;     // started last, joined first by the destructor
};

}  // namespace keel::internal
