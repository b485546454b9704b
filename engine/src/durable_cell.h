// DurableCell: the durability of one durable actor, which its Cell holds
// and calls through a small interface: accept (an INBOX record per
// message), deliver (run a journaled message and commit its effects through
// the actor's CommitPipeline), recover (rebuild from the journal), and the
// durable timers.
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

#include "keel/base/check.h"
#include "keel/base/thread_annotations.h"
#include "keel/base/unique_function.h"
#include "keel/engine/detail/commit_pipeline.h"
#include "keel/engine/durable.h"
#include "keel/journal/journal.h"
#include "effects.h"
#include "outbox_delivery.h"

namespace keel::detail {

class Cell;

struct MessageIdHash {
  std::size_t operator()(const MessageId& id) const noexcept {
    return static_cast<std::size_t>(id.hi * 0x9e3779b97f4a7c15ull ^ id.lo);
  }
};

struct RecoveryPass;

// The durable fields of `m`, a message that is or will be journaled (so
// one to a durable actor class, which has them; aborts otherwise: a bug).
inline DurableFields& durable_fields_of(Message& m) {
  DurableFields* f = m.durable_fields();
  KEEL_CHECK(f != nullptr, "a journaled message has no durable fields");
  return *f;
}

// The INBOX payload for `msg` to durable actor `target`: the sender's
// pre-encoded envelope (SendOptions::inbox_envelope) when it journals as
// is, otherwise an envelope of the self-describing handler arguments.
// Takes the pre-encoded one out of `msg`. Precondition: msg.journalable().
// Errors: those of wire::encode_envelope.
Result<std::string> inbox_envelope(const Cell& target, Message& msg);

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
  // Messages sent by key (send_to) not known delivered, by seq, as of the
  // handled messages (rebuilt by recovery from the snapshot, the replay and
  // the DELIVERED records); the last seq given (advanced identically by a
  // replay, so a replayed handler's messages keep their ids); the last seq
  // known delivered when the actor last started.
  std::map<std::uint64_t, OutboxEntry> outbox;
  std::uint64_t outbox_seq = 0;
  std::uint64_t outbox_delivered = 0;
  // The deliveries since the actor last started (null: stopped, or no
  // transport). Its pushes come from commit callbacks.
  std::shared_ptr<OutboxDelivery> delivery;
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
  // The INBOX records of messages accepted while the actor is busy, in
  // order; acceptances submitted while two writes are in flight go out as
  // one batch. A failed write fails only its own messages (kContinue).
  std::shared_ptr<CommitPipeline> accepts;

  // ---- Behaviour (durable_cell.cc, durable_recovery.cc) ----------------------
  // Makes `cell` the holder (before start; `cell` owns this).
  void attach(Cell* cell) { cell_ = cell; }
  // Journals `msg` as an INBOX record and queues it once durable, or queues
  // it at once in an idle actor, journaled with its handling; completes
  // `accepted` (if any) when accepted. Any thread.
  Status accept(MessagePtr msg, Promise<void>* accepted);
  // Turn: runs a journaled message's handler in `ctx` and commits its
  // effects.
  void deliver(MessagePtr m, HandlerContext& ctx);
  // Turn: commits the cursor (and snapshot) of a handled message with
  // `eff`. `handled` (may be null) is kept until the commit is durable, and
  // handled again after a restart if it fails.
  void commit(Effects& eff, MessagePtr handled = nullptr);
  // Rebuilds the instance's state from the journal (latest snapshot, then
  // replay); with `redeliver`, collects the unhandled messages for
  // release_recovered(). Errors: kCorruption, kIoError, kNonDeterministic.
  Status recover(bool redeliver);
  // End of a durable start(): queues the recovered and the held messages.
  void release_recovered();
  // Recovers created (not started) durable cells in one pass over the
  // journal from the oldest of their snapshot cursors (a cell with
  // skip_corrupt recovers alone); on success each is ready for
  // start(/*recovered=*/true). On error some may be partly rebuilt: the
  // caller abandons them all.
  static Status recover_group(const std::vector<Cell*>& cells);
  // DurableActorBase::schedule_durable / cancel_durable (turn).
  Result<std::uint64_t> schedule_timer(Duration delay, std::string_view method, std::string args);
  bool cancel_timer(std::uint64_t id);
  // DurableActorBase::send_to (turn): records M(args) to `target` in the
  // handler's batch; delivered once that batch is durable.
  Status send_to(const std::string& target, std::string_view method, std::string args);
  // (Re)starts the deliveries of the undelivered messages, after a
  // recovery (turn). Without a transport they wait, and it says so.
  void start_outbox();
  // Stops the deliveries (turn): the actor stops or is rebuilt.
  void stop_outbox();
  // Drops from `outbox` the messages known delivered, the running
  // delivery's included (turn).
  void forget_delivered();

 private:
  std::string encode_snapshot() const;
  // A commit failed (journal writer thread): its sends and replies fail
  // with `why`, and the actor is told (kJournalFailed) with `handled`,
  // unless that message is not to be handled again here.
  void commit_failed(const Status& why, std::vector<Effects::Send>& sends,
                     std::vector<UniqueFunction<void(const Status*)>>& replies, MessagePtr handled,
                     bool unjournaled);
  // recover() in steps, so that a group of actors can share one pass over
  // the journal: recover_begin resets the state to the latest snapshot and
  // returns its cursor (the actor's records with a greater LSN follow);
  // recover_visit takes those records in order, replaying each handled
  // message as its cursor passes it (false: failed, see pass.failed);
  // recover_end collects the unhandled messages (with `redeliver`) and arms
  // the pending timers.
  Result<Lsn> recover_begin(RecoveryPass& pass);
  bool recover_visit(RecoveryPass& pass, const Record& r);
  // Replays one handled message with its effects discarded; false (and
  // pass.failed) when its handler fails.
  bool recover_replay(RecoveryPass& pass, MessagePtr m);
  Status recover_end(RecoveryPass& pass, bool redeliver);
  void recover_report(const JournalProblem& p);
  Result<MessagePtr> decode_inbox(const Record& r) const;
  // Removes the records the newest durable snapshot supersedes
  // (Journal::truncate); failures are logged (compaction only reclaims
  // space). Returns false when no snapshot newer than the last compaction
  // is durable yet.
  bool compact_superseded();
  // Runs a journaled message's handler (live or replayed): tracks the timers
  // it schedules and the one that sent it. Returns the handler's error.
  Status run_handler(Message& m, HandlerContext& ctx);
  // Arms an in-memory timer that accepts `t`'s message at its time. Any thread.
  void arm_timer(const DurableTimer& t);

  Cell* cell_ = nullptr;  // the holder, which owns this
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

// "lsn N, owner O": the context of an error about one journal record.
inline std::string lsn_context(const std::string& owner, Lsn lsn) {
  return "lsn " + std::to_string(lsn) + ", owner " + owner;
}

}  // namespace keel::detail
