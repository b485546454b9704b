// EngineCore and the public WorkflowEngine over it (see engine_core.h).
#include <algorithm>
#include <cmath>
#include <exception>
#include <iostream>
#include <utility>

#include "admin.h"
#include "engine_core.h"
#include "keel/workflow/admin.h"

namespace keel {

std::string_view step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::kStep: return "step";
    case StepKind::kCall: return "call";
    case StepKind::kSleep: return "sleep";
    case StepKind::kSignal: return "signal";
    case StepKind::kNow: return "now";
    case StepKind::kRandom: return "random";
    case StepKind::kChild: return "child";
    case StepKind::kPatch: return "patch";
    case StepKind::kCompensate: return "compensate";
  }
  return "unknown";
}

std::string_view run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kCompleted: return "completed";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kCancelled: return "cancelled";
  }
  return "unknown";
}

OpAwaitable<Unit> WorkflowContext::sleep(Duration d) {
  detail::OpSpec spec = make_spec("sleep", StepKind::kSleep, {});
  spec.delay = d;
  return OpAwaitable<Unit>(run_, next_position(), std::move(spec));
}

OpAwaitable<WallTime> WorkflowContext::now() {
  return OpAwaitable<WallTime>(run_, next_position(), make_spec("now", StepKind::kNow, {}));
}

OpAwaitable<std::uint64_t> WorkflowContext::random() {
  return OpAwaitable<std::uint64_t>(run_, next_position(), make_spec("random", StepKind::kRandom, {}));
}

namespace detail {

Status current_exception_status() {
  try {
    throw;
  } catch (const std::exception& e) {
    return Status::internal(std::string("exception: ") + e.what());
  } catch (...) {
    return Status::internal("exception of an unknown type");
  }
}

// ---- EngineCore ------------------------------------------------------------

EngineCore::EngineCore(const Workflows& workflows, WorkflowEngineOptions options)
    : options_(std::move(options)), bodies_(workflows.bodies()), gate_(std::make_shared<Gate>()) {
  executor_ = std::make_unique<internal::Executor>(
      options_.threads, [this] { busy_add(); }, [this] { busy_done(); });
  sweep_strand_ = std::make_unique<internal::Strand>(*executor_);
  MutexLock l(gate_->mu);
  gate_->core = this;
}

EngineCore::~EngineCore() {
  {
    MutexLock l(gate_->mu);
    gate_->core = nullptr;
  }
  if (sweep_timer_ != 0) options_.system->cancel_timer(sweep_timer_);
  executor_->stop();
  std::vector<TimerId> ids;
  {
    MutexLock l(timer_mu_);
    for (auto& [key, t] : timers_) ids.push_back(t.system_id);
    timers_.clear();
  }
  for (TimerId id : ids) options_.system->cancel_timer(id);
  std::map<std::string, std::unique_ptr<RunCore>> runs;
  std::vector<std::unique_ptr<RunCore>> retired;
  {
    MutexLock l(mu_);
    runs.swap(runs_);
    retired.swap(retired_);
  }
  retired.clear();
  runs.clear();  // destroys the coroutine frames; nothing runs any more
}

void EngineCore::log(std::string_view line) {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << "keel workflow: " << line << "\n";
  }
}

Result<ErasedBody> EngineCore::body(const std::string& workflow) const {
  auto it = bodies_.find(workflow);
  if (it == bodies_.end()) return Status::not_found("no workflow named '" + workflow + "' is defined");
  return it->second;
}

Status EngineCore::recover() {
  return resume_runs([](std::string_view) { return true; }, [] {});
}

