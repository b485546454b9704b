// keel/workflow/workflow.h: durable functions. Workflows holds the bodies by
// name; WorkflowEngine runs them on a journal, resumes unfinished runs when
// opened, and lets callers start, query, signal, cancel and retry runs.
//
//   keel::Workflows workflows;
//   workflows.define<Order, Receipt>("order", order_body).ignore();
//   keel::WorkflowEngineOptions options;
//   options.system = &system;    // timers and actor calls
//   options.journal = journal;   // where runs live ("workflow/<run id>")
//   KEEL_ASSIGN_OR_RETURN(auto engine, keel::WorkflowEngine::open(workflows, options));
//   KEEL_ASSIGN_OR_RETURN(auto run, engine->start<Receipt>("order", "order-17", order));
//   keel::Result<Receipt> receipt = run.result().get();
//
// On a cluster host, one of several writers of a PostgreSQL journal, the
// engine hosts only the runs of the host's shards (recover_at_open = false,
// resume_shards, release_shards; docs/cluster.md). The record shapes are in
// docs/workflow.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/engine/future.h"
#include "keel/engine/system.h"
#include "keel/journal/journal.h"
#include "keel/wire/value.h"
#include "keel/workflow/context.h"
#include "keel/workflow/task.h"

namespace keel {

enum class RunStatus : std::uint8_t {
  kRunning = 0,
  kCompleted = 1,
  kFailed = 2,
  kCancelled = 3,
};
std::string_view run_status_name(RunStatus status);

// A run as seen from outside: WorkflowEngine::describe and list.
struct RunInfo {
  std::string id;
  std::string workflow;
  RunStatus status = RunStatus::kRunning;
  std::string code_version;  // the version the run started on
  std::string current_step;  // the step it waits on ("" when none)
  std::uint64_t steps = 0;   // steps finished (journaled or replayed)
  std::string result;        // encoded value (keel/wire/value.h) when completed
  Status error;              // when failed or cancelled
};

namespace detail {
class AdminEndpoint;
// A body with its input and output encoded.
using ErasedBody = std::function<Task<Result<std::string>>(WorkflowContext&, std::string input)>;

template <class In, class Out>
Task<Result<std::string>> run_typed_body(
    std::function<Task<Result<Out>>(WorkflowContext&, In)> body, WorkflowContext& ctx,
    std::string input) {
  Result<In> in = wire::decode_value<In>(input);
  if (!in) {
    co_return Status::corruption("run '" + ctx.run_id() + "': the journaled input does not decode: " +
                                 std::string(in.status().message()));
  }
  Result<Out> out = co_await body(ctx, std::move(*in));
  if (!out) co_return out.status();
  co_return wire::encode_value(*out);
}
class EngineCore;
}  // namespace detail

// The workflow bodies of a program, by name. Define them all before
// WorkflowEngine::open (which resumes runs that need them). Not thread-safe.
class Workflows {
 public:
  template <class In, class Out>
  using Body = std::function<Task<Result<Out>>(WorkflowContext&, In)>;

  // Registers `body` as `name`. In and Out must be wire-encodable. Errors:
  // kAlreadyExists (the name is taken), kInvalidArgument (empty name).
  template <class In, class Out>
  Status define(const std::string& name, Body<In, Out> body) {
    if (name.empty()) return Status::invalid_argument("a workflow needs a name");
    if (bodies_.count(name)) return Status::already_exists("workflow '" + name + "' is defined twice");
    bodies_[name] = [body = std::move(body)](WorkflowContext& ctx, std::string input) {
      return detail::run_typed_body<In, Out>(body, ctx, std::move(input));
    };
    return Status::ok();
  }

  const std::map<std::string, detail::ErasedBody>& bodies() const { return bodies_; }

