// Durable actors: acceptance (INBOX), output commit, recovery. See
// keel/engine/durable.h for the contract and docs/durable.md for the
// semantics.
#include <algorithm>
#include <string>

#include "cell.h"
#include "runtime.h"
#include "keel/wire/envelope.h"

namespace keel::detail {

namespace {
thread_local Effects* tls_effects = nullptr;

std::string describe(const Cell& c) {
  return "actor " + std::to_string(c.id()) + " (" + c.type_name() + ")";
}

std::string lsn_context(const std::string& owner, Lsn lsn) {
  return "lsn " + std::to_string(lsn) + ", owner " + owner;
}

// The INBOX payload for `msg` to durable actor `target`: an envelope whose
// payload is the self-describing handler arguments.
Result<std::string> inbox_envelope(const Cell& target, const Message& msg) {
  KEEL_ASSIGN_OR_RETURN(std::string args, msg.encode_args());
  wire::Envelope e;
  e.id = target.runtime().next_message_id();
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
    delete s.msg;
    s.target->release();
  }
  sends.clear();
}
}  // namespace

Effects* current_effects() { return tls_effects; }

EffectsScope::EffectsScope(Effects* e) : prev_(tls_effects) { tls_effects = e; }
EffectsScope::~EffectsScope() { tls_effects = prev_; }

bool replies_deferred() { return tls_effects != nullptr; }

void release_reply(UniqueFunction<void()> fn) {
  if (Effects* e = tls_effects) {
    if (!e->replay) e->replies.push_back(std::move(fn));
    return;  // a replayed handler's reply went out before the crash
  }
  fn();
}

Effects::~Effects() {
  reject_all(sends, Status::cancelled("the sending handler failed; its messages were not sent"));
}

Status Effects::add_send(Cell* target, std::uint32_t gen, Message* msg) {
  if (replay) {  // sent (and journaled) before the crash
    delete msg;
    return Status::ok();
  }
  if (Cell* from = Cell::current()) msg->sender = from->id();
  msg->generation = gen;
  int record = -1;
  if (target->is_durable()) {
    Result<std::string> env = inbox_envelope(*target, *msg);
    if (!env) {
      msg->reject(env.status());
      delete msg;
      return env.status();
    }
    records.push_back(NewRecord{target->durable()->owner, RecordKind::kInbox, std::move(*env)});
    record = static_cast<int>(records.size()) - 1;
  }
  target->acquire();
  sends.push_back(Send{target, gen, msg, record});
  return Status::ok();
}

// ---- Acceptance --------------------------------------------------------------

Status Cell::durable_accept(Message* msg, Promise<void>* accepted) {
  if (is_stopped()) {
    Status why = Status::not_found(describe(*this) + " has stopped");
    dead_letter_and_reject(msg, DeadLetterReason::kStopped, why, "actor stopped").ignore();
    if (accepted) accepted->set_error(why);
    return why;
  }
  if (Cell* from = Cell::current()) msg->sender = from->id();
  Result<std::string> env = inbox_envelope(*this, *msg);
  if (!env) {
    msg->reject(env.status());
    delete msg;
    if (accepted) accepted->set_error(env.status());
    return env.status();
  }
  std::optional<Promise<void>> done;
  if (accepted) done.emplace(std::move(*accepted));
  std::vector<NewRecord> batch;
  batch.push_back(NewRecord{durable_->owner, RecordKind::kInbox, std::move(*env)});
  acquire();
  rt_->journal_op_started();
  durable_->journal->append_async(
      std::move(batch), [self = this, msg, done = std::move(done)](Result<LsnRange> r) mutable {
        if (!r) {
          self->dead_letter_and_reject(msg, DeadLetterReason::kDropped, r.status(),
                                       "journal append failed: " + r.status().to_string())
              .ignore();
          if (done) done->set_error(r.status());
        } else {
          msg->inbox_lsn = r->first;
          self->enqueue_accepted(msg);
          if (done) done->set_value();
        }
        self->rt_->journal_op_done();
        self->release();
      });
  return Status::ok();
}

void Cell::enqueue_accepted(Message* msg) {
  bool need_schedule = false;
  {
    MutexLock l(mu_);
    if (closed_) {
      l.native().unlock();
      // Journaled: the next spawn_durable of this key delivers it again.
      dead_letter_and_reject(msg, DeadLetterReason::kStopped,
                             Status::not_found(describe(*this) + " has stopped"),
                             "actor stopped (kept in the journal)")
          .ignore();
      return;
    }
    user_q_.push_back(msg);
    user_size_.fetch_add(1, std::memory_order_relaxed);
    if (!scheduled_ && !paused_) {
      scheduled_ = true;
      need_schedule = true;
    }
  }
  if (need_schedule) schedule_self();
}

