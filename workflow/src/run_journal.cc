// RunCore and the journal: reading a run's records into its replay state,
// and committing its new records through the run's CommitPipeline (see
// engine_core.h).
#include <utility>

#include "engine_core.h"

namespace keel::detail {

// ---- Loading -------------------------------------------------------------

void RunCore::init_new(std::string workflow, std::string input, std::string code_version,
                       std::string parent) {
  landed_ = false;
  workflow_ = std::move(workflow);
  input_ = std::move(input);
  code_version_ = std::move(code_version);
  parent_ = std::move(parent);
  MutexLock l(mu_);
  info_workflow_ = workflow_;
  info_version_ = code_version_;
}

RunRecord RunCore::started_record() const {
  RunRecord r;
  r.event = "started";
  r.workflow = workflow_;
  r.input.bytes = input_;
  r.code_version = code_version_;
  r.parent = parent_;
  return r;
}

void RunCore::reset_for_replay() {
  cancel_requested_ = false;
  terminal_ = false;
  journaled_.clear();
  unconsumed_ = 0;
  timer_fire_ns_.clear();
  backoffs_.clear();
  inbox_.clear();
  compensations_.clear();
}

Status RunCore::load() {
  reset_for_replay();
  Status applied;
  Status scanned = engine_.journal().scan_owner(owner_, 1, [&](const Record& rec) {
    applied = apply_record(rec);
    return applied.is_ok();
  });
  {
    MutexLock l(mu_);
    info_workflow_ = workflow_;
    info_version_ = code_version_;
  }
  KEEL_RETURN_IF_ERROR(scanned.with_context("run '" + id_ + "'"));
  KEEL_RETURN_IF_ERROR(applied);
  unconsumed_ = journaled_.size();
  MutexLock l(mu_);
  closed_ = terminal_;
  if (terminal_) {
    finished_ = true;
    const RunRecord& t = *terminal_record_;
    if (t.event == "completed") {
      status_ = RunStatus::kCompleted;
      result_ = t.result.bytes;
    } else {
      status_ = t.event == "cancelled" ? RunStatus::kCancelled : RunStatus::kFailed;
      error_ = journaled_status(t.error_code, t.error_message);
    }
    steps_ = journaled_.size();
    terminal_record_.reset();
    journaled_.clear();  // a finished run keeps only its summary
    unconsumed_ = 0;
    inbox_.clear();
    timer_fire_ns_.clear();
  }
  return Status::ok();
}

Status RunCore::apply_record(const Record& rec) {
  auto bad = [&](const Status& s) {
    return Status::corruption("run '" + id_ + "', lsn " + std::to_string(rec.lsn) + ": " +
                              std::string(s.message()));
  };
  if (rec.compacted) return Status::ok();
  switch (rec.kind) {
    case RecordKind::kRun: {
      auto r = wire::decode_value<RunRecord>(rec.payload);
      if (!r) return bad(r.status());
      if (r->event == "started") {
        workflow_ = r->workflow;
        input_ = r->input.bytes;
        code_version_ = r->code_version;
        parent_ = r->parent;
      } else if (r->event == "cancel_requested") {
        cancel_requested_ = true;
      } else if (r->event == "retried") {
        // Failed steps (and the undo steps that followed them) run again.
        terminal_ = false;
        cancel_requested_ = false;
        backoffs_.clear();  // a retried step starts over with its whole attempt budget
        for (auto it = journaled_.begin(); it != journaled_.end();) {
          bool drop = !it->second.record.ok || it->first.rfind("undo.", 0) == 0;
          it = drop ? journaled_.erase(it) : std::next(it);
        }
      } else {
        terminal_ = true;
        terminal_record_ = std::make_unique<RunRecord>(std::move(*r));
      }
      return Status::ok();
    }
    case RecordKind::kStep: {
      auto r = wire::decode_value<StepRecord>(rec.payload);
      if (!r) return bad(r.status());
      if (r->kind == step_kind_name(StepKind::kSignal) && r->ok) {
        for (Signal& s : inbox_) {
          if (!s.taken && s.name == r->name) {
            s.taken = true;
            break;
          }
        }
      }
      std::string position = r->position;
      journaled_[position] = Journaled{std::move(*r), false};
      return Status::ok();
    }
    case RecordKind::kTimer: {
      auto r = wire::decode_value<TimerRecord>(rec.payload);
      if (!r) return bad(r.status());
      if (r->attempt > 0) {
        backoffs_[r->position] = Backoff{static_cast<int>(r->attempt), r->fire_at_ns};
      } else {
        timer_fire_ns_[r->position] = r->fire_at_ns;
      }
      return Status::ok();
    }
    case RecordKind::kInbox: {
      auto r = wire::decode_value<SignalRecord>(rec.payload);
      if (!r) return bad(r.status());
      inbox_.push_back(Signal{r->name, r->value.bytes, false});
      return Status::ok();
    }
    default:
      return bad(Status::corruption("unexpected record kind " +
                                    std::string(record_kind_name(rec.kind))));
  }
}

// ---- Journal ---------------------------------------------------------------

void RunCore::append(std::vector<NewRecord> batch, UniqueFunction<void()> then, bool barrier) {
  if (engine_.halted() || is_abandoned()) return;
  if (then) {
    send(std::move(batch), std::move(then));
    return;
  }
  // Nobody waits for these records: they go with the next batch that is
  // waited for, or at the end of this strand task, so that a run's records
  // share commits (a one-step run's start, step and result commit once).
  unsent_barrier_ = unsent_barrier_ || barrier;
  for (NewRecord& r : batch) unsent_.push_back(std::move(r));
  if (!flush_posted_) {
    flush_posted_ = true;
    engine_.post(*this, [this] {
      flush_posted_ = false;
      send({}, nullptr);
    });
  }
}

void RunCore::send(std::vector<NewRecord> batch, UniqueFunction<void()> then) {
  if (engine_.halted() || is_abandoned()) return;
  if (!unsent_.empty()) {
    batch.insert(batch.begin(), std::make_move_iterator(unsent_.begin()),
                 std::make_move_iterator(unsent_.end()));
    unsent_.clear();
    unsent_.shrink_to_fit();
  }
  if (batch.empty()) return;
  const bool barrier = std::exchange(unsent_barrier_, false);
  if (barrier) ++unsynced_barrier_;
  int steps = 0;
  for (const NewRecord& r : batch) steps += r.kind == RecordKind::kStep;
  engine_.busy_add();
  ++commits_in_flight_;
  std::shared_ptr<Gate> gate = engine_.gate();
  commit(std::move(batch), [gate, run = this, steps, barrier, then = std::move(then)](Result<CommitLsns> r) mutable {
    MutexLock l(gate->mu);
    EngineCore* core = gate->core;
    if (core == nullptr || core->halted()) return;
    if (r) core->note_steps_committed(steps);
    if (!core->halted()) {
      core->post(*run, [run, s = to_status(r), barrier, then = std::move(then)]() mutable {
        run->on_sent(s, barrier, std::move(then));
      });
    }
    core->busy_done();
  });
}

void RunCore::commit(std::vector<NewRecord> records, CommitPipeline::Done done) {
  Commit c;
  c.records = std::move(records);
  commits_->submit(std::move(c), std::move(done));
}

void RunCore::on_appended(const Status& appended, bool barrier, UniqueFunction<void()> then) {
  if (barrier) --unsynced_barrier_;
  if (!appended.is_ok()) {
    poison(appended.with_context("run '" + id_ + "': journal append failed"));
    // Another writer owns the run now: it stops here at once, and whoever
    // waits for its result learns why. A new run whose first records were
    // refused never existed: the engine forgets it.
    if (appended.code() == StatusCode::kOwnershipLost) {
      if (!landed_) engine_.forget(*this);
      fail_in_memory(poison_);
    }
    // Ops held at the barrier end with the poison instead of running.
    std::vector<std::uint64_t> held;
    held.swap(barrier_);
    // Nothing is journaled for them: the poison is this process's, not the run's.
    for (std::uint64_t id : held) {
      auto it = pending_.find(id);
      if (it == pending_.end()) continue;
      std::unique_ptr<PendingOp> op = std::move(it->second);
      pending_.erase(it);
      op->out->error = poison_;
      op->awaiter.resume();
    }
    if (then && !finishing_) then();  // the awaiter sees the poison at its next await
    else if (finishing_) fail_in_memory(poison_);
    return;
  }
  landed_ = true;
  if (unsynced_barrier_ == 0 && !unsent_barrier_ && !barrier_.empty()) {
    std::vector<std::uint64_t> ready;
    ready.swap(barrier_);
    for (std::uint64_t id : ready) start_attempt(id);
  }
  if (then) then();
}

void RunCore::on_sent(const Status& appended, bool barrier, UniqueFunction<void()> then) {
  --commits_in_flight_;
  on_appended(appended, barrier, std::move(then));
  maybe_released();
}

void RunCore::poison(const Status& error) {
  if (poison_.is_ok()) poison_ = error;
  engine_.log(error.to_string());
}

}  // namespace keel::detail
