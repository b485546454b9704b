// Cell: the control block of one actor (all its incarnations): its mailbox
// (mailbox.h), the turn loop, the lifecycle (start, stop, restart) and the
// current instance. Its place in the supervision tree is its Supervisor
// (supervisor.h).
//
// Threading: the mailbox is thread-safe and touched by any sender.
// Everything marked "turn-owned" is touched only by the thread
// running the actor's turn (the scheduler runs one turn per cell at a time),
// or by spawn before the cell is published. Statistics are relaxed atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/engine/actor.h"
#include "keel/engine/detail/message.h"
#include "keel/engine/system.h"
#include "cell_ref.h"
#include "durable_cell.h"
#include "intrusive_queue.h"
#include "mailbox.h"
#include "supervisor.h"

namespace keel::internal {
class Runtime;
}

namespace keel::detail {

// Control messages. They bypass capacity limits and are handled before user
// messages, also while the actor is suspended or stopping.
struct SysMsg {
  enum Kind : std::uint8_t {
    kStop,             // status: the reason
    kRestart,          // status: the cause; gen: the incarnation to restart
    kResume,           // gen: the incarnation to resume
    kChildFailed,      // other: the child; gen: its incarnation; status: the error
    kChildTerminated,  // other: the child
    kMonitor,          // other: the watcher (or promise)
    kDemonitor,        // other: the watcher
    kLink,             // other: the linked actor
    kUnlink,           // other: the linked actor
    kDown,             // other: the actor that stopped; gen; status: reason
    kExit,             // other: the linked actor that stopped; gen; status: reason
    kJournalFailed,    // status: a durable actor's commit failed
    kRebuild,          // status: the restart's cause; retry a durable rebuild
  };
  SysMsg* next = nullptr;
  Kind kind;
  Status status;
  CellRef other;
  std::uint32_t gen = 0;
  std::optional<Promise<Down>> watch;  // kMonitor from System::watch
  std::vector<MessagePtr> msgs;        // kJournalFailed: the handled messages of the failed commit

  SysMsg() = default;
  SysMsg(const SysMsg&) = delete;
  SysMsg& operator=(const SysMsg&) = delete;
};
using SysMsgPtr = std::unique_ptr<SysMsg>;

// A system message of `kind`; the caller owns it until it is sent.
inline SysMsgPtr make_sys(SysMsg::Kind kind, Status status = Status::ok(), Cell* other = nullptr,
                          std::uint32_t gen = 0) {
  auto m = std::make_unique<SysMsg>();
  m->kind = kind;
  m->status = std::move(status);
  m->other = CellRef(other);
  m->gen = gen;
  return m;
}

// What one turn may handle (Cell::run_turn). It takes the control
// messages, then a batch of up to `batch` user messages, and so on while it
// has budget; control messages always go first, so one that arrives during
// a turn waits for at most one batch. The budget is one batch; when more
// than one batch was queued at the turn's start (a backlog), up to that
// many messages, at most `max_batches` batches, and no further batch once
// `slice` (real time) has passed since the start. The turn ends after a
// handler that sent a message to its own actor.
struct TurnBudget {
  int batch = 1;
  int max_batches = 1;
  std::chrono::microseconds slice{0};
};

class Cell;
// The context of the turn running on this thread (TurnScope), or null.
HandlerContext* current_turn();
// "actor 7 (Account)", for error messages and logs.
std::string describe(const Cell& c);

class Cell {
 public:
  Cell(internal::Runtime* rt, ActorId id, const std::type_info& type, const std::string& type_name,
       MailboxConfig mailbox, System::Factory factory);
  Cell(const Cell&) = delete;
  Cell& operator=(const Cell&) = delete;
  ~Cell();

  void acquire() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // acq_rel: the last release sees every write made through other refs.
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  ActorId id() const { return id_; }
  ActorId parent_id() const { return parent_id_; }
  const std::type_info& type() const { return *type_; }
  const std::string& type_name() const { return type_name_; }
  internal::Runtime& runtime() const { return *rt_; }
  // acquire: pairs with the release increment at restart.
  std::uint32_t generation() const { return generation_.load(std::memory_order_acquire); }
  ActorStatus status() const { return status_.load(std::memory_order_relaxed); }
  bool is_stopped() const { return status() == ActorStatus::kStopped; }