// ---- Handling and output commit ----------------------------------------------

void Cell::durable_deliver(Message* m) {
  DurableCell& d = *durable_;
  const Lsn lsn = m->inbox_lsn;
  if (lsn != 0 && lsn <= d.cursor) {  // handled before (a redelivery raced a restart)
    delete m;
    return;
  }
  if (lsn != 0) {
    auto it = d.attempts.find(lsn);
    if (it != d.attempts.end() && it->second >= d.options.max_attempts) {
      dead_letter_and_reject(m, DeadLetterReason::kFailed,
                             Status::internal(describe(*this) + ": handler failed " +
                                              std::to_string(it->second) + " times"),
                             "handler failed " + std::to_string(it->second) + " times (" +
                                 lsn_context(d.owner, lsn) + ")")
          .ignore();
      d.attempts.erase(it);
      d.cursor = lsn;
      Effects none;
      durable_commit(none);  // marks it handled
      return;
    }
  }
  if (m->deadline != TimePoint::max() && rt_->clock().now() > m->deadline) {
    dead_letter_and_reject(m, DeadLetterReason::kExpired,
                           Status::timeout("message to " + describe(*this) + " expired"),
                           "ttl passed before handling")
        .ignore();
    if (lsn != 0) {
      d.cursor = lsn;
      Effects none;
      durable_commit(none);
    }
    return;
  }
  current_sender_ = m->sender;
  Effects eff;
  Status error;
  {
    EffectsScope scope(&eff);
    try {
      m->invoke(*instance_);
    } catch (...) {
      error = status_from_current_exception();
    }
  }
  current_sender_ = kNoActor;
  processed_.fetch_add(1, std::memory_order_relaxed);
  if (!error.is_ok()) {
    // Nothing of this run is committed; the message is retried once the
    // actor is rebuilt (or given up after max_attempts).
    if (lsn != 0) {
      ++d.attempts[lsn];
      m->attempts = d.attempts[lsn];
      delete d.failed;
      d.failed = m;
    } else {
      delete m;
    }
    fail(error);
    return;
  }
  if (lsn != 0) {
    d.cursor = lsn;
    d.attempts.erase(lsn);
  }
  delete m;
  durable_commit(eff);
  if (stop_requested_) {
    stop_requested_ = false;
    begin_stop(Status::ok());
  }
}

void Cell::durable_commit(Effects& eff) {
  DurableCell& d = *durable_;
  std::vector<NewRecord> batch;
  batch.reserve(eff.records.size() + 1);
  const bool snapshot = ++d.since_snapshot >= d.options.snapshot_every;
  if (snapshot) {
    d.since_snapshot = 0;
    if (d.options.compact_every != 0 && ++d.snapshots_since_compact >= d.options.compact_every &&
        compact_superseded()) {
      d.snapshots_since_compact = 0;
    }
    batch.push_back(NewRecord{d.owner, RecordKind::kSnapshot,
                              static_cast<DurableActorBase&>(*instance_).encode_snapshot(d.cursor)});
  } else {
    batch.push_back(NewRecord{d.owner, RecordKind::kProcessed,
                              wire::encode_value(static_cast<std::uint64_t>(d.cursor))});
  }
  for (auto& r : eff.records) batch.push_back(std::move(r));
  eff.records.clear();
  d.commit_started();
  rt_->journal_op_started();
  acquire();
  d.journal->append_async(
      std::move(batch),
      [self = this, sends = std::move(eff.sends), replies = std::move(eff.replies), snapshot,
       cursor = d.cursor](Result<LsnRange> r) mutable {
        if (r && snapshot) self->durable_->durable_snapshot_cursor.store(cursor, std::memory_order_relaxed);
        if (!r) {
          reject_all(sends, r.status());
          replies.clear();  // their askers see a broken promise (kCancelled)
          auto* m = new SysMsg;
          m->kind = SysMsg::kJournalFailed;
          m->status = r.status();
          self->send_system(m);
        } else {
          for (auto& s : sends) {
            if (s.record >= 0) {
              s.msg->inbox_lsn = r->first + 1 + static_cast<Lsn>(s.record);
              s.target->enqueue_accepted(s.msg);
            } else {
              // Never blocks the journal's writer thread.
              s.target->send(s.gen, s.msg, /*may_block=*/false).ignore();
            }
            s.target->release();
          }
          sends.clear();
          for (auto& f : replies) f();
        }
        self->durable_->commit_done();
        self->rt_->journal_op_done();
        self->release();
      });
  eff.sends.clear();
  eff.replies.clear();
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
    Result<std::uint64_t> n = d.journal->compact(d.owner, *seq);
    s = n.status();
  }
  if (!s.is_ok()) rt_->log("compaction of " + d.owner + " failed: " + s.to_string());
  return true;
}

