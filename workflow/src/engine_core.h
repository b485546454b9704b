// engine_core.h: the workflow engine's internals. EngineCore owns the runs,
// the executor and the bridges from other threads (journal commits, timers,
// actor replies) to the runs' strands. RunCore is one run: its journaled
// steps, its pending operations and its coroutines.
//
// Threads: a RunCore's members marked "strand" are touched only by tasks of
// its strand; those guarded by mu_ may be read from any thread. Callbacks
// from the journal writer thread, the timer thread and actor threads never
// run user code: they post to the strand (through the Gate, which the
// engine closes before it is destroyed).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "executor.h"
#include "keel/base/thread_annotations.h"
#include "keel/engine/detail/commit_pipeline.h"
#include "keel/engine/future.h"
#include "keel/journal/format.h"
#include "keel/workflow/context.h"
#include "keel/workflow/workflow.h"

namespace keel::detail {

class EngineCore;

// Lets callbacks on other threads reach the engine while it lives.
struct Gate {
  Mutex mu;
  EngineCore* core KEEL_GUARDED_BY(mu) = nullptr;
};

class RunCore {
 public:
  RunCore(EngineCore& engine, std::string id);
  RunCore(const RunCore&) = delete;
  RunCore& operator=(const RunCore&) = delete;
  ~RunCore();

  const std::string& id() const { return id_; }
  const std::string& owner() const { return owner_; }
  internal::Strand& strand() { return strand_; }

  // Reads the run's records (before the run is driven, or on its strand
  // after a retry). Errors: kCorruption naming the run and LSN, kIoError.
  Status load();
  // A new run: the fields of its "started" record.
  void init_new(std::string workflow, std::string input, std::string code_version, std::string parent);
  RunRecord started_record() const;
  // Journals the "started" record (before the driver runs).
  void append_started(std::vector<NewRecord> batch) { append(std::move(batch), nullptr); }
  // Commits `records` of this run after every earlier commit of it (any
  // thread); `done` runs on the journal's callback thread (see
  // CommitPipeline::submit).
  void commit(std::vector<NewRecord> records, CommitPipeline::Done done);
  bool has_started_record() const { return !workflow_.empty(); }

  bool is_finished() const KEEL_EXCLUDES(mu_);
  std::string workflow() const KEEL_EXCLUDES(mu_);
  RunStatus status() const KEEL_EXCLUDES(mu_);
  RunInfo info() const KEEL_EXCLUDES(mu_);
  // A future of the encoded result; ready at once for a finished run.
  Future<std::string> result() KEEL_EXCLUDES(mu_);
  // Marks an unfinished run as failed in memory (nothing journaled).
  void fail_in_memory(const Status& error) KEEL_EXCLUDES(mu_);

  // Retention (any thread). A request (signal, cancel, retry) counts as in
  // flight from begin_request() until end_request(); begin_request()
  // refuses (false) once the run is retired or moved. retire() succeeds
  // only for a run whose journal holds its final status and that has no
  // request in flight; unretire() undoes it (the removal failed).
  bool begin_request() KEEL_EXCLUDES(mu_);
  void end_request() KEEL_EXCLUDES(mu_);
  bool retire() KEEL_EXCLUDES(mu_);
  void unretire() KEEL_EXCLUDES(mu_);

  // Release (engine_shards.cc): the run's shard goes to another host.
  // mark_moved() (any thread, once it is out of the engine's runs):
  // begin_request() refuses from now on. begin_release() (strand): no step
  // starts again and the body is not resumed; the outcomes of the steps in
  // flight are journaled. Once none is in flight and every commit and
  // request of the run has landed or failed, the run stops (its result
  // waiters get kOwnershipLost, its coroutines go) and `released` runs.
  // maybe_released() (strand) checks for that; call it after each event
  // that ends something in flight.
  void mark_moved() KEEL_EXCLUDES(mu_);
  void begin_release(UniqueFunction<void()> released);
  void maybe_released() KEEL_EXCLUDES(mu_);
  // Any thread, when the release stopped waiting for the run (its
  // deadline passed): from now on nothing of the run is journaled here, so
  // a step that returns late leaves no record for the next holder to mix
  // with its own run of that step.
  void abandon() { abandoned_.store(true, std::memory_order_release); }
  bool is_abandoned() const { return abandoned_.load(std::memory_order_acquire); }

  // Strand only.
  // A commit of this run is durable or failed (kOwnershipLost: the run
  // stops here at once); `barrier`: it held barrier records (see append).
  void on_appended(const Status& appended, bool barrier, UniqueFunction<void()> then);
  // One of send()'s commits is durable or failed.
  void on_sent(const Status& appended, bool barrier, UniqueFunction<void()> then);
  void start_driver(ErasedBody body);
  void on_signal(std::string name, std::string value);
  void on_cancel();
  void on_retry();