Status EngineCore::resume_runs(const std::function<bool(std::string_view owner)>& wanted,
                               const std::function<void()>& added) {
  KEEL_ASSIGN_OR_RETURN(std::vector<OwnerInfo> owners, journal().owners());
  std::vector<std::unique_ptr<RunCore>> loaded;
  for (const OwnerInfo& o : owners) {
    if (owner_kind(o.owner) != OwnerKind::kWorkflow || !wanted(o.owner)) continue;
    std::string id(owner_id(o.owner));
    if (find(id) != nullptr) continue;  // live here already
    auto run = std::make_unique<RunCore>(*this, std::move(id));
    Status s = run->load();
    if (s.code() == StatusCode::kCorruption) {
      // One damaged run does not keep the others from resuming.
      log(s.to_string());
      run->fail_in_memory(s);
    } else if (!s.is_ok()) {
      return s;
    } else if (!run->has_started_record()) {
      continue;  // signals for a start that never committed
    }
    loaded.push_back(std::move(run));
  }
  std::vector<RunCore*> unfinished;
  {
    MutexLock l(mu_);
    for (std::unique_ptr<RunCore>& run : loaded) {
      RunCore* r = run.get();
      if (!runs_.try_emplace(r->id(), std::move(run)).second) continue;
      if (!r->is_finished()) unfinished.push_back(r);
    }
    added();
  }
  for (RunCore* run : unfinished) {
    Result<ErasedBody> b = body(run->workflow());
    if (!b) {
      log("run '" + run->id() + "' cannot resume: " + b.status().to_string());
      run->fail_in_memory(b.status());
      continue;
    }
    post(*run, [run, b = std::move(*b)]() mutable { run->start_driver(std::move(b)); });
  }
  return Status::ok();
}

Status EngineCore::start(std::string_view workflow, const std::string& run_id, std::string input,
                         const std::string& parent) {
  if (run_id.empty()) return Status::invalid_argument("a run needs an id");
  if (halted()) return Status::unavailable("the workflow engine has stopped");
  KEEL_ASSIGN_OR_RETURN(ErasedBody b, body(std::string(workflow)));
  RunCore* run = nullptr;
  {
    MutexLock l(mu_);
    KEEL_RETURN_IF_ERROR(check_hosted(run_id));
    auto it = runs_.find(run_id);
    if (it != runs_.end()) {
      std::string existing = it->second->workflow();
      if (existing != workflow) {
        return Status::already_exists("run '" + run_id + "' is a run of workflow '" + existing + "'");
      }
      return Status::ok();
    }
    auto created = std::make_unique<RunCore>(*this, run_id);
    run = created.get();
    run->init_new(std::string(workflow), std::move(input), options_.code_version, parent);
    runs_.emplace(run_id, std::move(created));
  }
  // The started record goes first among the run's records (a signal's
  // record may precede it: recovery reads the inbox whatever its place).
  post(*run, [run, b = std::move(b)]() mutable {
    std::vector<NewRecord> batch;
    batch.push_back({run->owner(), RecordKind::kRun, wire::encode_value(run->started_record())});
    run->append_started(std::move(batch));
    run->start_driver(std::move(b));
  });
  return Status::ok();
}

Status EngineCore::fork(const std::string& run_id, std::uint64_t from_step, const std::string& new_id) {
  if (halted()) return Status::unavailable("the workflow engine has stopped");
  KEEL_ASSIGN_OR_RETURN(std::vector<NewRecord> batch,
                        fork_records(journal(), run_id, from_step, new_id, options_.code_version));
  RunCore* run = nullptr;
  {
    MutexLock l(mu_);
    KEEL_RETURN_IF_ERROR(check_hosted(new_id));
    if (runs_.count(new_id)) return Status::already_exists("run '" + new_id + "' exists");
    auto created = std::make_unique<RunCore>(*this, new_id);
    run = created.get();
    runs_.emplace(new_id, std::move(created));  // claims the id while the records commit
  }
  Status appended = journal().append(std::move(batch)).status();
  Status loaded = appended.is_ok() ? run->load() : appended;
  if (!appended.is_ok()) {
    MutexLock l(mu_);
    runs_.erase(new_id);
    return appended;
  }
  Result<ErasedBody> b = loaded.is_ok() ? body(run->workflow()) : Result<ErasedBody>(loaded);
  if (!b) {
    log("run '" + new_id + "' cannot run: " + b.status().to_string());
    run->fail_in_memory(b.status());
    return Status::ok();  // the fork exists in the journal; it resumes where its workflow is defined
  }
  post(*run, [run, b = std::move(*b)]() mutable { run->start_driver(std::move(b)); });
  return Status::ok();
}

