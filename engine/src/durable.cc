// Durable actors: acceptance (INBOX), output commit, durable timers
// (recovery: durable_recovery.cc). See
// keel/engine/durable.h for the contract and docs/durable.md for the
// semantics.
#include <algorithm>
#include <limits>
#include <unordered_map>
#include <string>

#include "cell.h"
#include "cell_internal.h"
#include "runtime.h"
#include "keel/wire/envelope.h"

namespace keel::detail {

namespace {
thread_local Effects* tls_effects = nullptr;

// Whether the envelope `bytes`, which the sender of `msg` supplied, can be
// journaled as the INBOX record of `msg` to `target`: decode_inbox rebuilds
// from it the same message (handler, id, idempotence), and it is not taken
// for a durable timer's. The payload is the sender's to vouch for (see
// SendOptions::inbox_envelope).
bool journals_as_is(const Cell& target, const Message& msg, std::string_view bytes) {
  if (msg.durable_timer != 0) return false;
  Result<wire::EnvelopeView> v = wire::EnvelopeView::open(bytes);
  if (!v) return false;
  const wire::Id128 id = v->id();
  return v->target().key == target.durable()->key && v->method() == msg.method() &&
         v->payload_encoding() == wire::PayloadEncoding::kSelfDescribing && !id.is_zero() &&
         id.hi != kTimerIdMark && v->idempotent() == !msg.id.empty() &&
         (msg.id.empty() || (id.hi == msg.id.hi && id.lo == msg.id.lo));
}

// The INBOX payload for `msg` to durable actor `target`: the sender's
// pre-encoded envelope when journals_as_is, otherwise an envelope whose
// payload is the self-describing handler arguments. Takes the pre-encoded
// one out of `msg` (msg.unjournaled_inbox is empty after the call).
Result<std::string> inbox_envelope(const Cell& target, Message& msg) {
  if (!msg.unjournaled_inbox.empty()) {
    std::string given = std::move(msg.unjournaled_inbox);
    msg.unjournaled_inbox.clear();
    if (journals_as_is(target, msg, given)) return given;
  }
  KEEL_ASSIGN_OR_RETURN(std::string args, msg.encode_args());
  wire::Envelope e;
  if (msg.durable_timer != 0) {
    e.id = wire::Id128{kTimerIdMark, msg.durable_timer};
  } else if (!msg.id.empty()) {
    e.id = wire::Id128{msg.id.hi, msg.id.lo};
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

void reject_all(std::vector<Effects::Send>& sends, const Status& why) {
  for (auto& s : sends) {
    s.msg->reject(why);
    s.target->release();
  }
  sends.clear();
}

// Releases a durable commit's sends: an INBOX record of it (at `first` +
// its index) makes its message accepted; others are sent as they are.
void release_effects(std::vector<Effects::Send>& sends, Lsn first) {
  for (auto& s : sends) {
    if (s.record >= 0) {
      s.msg->inbox_lsn = first + static_cast<Lsn>(s.record);
      s.target->enqueue_accepted(std::move(s.msg));
    } else {
      // Never blocks the journal's writer thread.
      s.target->send(s.gen, std::move(s.msg), /*may_block=*/false).ignore();
    }
    s.target->release();
  }
  sends.clear();
}
}  // namespace

Effects* current_effects() { return tls_effects; }

EffectsScope::EffectsScope(Effects* e) : prev_(tls_effects) { tls_effects = e; }
EffectsScope::~EffectsScope() { tls_effects = prev_; }

bool replies_deferred() { return tls_effects != nullptr; }

void release_reply(UniqueFunction<void(const Status*)> fn) {
  if (Effects* e = tls_effects) {
    if (!e->replay) e->replies.push_back(std::move(fn));
    return;  // a replayed handler's reply went out before the crash
  }
  fn(nullptr);
}

Effects::~Effects() {
  reject_all(sends, Status::cancelled("the sending handler failed; its messages were not sent"));
}

Status Effects::add_send(Cell* target, std::uint32_t gen, MessagePtr msg) {
  if (replay) return Status::ok();  // sent (and journaled) before the crash
  if (Cell* from = Cell::current()) msg->sender = from->id();
  msg->generation = gen;
  int record = -1;
  if (target->is_durable()) {
    Result<std::string> env = inbox_envelope(*target, *msg);
    if (env) {
      records.push_back(NewRecord{target->durable()->owner, RecordKind::kInbox, std::move(*env)});
      record = static_cast<int>(records.size()) - 1;
    } else if (env.status().code() != StatusCode::kFailedPrecondition) {
      msg->reject(env.status());
      return env.status();
    }  // else an in-memory message (a continuation): released as it is
  }
  target->acquire();
  sends.push_back(Send{target, gen, std::move(msg), record});
  return Status::ok();
}

// ---- Acceptance --------------------------------------------------------------

Status Cell::durable_accept(MessagePtr msg, Promise<void>* accepted) {
  if (is_stopped()) {
    Status why = Status::not_found(describe(*this) + " has stopped");
    dead_letter_and_reject(std::move(msg), DeadLetterReason::kStopped, why, "actor stopped").ignore();
    if (accepted) accepted->set_error(why);
    return why;
  }
  if (Cell* from = Cell::current()) msg->sender = from->id();
  Result<std::string> env = inbox_envelope(*this, *msg);
  if (!env && env.status().code() == StatusCode::kFailedPrecondition) {
    // Not a handler message (a continue_with continuation): it runs in the
    // actor's turn but is not journaled, like any in-memory message.
    enqueue_accepted(std::move(msg));
    if (accepted) accepted->set_value();
    return Status::ok();
  }
  if (!env) {
    msg->reject(env.status());
    if (accepted) accepted->set_error(env.status());
    return env.status();
  }
  // An idle actor handles the message at once, and its INBOX record goes
  // out with the handler's batch: one commit instead of two. Not for
  // tell_durable, whose caller waits for the acceptance itself.
  if (accepted == nullptr) {
    msg->unjournaled_inbox = std::move(*env);
    bool need_schedule = false;
    if (mailbox_.push_if_idle(msg, &need_schedule)) {  // msg may be handled (and gone) already
      if (need_schedule) schedule_self();
      return Status::ok();
    }
    env = std::move(msg->unjournaled_inbox);
    msg->unjournaled_inbox.clear();
  } else {
    mailbox_.count_acceptance();
  }
  std::optional<Promise<void>> done;
  if (accepted) done.emplace(std::move(*accepted));
  std::vector<NewRecord> batch;
  batch.push_back(NewRecord{durable_->owner, RecordKind::kInbox, std::move(*env)});
  acquire();
  rt_->journal_op_started();
  durable_->journal->append_async(
      std::move(batch), [self = this, msg = std::move(msg), done = std::move(done)](Result<LsnRange> r) mutable {
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
          msg->inbox_lsn = r->first;
          self->enqueue_accepted(std::move(msg), /*was_accepting=*/true);
          if (done) done->set_value();
        }
        self->rt_->journal_op_done();
        self->release();
      });
  return Status::ok();
}

void Cell::release_recovered() {
  std::vector<MessagePtr> recovered;
  recovered.swap(durable_->redeliver);
  if (mailbox_.release_held(std::move(recovered))) schedule_self();
}

void Cell::enqueue_accepted(MessagePtr msg, bool was_accepting) {
  bool need_schedule = false;
  if (MessagePtr closed = mailbox_.push_accepted(std::move(msg), was_accepting, &need_schedule)) {
    // Journaled: the next spawn_durable of this key delivers it again.
    dead_letter_and_reject(std::move(closed), DeadLetterReason::kStopped,
                           Status::not_found(describe(*this) + " has stopped"),
                           "actor stopped (kept in the journal)")
        .ignore();
    return;
  }
  if (need_schedule) schedule_self();
}

// ---- Handling and output commit ----------------------------------------------

void Cell::durable_deliver(MessagePtr m) {
  DurableCell& d = *durable_;
  const Lsn lsn = m->inbox_lsn;
  // Not journaled yet (accepted by an idle actor): a message rejected here
  // leaves no trace; handled, it is journaled with its handler's batch.
  const bool unjournaled = !m->unjournaled_inbox.empty();
  if (lsn != 0 && lsn <= d.cursor) {  // a second copy of a handled message
    m->reject(Status::already_exists(lsn_context(d.owner, lsn) + " was handled already"));
    return;
  }
  // Marks a message rejected without running its handler as handled.
  auto skip = [&] {
    if (lsn != 0) {
      d.cursor = lsn;
      Effects none;
      durable_commit(none);
    }
  };
  const std::uint32_t failures = unjournaled ? m->attempts
                                 : lsn != 0 && d.attempts.count(lsn) != 0 ? d.attempts[lsn]
                                                                           : 0;
  if (failures >= d.options.max_attempts) {
    const std::string where = lsn != 0 ? lsn_context(d.owner, lsn) : "not journaled";
    dead_letter_and_reject(std::move(m), DeadLetterReason::kFailed,
                           Status::internal(describe(*this) + ": handler failed " +
                                            std::to_string(failures) + " times"),
                           "handler failed " + std::to_string(failures) + " times (" + where + ")")
        .ignore();
    d.attempts.erase(lsn);
    skip();
    return;
  }
  if (d.applied(m->id)) {
    m->reject(Status::already_exists(describe(*this) + ": message id " + std::to_string(m->id.hi) + ":" +
                                     std::to_string(m->id.lo) + " was applied already"));
    m.reset();
    skip();
    return;
  }
  if (m->deadline != TimePoint::max() && rt_->clock().now() > m->deadline) {
    dead_letter_and_reject(std::move(m), DeadLetterReason::kExpired,
                           Status::timeout("message to " + describe(*this) + " expired"),
                           "ttl passed before handling")
        .ignore();
    skip();
    return;
  }
  // A cancelled ask is handled all the same: its message is accepted, so
  // part of the actor's history (docs/durable.md, "Cancelling an ask").
  current_sender_ = m->sender;
  current_ask_ = m->ask_state();
  Effects eff;
  Status error;
  {
    EffectsScope scope(&eff);
    error = run_durable_handler(*m);
  }
  current_sender_ = kNoActor;
  current_ask_ = nullptr;
  processed_.fetch_add(1, std::memory_order_relaxed);
  if (!error.is_ok()) {
    // Nothing of this run is committed; the message is retried once the
    // actor is rebuilt (or given up after max_attempts).
    if (lsn != 0 || unjournaled) {
      if (lsn != 0) {
        m->attempts = ++d.attempts[lsn];
      } else {
        ++m->attempts;
      }
      d.failed = std::move(m);
    }
    fail(error);
    return;
  }
  if (lsn != 0) {
    d.cursor = lsn;
    d.attempts.erase(lsn);
  }
  d.remember(m->id);
  durable_commit(eff, std::move(m));
  if (stop_requested_) {
    stop_requested_ = false;
    begin_stop(Status::ok());
  }
}

void Cell::durable_commit(Effects& eff, MessagePtr handled) {
  DurableCell& d = *durable_;
  // Messages journaled with their handling are marked one by one; the
  // cursor moves up to the newest of them once nothing accepted earlier can
  // still be pending: every INBOX record with a lower LSN was queued before
  // that message's commit called back, and the queue is empty now.
  const Lsn with_inbox = d.handled_with_inbox.load(std::memory_order_acquire);
  if (with_inbox > d.cursor && turn_batch_left_ == 0 && mailbox_.drained()) d.cursor = with_inbox;
  const bool unjournaled = handled != nullptr && !handled->unjournaled_inbox.empty();
  Commit commit;
  if (unjournaled) {
    // Its INBOX record and a mark: they do not move the cumulative cursor.
    commit.inbox = NewRecord{d.owner, RecordKind::kInbox, std::move(handled->unjournaled_inbox)};
  }
  const bool snapshot = ++d.since_snapshot >= d.options.snapshot_every;
  if (snapshot) {
    d.since_snapshot = 0;
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
  rt_->journal_op_started();
  acquire();
  d.commits->submit(
      std::move(commit),
      [self = this, sends = std::move(eff.sends), replies = std::move(eff.replies), snapshot,
       cursor = d.cursor, handled = std::move(handled), unjournaled](Result<CommitLsns> r) mutable {
        if (r) {
          if (snapshot) self->durable_->durable_snapshot_cursor.store(cursor, std::memory_order_relaxed);
          // Commits call back in order: LSNs only grow.
          if (unjournaled) self->durable_->handled_with_inbox.store(r->inbox, std::memory_order_release);
          release_effects(sends, r->records);
          for (auto& f : replies) f(nullptr);
        } else {
          self->commit_failed(r.status(), sends, replies, std::move(handled), unjournaled);
        }
        handled.reset();  // before the cell (and its runtime) may go
        self->rt_->journal_op_done();
        self->release();
      });
  eff.sends.clear();
  eff.replies.clear();
}

std::string Cell::encode_snapshot() const {
  const DurableCell& d = *durable_;
  DurableActorBase::SnapshotMeta meta;
  meta.cursor = d.cursor;
  meta.timers.reserve(d.timers.size());
  for (const auto& [id, t] : d.timers) meta.timers.push_back(t);
  meta.timer_seq = d.timer_seq;
  meta.ids.reserve(d.applied_ids.size());
  for (const MessageId& id : d.applied_ids) meta.ids.push_back({id.hi, id.lo});
  return static_cast<const DurableActorBase&>(*instance_).encode_snapshot(meta);
}

void Cell::commit_failed(const Status& why, std::vector<Effects::Send>& sends,
                         std::vector<UniqueFunction<void(const Status*)>>& replies, MessagePtr handled,
                         bool unjournaled) {
  reject_all(sends, why);
  for (auto& f : replies) f(&why);  // askers get the commit's error
  SysMsgPtr m = make_sys(SysMsg::kJournalFailed, why);
  if (handled != nullptr && (unjournaled || why.code() == StatusCode::kOwnershipLost)) {
    // Never accepted here (its INBOX record was in this batch, as when a
    // lone INBOX append fails), or now another writer's to handle: its
    // asker has the error, and it is dropped, not handled again.
    rt_->dead_letter(DeadLetterReason::kDropped, this, *handled, "journal commit failed: " + why.to_string());
  } else if (handled != nullptr) {
    m->msgs.push_back(std::move(handled));  // accepted earlier: handled again once rebuilt
  }
  send_system(std::move(m));
}

bool Cell::compact_superseded() {
  DurableCell& d = *durable_;
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
    rt_->journal_op_started();
    rt_->add_ref();  // released by the callback
    d.journal->truncate_async(d.owner, *seq, [rt = rt_, owner = d.owner](Result<std::uint64_t> n) {
      if (!n) rt->log("compaction of " + owner + " failed: " + n.status().to_string());
      rt->journal_op_done();
      rt->release();
    });
  }
  if (!s.is_ok()) rt_->log("compaction of " + d.owner + " failed: " + s.to_string());
  return true;
}

Status Cell::run_durable_handler(Message& m) {
  DurableCell& d = *durable_;
  if (m.durable_timer != 0) {
    // A timer's message: handled once, while the timer is pending.
    if (d.timers.erase(m.durable_timer) == 0) return Status::ok();
  }
  d.handling = true;
  Status error;
  try {
    m.invoke(*instance_);
  } catch (...) {
    error = status_from_current_exception();
  }
  d.handling = false;
  return error;
}

Result<std::uint64_t> Cell::durable_schedule(Duration delay, std::string_view method, std::string args) {
  DurableCell& d = *durable_;
  if (!d.handling)
    return Status::failed_precondition("schedule_durable outside the handler of a journaled message");
  DurableTimer t;
  t.id = ++d.timer_seq;
  t.fire_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     (rt_->clock().wall_now() + delay).time_since_epoch())
                     .count();
  t.method = std::string(method);
  t.args.data = std::move(args);
  d.timers[t.id] = t;
  if (Effects* e = current_effects(); e != nullptr && !e->replay) {
    e->records.push_back(NewRecord{d.owner, RecordKind::kTimer, wire::encode_value(t)});
    acquire();
    e->replies.push_back([self = this, t](const Status* failed) {  // armed once the timer is durable
      if (failed == nullptr) self->arm_durable_timer(t);
      self->release();
    });
  }
  return t.id;
}

bool Cell::durable_cancel(std::uint64_t id) { return durable_->timers.erase(id) != 0; }

void Cell::arm_durable_timer(const DurableTimer& t) {
  const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        rt_->clock().wall_now().time_since_epoch())
                        .count();
  const Duration delay(std::max<std::int64_t>(0, t.fire_at_ns - wall));
  auto fire = [self = CellRef(this), t] {
    Result<MessagePtr> m = self->durable_->decoder(t.method, t.args.data);
    if (!m) {
      self->runtime().log("durable timer " + std::to_string(t.id) + " of " + self->durable_->owner +
                          ": " + m.status().to_string());
      return;
    }
    (*m)->durable_timer = t.id;
    self->durable_accept(std::move(*m), nullptr).ignore();
  };
  if (delay == Duration::zero()) {
    fire();  // overdue (the process was down at its time): at once
  } else {
    rt_->timers().schedule(rt_->clock().now() + delay, Duration::zero(), std::move(fire));
  }
}

}  // namespace keel::detail