  // The context.h entry points (strand only).
  bool submit(std::string position, OpSpec spec, OpResult* out, std::coroutine_handle<> awaiter);
  bool patch(const std::string& position, std::string_view id, bool* consumed);
  void add_compensation(std::string name, std::function<Status()> undo, RetryPolicy retry);
  bool replaying() const { return unconsumed_ > 0; }

 private:
  struct Journaled {
    StepRecord record;
    bool consumed = false;
  };
  struct Signal {
    std::string name;
    std::string value;
    bool taken = false;
  };
  struct Compensation {
    std::string name;
    std::function<Status()> undo;
    RetryPolicy retry;
  };
  enum class Wait : std::uint8_t { kNone, kBarrier, kAttempt, kBackoff, kTimer, kSignal, kChild };
  struct PendingOp {
    std::uint64_t id = 0;
    std::string position;
    OpSpec spec;
    OpResult* out = nullptr;
    std::coroutine_handle<> awaiter;
    int attempts = 0;
    TimePoint started;
    Wait wait = Wait::kNone;
    std::uint64_t timer = 0;  // engine timer key while kBackoff / kTimer
  };

  Task<Status> drive(ErasedBody body);
  Task<Result<std::string>> undo(Status error);
  void reset_for_replay();
  Status apply_record(const Record& rec);
  std::string label(const std::string& position, std::string_view name) const;
  Status nondeterminism(const std::string& position, const OpSpec& spec,
                        const StepRecord& rec) const;

  PendingOp& add_op(std::string position, OpSpec spec, OpResult* out, std::coroutine_handle<> awaiter);
  // Starts the op's next attempt once the records an effectful op must not
  // outrun are durable (at once when there are none).
  void attempt_when_durable(PendingOp& op);
  void start_attempt(std::uint64_t op_id);
  void on_attempt_done(std::uint64_t op_id, Result<std::string> outcome);
  // Journals (or, replaying, reads) the op's fire time, spec.delay from
  // now, and completes the op with `outcome` then; at once if it passed.
  void arm_durable_timer(PendingOp& op, Result<std::string> outcome);
  bool take_signal(const std::string& name, std::string* value);
  // Journals the op's outcome and resumes its awaiter at once. `durable`:
  // the record is a barrier (see append) that effectful ops and the run's
  // result wait behind.
  void complete(std::uint64_t op_id, Result<std::string> outcome, bool durable);
  bool complete_now(PendingOp& op, Result<std::string> outcome);
  StepRecord make_record(const PendingOp& op, const Result<std::string>& outcome) const;
  void fill(OpResult* out, const Result<std::string>& outcome) const;
  // Journals records of this run. With `then`, at once (with any records
  // held back), and `then` runs on the strand after the commit; without,
  // the records are held until the next send or the end of this strand
  // task. `barrier`: the records hold values (now, random, an effectful
  // step's outcome) that steps with effects must not act on before they
  // are durable.
  void append(std::vector<NewRecord> batch, UniqueFunction<void()> then, bool barrier = false);
  void send(std::vector<NewRecord> batch, UniqueFunction<void()> then);
  void poison(const Status& error);
  // Cancels the pending ops' timers, drops the ops and destroys the body's
  // coroutines.
  void drop_body();
  void finish(Result<std::string> r);
  void set_current_step(std::string name) KEEL_EXCLUDES(mu_);

  EngineCore& engine_;
  const std::string id_;
  const std::string owner_;
  internal::Strand strand_;
  std::shared_ptr<CommitPipeline> commits_;  // every record of the run goes through it

  // Strand (and load()).
  std::string workflow_;
  std::string input_;
  std::string code_version_;
  std::string parent_;
  bool cancel_requested_ = false;
  bool terminal_ = false;  // the journal holds a final status
  std::unique_ptr<RunRecord> terminal_record_;  // set by load() when terminal_
  std::unordered_map<std::string, Journaled> journaled_;
  std::size_t unconsumed_ = 0;
  std::unordered_map<std::string, std::int64_t> timer_fire_ns_;
  struct Backoff {
    int attempts = 0;          // attempts that failed
    std::int64_t next_ns = 0;  // when the next one is due (wall clock)
  };
  std::unordered_map<std::string, Backoff> backoffs_;  // journaled retry state, by position
  std::vector<Signal> inbox_;
  std::vector<Compensation> compensations_;
  std::map<std::uint64_t, std::unique_ptr<PendingOp>> pending_;
  std::uint64_t next_op_ = 1;
  std::vector<NewRecord> unsent_;        // held back by append(), in order
  bool unsent_barrier_ = false;          // unsent_ holds a barrier record
  bool flush_posted_ = false;
  int unsynced_barrier_ = 0;             // batches in flight with such records
  std::vector<std::uint64_t> barrier_;   // ops waiting for those to commit
  Status poison_;                         // non-determinism, corruption or I/O: the run stops
  int commits_in_flight_ = 0;             // send()'s commits not yet answered
  bool releasing_ = false;                // begin_release() ran: the run goes no further
  bool released_ = false;                 // ... and it has stopped
  UniqueFunction<void()> on_released_;    // begin_release()'s `released`
  // release / acquire: a strand that sees it journals nothing more; no
  // other data rides on it.
  std::atomic<bool> abandoned_{false};
  bool finishing_ = false;
  bool landed_ = true;                    // the journal holds records of the run (init_new: not yet)
  std::unique_ptr<WorkflowContext> ctx_;
  Task<Status> driver_;