// ---- Recovery ----------------------------------------------------------------

Result<Message*> Cell::decode_inbox(const Record& r) const {
  Result<wire::Envelope> env = wire::decode_envelope(r.payload);
  if (!env) return env.status().with_context(lsn_context(durable_->owner, r.lsn));
  const wire::Envelope& e = *env;
  Result<Message*> m = durable_->decoder(e.method, e.payload);
  if (!m) {
    return Status(m.status().code() == StatusCode::kNotFound ? StatusCode::kCorruption : m.status().code(),
                  lsn_context(durable_->owner, r.lsn) + ": " + std::string(m.status().message()));
  }
  (*m)->inbox_lsn = r.lsn;
  return m;
}

Status Cell::durable_recover(bool redeliver) {
  DurableCell& d = *durable_;
  auto& actor = static_cast<DurableActorBase&>(*instance_);
  d.cursor = 0;
  d.since_snapshot = 0;
  std::uint64_t from_seq = 1;
  KEEL_ASSIGN_OR_RETURN(std::optional<Record> snap, d.journal->latest(d.owner, RecordKind::kSnapshot));
  if (snap) {
    Result<Lsn> c = actor.decode_snapshot(snap->payload);
    if (!c) return c.status().with_context("snapshot at " + lsn_context(d.owner, snap->lsn));
    d.cursor = *c;
  }
  if (d.cursor != 0) {
    // Messages accepted before the snapshot but handled after it precede it
    // in the owner's sequence: scan from the last handled INBOX record on.
    std::optional<std::uint64_t> seq;
    KEEL_RETURN_IF_ERROR(d.journal->scan_lsn(d.cursor, d.cursor, [&](const Record& r) {
      if (r.owner == d.owner) seq = r.seq;
      return false;
    }));
    if (!seq) {
      return Status::corruption("snapshot of " + d.owner + " names lsn " + std::to_string(d.cursor) +
                                ", which is not one of its records");
    }
    from_seq = *seq + 1;
  }
  const Lsn snapshot_cursor = d.cursor;
  std::vector<Record> inbox;
  Status bad;
  KEEL_RETURN_IF_ERROR(d.journal->scan_owner(d.owner, from_seq, [&](const Record& r) {
    if (r.kind == RecordKind::kProcessed) {
      Result<std::uint64_t> c = wire::decode_value<std::uint64_t>(r.payload);
      if (!c) {
        bad = c.status().with_context("cursor at " + lsn_context(d.owner, r.lsn));
        return false;
      }
      d.cursor = std::max<Lsn>(d.cursor, *c);
    } else if (r.kind == RecordKind::kInbox && r.lsn > snapshot_cursor) {
      inbox.push_back(r);
    }
    return true;
  }));
  KEEL_RETURN_IF_ERROR(bad);
  for (const Record& r : inbox) {
    KEEL_ASSIGN_OR_RETURN(Message* m, decode_inbox(r));
    if (r.lsn > d.cursor) {
      if (redeliver) {
        d.redeliver.push_back(m);
      } else {
        delete m;  // still queued in memory
      }
      continue;
    }
    // Handled after the snapshot: replay it with its effects discarded.
    Effects replay;
    replay.replay = true;
    Status error;
    {
      EffectsScope scope(&replay);
      try {
        m->invoke(*instance_);
      } catch (...) {
        error = status_from_current_exception();
      }
    }
    delete m;
    ++d.since_snapshot;
    if (!error.is_ok()) {
      return Status::non_deterministic("replaying " + lsn_context(d.owner, r.lsn) +
                                       " failed, though it succeeded before: " + error.to_string());
    }
  }
  return Status::ok();
}

}  // namespace keel::detail

namespace keel::internal {

Result<AnyRef> Runtime::spawn_durable(const std::string& key, const DurableOptions& options,
                                      const std::type_info& type, System::Factory factory,
                                      System::DurableDecoder decoder) {
  if (config_.journal == nullptr)
    return Status::failed_precondition("spawn_durable needs SystemConfig::journal");
  if (key.empty()) return Status::invalid_argument("a durable actor needs a key");
  if (options.snapshot_every == 0 || options.max_attempts == 0)
    return Status::invalid_argument("snapshot_every and max_attempts must be at least 1");
  auto d = std::make_unique<detail::DurableCell>();
  d->journal = config_.journal;
  d->key = key;
  d->owner = "actor/" + key;
  d->options = options;
  d->decoder = decoder;
  SpawnOptions spawn;
  spawn.name = key;
  return spawn_cell(spawn, type, std::move(factory), nullptr, std::move(d));
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

}  // namespace keel