  // ---- Any thread ------------------------------------------------------------
  // See detail::cell_send. With may_block false (journal commit callbacks),
  // a full kBlock mailbox refuses the message instead of waiting.
  Status send(std::uint32_t gen, MessagePtr msg, bool may_block = true);
  // Queues a control message (ownership passes); handled at once on this
  // thread if the actor has stopped.
  void send_system(SysMsgPtr msg);
  std::size_t mailbox_depth() const { return mailbox_.depth(); }
  // Messages handled so far, all incarnations. Any thread.
  std::uint64_t processed() const { return processed_.load(std::memory_order_relaxed); }
  ActorSnapshot snapshot() const;

  // ---- Scheduler ---------------------------------------------------------------
  // Runs one turn within `budget`: control messages, then user messages.
  // more: the cell has more work and must be scheduled again (the caller
  // keeps the queue's reference); otherwise it went idle (the reference is
  // released here). handled: the user messages it handled.
  struct TurnEnd {
    bool more = false;
    int handled = 0;
  };
  TurnEnd run_turn(const TurnBudget& budget);
  // Shutdown after the workers stopped: stops this cell on the calling thread.
  void force_stop();

  // ---- Turn-owned (the actor's own thread of control) -----------------------
  // Spawn, before publication: installs the instance and runs on_start on
  // this thread. On error the cell is stopped (no on_stop) and unusable.
  // Installs the actor instance (and the parent) of a cell not started yet.
  void attach(std::unique_ptr<Actor> instance, Cell* parent);
  // Starts an attached cell: recovers a durable one (unless `recovered`: its
  // state was rebuilt already), runs on_start, then (with `release`) queues
  // the recovered and held messages. On error the cell is stopped (abandon)
  // and the error returned.
  Status start(bool recovered, bool release);
  // After start(recovered, /*release=*/false): queues those messages.
  void release_held() { durable_->release_recovered(); }
  // Stops a cell that did not start, with `why` as its stop reason.
  void abandon(const Status& why);
  void request_stop() { stop_requested_ = true; }
  // Its children, monitors and links.
  Supervisor& supervisor() { return supervisor_; }
  void track_timer(TimerId id);
  bool untrack_timer(TimerId id);
  ActorId current_sender() const { return current_sender_; }
  // The completion state of the ask being handled, or null (a tell, or no
  // handler running). Turn-owned (cancel.cc).
  FutureStateBase* current_ask() const { return current_ask_; }
  Actor* instance() const { return instance_.get(); }

  // The cell whose turn runs on this thread (TurnScope), or null.
  static Cell* current();

  // ---- Durable actors (durable_cell.h) ------------------------------------------
  bool is_durable() const { return durable_ != nullptr; }
  const DurableCell* durable() const { return durable_.get(); }
  // Before start(): makes this the cell of durable actor `d->key`.
  // Until start() ends, accepted messages are held, then queued after the
  // recovered ones in journal order.
  void make_durable(std::unique_ptr<DurableCell> d) {
    durable_ = std::move(d);
    durable_->attach(this);
    mailbox_.hold();
  }
  // DurableCell::accept. Any thread.
  Status durable_accept(MessagePtr msg, Promise<void>* accepted) {
    return durable_->accept(std::move(msg), accepted);
  }
  // Queues a message whose INBOX record is durable; `was_accepting`: its
  // acceptance was counted by the mailbox. Any thread.
  void enqueue_accepted(MessagePtr msg, bool was_accepting = false);
  // DurableActorBase::schedule_durable / cancel_durable (turn-owned).
  Result<std::uint64_t> durable_schedule(Duration delay, std::string_view method, std::string args) {
    return durable_->schedule_timer(delay, method, std::move(args));
  }
  bool durable_cancel(std::uint64_t id) { return durable_->cancel_timer(id); }
  Status durable_send_to(const std::string& target, std::string_view method, std::string args) {
    return durable_->send_to(target, method, std::move(args));
  }

 private:
  friend struct DurableCell;  // its behaviour drives this cell's turn and mailbox
  // The supervisor makes this actor fail, stop or resume, and runs its
  // hooks (fail, begin_stop, resume, run_hook, ref_to_self).
  friend class Supervisor;
  enum class Pending : std::uint8_t { kNone, kStop, kRestart };

