// Durable actors' recovery: rebuilding a cell's state from its latest
// snapshot and later records, alone or as a group. See keel/engine/durable.h
// for the contract and docs/durable.md for the semantics.
#include <algorithm>
#include <deque>
#include <string>
#include <unordered_map>

#include "cell.h"
#include "cell_internal.h"
#include "keel/wire/envelope.h"
#include "runtime.h"

namespace keel::detail {

// ---- Recovery ----------------------------------------------------------------

Result<MessagePtr> DurableCell::decode_inbox(const Record& r) const {
  Result<wire::Envelope> env = wire::decode_envelope(r.payload);
  if (!env) return env.status().with_context(lsn_context(owner, r.lsn));
  const wire::Envelope& e = *env;
  Result<MessagePtr> m = decoder(e.method, e.payload);
  if (!m) {
    return Status(m.status().code() == StatusCode::kNotFound ? StatusCode::kCorruption : m.status().code(),
                  lsn_context(owner, r.lsn) + ": " + std::string(m.status().message()));
  }
  DurableFields& f = durable_fields_of(**m);
  f.inbox_lsn = r.lsn;
  if (e.idempotent) {
    f.id = MessageId{e.id.hi, e.id.lo};
  } else if (e.id.hi == kTimerIdMark) {
    f.durable_timer = e.id.lo;
  }
  return m;
}

Result<Lsn> DurableCell::recover_begin(RecoveryPass& pass) {
  DurableCell& d = *this;
  auto& actor = static_cast<DurableActorBase&>(*cell_->instance_);
  d.cursor = 0;
  d.since_snapshot = 0;
  d.handled_with_inbox.store(0, std::memory_order_relaxed);
  d.timer_seq = 0;
  d.timers.clear();
  d.applied_ids.clear();
  d.applied_set.clear();
  d.stop_outbox();
  d.outbox.clear();
  d.outbox_seq = 0;
  d.outbox_delivered = 0;
  KEEL_ASSIGN_OR_RETURN(std::optional<Record> snap, d.journal->latest(d.owner, RecordKind::kSnapshot));
  if (snap) {
    auto c = actor.decode_snapshot(snap->payload);
    if (!c) return c.status().with_context("snapshot at " + lsn_context(d.owner, snap->lsn));
    d.cursor = c->cursor;
    pass.snapshot_lsn = snap->lsn;
    d.timer_seq = c->timer_seq;
    for (auto& t : c->timers) d.timers.emplace(t.id, std::move(t));
    for (const auto& id : c->ids) d.remember(MessageId{id[0], id[1]});
    for (OutboxEntry& e : c->outbox) d.outbox.emplace(e.seq, std::move(e));
    d.outbox_seq = c->outbox_seq;
    d.outbox_delivered = c->outbox_delivered;
  }
  pass.snapshot_cursor = d.cursor;
  return d.cursor;
}

void DurableCell::recover_report(const JournalProblem& p) {
  cell_->rt_->log("recovery of " + owner + " skipped a damaged record: " + p.status.to_string());
}

bool DurableCell::recover_visit(RecoveryPass& pass, const Record& r) {
  DurableCell& d = *this;
  if (r.lsn <= pass.snapshot_cursor) return true;  // superseded by the snapshot
  if (r.kind == RecordKind::kInbox) {
    Result<MessagePtr> decoded = decode_inbox(r);
    if (decoded) {
      pass.pending.push_back(std::move(*decoded));
    } else if (d.options.skip_corrupt && decoded.status().code() == StatusCode::kCorruption) {
      recover_report(JournalProblem{r.lsn, d.owner, decoded.status()});
    } else {
      pass.failed = decoded.status();
      return false;
    }
    return true;
  }
  if (r.kind == RecordKind::kDelivered) {
    Result<std::uint64_t> seq = wire::decode_value<std::uint64_t>(r.payload);
    if (!seq) {
      pass.failed = seq.status().with_context("delivered mark at " + lsn_context(d.owner, r.lsn));
      return false;
    }
    d.outbox_delivered = std::max(d.outbox_delivered, *seq);
    return true;
  }
  if (r.kind != RecordKind::kProcessed) return true;
  Result<std::uint64_t> c = wire::decode_value<std::uint64_t>(r.payload);
  if (!c) {
    pass.failed = c.status().with_context("cursor at " + lsn_context(d.owner, r.lsn));
    return false;
  }
  if (*c == 0) {
    // A mark: the INBOX record just before it (same batch) was journaled
    // with its handling. Replayed unless the snapshot already holds it.
    if (pass.pending.empty() || inbox_lsn_of(*pass.pending.back()) != r.lsn - 1) return true;
    MessagePtr m = std::move(pass.pending.back());
    pass.pending.pop_back();
    if (r.lsn < pass.snapshot_lsn) {
      d.remember(id_of(*m));
      return true;
    }
    return recover_replay(pass, std::move(m));
  }
  d.cursor = std::max<Lsn>(d.cursor, *c);
  // Handled after the snapshot: replayed now, in journal order, with their
  // effects discarded (they were committed before the crash).
  while (!pass.pending.empty() && inbox_lsn_of(*pass.pending.front()) <= d.cursor) {
    MessagePtr m = std::move(pass.pending.front());
    pass.pending.pop_front();
    if (!recover_replay(pass, std::move(m))) return false;
  }
  return true;
}

bool DurableCell::recover_replay(RecoveryPass& pass, MessagePtr m) {
  DurableCell& d = *this;
  ++d.since_snapshot;
  if (d.applied(id_of(*m))) return true;  // a duplicate: not handled the first time either
  Effects replay;
  replay.replay = true;
  Status error;
  {
    // Recovery runs as the actor's turn (Cell::start, Cell::rebuild, or
    // recover_group's TurnScope).
    HandlerContext* turn = current_turn();
    KEEL_CHECK(turn != nullptr && turn->cell == cell_, "a replay outside its actor's turn");
    EffectsScope scope(*turn, &replay);
    error = run_handler(*m, *turn);
  }
  d.remember(id_of(*m));
  if (!error.is_ok()) {
    pass.failed = Status::non_deterministic("replaying " + lsn_context(d.owner, inbox_lsn_of(*m)) +
                                            " failed, though it succeeded before: " + error.to_string());
    return false;
  }
  return true;
}

Status DurableCell::recover_end(RecoveryPass& pass, bool redeliver) {
  DurableCell& d = *this;
  KEEL_RETURN_IF_ERROR(pass.failed);
  // Accepted and not handled: delivered again once started.
  // Without `redeliver` (a restart), they are still queued in memory.
  if (redeliver) {
    for (MessagePtr& m : pass.pending) d.redeliver.push_back(std::move(m));
  }
  pass.pending.clear();
  d.forget_delivered();
  // Pending timers are armed again; one whose message is already queued
  // fires once more, and that message is skipped as handled.
  for (const auto& [id, t] : d.timers) arm_timer(t);
  return Status::ok();
}

Status DurableCell::recover(bool redeliver) {
  DurableCell& d = *this;
  RecoveryPass pass;
  KEEL_ASSIGN_OR_RETURN(Lsn cursor, recover_begin(pass));
  std::uint64_t from_seq = 1;
  if (cursor != 0) {
    // Messages accepted before the snapshot but handled after it precede it
    // in the owner's sequence: scan from the last handled INBOX record on.
    std::optional<std::uint64_t> seq;
    KEEL_RETURN_IF_ERROR(d.journal->scan_lsn(cursor, cursor, [&](const Record& r) {
      if (r.owner == d.owner) seq = r.seq;
      return false;
    }));
    if (!seq) {
      return Status::corruption("snapshot of " + d.owner + " names lsn " + std::to_string(cursor) +
                                ", which is not one of its records");
    }
    from_seq = *seq + 1;
  }
  auto visit = [&](const Record& r) { return recover_visit(pass, r); };
  KEEL_RETURN_IF_ERROR(d.options.skip_corrupt
                           ? d.journal->scan_owner_skipping(d.owner, from_seq, visit,
                                                            [&](const JournalProblem& p) { recover_report(p); })
                           : d.journal->scan_owner(d.owner, from_seq, visit));
  return recover_end(pass, redeliver);
}

Status DurableCell::recover_group(const std::vector<Cell*>& cells) {
  struct Member {
    Cell* cell;
    RecoveryPass pass;
  };
  std::deque<Member> members;  // stable addresses; RecoveryPass moves are not noexcept
  std::unordered_map<std::string_view, std::size_t> by_owner;
  Journal* journal = nullptr;
  Lsn from = std::numeric_limits<Lsn>::max();
  for (Cell* c : cells) {
    TurnScope scope(c);
    if (c->durable_->options.skip_corrupt) {  // needs the skipping per-owner scan
      KEEL_RETURN_IF_ERROR(c->durable_->recover(/*redeliver=*/true));
      continue;
    }
    members.push_back(Member{c, RecoveryPass{}});
    KEEL_ASSIGN_OR_RETURN(Lsn cursor, c->durable_->recover_begin(members.back().pass));
    from = std::min(from, cursor + 1);
    by_owner.emplace(c->durable_->owner, members.size() - 1);
    journal = c->durable_->journal;
  }
  if (members.empty()) return Status::ok();
  KEEL_ASSIGN_OR_RETURN(Lsn last, journal->last_lsn());
  Status failed;
  if (from <= last) {
    KEEL_RETURN_IF_ERROR(journal->scan_lsn(from, last, [&](const Record& r) {
      auto it = by_owner.find(r.owner);
      if (it == by_owner.end()) return true;
      Member& m = members[it->second];
      TurnScope scope(m.cell);
      if (m.cell->durable_->recover_visit(m.pass, r)) return true;
      failed = m.pass.failed;
      return false;
    }));
  }
  KEEL_RETURN_IF_ERROR(failed);
  for (Member& m : members) {
    TurnScope scope(m.cell);
    KEEL_RETURN_IF_ERROR(m.cell->durable_->recover_end(m.pass, /*redeliver=*/true));
  }
  return Status::ok();
}

}  // namespace keel::detail
