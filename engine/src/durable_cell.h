// The journal side of a durable actor's cell, and the collector of a durable
// handler's effects.
//
// Threading: DurableCell fields marked turn-owned are touched only in the
// actor's turn (or during spawn, before publication). The in-flight count is
// shared with the journal writer thread, which runs commit callbacks.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"
#include "keel/engine/durable.h"
#include "keel/journal/journal.h"

namespace keel::detail {

class Cell;

struct MessageIdHash {
  std::size_t operator()(const MessageId& id) const noexcept {
    return static_cast<std::size_t>(id.hi * 0x9e3779b97f4a7c15ull ^ id.lo);
  }
};

struct DurableCell {
  Journal* journal = nullptr;
  std::string key;
  std::string owner;  // "actor/<key>"
  DurableOptions options;
  System::DurableDecoder decoder = nullptr;

  // Turn-owned.
  Lsn cursor = 0;                 // LSN of the last handled INBOX record
  std::uint32_t since_snapshot = 0;
  std::unordered_map<Lsn, std::uint32_t> attempts;  // failed runs per INBOX record
  Message* failed = nullptr;      // the message whose handler threw, retried after a restart
  std::vector<Message*> uncommitted;  // handled, but their commit failed: retried after a restart
  std::vector<Message*> redeliver;  // recovered at spawn, queued once started
  std::uint32_t snapshots_since_compact = 0;
  // Pending durable timers by id, as of the handled messages (rebuilt by
  // recovery from the snapshot and the replay).
  std::map<std::uint64_t, DurableTimer> timers;
  bool handling = false;          // a journaled message's handler is running
  std::uint32_t rebuild_tries = 0;  // failed rebuilds in a row (I/O errors)
  // Ids of durable timers: the last one given. Part of snapshots and
  // advanced identically by a replay, so a replayed handler schedules the
  // same ids.
  std::uint64_t timer_seq = 0;
  Lsn compacted_below = 0;  // cursor of the snapshot the last compaction used
  // Sender-chosen ids of applied messages, oldest first, at most
  // options.dedupe_window (with a set for lookups).
  std::deque<MessageId> applied_ids;
  std::unordered_set<MessageId, MessageIdHash> applied_set;
  bool applied(const MessageId& id) const { return !id.empty() && applied_set.count(id) != 0; }
  void remember(const MessageId& id) {
    if (id.empty() || options.dedupe_window == 0 || !applied_set.insert(id).second) return;
    applied_ids.push_back(id);
    if (applied_ids.size() > options.dedupe_window) {
      applied_set.erase(applied_ids.front());
      applied_ids.pop_front();
    }
  }

  // LSN of the newest INBOX record that was journaled with its own
  // handling (an unjournaled acceptance), once durable (written by the
  // journal's thread; read in turns, acquire). The cursor moves up to it
  // when nothing accepted earlier can still be pending (Cell::durable_commit).
  std::atomic<Lsn> handled_with_inbox{0};

  // Cursor of the newest snapshot known durable (written by the journal's
  // thread in commit callbacks; relaxed: compaction only needs some value
  // that was durable, not the latest).
  std::atomic<Lsn> durable_snapshot_cursor{0};

  // Commits submitted and not yet called back.
  Mutex mu;
  CondVar idle;
  int in_flight KEEL_GUARDED_BY(mu) = 0;

  // One write of the actor's commits is in the journal at a time: batches
  // submitted meanwhile wait and go together in the next write, and once a
  // commit failed, later ones fail unwritten until the rebuild (wait_idle).
  // Otherwise a later commit could land after a failed one, its cursor
  // marking the failed message handled while that message's sends were
  // never journaled.
  // A commit: `prefix` records (its cursor record, PROCESSED or SNAPSHOT; or
  // INBOX, mark and maybe SNAPSHOT, see Waiting), then the handler's
  // records. `done` gets the LSN of the first handler record (what it would
  // be when there is none), or the error.
  using CommitDone = UniqueFunction<void(Result<Lsn>)>;
  struct Waiting {
    std::vector<NewRecord> batch;
    CommitDone done;
    // Records before the handler's: the cursor record, or for a message
    // journaled with its handling its INBOX record, its mark and maybe a
    // SNAPSHOT.
    std::size_t prefix = 1;
  };
  bool writing KEEL_GUARDED_BY(mu) = false;
  bool broken KEEL_GUARDED_BY(mu) = false;
  std::vector<Waiting> waiting KEEL_GUARDED_BY(mu);
  // Any thread; `done` runs on the journal's thread (or on this one, if the
  // batch is refused at once). Commits that waited are written together;
  // there a cursor record superseded by a later commit's is dropped (a
  // PROCESSED by any later cursor, cursors being cumulative; a SNAPSHOT by
  // a later SNAPSHOT), so a busy actor writes about one cursor record per
  // write instead of one per message. Defined in durable.cc.
  void submit(std::vector<NewRecord> batch, std::size_t prefix, CommitDone done) KEEL_EXCLUDES(mu);
  void write(std::vector<Waiting> parts) KEEL_EXCLUDES(mu);

