// mailbox.h: the queues of one actor: user messages (bounded by its
// MailboxConfig), control messages (unbounded, taken first), whether the
// actor is scheduled, paused or closed, and, for a durable actor, the
// messages whose acceptance is still on its way to the journal.
//
// The mailbox decides and queues; it never dead-letters, rejects or
// schedules. Each call returns what its caller (the Cell) must do: schedule
// the actor, or dispose of a message it did not queue.
//
// Threading: thread-safe. Senders on any thread push; only the actor's turn
// takes (one turn at a time per actor, so take/next/put_back never race
// with each other), and close runs on the turn or once no turn can run.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/engine/detail/message.h"
#include "keel/engine/options.h"
#include "intrusive_queue.h"

namespace keel::detail {

struct SysMsg;  // cell.h
using SysMsgPtr = std::unique_ptr<SysMsg>;

class Mailbox {
 public:
  explicit Mailbox(MailboxConfig config);
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;
  // Deletes what is still queued or held (as is: the cell rejects what
  // must be rejected before).
  ~Mailbox();

  const MailboxConfig& config() const { return config_; }
  // Queued user messages (relaxed: diagnostics).
  std::size_t depth() const { return user_size_.load(std::memory_order_relaxed); }

  // ---- Senders (any thread) ---------------------------------------------------
  enum class Refusal : std::uint8_t {
    kNone,
    kClosed,    // the actor stopped
    kStale,     // addressed to an incarnation that was restarted
    kFull,      // at capacity under kFail or kDropNewest (or kBlock without waiting)
    kTimedOut,  // kBlock: no room within block_timeout
  };
  struct Pushed {
    bool schedule = false;    // the actor became runnable: the caller schedules it
    Refusal refusal = Refusal::kNone;
    MessagePtr refused;       // the message, when not queued
    MessagePtr evicted;       // kDropOldest: the oldest message, dropped for it
  };
  // Queues a user message. `stale`: the message is for an earlier
  // incarnation (checked after closure). A full kBlock mailbox waits for
  // room when `may_block`, calling `help` (if any) while it waits: it runs
  // other work and returns whether it ran any.
  Pushed push(MessagePtr msg, bool stale, bool may_block, const std::function<bool()>& help)
      KEEL_EXCLUDES(mu_);
  // Queues a control message; returns it when the mailbox is closed.
  // `*schedule`: the caller must schedule the actor.
  SysMsgPtr push_system(SysMsgPtr msg, bool* schedule) KEEL_EXCLUDES(mu_);

  // ---- Durable acceptance (any thread) ----------------------------------------
  // Holds accepted messages (from now until release_held) behind the ones
  // recovery will queue. Before the actor is published.
  void hold() KEEL_EXCLUDES(mu_);
  // An idle actor handles a message at once and journals it with its
  // handling: queues `msg` and returns true when nothing accepted earlier
  // can be queued behind it; otherwise counts an acceptance in flight (see
  // accepted) and returns false, leaving `msg` with the caller.
  bool push_if_idle(MessagePtr& msg, bool* schedule) KEEL_EXCLUDES(mu_);
  // A message whose INBOX record is durable: queued (or held). Returns it
  // when the mailbox is closed. `was_counted`: push_if_idle counted it.
  MessagePtr push_accepted(MessagePtr msg, bool was_counted, bool* schedule) KEEL_EXCLUDES(mu_);
  // Counts an acceptance in flight without trying push_if_idle.
  void count_acceptance() KEEL_EXCLUDES(mu_);
  // An acceptance counted by push_if_idle or count_acceptance failed.
  void accepted_failed() KEEL_EXCLUDES(mu_);
  // Ends hold(): queues `recovered` and the held messages in journal
  // order. Returns whether the caller must schedule the actor.
  bool release_held(std::vector<MessagePtr> recovered) KEEL_EXCLUDES(mu_);
  // No user message is queued and no acceptance is in flight.
  bool drained() const KEEL_EXCLUDES(mu_);

  // ---- The actor's turn ---------------------------------------------------------
  // One step of a turn: the control messages if any; else a batch of up to
  // `budget` user messages, unless paused, closed or empty; else the end of
  // the turn, where `more` tells whether the actor still has messages (then
  // it stays scheduled; otherwise it is no longer). The turn takes the
  // batch's messages out one at a time with next(), and gives back those it
  // did not take with put_back().
  struct Step {
    IntrusiveQueue<SysMsg> system;
    int taken = 0;      // messages in the batch
    bool end = false;   // the turn ends
    bool more = false;  // with `end`: runnable again at once

