// Supervisor: one actor's place in the supervision tree. It holds the
// actor's parent and children (in spawn order), the monitors and links that
// involve it, and the supervision messages that wait for it to be resumed.
// It decides what happens to a failed child (the actor's SupervisorStrategy:
// one-for-one, all-for-one, rest-for-one, escalate, restart intensity and
// backoff), and applies the system's root strategy when the actor itself
// fails without a parent.
//
// Its Cell owns it and keeps the lifecycle: the turn loop, and the sequence
// of start, stop and restart. The supervisor tells the cell to fail, stop or
// resume, and the cell tells the supervisor when it fails or has stopped:
//
//   // Cell::fail, after suspending the actor whose handler threw:
//   supervisor_.report_failure(error);          // kChildFailed to the parent
//   // Cell::handle_system, in the parent's turn:
//   supervisor_.handle_system(std::move(msg));  // e.g. kRestart to the child
//
// Not thread-safe; touched only in its cell's turn (or by spawn, before the
// cell is published). A child's entry in its parent's list is owned by the
// parent's turn.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/engine/actor_ref.h"
#include "keel/engine/future.h"
#include "keel/engine/supervision.h"
#include "cell_ref.h"

namespace keel::detail {

class Cell;
struct SysMsg;

class Supervisor {
 public:
  // `cell` owns this supervisor and outlives it.
  explicit Supervisor(Cell& cell);
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  ~Supervisor();

  // ---- Parent and children ---------------------------------------------------
  // Spawn, before publication: makes `parent` (null for a root actor) the
  // one told when this actor fails or stops.
  void set_parent(Cell* parent);
  // A cell that did not start: its parent never listed it and is not told.
  void forget_parent() { parent_ = {}; }
  // In the parent's turn, once `child` (spawned by this actor) has started:
  // lists it after the other children. Precondition: not listed yet.
  void add_child(Cell* child);
  // Refs to the children that have not stopped, in spawn order.
  std::vector<AnyRef> children_refs() const;
  bool has_children() const { return !children_.empty(); }
  // Sends kStop to every child. They stay listed until each reports back
  // (kChildTerminated), or until forget_children().
  void stop_children();
  // Unlists every child (they are stopping or stopped).
  void forget_children();
  // Unlists every child and returns them, in spawn order.
  std::vector<CellRef> take_children();
  // Unlists `child`, which has stopped (kChildTerminated); does nothing if it
  // is not listed here.
  void remove_child(Cell* child);

  // ---- Failure ---------------------------------------------------------------
  // This actor failed with `error` and is suspended: tells the parent
  // (kChildFailed), or for a root actor applies the root strategy at once,
  // which may resume, restart (later, with backoff) or stop it.
  void report_failure(const Status& error);
  // Sends kResume to the children whose failure this actor escalated.
  void resume_escalated_children();
  // The supervision messages that came while this actor was suspended, in
  // arrival order; the caller handles them once it runs again.
  std::vector<std::unique_ptr<SysMsg>> take_deferred();
  // A restart or stop of this actor: drops the deferred messages and the
  // escalated children (those were stopped with the others).
  void clear_suspended();

  // ---- Monitors and links this actor makes ------------------------------------
  // Each does nothing for a null target or this actor itself. A monitor or
  // link belongs to this incarnation: a later one ignores its signals.
  void monitor(Cell* target);
  void demonitor(Cell* target);
  void link(Cell* other);
  void unlink(Cell* other);
  // With `trap` true, a linked actor's stop calls on_exit instead of making
  // this actor fail.
  void set_trap_exit(bool trap) { trap_exit_ = trap; }

  // ---- Control messages ------------------------------------------------------
  // Handles kChildFailed, kMonitor, kDemonitor, kLink, kUnlink, kDown and
  // kExit (ownership passes); a failure or signal that arrives while this
  // actor is suspended waits for take_deferred(). Precondition: the actor
  // has not stopped.
  void handle_system(std::unique_ptr<SysMsg> msg);
  // This actor has stopped with `reason`: tells its watchers (kDown, or
  // their promises), its linked actors (kExit) and its parent
  // (kChildTerminated), then forgets them all and its children.
  void notify_stopped(const Status& reason);

 private:
  // Monitors and links belong to the incarnation that made them: a
  // notification carries that incarnation's generation and is ignored by a
  // later one.
  struct Watcher {
    CellRef cell;
    std::uint32_t gen = 0;
    std::optional<Promise<Down>> promise;
  };
  struct Link {
    CellRef cell;
    std::uint32_t gen = 0;
  };

  // The parent's decision about a failed child of incarnation `gen`; does
  // nothing if that failure was already handled.
  void handle_child_failure(Cell* child, std::uint32_t gen, const Status& error);
  // kRestart for `child`: restarts the children `s` affects (with backoff),
  // or escalates once the restart intensity is exceeded.
  void restart_affected(Cell* child, std::uint32_t gen, const Status& error,
                        const SupervisorStrategy& s);
  // The children a restart or stop of `child` affects under `kind`, in spawn
  // order. Precondition: `child` is listed here.
  std::vector<Cell*> affected_children(Cell* child, SupervisionKind kind) const;
  // This actor fails with `error`, holding `child` (of `gen`) suspended
  // until this actor is resumed.
  void escalate(Cell* child, std::uint32_t gen, const Status& error);
  // This root actor failed: the system's root strategy resumes, restarts
  // (with backoff, within its intensity) or stops it.
  void apply_root_directive(const Status& error);
  // Sends kRestart for `target`'s current incarnation, after `delay`.
  void send_restart_after(Cell* target, const Status& cause, Duration delay);
  // kDown or kExit for this incarnation, while running.
  void handle_signal(SysMsg& msg);

  Cell& cell_;
  CellRef parent_;
  std::list<CellRef> children_;  // spawn order
  // This actor's entry in its parent's children_, owned by the parent's turn
  // (this actor never reads it), so removal is O(1).
  std::list<CellRef>::iterator in_parent_;
  bool listed_in_parent_ = false;
  std::vector<Watcher> watchers_;
  std::vector<Link> links_;
  // kDown/kExit/kChildFailed that arrived while suspended.
  std::vector<std::unique_ptr<SysMsg>> deferred_;
  // Children whose failure this actor escalated (they wait suspended): resumed
  // when this actor is resumed; a restart or stop of this actor stops them.
  std::vector<Link> escalated_;
  std::vector<TimePoint> restart_history_;       // restarts this actor ordered as a supervisor
  std::vector<TimePoint> root_restart_history_;  // restarts of this actor by the root strategy
  bool trap_exit_ = false;
};

}  // namespace keel::detail