  void commit_started() KEEL_EXCLUDES(mu) {
    MutexLock l(mu);
    ++in_flight;
  }
  void commit_done() KEEL_EXCLUDES(mu) {
    MutexLock l(mu);
    if (--in_flight == 0) idle.notify_all();
  }
  // Blocks until every submitted commit has called back; then commits may
  // be written again (the rebuild starts from what is durable).
  void wait_idle() KEEL_EXCLUDES(mu) {
    MutexLock l(mu);
    idle.wait(l, [&]() KEEL_REQUIRES(mu) { return in_flight == 0; });
    broken = false;
  }
};

// One durable actor's recovery in progress (Cell::recover_*). Owned by the
// recovering thread.
struct RecoveryPass {
  Lsn snapshot_cursor = 0;   // records at or below it are in the snapshot
  Lsn snapshot_lsn = 0;      // the snapshot record's own LSN (0: none)
  // Decoded INBOX records past the cursor so far, in LSN order (owned).
  std::deque<Message*> pending;
  Status failed;             // why recover_visit stopped

  RecoveryPass() = default;
  RecoveryPass(RecoveryPass&& o) noexcept
      : snapshot_cursor(o.snapshot_cursor),
        snapshot_lsn(o.snapshot_lsn),
        pending(std::move(o.pending)),
        failed(std::move(o.failed)) {
    o.pending.clear();
  }
  RecoveryPass(const RecoveryPass&) = delete;
  RecoveryPass& operator=(const RecoveryPass&) = delete;
  ~RecoveryPass();
};

// What a durable actor's handler did, held back until its batch commits.
// Owned by the turn; installed for the handler's duration (EffectsScope).
struct Effects {
  struct Send {
    Cell* target;        // a reference is held
    std::uint32_t gen;
    Message* msg;        // owned until released
    int record;          // index in `records` of its INBOX record, or -1
  };
  bool replay = false;   // recovery replay: effects are discarded
  std::vector<NewRecord> records;
  std::vector<Send> sends;
  // Run once the batch is durable (nullptr), or with the commit's error.
  std::vector<UniqueFunction<void(const Status*)>> replies;

  Effects() = default;
  Effects(const Effects&) = delete;
  Effects& operator=(const Effects&) = delete;
  // Discards what was not released: messages are rejected with kCancelled.
  ~Effects();

  // Holds `msg` for `target` until the commit. Errors: the message cannot
  // be journaled (kFailedPrecondition, its arguments do not encode).
  Status add_send(Cell* target, std::uint32_t gen, Message* msg);
};

// The collector of the handler running on this thread, or null.
Effects* current_effects();

class EffectsScope {
 public:
  explicit EffectsScope(Effects* e);
  ~EffectsScope();
  EffectsScope(const EffectsScope&) = delete;
  EffectsScope& operator=(const EffectsScope&) = delete;

 private:
  Effects* prev_;
};

// Envelope ids of messages sent by durable timers: {kTimerIdMark, timer id}.
inline constexpr std::uint64_t kTimerIdMark = 0x4b45454c54494d52ull;  // "KEELTIMR"

// "lsn N, owner O": the context of an error about one journal record.
inline std::string lsn_context(const std::string& owner, Lsn lsn) {
  return "lsn " + std::to_string(lsn) + ", owner " + owner;
}

}  // namespace keel::detail