RunCore* EngineCore::find(const std::string& run_id) const {
  MutexLock l(mu_);
  auto it = runs_.find(run_id);
  return it == runs_.end() ? nullptr : it->second.get();
}

void EngineCore::forget(RunCore& run) {
  MutexLock l(mu_);
  auto it = runs_.find(run.id());
  if (it == runs_.end() || it->second.get() != &run) return;
  retired_.push_back(std::move(it->second));
  runs_.erase(it);
}

std::vector<RunCore*> EngineCore::runs() const {
  MutexLock l(mu_);
  std::vector<RunCore*> out;
  out.reserve(runs_.size());
  for (auto& [id, run] : runs_) out.push_back(run.get());
  return out;
}

void EngineCore::post(RunCore& run, UniqueFunction<void()> task) {
  if (halted()) return;
  run.strand().post(std::move(task));
}

void EngineCore::post_via(const std::shared_ptr<Gate>& gate, RunCore* run, UniqueFunction<void()> task) {
  MutexLock l(gate->mu);
  if (gate->core != nullptr) gate->core->post(*run, std::move(task));
}

std::uint64_t EngineCore::arm_timer(RunCore& run, TimePoint at, UniqueFunction<void()> task) {
  if (at <= clock().now()) {  // due already: a manual clock would wait for its next advance
    post(run, std::move(task));
    return 0;
  }
  std::uint64_t key = 0;
  {
    MutexLock l(timer_mu_);
    key = next_timer_++;
    timers_[key] = TimerEntry{at, 0};
  }
  auto shared = std::make_shared<UniqueFunction<void()>>(std::move(task));
  std::shared_ptr<Gate> gate = gate_;
  RunCore* r = &run;
  auto fire = [gate, r, key, shared]() {
    MutexLock l(gate->mu);
    EngineCore* core = gate->core;
    if (core == nullptr) return;
    {
      MutexLock tl(core->timer_mu_);
      if (core->timers_.erase(key) == 0) return;  // cancelled
    }
    core->post(*r, [shared]() { (*shared)(); });
  };
  TimerId id = options_.system->schedule_timer(at - clock().now(), Duration::zero(), fire, kNoActor);
  MutexLock l(timer_mu_);
  auto it = timers_.find(key);
  if (it != timers_.end()) it->second.system_id = id;
  return key;
}

void EngineCore::cancel_timer(std::uint64_t key) {
  TimerId id = 0;
  {
    MutexLock l(timer_mu_);
    auto it = timers_.find(key);
    if (it == timers_.end()) return;
    id = it->second.system_id;
    timers_.erase(it);
  }
  if (id != 0) options_.system->cancel_timer(id);
}

std::optional<TimePoint> EngineCore::next_timer() const {
  MutexLock l(timer_mu_);
  std::optional<TimePoint> best;
  for (const auto& [key, t] : timers_) {
    if (!best || t.at < *best) best = t.at;
  }
  return best;
}

void EngineCore::busy_add() {
  MutexLock l(idle_mu_);
  ++busy_;
}

void EngineCore::busy_done() {
  bool idle = false;
  {
    MutexLock l(idle_mu_);
    idle = --busy_ == 0;
  }
  if (idle) idle_cv_.notify_all();
}

bool EngineCore::wait_idle(Duration deadline) {
  MutexLock l(idle_mu_);
  return idle_cv_.wait_for(l, deadline, [&]() KEEL_REQUIRES(idle_mu_) { return busy_ == 0 || halted(); });
}

void EngineCore::note_step_made() {
  const std::int64_t n = steps_made_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (options_.halt_after_steps >= 0 && n >= options_.halt_after_steps) {
    frozen_.store(true, std::memory_order_release);
  }
}