namespace keel {

Result<std::uint64_t> DurableActorBase::schedule_durable_erased(Duration delay, std::string_view method,
                                                                std::string args) {
  return cell_->durable_schedule(delay, method, std::move(args));
}

bool DurableActorBase::cancel_durable(std::uint64_t id) { return cell_->durable_cancel(id); }

}  // namespace keel

namespace keel::internal {

namespace {
Result<std::unique_ptr<detail::DurableCell>> durable_cell(const SystemConfig& config, const std::string& key,
                                                          const DurableOptions& options,
                                                          System::DurableDecoder decoder) {
  if (config.journal == nullptr)
    return Status::failed_precondition("spawn_durable needs SystemConfig::journal");
  if (key.empty()) return Status::invalid_argument("a durable actor needs a key");
  if (options.snapshot_every == 0 || options.max_attempts == 0)
    return Status::invalid_argument("snapshot_every and max_attempts must be at least 1");
  auto d = std::make_unique<detail::DurableCell>();
  d->journal = config.journal;
  d->key = key;
  d->owner = "actor/" + key;
  d->commits = detail::CommitPipeline::create(*config.journal, d->owner);
  d->options = options;
  d->decoder = decoder;
  return d;
}
}  // namespace

Result<AnyRef> Runtime::spawn_durable(const std::string& key, const DurableOptions& options,
                                      const std::type_info& type, System::Factory factory,
                                      System::DurableDecoder decoder) {
  KEEL_ASSIGN_OR_RETURN(detail::Cell * cell, create_durable(key, options, type, std::move(factory), decoder));
  return activate_cell(cell, nullptr, /*recovered=*/false, /*release=*/true);
}

Result<detail::Cell*> Runtime::create_durable(const std::string& key, const DurableOptions& options,
                                              const std::type_info& type, System::Factory factory,
                                              System::DurableDecoder decoder) {
  KEEL_ASSIGN_OR_RETURN(auto d, durable_cell(config_, key, options, decoder));
  SpawnOptions spawn;
  spawn.name = key;
  return create_cell(spawn, type, std::move(factory), nullptr, std::move(d));
}

Status Runtime::start_durable_group(const std::vector<detail::Cell*>& cells) {
  const Status recovered = detail::Cell::recover_group(cells);
  if (!recovered.is_ok()) {
    for (detail::Cell* c : cells) discard_cell(c, recovered);
    return recovered;
  }
  // Every member is started and can be looked up before any of them
  // handles a message.
  Status first;
  std::vector<AnyRef> started;
  for (detail::Cell* c : cells) {
    Result<AnyRef> r = activate_cell(c, nullptr, /*recovered=*/true, /*release=*/false);
    if (r) {
      started.push_back(std::move(*r));
    } else if (first.is_ok()) {
      first = r.status();
    }
  }
  for (AnyRef& r : started) r.cell()->release_held();
  return first;
}

wire::Id128 Runtime::next_message_id() {
  return wire::Id128{node_id_, next_message_.fetch_add(1, std::memory_order_relaxed)};
}

}  // namespace keel::internal

