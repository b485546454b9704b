// RunCore: one workflow run (see engine_core.h).
#include <algorithm>
#include <random>
#include <utility>

#include "engine_core.h"

namespace keel::detail {
namespace {

std::int64_t ns_of(WallTime t) { return t.time_since_epoch().count(); }

// Kinds whose outcome does not depend on anything outside the journal (or
// is only taken from it), so the body may go on before their record commits.
bool runs_ahead(const OpSpec& spec) {
  switch (spec.kind) {
    case StepKind::kStep:
    case StepKind::kCall:
      return spec.options.deterministic;
    case StepKind::kCompensate:
      return false;
    default:
      return true;
  }
}

// Kinds whose function touches the world: they wait until every earlier
// record of the run is durable, so they never act on a value a crash could
// take back.
bool has_effects(const OpSpec& spec) {
  return (spec.kind == StepKind::kStep || spec.kind == StepKind::kCall ||
          spec.kind == StepKind::kCompensate) &&
         !spec.options.deterministic;
}

}  // namespace

RunCore::RunCore(EngineCore& engine, std::string id)
    : engine_(engine),
      id_(std::move(id)),
      owner_(workflow_owner(id_)),
      strand_(engine.executor()),
      commits_(CommitPipeline::create(engine.journal(), owner_)) {}

RunCore::~RunCore() {
  pending_.clear();
  driver_ = {};
  ctx_.reset();
}

// ---- Summary (any thread) ------------------------------------------------

bool RunCore::is_finished() const {
  MutexLock l(mu_);
  return finished_;
}

std::string RunCore::workflow() const {
  MutexLock l(mu_);
  return info_workflow_;
}

RunStatus RunCore::status() const {
  MutexLock l(mu_);
  return status_;
}

RunInfo RunCore::info() const {
  MutexLock l(mu_);
  RunInfo info;
  info.id = id_;
  info.workflow = info_workflow_;
  info.status = status_;
  info.code_version = info_version_;
  info.current_step = current_step_;
  info.steps = steps_;
  info.result = result_;
  info.error = error_;
  return info;
}

Future<std::string> RunCore::result() {
  MutexLock l(mu_);
  if (finished_) {
    if (status_ == RunStatus::kCompleted) return Future<std::string>::ready(result_);
    return Future<std::string>::ready(Result<std::string>(error_));
  }
  Promise<std::string> p;
  Future<std::string> f = p.future();
  waiters_.push_back(std::move(p));
  return f;
}

void RunCore::fail_in_memory(const Status& error) {
  std::vector<Promise<std::string>> waiters;
  {
    MutexLock l(mu_);
    if (finished_) return;
    finished_ = true;
    status_ = RunStatus::kFailed;
    error_ = error;
    waiters.swap(waiters_);
  }
  for (auto& w : waiters) w.set_error(error);
}

void RunCore::set_current_step(std::string name) {
  MutexLock l(mu_);
  current_step_ = std::move(name);
}

// ---- Driving ---------------------------------------------------------------

void RunCore::start_driver(ErasedBody body) {
  finishing_ = false;
  poison_ = Status::ok();
  ctx_ = std::make_unique<WorkflowContext>(*this, "");
  driver_ = drive(std::move(body));
  driver_.start();
}

Task<Status> RunCore::drive(ErasedBody body) {
  Result<std::string> r = co_await body(*ctx_, input_);
  if (!r && poison_.is_ok() && !compensations_.empty()) r = co_await undo(r.status());
  finish(std::move(r));
  co_return Status::ok();
}

// A coroutine of its own, so that its frame exists only while undoing
// (sleeping runs are many; their driver frames stay small).
Task<Result<std::string>> RunCore::undo(Status error) {
  std::string undo_errors;
  std::vector<Compensation> actions;
  actions.swap(compensations_);
  for (std::size_t i = 0; i < actions.size(); ++i) {
    Compensation& c = actions[actions.size() - 1 - i];
    OpSpec spec;
    spec.name = c.name;
    spec.kind = StepKind::kCompensate;
    spec.options.retry = c.retry;
    spec.attempt = [fn = c.undo](StepDone done) mutable {
      auto call = [&fn]() { return fn(); };
      run_step_fn(call, std::move(done));
    };
    Result<Unit> u = co_await OpAwaitable<Unit>(this, "undo." + std::to_string(i), std::move(spec));
    if (!u && poison_.is_ok()) undo_errors += "; undo '" + c.name + "' failed: " + u.status().to_string();
  }
  if (undo_errors.empty()) co_return error;
  co_return Status(error.code(), std::string(error.message()) + undo_errors);
}

void RunCore::finish(Result<std::string> r) {
  if (poison_.is_ok()) {
    for (const auto& [position, j] : journaled_) {
      if (!j.consumed) {
        poison_ = Status::non_deterministic(
            "run '" + id_ + "' (workflow '" + workflow_ + "', started on code version '" +
            code_version_ + "', running '" + engine_.options().code_version + "'): the body finished without reaching step " +
            position + " ('" + j.record.name + "', " + j.record.kind + ") that the journal holds");
        break;
      }
    }
  }
  if (!poison_.is_ok()) {
    fail_in_memory(poison_);
    return;
  }
  RunRecord rec;
  RunStatus status = RunStatus::kCompleted;
  if (r) {
    rec.event = "completed";
    rec.result.bytes = *r;
  } else {
    status = cancel_requested_ && r.status().code() == StatusCode::kCancelled ? RunStatus::kCancelled
                                                                            : RunStatus::kFailed;
    rec.event = status == RunStatus::kCancelled ? "cancelled" : "failed";
    rec.error_code = static_cast<std::uint32_t>(r.status().code());
    rec.error_message = std::string(r.status().message());
  }
  std::vector<NewRecord> batch;
  batch.push_back({owner_, RecordKind::kRun, wire::encode_value(rec)});
  finishing_ = true;
  append(std::move(batch), [this, status, r = std::move(r)]() mutable {
    std::vector<Promise<std::string>> waiters;
    {
      MutexLock l(mu_);
      finished_ = true;
      closed_ = true;
      status_ = status;
      current_step_.clear();
      if (r) result_ = *r; else error_ = r.status();
      waiters.swap(waiters_);
    }
    terminal_ = true;
    for (auto& w : waiters) w.try_set(r);
    // The driver is at its final suspension once this task returns.
    engine_.post(*this, [this] {
      if (!terminal_) return;  // retried meanwhile: a new driver runs
      driver_ = {};
      ctx_.reset();
      journaled_.clear();
      inbox_.clear();
      timer_fire_ns_.clear();
    });
  });
}

// ---- Ops -------------------------------------------------------------------

std::string RunCore::label(const std::string& position, std::string_view name) const {
  return "run '" + id_ + "', step " + position + " ('" + std::string(name) + "')";
}

Status RunCore::nondeterminism(const std::string& position, const OpSpec& spec,
                               const StepRecord& rec) const {
  return Status::non_deterministic(
      "run '" + id_ + "' (workflow '" + workflow_ + "', started on code version '" + code_version_ +
      "', running '" + engine_.options().code_version + "'): step " + position + " is '" + spec.name +
      "' (" + std::string(step_kind_name(spec.kind)) + ") in the code but '" + rec.name + "' (" +
      rec.kind + ") in the journal");
}

void RunCore::fill(OpResult* out, const Result<std::string>& outcome) const {
  if (outcome) {
    out->error = Status::ok();
    out->value = *outcome;
  } else {
    out->error = outcome.status();
  }
}

bool RunCore::submit(std::string position, OpSpec spec, OpResult* out, std::coroutine_handle<> awaiter) {
  out->label = label(position, spec.name);
  if (!poison_.is_ok()) {
    out->error = poison_;
    return false;
  }
  auto j = journaled_.find(position);
  if (j != journaled_.end()) {
    const StepRecord& rec = j->second.record;
    if (rec.name != spec.name || rec.kind != step_kind_name(spec.kind)) {
      poison(nondeterminism(position, spec, rec));
      out->error = poison_;
      return false;
    }
    if (!j->second.consumed) {
      j->second.consumed = true;
      --unconsumed_;
    }
    fill(out, rec.ok ? Result<std::string>(rec.value.bytes)
                     : Result<std::string>(journaled_status(rec.error_code, rec.error_message)));
    MutexLock l(mu_);
    ++steps_;
    return false;
  }
  PendingOp& op = add_op(std::move(position), std::move(spec), out, awaiter);
  if (cancel_requested_ && op.spec.kind != StepKind::kCompensate) {
    return !complete_now(op, Status::cancelled("run '" + id_ + "' was cancelled"));
  }
  switch (op.spec.kind) {
    case StepKind::kNow:
      return !complete_now(op, wire::encode_value(ns_of(engine_.clock().wall_now())));
    case StepKind::kRandom: {
      std::random_device rd;
      std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
      return !complete_now(op, wire::encode_value(v));
    }
    case StepKind::kSignal: {
      std::string value;
      if (take_signal(op.spec.name, &value)) return !complete_now(op, std::move(value));
      op.wait = Wait::kSignal;
      set_current_step(op.spec.name);
      if (op.spec.delay > Duration::zero()) {
        arm_durable_timer(op, Status::timeout("run '" + id_ + "': no signal '" + op.spec.name + "' within " +
                                              std::to_string(op.spec.delay.count() / 1000000) + " ms"));
      }
      return true;
    }
    case StepKind::kSleep:
      op.wait = Wait::kTimer;
      arm_durable_timer(op, std::string());
      return true;
    case StepKind::kChild: {
      op.wait = Wait::kChild;
      set_current_step(op.spec.name);
      Status s = engine_.start(op.spec.child_workflow, op.spec.child_id, op.spec.child_input, id_);
      if (!s.is_ok()) return !complete_now(op, s);
      RunCore* child = engine_.find(op.spec.child_id);
      std::uint64_t op_id = op.id;
      child->result().then([gate = engine_.gate(), run = this, op_id](Result<std::string> r) {
        EngineCore::post_via(gate, run, [run, op_id, r = std::move(r)]() mutable {
          run->complete(op_id, std::move(r), false);
        });
      });
      return true;
    }
    default:
      break;
  }
  auto backoff = backoffs_.find(op.position);
  if (backoff != backoffs_.end()) {
    // A retrying step that the process left in its backoff: it goes on
    // with its attempt count, at the journaled time.
    op.attempts = backoff->second.attempts;
    const Duration left(backoff->second.next_ns - ns_of(engine_.clock().wall_now()));
    backoffs_.erase(backoff);
    if (left > Duration::zero()) {
      op.wait = Wait::kBackoff;
      std::uint64_t op_id = op.id;
      op.timer = engine_.arm_timer(*this, engine_.clock().now() + left, [this, op_id] {
        auto it = pending_.find(op_id);
        if (it != pending_.end()) attempt_when_durable(*it->second);
      });
      return true;
    }
  }
  attempt_when_durable(op);
  return true;
}

void RunCore::attempt_when_durable(PendingOp& op) {
  if (has_effects(op.spec) && (unsynced_barrier_ > 0 || unsent_barrier_)) {
    op.wait = Wait::kBarrier;
    barrier_.push_back(op.id);
    send({}, nullptr);  // the values it may depend on go to the journal now
  } else {
    start_attempt(op.id);
  }
}

RunCore::PendingOp& RunCore::add_op(std::string position, OpSpec spec, OpResult* out,
                                    std::coroutine_handle<> awaiter) {
  auto op = std::make_unique<PendingOp>();
  op->id = next_op_++;
  op->position = std::move(position);
  op->spec = std::move(spec);
  op->out = out;
  op->awaiter = awaiter;
  op->started = engine_.clock().now();
  PendingOp& ref = *op;
  pending_.emplace(ref.id, std::move(op));
  return ref;
}

void RunCore::start_attempt(std::uint64_t op_id) {
  auto it = pending_.find(op_id);
  if (it == pending_.end()) return;
  PendingOp& op = *it->second;
  // The halt hook's crash point is near, or the run's shard is going to
  // another host: the op stays pending, as in a process that died before
  // running it.
  if (engine_.is_frozen() || releasing_) return;
  ++op.attempts;
  op.wait = Wait::kAttempt;
  set_current_step(op.spec.name);
  engine_.busy_add();
  std::shared_ptr<Gate> gate = engine_.gate();
  op.spec.attempt([gate, run = this, op_id](Result<std::string> outcome) mutable {
    EngineCore::post_via(gate, run, [run, op_id, outcome = std::move(outcome)]() mutable {
      run->on_attempt_done(op_id, std::move(outcome));
      run->maybe_released();
    });
    MutexLock l(gate->mu);
    if (gate->core != nullptr) gate->core->busy_done();
  });
}

void RunCore::on_attempt_done(std::uint64_t op_id, Result<std::string> outcome) {
  auto it = pending_.find(op_id);
  if (it == pending_.end() || it->second->wait != Wait::kAttempt) return;  // cancelled meanwhile
  PendingOp& op = *it->second;
  if (!outcome && op.spec.options.retry.should_retry(outcome.status(), op.attempts)) {
    op.wait = Wait::kBackoff;
    const Duration wait = op.spec.options.retry.backoff(op.attempts);
    // Journaled without waiting: a restart goes on with the attempt count
    // and the due time (or, if this record was lost, from the last one).
    TimerRecord t{op.position, op.spec.name, ns_of(engine_.clock().wall_now()) + wait.count(),
                  wait.count(), static_cast<std::uint32_t>(op.attempts)};
    std::vector<NewRecord> batch;
    batch.push_back({owner_, RecordKind::kTimer, wire::encode_value(t)});
    append(std::move(batch), nullptr);
    op.timer = engine_.arm_timer(*this, engine_.clock().now() + wait, [this, op_id] { start_attempt(op_id); });
    return;
  }
  complete(op_id, std::move(outcome), !runs_ahead(op.spec));
}

void RunCore::arm_durable_timer(PendingOp& op, Result<std::string> outcome) {
  auto known = timer_fire_ns_.find(op.position);
  std::int64_t fire_ns = 0;
  if (known != timer_fire_ns_.end()) {
    fire_ns = known->second;
  } else {
    fire_ns = ns_of(engine_.clock().wall_now()) + op.spec.delay.count();
    TimerRecord t{op.position, op.spec.name, fire_ns, op.spec.delay.count()};
    std::vector<NewRecord> batch;
    batch.push_back({owner_, RecordKind::kTimer, wire::encode_value(t)});
    append(std::move(batch), nullptr);
  }
  Duration left(fire_ns - ns_of(engine_.clock().wall_now()));
  set_current_step(op.spec.name);
  std::uint64_t op_id = op.id;
  auto fire = [this, op_id, outcome = std::move(outcome)]() mutable {
    complete(op_id, std::move(outcome), false);
  };
  if (left <= Duration::zero()) {
    engine_.post(*this, std::move(fire));  // the time passed while the process was down
    return;
  }
  op.timer = engine_.arm_timer(*this, engine_.clock().now() + left, std::move(fire));
}

bool RunCore::take_signal(const std::string& name, std::string* value) {
  for (Signal& s : inbox_) {
    if (!s.taken && s.name == name) {
      s.taken = true;
      *value = s.value;
      return true;
    }
  }
  return false;
}

StepRecord RunCore::make_record(const PendingOp& op, const Result<std::string>& outcome) const {
  StepRecord rec;
  rec.position = op.position;
  rec.name = op.spec.name;
  rec.kind = std::string(step_kind_name(op.spec.kind));
  rec.attempts = static_cast<std::uint32_t>(std::max(op.attempts, 1));
  rec.ok = outcome.has_value();
  if (outcome) {
    rec.value.bytes = *outcome;
  } else {
    rec.error_code = static_cast<std::uint32_t>(outcome.status().code());
    rec.error_message = std::string(outcome.status().message());
  }
  rec.duration_ns = (engine_.clock().now() - op.started).count();
  return rec;
}

bool RunCore::complete_now(PendingOp& op, Result<std::string> outcome) {
  std::vector<NewRecord> batch;
  batch.push_back({owner_, RecordKind::kStep, wire::encode_value(make_record(op, outcome))});
  engine_.note_step_made();
  append(std::move(batch), nullptr, op.spec.kind == StepKind::kNow || op.spec.kind == StepKind::kRandom);
  fill(op.out, outcome);
  pending_.erase(op.id);
  MutexLock l(mu_);
  ++steps_;
  return true;
}

void RunCore::complete(std::uint64_t op_id, Result<std::string> outcome, bool durable) {
  auto it = pending_.find(op_id);
  if (it == pending_.end()) return;
  std::unique_ptr<PendingOp> op = std::move(it->second);
  pending_.erase(it);
  if (op->timer != 0) engine_.cancel_timer(op->timer);
  std::vector<NewRecord> batch;
  batch.push_back({owner_, RecordKind::kStep, wire::encode_value(make_record(*op, outcome))});
  engine_.note_step_made();
  fill(op->out, outcome);
  {
    MutexLock l(mu_);
    ++steps_;
    current_step_.clear();
  }
  // The body goes on at once. An effectful step's record is a barrier: the
  // next effectful op waits for it to commit (so a crash re-runs at most the
  // step in flight), and the run's result commits with it or after it, so
  // nothing outside sees a value the journal could lose.
  append(std::move(batch), nullptr, durable);
  if (releasing_) return;  // the body goes on where the run moves, from this record
  op->awaiter.resume();
}

bool RunCore::patch(const std::string& position, std::string_view id, bool* consumed) {
  *consumed = false;
  if (!poison_.is_ok()) return true;
  auto j = journaled_.find(position);
  if (j != journaled_.end()) {
    const StepRecord& rec = j->second.record;
    if (rec.kind != step_kind_name(StepKind::kPatch) || rec.name != id) return false;
    if (!j->second.consumed) {
      j->second.consumed = true;
      --unconsumed_;
    }
    *consumed = true;
    return true;
  }
  OpSpec spec;
  spec.name = std::string(id);
  spec.kind = StepKind::kPatch;
  OpResult out;
  PendingOp& op = add_op(position, std::move(spec), &out, nullptr);
  complete_now(op, wire::encode_value(true));
  *consumed = true;
  return true;
}

void RunCore::add_compensation(std::string name, std::function<Status()> undo, RetryPolicy retry) {
  compensations_.push_back(Compensation{std::move(name), std::move(undo), std::move(retry)});
}

// ---- Signals, cancel, retry -------------------------------------------------

void RunCore::on_signal(std::string name, std::string value) {
  inbox_.push_back(Signal{name, std::move(value), false});
  for (auto& [op_id, op] : pending_) {
    if (op->wait == Wait::kSignal && op->spec.name == name) {
      std::string v;
      take_signal(name, &v);
      complete(op_id, std::move(v), false);
      return;
    }
  }
}

void RunCore::on_cancel() {
  if (terminal_) return;
  cancel_requested_ = true;
  std::vector<std::uint64_t> waiting;
  for (auto& [op_id, op] : pending_) {
    if (op->spec.kind != StepKind::kCompensate && op->wait != Wait::kNone) waiting.push_back(op_id);
    if (op->wait == Wait::kChild) (void)engine_.cancel(op->spec.child_id);  // the child ends cancelled too
  }
  barrier_.clear();
  for (std::uint64_t op_id : waiting) {
    complete(op_id, Status::cancelled("run '" + id_ + "' was cancelled"), false);
  }
}

void RunCore::on_retry() {
  if (releasing_) return;  // the retried run resumes where it moves
  drop_body();
  Status loaded = load();
  auto body = engine_.body(workflow_);
  Status problem = !loaded.is_ok() ? loaded : body.status();
  {
    MutexLock l(mu_);
    finished_ = !problem.is_ok();
    status_ = problem.is_ok() ? RunStatus::kRunning : RunStatus::kFailed;
    error_ = problem;
    result_.clear();
  }
  if (!problem.is_ok()) return;
  start_driver(std::move(*body));
}

void RunCore::drop_body() {
  for (auto& [op_id, op] : pending_) {
    if (op->timer != 0) engine_.cancel_timer(op->timer);
  }
  pending_.clear();
  barrier_.clear();
  driver_ = {};
  ctx_.reset();
}

// ---- context.h entry points ------------------------------------------------

bool submit_op(RunCore& run, std::string position, OpSpec spec, OpResult* out,
               std::coroutine_handle<> awaiter) {
  return run.submit(std::move(position), std::move(spec), out, awaiter);
}
bool patch_at(RunCore& run, const std::string& position, std::string_view id, bool* consumed) {
  return run.patch(position, id, consumed);
}
void add_compensation(RunCore& run, std::string name, std::function<Status()> undo, RetryPolicy retry) {
  run.add_compensation(std::move(name), std::move(undo), std::move(retry));
}
const std::string& run_id_of(const RunCore& run) { return run.id(); }
bool is_replaying(const RunCore& run) { return run.replaying(); }

}  // namespace keel::detail
