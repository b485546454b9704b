#include "keel/workflow/testing.h"

#include <utility>

namespace keel {

WorkflowTestEnv::WorkflowTestEnv(const Workflows& workflows, std::string journal_path,
                                 WorkflowTestOptions options)
    : workflows_(workflows), path_(std::move(journal_path)), options_(std::move(options)) {
  SystemConfig config;
  config.threads = options_.system_threads;
  config.clock = &clock_;
  system_ = std::make_unique<System>(config);
}

WorkflowTestEnv::~WorkflowTestEnv() {
  engine_.reset();
  system_->shutdown(ShutdownMode::kStop).ignore();
  system_.reset();
  journal_.reset();
}

Result<std::unique_ptr<WorkflowTestEnv>> WorkflowTestEnv::open(const Workflows& workflows,
                                                               std::string journal_path,
                                                               WorkflowTestOptions options) {
  std::unique_ptr<WorkflowTestEnv> env(new WorkflowTestEnv(workflows, std::move(journal_path), std::move(options)));
  KEEL_RETURN_IF_ERROR(env->open_engine(-1, Duration::zero()));
  return env;
}

Status WorkflowTestEnv::open_engine(std::int64_t halt_after_steps, Duration downtime) {
  engine_.reset();
  journal_.reset();
  clock_.advance(downtime);
  JournalOptions jo = options_.journal;
  jo.clock = &clock_;
  KEEL_ASSIGN_OR_RETURN(journal_, options_.open_journal ? options_.open_journal(path_, jo)
                                                         : open_journal(path_, jo));
  WorkflowEngineOptions eo;
  eo.system = system_.get();
  eo.journal = journal_.get();
  eo.threads = options_.engine_threads;
  eo.code_version = options_.code_version;
  eo.halt_after_steps = halt_after_steps;
  eo.admin_endpoint = options_.admin_endpoint;
  eo.finished_run_retention = options_.finished_run_retention;
  eo.retention_sweep_every = options_.retention_sweep_every;
  eo.log = [](std::string_view) {};
  KEEL_ASSIGN_OR_RETURN(engine_, WorkflowEngine::open(workflows_, std::move(eo)));
  return Status::ok();
}

Status WorkflowTestEnv::crash_after_steps(std::int64_t steps) { return open_engine(steps, Duration::zero()); }
Status WorkflowTestEnv::restart(Duration downtime) { return open_engine(-1, downtime); }

Status WorkflowTestEnv::run_until_blocked() {
  for (;;) {
    if (!engine_->wait_idle(options_.wait)) {
      return Status::timeout("the workflow engine stayed busy for the test's wait");
    }
    if (engine_->is_halted()) return Status::ok();
    std::optional<TimePoint> next = engine_->next_timer();
    if (!next) return Status::ok();
    clock_.advance_to(*next);
  }
}

Status WorkflowTestEnv::blocked_status(const std::string& run_id) const {
  if (engine_->is_halted()) return Status::unavailable("the engine halted (an injected crash)");
  Result<RunInfo> info = engine_->describe(run_id);
  if (!info) return info.status();
  return Status::failed_precondition("run '" + run_id + "' is blocked at '" + info->current_step + "'");
}

}  // namespace keel