 private:
  std::map<std::string, detail::ErasedBody> bodies_;
};

struct WorkflowEngineOptions {
  // Required; must outlive the engine. The system's clock and timers drive
  // sleeps and retries; its actors answer ctx.call.
  System* system = nullptr;
  // Required; must outlive the engine. One engine per journal.
  Journal* journal = nullptr;
  // Executor threads that resume runs (each run on a strand of its own).
  int threads = 2;
  // Whether open resumes every unfinished run of the journal: the one
  // engine of its journal. False for the engine of a cluster host, one of
  // several writers of a PostgreSQL journal (docs/cluster.md, "Workflow
  // runs on a cluster host"): open resumes nothing and the engine hosts no
  // run until resume_shards hands it the runs of some shards; start() of a
  // run of another shard fails with kOwnershipLost. False needs a
  // PostgreSQL journal (open fails with kInvalidArgument otherwise).
  bool recover_at_open = true;
  // Journaled with each new run; named in non-determinism errors.
  std::string code_version = "1";
  // Receives reports (a run that cannot be resumed). Null means stderr.
  std::function<void(std::string_view)> log;
  // Opens the local admin endpoint through which `keel workflow signal |
  // cancel | retry | fork` reach this engine (keel/workflow/admin.h),
  // announced in "<journal path>.admin", or for a PostgreSQL journal in
  // its admin table. A failure to open it is logged, not fatal: the admin
  // verbs then cannot reach this process.
  bool admin_endpoint = true;
  // How long a finished run (completed, failed or cancelled: its final
  // status is in the journal) keeps its records, counted from the time of
  // its last record (JournalOptions::clock). Past that the engine removes
  // them in the background (Journal::remove_owner) and forgets the run:
  // describe, result, signal, cancel and retry answer kNotFound, and start()
  // of its id starts a new run. Running runs (including ones waiting, and
  // ones that failed without a journaled final status) are never removed.
  // Zero or less: finished runs are kept forever. The default is Temporal's
  // default namespace retention. See docs/workflow.md, "Retention".
  Duration finished_run_retention = std::chrono::hours(24 * 7);
  // How often the engine looks for finished runs past retention, on the
  // system's clock and timers (the first look is one period after open).
  Duration retention_sweep_every = std::chrono::minutes(10);
  // Test hook (WorkflowTestEnv::crash_after_steps): after this many step
  // records were committed by this engine, it stops as if the process died
  // there: nothing more is journaled or run. No step function starts once
  // the engine has made the last of these records. Negative: never.
  std::int64_t halt_after_steps = -1;
};

class WorkflowEngine;

// Names a run and waits for its result. A value; the engine must outlive it.
template <class Out>
class RunHandle {
 public:
  RunHandle(WorkflowEngine* engine, std::string id) : engine_(engine), id_(std::move(id)) {}
  const std::string& id() const { return id_; }
  // Completes once the run's final status is durable: its value, or its
  // error (kCancelled when cancelled; kNonDeterministic, kCorruption or
  // kIoError when it stopped on its journal). Each call gives a new future.
  Future<Out> result() const;

 private:
  WorkflowEngine* engine_;
  std::string id_;
};

// Runs workflows on a journal. Thread-safe; not copyable or movable. The
// destructor stops the executor; unfinished runs stay in the journal and
// resume at the next open (on a cluster, on the host that gains their
// shard: resume_shards).
class WorkflowEngine {
 public:
  // Builds the engine and resumes every unfinished run of the journal
  // (owners "workflow/..."), or none with options.recover_at_open = false.
  // Errors: kInvalidArgument (no system or journal; or recover_at_open =
  // false on a journal that is not PostgreSQL), kIoError (the journal could
  // not be read), kUnavailable (a PostgreSQL journal's server could not be
  // reached). A run whose
  // records are damaged (kCorruption, naming the run and the LSN) or whose
  // workflow is not defined (kNotFound) is reported to the log and listed
  // as failed with that error, in memory only; the others resume.
  static Result<std::unique_ptr<WorkflowEngine>> open(const Workflows& workflows,
                                                      WorkflowEngineOptions options);
  WorkflowEngine(const WorkflowEngine&) = delete;
  WorkflowEngine& operator=(const WorkflowEngine&) = delete;
  ~WorkflowEngine();

  // Starts run `run_id` of `workflow` with `input`, or returns the existing
  // run of that id (idempotent: the input is then ignored). Returns once
  // the run is accepted; its started record commits with the run's first
  // records, before its first effectful step runs and before its result is
  // released. A process death before that commit loses the run (nothing of
  // it reached the outside): start it again with the same id. Errors:
  // kNotFound (no such workflow), kAlreadyExists (the id is a run of
  // another workflow), kInvalidArgument (empty id), kUnavailable (stopped),
  // kOwnershipLost (a cluster host's engine: the run's shard is not hosted
  // here; nothing of the run is kept or journaled). When the journal
  // refuses a new run's first records (kOwnershipLost: the shard moved
  // before the engine was told), the engine forgets the run: its result is
  // kOwnershipLost and describe answers kNotFound.
  template <class Out, class In>
  Result<RunHandle<Out>> start(std::string_view workflow, const std::string& run_id, const In& input) {
    KEEL_RETURN_IF_ERROR(start_encoded(workflow, run_id, wire::encode_value(input)));
    return RunHandle<Out>(this, run_id);
  }
  template <class Out>
  RunHandle<Out> handle(const std::string& run_id) {
    return RunHandle<Out>(this, run_id);
  }