  mutable Mutex mu_;
  RunStatus status_ KEEL_GUARDED_BY(mu_) = RunStatus::kRunning;
  bool finished_ KEEL_GUARDED_BY(mu_) = false;
  bool closed_ KEEL_GUARDED_BY(mu_) = false;   // the journal holds the final status
  int requests_ KEEL_GUARDED_BY(mu_) = 0;      // requests in flight
  bool retired_ KEEL_GUARDED_BY(mu_) = false;  // being removed by retention
  bool moved_ KEEL_GUARDED_BY(mu_) = false;    // released: its shard went to another host
  std::string info_workflow_ KEEL_GUARDED_BY(mu_);
  std::string info_version_ KEEL_GUARDED_BY(mu_);
  std::string current_step_ KEEL_GUARDED_BY(mu_);
  std::uint64_t steps_ KEEL_GUARDED_BY(mu_) = 0;
  std::string result_ KEEL_GUARDED_BY(mu_);
  Status error_ KEEL_GUARDED_BY(mu_);
  std::vector<Promise<std::string>> waiters_ KEEL_GUARDED_BY(mu_);
};

class EngineCore {
 public:
  EngineCore(const Workflows& workflows, WorkflowEngineOptions options);
  EngineCore(const EngineCore&) = delete;
  EngineCore& operator=(const EngineCore&) = delete;
  ~EngineCore();

  // Resumes every unfinished run of the journal (WorkflowEngine::open).
  Status recover();
  // The shards a cluster host's engine hosts (engine_shards.cc;
  // WorkflowEngineOptions::recover_at_open = false). host_no_shards() at
  // open: reads the journal's shard count; start() refuses every run until
  // resume_shards. The others are WorkflowEngine's.
  Status host_no_shards();
  Status resume_shards(const std::vector<std::uint32_t>& shards) KEEL_EXCLUDES(shards_mu_, mu_);
  Status release_shards(const std::vector<std::uint32_t>& shards, Duration deadline)
      KEEL_EXCLUDES(shards_mu_, mu_);
  // Arms the periodic retention sweep (WorkflowEngineOptions::
  // finished_run_retention); nothing when retention is off.
  void start_retention();

  const WorkflowEngineOptions& options() const { return options_; }
  Journal& journal() { return *options_.journal; }
  Clock& clock() { return options_.system->clock(); }
  void log(std::string_view line);
  Result<ErasedBody> body(const std::string& workflow) const;
  internal::Executor& executor() { return *executor_; }

  Status start(std::string_view workflow, const std::string& run_id, std::string input,
               const std::string& parent) KEEL_EXCLUDES(mu_);
  RunCore* find(const std::string& run_id) const KEEL_EXCLUDES(mu_);
  // Drops `run` from the engine's runs (if it is still the run of its id):
  // find() no longer returns it; the object lives on in retired_.
  void forget(RunCore& run) KEEL_EXCLUDES(mu_);
  // Journals `payload` for `run` and, once it is durable, runs `then` on
  // the run's strand and completes the future there (never on the journal
  // writer thread). Errors: the append's.
  Future<void> request(RunCore& run, RecordKind kind, std::string payload, UniqueFunction<void()> then);
  // WorkflowEngine::fork.
  Status fork(const std::string& run_id, std::uint64_t from_step, const std::string& new_id) KEEL_EXCLUDES(mu_);
  // WorkflowEngine::cancel; also used for the children of a cancelled run.
  Future<void> cancel(const std::string& run_id) KEEL_EXCLUDES(mu_);
  std::vector<RunCore*> runs() const KEEL_EXCLUDES(mu_);

  // Posts `task` to `run`'s strand (dropped once halted).
  void post(RunCore& run, UniqueFunction<void()> task);
  // From another thread: posts through the gate (dropped once the engine
  // is going away or halted).
  static void post_via(const std::shared_ptr<Gate>& gate, RunCore* run, UniqueFunction<void()> task);
  std::shared_ptr<Gate> gate() const { return gate_; }