void EngineCore::note_steps_committed(int steps) {
  if (steps == 0) return;
  const std::int64_t n = steps_committed_.fetch_add(steps, std::memory_order_acq_rel) + steps;
  if (options_.halt_after_steps >= 0 && n >= options_.halt_after_steps) {
    halted_.store(true, std::memory_order_release);
    idle_cv_.notify_all();
  }
}


Future<void> EngineCore::request(RunCore& run, RecordKind kind, std::string payload,
                                 UniqueFunction<void()> then) {
  if (!run.begin_request()) {
    return Future<void>::ready(
        Status::not_found("no run '" + run.id() + "' (removed by retention, or its shard moved to another host)"));
  }
  Promise<void> done;
  Future<void> f = done.future();
  std::vector<NewRecord> batch;
  batch.push_back({run.owner(), kind, std::move(payload)});
  busy_add();
  std::shared_ptr<Gate> gate = gate_;
  run.commit(std::move(batch), [gate, run = &run, done = std::move(done),
                                then = std::move(then)](Result<CommitLsns> r) mutable {
    MutexLock l(gate->mu);
    if (gate->core == nullptr) return;
    gate->core->post(*run, [run, s = to_status(r), done = std::move(done), then = std::move(then)]() mutable {
      if (s.is_ok()) {
        then();
        done.set_value();
      } else {
        done.set_error(s);
        if (s.code() == StatusCode::kOwnershipLost) run->on_appended(s, /*barrier=*/false, nullptr);
      }
      run->end_request();
      run->maybe_released();
    });
    gate->core->busy_done();
  });
  return f;
}

Future<void> EngineCore::cancel(const std::string& run_id) {
  RunCore* run = find(run_id);
  if (run == nullptr) return Future<void>::ready(Status::not_found("no run '" + run_id + "'"));
  if (run->is_finished()) {
    return Future<void>::ready(Status::failed_precondition("run '" + run_id + "' has finished"));
  }
  RunRecord rec;
  rec.event = "cancel_requested";
  return request(*run, RecordKind::kRun, wire::encode_value(rec), [run] { run->on_cancel(); });
}

}  // namespace detail

// ---- WorkflowEngine --------------------------------------------------------

WorkflowEngine::WorkflowEngine(std::unique_ptr<detail::EngineCore> core) : core_(std::move(core)) {}
WorkflowEngine::~WorkflowEngine() = default;

Result<std::unique_ptr<WorkflowEngine>> WorkflowEngine::open(const Workflows& workflows,
                                                             WorkflowEngineOptions options) {
  if (options.system == nullptr) return Status::invalid_argument("WorkflowEngineOptions::system is null");
  if (options.journal == nullptr) return Status::invalid_argument("WorkflowEngineOptions::journal is null");
  auto core = std::make_unique<detail::EngineCore>(workflows, std::move(options));
  KEEL_RETURN_IF_ERROR(core->options().recover_at_open ? core->recover() : core->host_no_shards());
  core->start_retention();
  std::unique_ptr<WorkflowEngine> engine(new WorkflowEngine(std::move(core)));
  if (engine->options().admin_endpoint) engine->open_admin_endpoint();
  return engine;
}

void WorkflowEngine::open_admin_endpoint() {
  Result<JournalStats> stats = core_->journal().stats();
  if (!stats || stats->path.empty()) {
    core_->log("no admin endpoint: the journal's path is unknown");
    return;
  }
  // Runs on the endpoint's thread; each command returns once it is journaled.
  auto handler = [this](const AdminCommand& cmd) -> Result<std::string> {
    auto settle = [](Future<void> f) -> Status {
      if (!f.wait_for(std::chrono::seconds(30))) return Status::unavailable("the run did not take the command in 30 s");
      return f.get();
    };
    switch (cmd.op) {
      case AdminOp::kSignal: KEEL_RETURN_IF_ERROR(settle(signal_encoded(cmd.run, cmd.name, cmd.value))); break;
      case AdminOp::kCancel: KEEL_RETURN_IF_ERROR(settle(cancel(cmd.run))); break;
      case AdminOp::kRetry: KEEL_RETURN_IF_ERROR(settle(retry(cmd.run))); break;
      case AdminOp::kFork:
        KEEL_RETURN_IF_ERROR(fork(cmd.run, cmd.from_step, cmd.new_run));
        return cmd.new_run;
      default:
        return Status::invalid_argument("unknown admin command " + std::to_string(static_cast<int>(cmd.op)));
    }
    return cmd.run;
  };
  Result<std::unique_ptr<detail::AdminEndpoint>> admin = detail::AdminEndpoint::open(core_->journal(), stats->path, handler);
  if (!admin) {
    core_->log("no admin endpoint: " + admin.status().to_string());
    return;
  }
  admin_ = std::move(*admin);
}