  // Delivers signal `name` to the run; the future completes once it is
  // journaled (kInbox). Errors: kNotFound (no such run),
  // kFailedPrecondition (the run has finished), kIoError.
  template <class T>
  Future<void> signal(const std::string& run_id, std::string_view name, const T& value) {
    return signal_encoded(run_id, name, wire::encode_value(value));
  }
  // Requests cancellation; the body sees kCancelled at its current or next
  // await. Completes once the request is journaled. Errors: kNotFound,
  // kFailedPrecondition (finished), kIoError.
  Future<void> cancel(const std::string& run_id);
  // Runs a failed or cancelled run again from its failed steps: steps that
  // succeeded keep their journaled results, failed ones run again.
  // Completes once the request is journaled. Errors: kNotFound,
  // kFailedPrecondition (the run is running or completed), kIoError.
  Future<void> retry(const std::string& run_id);
  // Starts run `new_run_id` as a fork of `run_id`: it reuses the first
  // `from_step` journaled step results of `run_id` (in journal order) and
  // runs the rest of the body live, on this engine's code version. What
  // users do to recover a run after fixing a bug. Returns once the new
  // run's records are durable. Errors: kNotFound (no such run),
  // kAlreadyExists (new_run_id exists), kInvalidArgument (empty ids, or
  // fewer step results than from_step), kUnavailable (stopped), kIoError,
  // kOwnershipLost (a cluster host's engine: new_run_id's shard is not
  // hosted here).
  Status fork(const std::string& run_id, std::uint64_t from_step, const std::string& new_run_id);

  // Errors: kNotFound (no such run, removed by retention, or released).
  Result<RunInfo> describe(const std::string& run_id) const;
  // Every run known to this engine, sorted by id.
  std::vector<RunInfo> list() const;

  // ---- A cluster host's engine (options.recover_at_open = false) ---------
  // The runs of a PostgreSQL journal fall into its shards by owner
  // (pg_shard_of("workflow/<run id>", pg_shard_count(journal)),
  // keel/journal/pg_journal.h); such an engine hosts the runs of the shards
  // handed to it. A ClusterHost's callbacks call these (docs/cluster.md).
  // Thread-safe; calls of both run one at a time.
  //
  // Hosts the runs of `shards` from now on: reads the journal's owners,
  // loads those runs of these shards that are not live here already (those
  // are left alone) and resumes the unfinished ones as open does for all.
  // Call it once the journal writes these shards (ClusterHost's gained).
  // Blocks on the journal. Errors: kFailedPrecondition (an engine that
  // hosts every run), kInvalidArgument (a shard >= the journal's shard
  // count), kIoError or kUnavailable (the journal could not be read:
  // nothing of these shards is hosted, start() still refuses their runs;
  // call it again).
  Status resume_shards(const std::vector<std::uint32_t>& shards);
  // Stops hosting `shards`, in memory only (nothing is journaled for it):
  // start() of their runs fails with kOwnershipLost at once, and describe,
  // result, signal, cancel and retry of their runs answer kNotFound, as for
  // a run this engine never knew; result futures taken before complete with
  // kOwnershipLost, unless the run finished meanwhile. Each run goes no
  // further: no step starts, and sleeps end here. Waits up to `deadline`
  // until the steps running finished and their outcomes, like every other
  // commit and signal of those runs, are durable or refused, so the next
  // holder resumes from all of it. Call it before the journal drops the
  // shards (ClusterHost's losing). Errors: kFailedPrecondition and
  // kInvalidArgument as resume_shards; kTimeout (a step still ran at the
  // deadline: its outcome is never journaled here, even if it returns
  // before the journal drops the shard, and the next holder runs it again;
  // the runs are stopped all the same).
  Status release_shards(const std::vector<std::uint32_t>& shards,
                        Duration deadline = std::chrono::seconds(30));

  // The typed calls above, on encoded values.
  Status start_encoded(std::string_view workflow, const std::string& run_id, std::string input);
  Future<std::string> result_encoded(const std::string& run_id);
  Future<void> signal_encoded(const std::string& run_id, std::string_view name, std::string value);

  // For test kits. Waits (real time, up to `deadline`) until no run has
  // work queued, running, or waiting for a commit or an actor's reply;
  // returns whether it got there.
  bool wait_idle(Duration deadline);
  // The earliest armed timer (sleep or retry backoff), if any.
  std::optional<TimePoint> next_timer() const;
  // Whether the halt_after_steps hook stopped the engine.
  bool is_halted() const;
  const WorkflowEngineOptions& options() const;

 private:
  explicit WorkflowEngine(std::unique_ptr<detail::EngineCore> core);
  void open_admin_endpoint();
  std::unique_ptr<detail::EngineCore> core_;
  std::unique_ptr<detail::AdminEndpoint> admin_;  // destroyed first: its thread calls in
};

template <class Out>
Future<Out> RunHandle<Out>::result() const {
  std::string label = id_;
  return engine_->result_encoded(id_).then([label](Result<std::string> bytes) -> Result<Out> {
    if (!bytes) return bytes.status();
    Result<Out> out = wire::decode_value<Out>(*bytes);
    if (!out) {
      return Status::corruption("run '" + label + "': the journaled result does not decode: " +
                                std::string(out.status().message()));
    }
    return out;
  });
}

}  // namespace keel