   private:
    friend class Mailbox;
    int left = 0;                  // batch messages next() has not returned yet
    bool from_hand = false;        // the batch is the front of in_hand_
    IntrusiveQueue<Message> user;  // otherwise, the batch itself
  };
  Step take(int budget) KEEL_EXCLUDES(mu_);
  // The next message of `step`'s batch, or null when it has none left (or
  // the mailbox was closed meanwhile, which took the rest).
  MessagePtr next(Step& step);
  // Ends `step` before its batch is done: the messages next() did not
  // return go back in front. Returns them when the mailbox is closed.
  IntrusiveQueue<Message> put_back(Step& step) KEEL_EXCLUDES(mu_);
  // Puts messages a turn took back in front. Returns them when the mailbox
  // is closed meanwhile.
  IntrusiveQueue<Message> requeue_front(IntrusiveQueue<Message> batch) KEEL_EXCLUDES(mu_);
  // Control messages only (a forced stop).
  IntrusiveQueue<SysMsg> take_system() KEEL_EXCLUDES(mu_);
  void set_paused(bool paused) KEEL_EXCLUDES(mu_);
  // Closes for good: nothing is queued afterwards. Returns what was queued
  // or held, for the caller to dispose of.
  struct Rest {
    IntrusiveQueue<Message> user;
    IntrusiveQueue<SysMsg> system;
  };
  Rest close() KEEL_EXCLUDES(mu_);

 private:
  // Marks the actor scheduled unless it is (or, for user messages, paused);
  // returns whether the caller must schedule it.
  bool become_runnable(bool user) KEEL_REQUIRES(mu_);
  bool wait_for_room(MutexLock& l, const std::function<bool()>& help) KEEL_REQUIRES(mu_);
  IntrusiveQueue<Message> requeue_front_locked(IntrusiveQueue<Message> batch) KEEL_REQUIRES(mu_);
  // Counts user messages in or out; returns the new count. user_size_ is
  // written only under mu_, so a load and a store do.
  std::size_t grow(std::size_t n) KEEL_REQUIRES(mu_) {
    const std::size_t size = user_size_.load(std::memory_order_relaxed) + n;
    user_size_.store(size, std::memory_order_relaxed);
    return size;
  }
  std::size_t shrink(std::size_t n) KEEL_REQUIRES(mu_) {
    const std::size_t size = user_size_.load(std::memory_order_relaxed) - n;
    user_size_.store(size, std::memory_order_relaxed);
    return size;
  }

  const MailboxConfig config_;
  mutable Mutex mu_;
  CondVar room_cv_;  // kBlock senders wait here for room
  IntrusiveQueue<Message> user_ KEEL_GUARDED_BY(mu_);
  // The oldest queued user messages, which take() moved out of user_ in
  // one piece (not under kDropOldest, whose senders evict the oldest):
  // still queued and counted in user_size_, ahead of user_. The list is
  // turn-owned (next unlinks from it outside mu_; requeue_front and close
  // run on the turn, or with no turn left); its size is guarded by mu_.
  IntrusiveQueue<Message> in_hand_;
  std::size_t in_hand_size_ KEEL_GUARDED_BY(mu_) = 0;
  IntrusiveQueue<SysMsg> system_ KEEL_GUARDED_BY(mu_);
  std::atomic<std::size_t> user_size_{0};  // written under mu_; relaxed reads (diagnostics, backlog)
  bool scheduled_ KEEL_GUARDED_BY(mu_) = false;
  bool paused_ KEEL_GUARDED_BY(mu_) = false;  // user messages wait (suspended, stopping)
  bool closed_ KEEL_GUARDED_BY(mu_) = false;  // stopped: nothing is accepted
  int blocked_senders_ KEEL_GUARDED_BY(mu_) = 0;
  bool holding_ KEEL_GUARDED_BY(mu_) = false;  // see hold()
  // Durable: INBOX appends submitted and not yet queued. While any is, a new
  // message is journaled on its own first (never handled ahead of them).
  int accepting_ KEEL_GUARDED_BY(mu_) = 0;
  std::vector<MessagePtr> held_ KEEL_GUARDED_BY(mu_);
};

}  // namespace keel::detail