Status WorkflowEngine::fork(const std::string& run_id, std::uint64_t from_step, const std::string& new_run_id) {
  return core_->fork(run_id, from_step, new_run_id);
}

Status WorkflowEngine::resume_shards(const std::vector<std::uint32_t>& shards) {
  return core_->resume_shards(shards);
}

Status WorkflowEngine::release_shards(const std::vector<std::uint32_t>& shards, Duration deadline) {
  return core_->release_shards(shards, deadline);
}

Status WorkflowEngine::start_encoded(std::string_view workflow, const std::string& run_id, std::string input) {
  return core_->start(workflow, run_id, std::move(input), "");
}

Future<std::string> WorkflowEngine::result_encoded(const std::string& run_id) {
  detail::RunCore* run = core_->find(run_id);
  if (run == nullptr) return Future<std::string>::ready(Status::not_found("no run '" + run_id + "'"));
  return run->result();
}


Future<void> WorkflowEngine::signal_encoded(const std::string& run_id, std::string_view name,
                                            std::string value) {
  detail::RunCore* run = core_->find(run_id);
  if (run == nullptr) return Future<void>::ready(Status::not_found("no run '" + run_id + "'"));
  if (run->is_finished()) {
    return Future<void>::ready(Status::failed_precondition("run '" + run_id + "' has finished"));
  }
  SignalRecord rec{std::string(name), EncodedValue{value}};
  return core_->request(*run, RecordKind::kInbox, wire::encode_value(rec),
                         [run, name = std::string(name), value = std::move(value)]() mutable {
                           run->on_signal(std::move(name), std::move(value));
                         });
}

Future<void> WorkflowEngine::cancel(const std::string& run_id) { return core_->cancel(run_id); }

Future<void> WorkflowEngine::retry(const std::string& run_id) {
  detail::RunCore* run = core_->find(run_id);
  if (run == nullptr) return Future<void>::ready(Status::not_found("no run '" + run_id + "'"));
  RunStatus status = run->status();
  if (!run->is_finished() || status == RunStatus::kCompleted) {
    return Future<void>::ready(Status::failed_precondition(
        "run '" + run_id + "' is " + std::string(run_status_name(status)) + ", not failed or cancelled"));
  }
  RunRecord rec;
  rec.event = "retried";
  return core_->request(*run, RecordKind::kRun, wire::encode_value(rec), [run] { run->on_retry(); });
}

Result<RunInfo> WorkflowEngine::describe(const std::string& run_id) const {
  detail::RunCore* run = core_->find(run_id);
  if (run == nullptr) return Status::not_found("no run '" + run_id + "'");
  return run->info();
}

std::vector<RunInfo> WorkflowEngine::list() const {
  std::vector<RunInfo> out;
  for (detail::RunCore* run : core_->runs()) out.push_back(run->info());
  return out;
}

bool WorkflowEngine::wait_idle(Duration deadline) { return core_->wait_idle(deadline); }
std::optional<TimePoint> WorkflowEngine::next_timer() const { return core_->next_timer(); }
bool WorkflowEngine::is_halted() const { return core_->halted(); }
const WorkflowEngineOptions& WorkflowEngine::options() const { return core_->options(); }

}  // namespace keel
