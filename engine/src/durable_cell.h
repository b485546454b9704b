// The journal side of a durable actor's cell, and the collector of a durable
// handler's effects.
//
// Threading: DurableCell fields marked turn-owned are touched only in the
// actor's turn (or during spawn, before publication). The atomics and the
// commit pipeline are shared with the journal writer thread, which runs
// commit callbacks.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"
#include "keel/engine/detail/commit_pipeline.h"
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
  MessagePtr failed;                   // the message whose handler threw, retried after a restart
  std::vector<MessagePtr> uncommitted;  // handled, but their commit failed: retried after a restart
  std::vector<MessagePtr> redeliver;    // recovered at spawn, queued once started
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

  // The actor's commits, in order (engine/detail/commit_pipeline.h). A
  // restart waits for it to be idle, so the rebuild starts from what is
  // durable; a commit refused with kOwnershipLost stops the actor.
  std::shared_ptr<CommitPipeline> commits;
};

// One durable actor's recovery in progress (Cell::recover_*). Owned by the
// recovering thread.
struct RecoveryPass {
  Lsn snapshot_cursor = 0;   // records at or below it are in the snapshot
  Lsn snapshot_lsn = 0;      // the snapshot record's own LSN (0: none)
  // Decoded INBOX records past the cursor so far, in LSN order.
  std::deque<MessagePtr> pending;
  Status failed;             // why recover_visit stopped
};

// What a durable actor's handler did, held back until its batch commits.
// Owned by the turn; installed for the handler's duration (EffectsScope).
struct Effects {
  struct Send {
    Cell* target;        // a reference is held
    std::uint32_t gen;
    MessagePtr msg;      // owned until released
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
  Status add_send(Cell* target, std::uint32_t gen, MessagePtr msg);
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
