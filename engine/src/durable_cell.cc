// DurableCell: the durability of one durable actor, held by its Cell: the
// acceptance of messages (INBOX records), the handling and output commit of
// journaled messages, durable timers, compaction, and recovery
// (durable_recovery.cc). See keel/engine/durable.h for the contract and
// docs/durable.md for the semantics.
#include <algorithm>
#include <limits>
#include <string>

#include "cell.h"
#include "cell_internal.h"
#include "runtime.h"
#include "keel/wire/envelope.h"

namespace keel::detail {

namespace {
// Whether the envelope `bytes`, which the sender of `msg` supplied, can be
// journaled as the INBOX record of `msg` to `target`: decode_inbox rebuilds
// from it the same message (handler, id, idempotence), and it is not taken
// for a durable timer's. The payload is the sender's to vouch for (see
// SendOptions::inbox_envelope).
bool journals_as_is(const Cell& target, const Message& msg, const DurableFields& f, std::string_view bytes) {
  if (f.durable_timer != 0) return false;
  Result<wire::EnvelopeView> v = wire::EnvelopeView::open(bytes);
  if (!v) return false;
  const wire::Id128 id = v->id();
  return v->target().key == target.durable()->key && v->method() == msg.method() &&
         v->payload_encoding() == wire::PayloadEncoding::kSelfDescribing && !id.is_zero() &&
         id.hi != kTimerIdMark && v->idempotent() == !f.id.empty() &&
         (f.id.empty() || (id.hi == f.id.hi && id.lo == f.id.lo));
}

}  // namespace

Result<std::string> inbox_envelope(const Cell& target, Message& msg) {
  DurableFields* f = msg.durable_fields();
  if (f == nullptr) return Status::failed_precondition("only messages to durable actors are journaled");
  if (!f->unjournaled_inbox.empty()) {
    std::string given = std::move(f->unjournaled_inbox);
    f->unjournaled_inbox.clear();
    if (journals_as_is(target, msg, *f, given)) return given;
  }
  KEEL_ASSIGN_OR_RETURN(std::string args, msg.encode_args());
  wire::Envelope e;
  if (f->durable_timer != 0) {
    e.id = wire::Id128{kTimerIdMark, f->durable_timer};
  } else if (!f->id.empty()) {
    e.id = wire::Id128{f->id.hi, f->id.lo};
    e.idempotent = true;
  } else {
    e.id = target.runtime().next_message_id();
  }
  if (const Cell* from = Cell::current()) {
    e.sender.key = from->is_durable() ? from->durable()->key : std::to_string(from->id());
  }
  e.target.key = target.durable()->key;
  e.method = std::string(msg.method());
  e.payload = std::move(args);
  e.payload_encoding = wire::PayloadEncoding::kSelfDescribing;
  return wire::encode_envelope(e);
}

Status DurableCell::accept(MessagePtr msg, Promise<void>* accepted) {
  if (cell_->is_stopped()) {
    Status why = cell_->stopped_error(Status::ok());
    cell_->dead_letter_and_reject(std::move(msg), DeadLetterReason::kStopped, why, "actor stopped").ignore();
    if (accepted) accepted->set_error(why);
    return why;
  }
  if (Cell* from = Cell::current()) msg->sender = from->id();
  if (!msg->journalable()) {
    // Not a handler message (a continue_with continuation): it runs in the
    // actor's turn but is not journaled, like any in-memory message.
    cell_->enqueue_accepted(std::move(msg));
    if (accepted) accepted->set_value();
    return Status::ok();
  }
  Result<std::string> env = inbox_envelope(*cell_, *msg);
  if (!env) {
    msg->reject(env.status());
    if (accepted) accepted->set_error(env.status());
    return env.status();
  }
  // An idle actor handles the message at once, and its INBOX record goes
  // out with the handler's batch: one commit instead of two. Not for
  // tell_durable, whose caller waits for the acceptance itself.
  if (accepted == nullptr) {
    durable_fields_of(*msg).unjournaled_inbox = std::move(*env);
    bool need_schedule = false;
    if (cell_->mailbox_.push_if_idle(msg, &need_schedule)) {  // msg may be handled (and gone) already
      if (need_schedule) cell_->schedule_self();
      return Status::ok();
    }
    DurableFields& f = durable_fields_of(*msg);
    env = std::move(f.unjournaled_inbox);
    f.unjournaled_inbox.clear();
  } else {
    cell_->mailbox_.count_acceptance();
  }
  std::optional<Promise<void>> done;
  if (accepted) done.emplace(std::move(*accepted));
  Commit inbox;
  inbox.records.push_back(NewRecord{owner, RecordKind::kInbox, std::move(*env)});
  cell_->acquire();
  cell_->rt_->journal_op_started();
  accepts->submit(
      std::move(inbox), [self = cell_, msg = std::move(msg), done = std::move(done)](Result<CommitLsns> r) mutable {
        if (!r) {
          self->mailbox_.accepted_failed();
          self->dead_letter_and_reject(std::move(msg), DeadLetterReason::kDropped, r.status(),
                                       "journal append failed: " + r.status().to_string())
              .ignore();
          if (done) done->set_error(r.status());
          if (r.status().code() == StatusCode::kOwnershipLost) {
            self->send_system(make_sys(SysMsg::kJournalFailed, r.status()));
          }
        } else {
          durable_fields_of(*msg).inbox_lsn = r->records;
          self->enqueue_accepted(std::move(msg), /*was_accepting=*/true);
          if (done) done->set_value();
        }
        self->rt_->journal_op_done();
        self->release();
      });
  return Status::ok();
}

void DurableCell::release_recovered() {
  start_outbox();
  std::vector<MessagePtr> recovered;
  recovered.swap(redeliver);
  if (cell_->mailbox_.release_held(std::move(recovered))) cell_->schedule_self();
}


// ---- Handling and output commit ----------------------------------------------

void DurableCell::deliver(MessagePtr m, HandlerContext& ctx) {
  DurableCell& d = *this;
  // A message that cannot be journaled (a continuation) has no durable
  // fields and reads as: no INBOX record, no failed run, no id.
  DurableFields* const f = m->durable_fields();
  const Lsn lsn = inbox_lsn_of(*m);
  const MessageId id = id_of(*m);
  // Not journaled yet (accepted by an idle actor): a message rejected here
  // leaves no trace; handled, it is journaled with its handler's batch.
  const bool unjournaled = is_unjournaled(*m);
  if (lsn != 0 && lsn <= d.cursor) {  // a second copy of a handled message
    m->reject(Status::already_exists(lsn_context(d.owner, lsn) + " was handled already"));
    return;
  }
  // Marks a message rejected without running its handler as handled.
  auto skip = [&] {
    if (lsn != 0) {
      d.cursor = lsn;
      Effects none;
      commit(none);
    }
  };
  const std::uint32_t failures = unjournaled ? f->attempts
                                 : lsn != 0 && d.attempts.count(lsn) != 0 ? d.attempts[lsn]
                                                                           : 0;
  if (failures >= d.options.max_attempts) {
    const std::string where = lsn != 0 ? lsn_context(d.owner, lsn) : "not journaled";
    cell_->dead_letter_and_reject(std::move(m), DeadLetterReason::kFailed,
                           Status::internal(describe(*cell_) + ": handler failed " +
                                            std::to_string(failures) + " times"),
                           "handler failed " + std::to_string(failures) + " times (" + where + ")")
        .ignore();
    d.attempts.erase(lsn);
    skip();
    return;
  }
  if (d.applied(id)) {
    // A copy of a message applied already. The commit that applied it may
    // still be in flight: the copy is answered by a commit behind it in
    // order, kAlreadyExists once that is durable, or that commit's error if
    // it failed (the message was not applied then, and its sender may send
    // it again once the actor is rebuilt).
    Effects eff;
    eff.replies.push_back(
        [m = std::move(m), why = Status::already_exists(describe(*cell_) + ": message id " + std::to_string(id.hi) +
                                                        ":" + std::to_string(id.lo) + " was applied already")](
            const Status* failed) mutable {
          m->reject(failed != nullptr ? *failed : why);
          m.reset();  // before the cell may go
        });
    if (lsn != 0) d.cursor = lsn;
    commit(eff);
    return;
  }
  if (m->deadline != TimePoint::max() && cell_->rt_->clock().now() > m->deadline) {
    cell_->dead_letter_and_reject(std::move(m), DeadLetterReason::kExpired,
                           Status::timeout("message to " + describe(*cell_) + " expired"),
                           "ttl passed before handling")
        .ignore();
    skip();
    return;
  }
  // A cancelled ask is handled all the same: its message is accepted, so
  // part of the actor's history (docs/durable.md, "Cancelling an ask").
  cell_->current_sender_ = m->sender;
  cell_->current_ask_ = m->ask_state();
  Effects eff;
  Status error;
  {
    EffectsScope scope(ctx, &eff);
    error = run_handler(*m, ctx);
  }
  cell_->current_sender_ = kNoActor;
  cell_->current_ask_ = nullptr;
  cell_->count_processed();
  if (!error.is_ok()) {
    // Nothing of this run is committed; the message is retried once the
    // actor is rebuilt (or given up after max_attempts).
    if (lsn != 0 || unjournaled) {
      if (lsn != 0) {
        f->attempts = ++d.attempts[lsn];
      } else {
        ++f->attempts;
      }
      d.failed = std::move(m);
    }
    cell_->fail(error);
    return;
  }
  if (lsn != 0) {
    d.cursor = lsn;
    d.attempts.erase(lsn);
  }
  d.remember(id);
  commit(eff, std::move(m));
  if (cell_->stop_requested_) {
    cell_->stop_requested_ = false;
    cell_->begin_stop(Status::ok());
  }
}

void DurableCell::commit(Effects& eff, MessagePtr handled) {
  DurableCell& d = *this;
  // Messages journaled with their handling are marked one by one; the
  // cursor moves up to the newest of them once nothing accepted earlier can
  // still be pending: every INBOX record with a lower LSN was queued before
  // that message's commit called back, and the queue is empty now.
  const Lsn with_inbox = d.handled_with_inbox.load(std::memory_order_acquire);
  if (with_inbox > d.cursor && cell_->turn_batch_left_ == 0 && cell_->mailbox_.drained()) d.cursor = with_inbox;
  const bool unjournaled = handled != nullptr && is_unjournaled(*handled);
  Commit commit;
  if (unjournaled) {
    // Its INBOX record and a mark: they do not move the cumulative cursor.
    commit.inbox = NewRecord{d.owner, RecordKind::kInbox, std::move(durable_fields_of(*handled).unjournaled_inbox)};
  }
  const bool snapshot = ++d.since_snapshot >= d.options.snapshot_every;
  if (snapshot) {
    d.since_snapshot = 0;
    forget_delivered();  // the snapshot keeps the messages sent by key not delivered yet
    if (d.options.compact_every != 0 && ++d.snapshots_since_compact >= d.options.compact_every &&
        compact_superseded()) {
      d.snapshots_since_compact = 0;
    }
    commit.cursor_kind = CursorKind::kSnapshot;
    commit.cursor = NewRecord{d.owner, RecordKind::kSnapshot, encode_snapshot()};
  } else if (!unjournaled) {
    commit.cursor_kind = CursorKind::kProcessed;
    commit.cursor = NewRecord{d.owner, RecordKind::kProcessed,
                              wire::encode_value(static_cast<std::uint64_t>(d.cursor))};
  }
  commit.records = std::move(eff.records);
  eff.records.clear();
  cell_->rt_->journal_op_started();
  cell_->acquire();
  d.commits->submit(
      std::move(commit),
      [self = cell_, sends = std::move(eff.sends), replies = std::move(eff.replies), snapshot,
       cursor = d.cursor, handled = std::move(handled), unjournaled](Result<CommitLsns> r) mutable {
        if (r) {
          if (snapshot) self->durable_->durable_snapshot_cursor.store(cursor, std::memory_order_relaxed);
          // Commits call back in order: LSNs only grow.
          if (unjournaled) self->durable_->handled_with_inbox.store(r->inbox, std::memory_order_release);
          release_sends(sends, r->records);
          for (auto& f : replies) f(nullptr);
        } else {
          self->durable_->commit_failed(r.status(), sends, replies, std::move(handled), unjournaled);
        }
        handled.reset();  // before the cell (and its runtime) may go
        self->rt_->journal_op_done();
        self->release();
      });
  eff.sends.clear();
  eff.replies.clear();
}

std::string DurableCell::encode_snapshot() const {
  const DurableCell& d = *this;
  DurableActorBase::SnapshotMeta meta;
  meta.cursor = d.cursor;
  meta.timers.reserve(d.timers.size());
  for (const auto& [id, t] : d.timers) meta.timers.push_back(t);
  meta.timer_seq = d.timer_seq;
  meta.ids.reserve(d.applied_ids.size());
  for (const MessageId& id : d.applied_ids) meta.ids.push_back({id.hi, id.lo});
  for (const auto& [seq, e] : d.outbox) meta.outbox.push_back(e);
  meta.outbox_seq = d.outbox_seq;
  meta.outbox_delivered = d.outbox_delivered;
  return static_cast<const DurableActorBase&>(*cell_->instance_).encode_snapshot(meta);
}

void DurableCell::commit_failed(const Status& why, std::vector<Effects::Send>& sends,
                         std::vector<UniqueFunction<void(const Status*)>>& replies, MessagePtr handled,
                         bool unjournaled) {
  reject_sends(sends, why);
  for (auto& f : replies) f(&why);  // askers get the commit's error
  SysMsgPtr m = make_sys(SysMsg::kJournalFailed, why);
  if (handled != nullptr && (unjournaled || why.code() == StatusCode::kOwnershipLost)) {
    // Never accepted here (its INBOX record was in this batch, as when a
    // lone INBOX append fails), or now another writer's to handle: its
    // asker has the error, and it is dropped, not handled again.
    cell_->rt_->dead_letter(DeadLetterReason::kDropped, cell_, *handled, "journal commit failed: " + why.to_string());
  } else if (handled != nullptr) {
    m->msgs.push_back(std::move(handled));  // accepted earlier: handled again once rebuilt
  }
  cell_->send_system(std::move(m));
}

bool DurableCell::compact_superseded() {
  DurableCell& d = *this;
  const Lsn cursor = d.durable_snapshot_cursor.load(std::memory_order_relaxed);
  if (cursor == 0 || cursor == d.compacted_below) return false;  // nothing (new) is durable yet
  d.compacted_below = cursor;
  // The snapshot with this cursor is durable, and every record of the owner
  // before the INBOX record it names is superseded by it.
  std::optional<std::uint64_t> seq;
  Status s = d.journal->scan_lsn(cursor, cursor, [&](const Record& r) {
    if (r.owner == d.owner) seq = r.seq;
    return false;
  });
  if (s.is_ok() && seq) {
    // The turn does not wait for the writer: a failure is only logged
    // (compaction only reclaims space), and the runtime counts the removal
    // as a journal operation in flight, so shutdown waits for it.
    cell_->rt_->journal_op_started();
    cell_->rt_->add_ref();  // released by the callback
    d.journal->truncate_async(d.owner, *seq, [rt = cell_->rt_, owner = d.owner](Result<std::uint64_t> n) {
      if (!n) rt->log("compaction of " + owner + " failed: " + n.status().to_string());
      rt->journal_op_done();
      rt->release();
    });
  }
  if (!s.is_ok()) cell_->rt_->log("compaction of " + d.owner + " failed: " + s.to_string());
  return true;
}

Status DurableCell::run_handler(Message& m, HandlerContext& ctx) {
  DurableCell& d = *this;
  if (const std::uint64_t timer = durable_timer_of(m); timer != 0) {
    // A timer's message: handled once, while the timer is pending.
    if (d.timers.erase(timer) == 0) return Status::ok();
  }
  d.handling = true;
  Status error;
  try {
    m.invoke(*cell_->instance_, ctx);
  } catch (...) {
    error = status_from_current_exception();
  }
  d.handling = false;
  return error;
}

Result<std::uint64_t> DurableCell::schedule_timer(Duration delay, std::string_view method, std::string args) {
  DurableCell& d = *this;
  if (!d.handling)
    return Status::failed_precondition("schedule_durable outside the handler of a journaled message");
  DurableTimer t;
  t.id = ++d.timer_seq;
  t.fire_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     (cell_->rt_->clock().wall_now() + delay).time_since_epoch())
                     .count();
  t.method = std::string(method);
  t.args.data = std::move(args);
  d.timers[t.id] = t;
  if (Effects* e = current_effects(); e != nullptr && !e->replay) {
    e->records.push_back(NewRecord{d.owner, RecordKind::kTimer, wire::encode_value(t)});
    cell_->acquire();
    e->replies.push_back([self = cell_, t](const Status* failed) {  // armed once the timer is durable
      if (failed == nullptr) self->durable_->arm_timer(t);
      self->release();
    });
  }
  return t.id;
}

bool DurableCell::cancel_timer(std::uint64_t id) { return timers.erase(id) != 0; }

void DurableCell::arm_timer(const DurableTimer& t) {
  const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        cell_->rt_->clock().wall_now().time_since_epoch())
                        .count();
  const Duration delay(std::max<std::int64_t>(0, t.fire_at_ns - wall));
  auto fire = [self = CellRef(cell_), t] {
    Result<MessagePtr> m = self->durable_->decoder(t.method, t.args.data);
    if (!m) {
      self->runtime().log("durable timer " + std::to_string(t.id) + " of " + self->durable_->owner +
                          ": " + m.status().to_string());
      return;
    }
    durable_fields_of(**m).durable_timer = t.id;
    self->durable_->accept(std::move(*m), nullptr).ignore();
  };
  if (delay == Duration::zero()) {
    fire();  // overdue (the process was down at its time): at once
  } else {
    cell_->rt_->timers().schedule(cell_->rt_->clock().now() + delay, Duration::zero(), std::move(fire));
  }
}

}  // namespace keel::detail