  // Turn steps.
  void handle_system(SysMsgPtr msg);
  void deliver(MessagePtr msg, HandlerContext& ctx);

  // Puts the messages of `step`'s batch that were not delivered back in
  // front of the mailbox (or to dead letters if the actor stopped meanwhile).
  void put_back(Mailbox::Step& step);
  // Puts messages taken for this turn back in front of the mailbox (or to
  // dead letters if the actor stopped meanwhile).
  void requeue_front(IntrusiveQueue<Message> batch);
  // Rejects `msgs` as sent to a stopped actor, and dead-letters them.
  void dead_letter_stopped(IntrusiveQueue<Message> msgs);
  // Disposes of a message the mailbox refused (dead letters, rejection).
  Status refuse(Mailbox::Pushed& pushed);
  // Suspends this actor (user messages wait) and reports `error` to the
  // supervisor.
  void fail(const Status& error);
  // Suspended to running: user messages flow again, and the children whose
  // failure this actor escalated are resumed.
  void resume();
  void begin_stop(const Status& reason);
  void begin_restart(const Status& cause);
  void stop_children_then(Pending then, const Status& why);
  // Stops the cell for good: runs on_stop (if `run_stop_hook`), rejects
  // what is left, closes the mailbox, tells watchers, links and the parent,
  // and frees its name. A durable cell first waits for its commits and
  // acceptances in flight (if `wait_for_commits`; not when forced at
  // shutdown or when it never started), so that a watcher that spawns the
  // key again on its Down recovers everything this cell made durable.
  void finish_stop(bool run_stop_hook = true, bool wait_for_commits = true);
  // What the messages left in a stopping actor's mailbox fail with.
  Status stopped_error(const Status& reason) const;
  void schedule_self();
  Status dead_letter_and_reject(MessagePtr msg, DeadLetterReason reason, Status why,
                                std::string detail);
  // An in-memory actor's turn, before a handler starts: dead-letters `msg`
  // (kCancelled, and deletes it) when its asker cancelled it; returns
  // whether it did (taking `msg`; cancel.cc).
  bool drop_cancelled(MessagePtr& msg);
  AnyRef ref_to_self();
  void finish_restart();
  // The rest of a restart: a fresh instance, rebuilt from the journal for a
  // durable actor (retried later while the journal cannot be read), then
  // on_restart and the messages again.
  void rebuild(const Status& cause);
  // A child stopped: unlists it, and finishes a pending stop or restart
  // once no children are left.
  void on_child_terminated(Cell* child);
  void cancel_timers();
  void set_paused(bool paused) { mailbox_.set_paused(paused); }
  Status run_hook(const std::function<Status()>& hook);
  void report_stop_hook(const Status& s);
  void dispose_dead_system(SysMsgPtr msg);

  std::atomic<std::uint32_t> refs_{1};
  internal::Runtime* const rt_;  // a reference is held
  const ActorId id_;
  const std::type_info* const type_;
  const std::string& type_name_;  // owned by the runtime's type-name cache
  Mailbox mailbox_;
  ActorId parent_id_ = kNoActor;  // set before publication, then constant
  System::Factory factory_;
  std::atomic<std::uint32_t> generation_{1};
  std::atomic<ActorStatus> status_{ActorStatus::kRunning};

  // Turn-owned: user messages the current turn took from the queue and has
  // not delivered yet.
  int turn_batch_left_ = 0;
  // Turn-owned: the handler running sent a message to this actor; the turn
  // ends after it (TurnBudget).
  bool sent_to_self_ = false;

  // ---- Turn-owned ------------------------------------------------------------
  std::unique_ptr<Actor> instance_;
  std::unique_ptr<DurableCell> durable_;  // null for in-memory actors
  Supervisor supervisor_{*this};
  std::vector<TimerId> timers_;
  bool stop_requested_ = false;
  Pending pending_ = Pending::kNone;
  Status pending_status_;
  ActorId current_sender_ = kNoActor;
  FutureStateBase* current_ask_ = nullptr;  // see current_ask()

  // Counts a handled message. Only turns write processed_, one at a time,
  // so a load and a store do (no read-modify-write on the hot path).
  void count_processed() {
    processed_.store(processed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  // relaxed: statistics.
  std::atomic<std::uint64_t> processed_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint32_t> restarts_{0};
};

}  // namespace keel::detail
