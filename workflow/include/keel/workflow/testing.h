// keel/workflow/testing.h: WorkflowTestEnv, a test kit for workflow bodies.
//
// It owns a ManualClock, a System on that clock, a journal and a
// WorkflowEngine. run_to_completion() skips time: whenever no run has work
// to do, the clock jumps to the next timer, so a body that sleeps for a day
// finishes at once. crash_after_steps() stops the engine as a crash would
// after N committed step records; restart() opens a new engine on the same
// journal, which replays the runs.
//
//   KEEL_ASSIGN_OR_RETURN(auto env, keel::WorkflowTestEnv::open(workflows, dir + "/wf.db"));
//   KEEL_ASSIGN_OR_RETURN(auto run, env->engine().start<int>("order", "o-1", Order{}));
//   keel::Result<int> out = env->run_to_completion(run);   // sleeps took no time
//   env->crash_after_steps(2).ignore();                    // the next engine dies at step 2
//
// Not thread-safe: one test thread drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "keel/base/clock.h"
#include "keel/engine/system.h"
#include "keel/journal/journal.h"
#include "keel/workflow/workflow.h"

namespace keel {

struct WorkflowTestOptions {
  int system_threads = 2;    // the System's workers (actors called by runs)
  int engine_threads = 2;    // the engine's executor
  std::string code_version = "1";
  JournalOptions journal;    // durability etc. (the clock is the env's)
  // Opens the journal; null means keel::open_journal.
  std::function<Result<std::unique_ptr<Journal>>(const std::string&, const JournalOptions&)> open_journal;
  // WorkflowEngineOptions::admin_endpoint.
  bool admin_endpoint = true;
  // WorkflowEngineOptions::finished_run_retention and retention_sweep_every
  // (the sweeps run on the env's clock).
  Duration finished_run_retention = WorkflowEngineOptions{}.finished_run_retention;
  Duration retention_sweep_every = WorkflowEngineOptions{}.retention_sweep_every;
  // Real time allowed for each wait on the engine; past it, kTimeout.
  Duration wait = std::chrono::seconds(30);
};

class WorkflowTestEnv {
 public:
  // Opens (or creates) the journal at `journal_path` (keel::open_journal)
  // and an engine over it, which resumes the journal's unfinished runs.
  // `workflows` must outlive the env. Errors: those of open_journal and
  // WorkflowEngine::open.
  static Result<std::unique_ptr<WorkflowTestEnv>> open(const Workflows& workflows, std::string journal_path,
                                                       WorkflowTestOptions options = {});
  WorkflowTestEnv(const WorkflowTestEnv&) = delete;
  WorkflowTestEnv& operator=(const WorkflowTestEnv&) = delete;
  ~WorkflowTestEnv();

  ManualClock& clock() { return clock_; }
  System& system() { return *system_; }
  Journal& journal() { return *journal_; }
  WorkflowEngine& engine() { return *engine_; }

  // Drives time until no run can go on without a signal (or the engine
  // halted): waits for idleness, then advances the clock to the next timer.
  // Errors: kTimeout (the engine stayed busy for options.wait).
  Status run_until_blocked();
  // run_until_blocked(), then the run's result. Errors: the run's error;
  // kFailedPrecondition (the run waits for a signal, named in the message);
  // kUnavailable (the engine halted: an injected crash); kTimeout.
  template <class Out>
  Result<Out> run_to_completion(const RunHandle<Out>& run) {
    KEEL_RETURN_IF_ERROR(run_until_blocked());
    Future<Out> f = run.result();
    if (!f.is_ready()) return blocked_status(run.id());
    return f.get();
  }

  // Restarts the engine with a crash hook: the new engine stops after
  // `steps` committed step records, as if the process died there. A step's
  // record commits before the next effectful step runs, but with any
  // records the body made meanwhile (a last step commits with the result),
  // so the crash lands after the commit that holds step `steps`. The crash
  // point is exact: once the engine made its `steps`-th step record, no
  // step function starts again, so each one that ran has its record
  // committed, and counts of step runs across restart() are exact. Only a
  // step in flight when that record was made (a Future-returning step or a
  // call awaiting its reply, or a step of another run on another thread)
  // may have run without a record; it runs again after restart().
  Status crash_after_steps(std::int64_t steps);
  // Destroys the engine and the journal (as a process exit would), moves
  // the clock by `downtime` (timers due meanwhile fire late, at the
  // restart), and opens both again: unfinished runs replay. Errors: as open().
  Status restart(Duration downtime = Duration::zero());

 private:
  WorkflowTestEnv(const Workflows& workflows, std::string journal_path, WorkflowTestOptions options);
  Status open_engine(std::int64_t halt_after_steps, Duration downtime);
  Status blocked_status(const std::string& run_id) const;

  const Workflows& workflows_;
  const std::string path_;
  WorkflowTestOptions options_;
  ManualClock clock_;
  std::unique_ptr<System> system_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<WorkflowEngine> engine_;
};

}  // namespace keel