  // Arms a timer at `at` (the system clock) whose task runs on the strand.
  // Returns its key for cancel_timer: 0 when `at` has passed and the task
  // was posted at once.
  std::uint64_t arm_timer(RunCore& run, TimePoint at, UniqueFunction<void()> task) KEEL_EXCLUDES(timer_mu_);
  void cancel_timer(std::uint64_t key) KEEL_EXCLUDES(timer_mu_);
  std::optional<TimePoint> next_timer() const KEEL_EXCLUDES(timer_mu_);

  // Idle accounting (WorkflowEngine::wait_idle).
  void busy_add() KEEL_EXCLUDES(idle_mu_);
  void busy_done() KEEL_EXCLUDES(idle_mu_);
  bool wait_idle(Duration deadline) KEEL_EXCLUDES(idle_mu_);

  // Retention, on the sweep strand: lists the finished runs past
  // retention, then removes each in a task of its own.
  void sweep_finished_runs();
  // Removes run `id` from the journal and forgets it, when it is still
  // closed with no request in flight; failures are logged and retried at
  // the next sweep.
  void remove_finished_run(const std::string& id);

  // The halt hook (options.halt_after_steps): note_step_made() counts the
  // step records this engine makes; once it has made the last one before
  // the halt, is_frozen() is true and no step function starts again (in any
  // run). note_steps_committed() counts committed step records and halts
  // the engine at the commit that reaches the limit, so the step functions
  // that ran are those whose records are durable, plus any that were in
  // flight when the freezing record was made.
  void note_step_made();
  void note_steps_committed(int steps);
  bool is_frozen() const { return frozen_.load(std::memory_order_acquire); }
  bool halted() const { return halted_.load(std::memory_order_acquire); }

 private:
  // Loads the runs of the journal's workflow owners that `wanted` accepts
  // and that this engine does not hold, adds them to runs_, runs `added`
  // under mu_ in the same critical section, and resumes the unfinished
  // ones. A damaged run (kCorruption) or one of an undefined workflow is
  // logged and failed in memory. Errors: the journal's; nothing is added.
  Status resume_runs(const std::function<bool(std::string_view owner)>& wanted,
                     const std::function<void()>& added) KEEL_EXCLUDES(mu_);
  // kOwnershipLost when `run_id`'s shard is not hosted here.
  Status check_hosted(const std::string& run_id) const KEEL_REQUIRES(mu_);
  // kInvalidArgument for a shard out of range; kFailedPrecondition for an
  // engine that hosts every run.
  Status check_shards(const std::vector<std::uint32_t>& shards) const;

  struct TimerEntry {
    TimePoint at;
    TimerId system_id = 0;
  };

  WorkflowEngineOptions options_;
  std::map<std::string, ErasedBody> bodies_;
  std::shared_ptr<Gate> gate_;
  std::unique_ptr<internal::Executor> executor_;

  std::unique_ptr<internal::Strand> sweep_strand_;  // retention sweeps
  TimerId sweep_timer_ = 0;

  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<RunCore>> runs_ KEEL_GUARDED_BY(mu_);
  // Runs removed by retention or released. Kept (not destroyed) until the
  // engine goes, as other threads may still hold pointers from find() or
  // runs().
  // TODO(perf): free them once no such pointer can remain.
  std::vector<std::unique_ptr<RunCore>> retired_ KEEL_GUARDED_BY(mu_);
  // A cluster host's engine: the journal's shard count (0: the engine
  // hosts every run), and the shards whose runs it hosts.
  std::uint32_t shard_count_ = 0;  // constant after open
  std::vector<bool> hosted_ KEEL_GUARDED_BY(mu_);
  // Serializes resume_shards and release_shards.
  Mutex shards_mu_;  // taken before mu_

  mutable Mutex timer_mu_;
  std::uint64_t next_timer_ KEEL_GUARDED_BY(timer_mu_) = 1;
  std::unordered_map<std::uint64_t, TimerEntry> timers_ KEEL_GUARDED_BY(timer_mu_);

  Mutex idle_mu_;
  CondVar idle_cv_;
  std::int64_t busy_ KEEL_GUARDED_BY(idle_mu_) = 0;

  // acq_rel / acquire: a halted engine must be seen by every thread that
  // posts or appends after the halting commit.
  std::atomic<bool> halted_{false};
  std::atomic<std::int64_t> steps_committed_{0};
  // acq_rel / acquire, as halted_: a strand that sees the count reach the
  // limit freezes every strand that starts an attempt afterwards.
  std::atomic<bool> frozen_{false};
  std::atomic<std::int64_t> steps_made_{0};
};

}  // namespace keel::detail