namespace keel {

Result<AnyRef> System::spawn_durable_erased(const std::string& key, const DurableOptions& options,
                                            const std::type_info& type, Factory factory,
                                            DurableDecoder decoder) {
  return rt_->spawn_durable(key, options, type, std::move(factory), decoder);
}

Result<AnyRef> System::create_durable_erased(const std::string& key, const DurableOptions& options,
                                             const std::type_info& type, Factory factory,
                                             DurableDecoder decoder) {
  KEEL_ASSIGN_OR_RETURN(detail::Cell * cell,
                        rt_->create_durable(key, options, type, std::move(factory), decoder));
  cell->acquire();  // the returned ref's; the creation reference is the group's
  return AnyRef::adopt(cell, 1);
}

Status System::start_durable_erased(const std::vector<AnyRef>& members) {
  std::vector<detail::Cell*> cells;
  cells.reserve(members.size());
  for (const AnyRef& m : members) cells.push_back(m.cell());
  return rt_->start_durable_group(cells);
}

DurableGroup::~DurableGroup() {
  if (created_.empty()) return;
  Status st = start();
  if (!st.is_ok()) system_->runtime().log("DurableGroup: start at destruction failed: " + st.to_string());
}

Status DurableGroup::start() {
  std::vector<AnyRef> members;
  members.swap(created_);
  if (members.empty()) return Status::ok();
  return system_->start_durable_erased(members);
}

}  // namespace keel
