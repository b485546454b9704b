// keel/engine/detail/commit_pipeline.h: one journal owner's commits, in
// order. Installed because the workflow layer commits its runs through it;
// not API.
//
// A durable actor and a workflow run each own one CommitPipeline. A commit
// is typed: an optional INBOX record journaled with its handling, an
// optional cursor record, then the owner's other records. Up to two writes
// of the owner are in the journal at a time (so a commit submitted while
// one is in flight can share its group); commits submitted meanwhile wait
// and go together in the next write, where a cursor that a later commit's
// cursor supersedes is dropped. The writes go on one AppendChain: once a
// write fails, the writes behind it in the journal, the commits waiting and
// every later one fail unwritten, so no later commit lands after a failed
// one.
//
//   auto p = CommitPipeline::create(journal, "actor/a");
//   Commit c;
//   c.records.push_back(NewRecord{"actor/a", RecordKind::kEvent, "..."});
//   p->submit(std::move(c), [](Result<CommitLsns> r) { /* durable, or r.status() */ });
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keel/base/counter.h"
#include "keel/base/histogram.h"
#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"
#include "keel/journal/journal.h"

namespace keel::detail {

// The cursor record a commit carries, which decides what supersedes it.
enum class CursorKind : std::uint8_t {
  kNone,       // no cursor record
  kProcessed,  // PROCESSED: cumulative; superseded by any later cursor
  kSnapshot,   // SNAPSHOT: cumulative; superseded only by a later SNAPSHOT
};

// One commit of one owner.
struct Commit {
  // A message journaled with its handling: its INBOX record, written first
  // and followed by a mark (a PROCESSED record with cursor 0). Never dropped.
  std::optional<NewRecord> inbox;
  CursorKind cursor_kind = CursorKind::kNone;
  std::optional<NewRecord> cursor;  // set iff cursor_kind != kNone
  std::vector<NewRecord> records;   // the handler's (or the run's) records
};

// What a failed write does to the commits after it.
enum class OnFailure : std::uint8_t {
  kRefuseLater,  // they fail unwritten until wait_idle (the owner's commits)
  kContinue,     // nothing: each write stands alone (an owner's acceptances)
};

// Where a durable commit's records landed.
struct CommitLsns {
  Lsn inbox = kNoLsn;  // the INBOX record's LSN, or kNoLsn without one
  Lsn records = kNoLsn;  // the first of `records` (where it would be when empty)
};

// The durable writes of a System's pipelines (System::metrics()). Shared
// by the Runtime and the pipelines that count into it, since writes in
// flight may finish after either is gone. Thread-safe.
struct CommitStats {
  Counter commits;  // writes that became durable
  Counter records;  // records in them
  Histogram seconds{latency_buckets_seconds()};  // per commit: submit() to durable
};

// Thread-safe. Shared by its owner and the writes in flight, so that a
// callback that releases the owner never outlives the pipeline.
class CommitPipeline : public std::enable_shared_from_this<CommitPipeline> {
 public:
  // `journal` must outlive the pipeline and its writes. With `stats`, the
  // writes that become durable are counted there.
  static std::shared_ptr<CommitPipeline> create(Journal& journal, std::string owner,
                                                OnFailure on_failure = OnFailure::kRefuseLater,
                                                std::shared_ptr<CommitStats> stats = nullptr);
  CommitPipeline(Journal& journal, std::string owner, OnFailure on_failure,
                 std::shared_ptr<CommitStats> stats);  // use create()
  CommitPipeline(const CommitPipeline&) = delete;
  CommitPipeline& operator=(const CommitPipeline&) = delete;

  using Done = UniqueFunction<void(Result<CommitLsns>)>;
  // Writes `c` after every commit submitted before it. `done` runs once: on
  // the journal's callback thread (its writer, or its completion thread;
  // one group at a time, in commit order) when the write is durable or
  // failed, or on this thread when the commit is refused at once (then
  // possibly before the callbacks of writes still in flight). Errors:
  // the write's (kIoError, kOwnershipLost, ...); with kRefuseLater, "not
  // written" for a commit after a failed one (kUnavailable when that
  // failure was one, else kIoError), and kOwnershipLost for every commit
  // once a write was refused for lost ownership.
  void submit(Commit c, Done done) KEEL_EXCLUDES(mu_);

  // Blocks until every submitted commit's `done` has returned; afterwards
  // commits are written again, unless ownership was lost (that stays).
  void wait_idle() KEEL_EXCLUDES(mu_);

  // The error that stopped the pipeline: ok, or the status of the failed
  // write until wait_idle() (kOwnershipLost: for good).
  Status failure() const KEEL_EXCLUDES(mu_);

  const std::string& owner() const { return owner_; }

 private:
  struct Waiting {
    Commit commit;
    Done done;
    std::chrono::steady_clock::time_point submitted;  // set only with stats_
  };
  // Where a part's records went in its write.
  struct Layout {
    bool inbox = false;   // its INBOX record and mark
    bool cursor = false;  // its cursor (false: none, or dropped)
    std::size_t records = 0;
  };
  // Sends the writes in ready_ to the journal, in order, until none is
  // left. Called by the thread that set launching_.
  void launch() KEEL_EXCLUDES(mu_);
  void write(std::vector<Waiting> parts) KEEL_EXCLUDES(mu_);
  void finish(std::vector<Waiting> parts, const Result<LsnRange>& r, const std::vector<Layout>& layout)
      KEEL_EXCLUDES(mu_);
  Status refusal() const KEEL_REQUIRES(mu_);
  // Counts a durable write of `parts` into stats_ (not null).
  void count_durable(const std::vector<Waiting>& parts, const LsnRange& written);

  Journal& journal_;
  const std::string owner_;
  const OnFailure on_failure_;
  const std::shared_ptr<CommitStats> stats_;  // may be null

  mutable Mutex mu_;
  CondVar idle_;
  int in_flight_ KEEL_GUARDED_BY(mu_) = 0;  // submitted, `done` not returned
  int writes_ KEEL_GUARDED_BY(mu_) = 0;     // in ready_ or in the journal
  bool launching_ KEEL_GUARDED_BY(mu_) = false;  // a thread is in launch()
  Status failed_ KEEL_GUARDED_BY(mu_);
  std::deque<std::vector<Waiting>> ready_ KEEL_GUARDED_BY(mu_);  // writes to send, in order
  std::vector<Waiting> waiting_ KEEL_GUARDED_BY(mu_);  // for the next write
  AppendChain chain_;
};

}  // namespace keel::detail
