// The retention of finished runs (WorkflowEngineOptions::
// finished_run_retention): a periodic sweep on a strand of its own removes
// the records of runs whose final status is older than the retention, and
// forgets them. See docs/workflow.md, "Retention".
#include <string>
#include <vector>

#include "engine_core.h"
#include "keel/journal/format.h"

namespace keel::detail {

bool RunCore::begin_request() {
  MutexLock l(mu_);
  if (retired_ || moved_) return false;
  ++requests_;
  return true;
}

void RunCore::end_request() {
  MutexLock l(mu_);
  --requests_;
}

bool RunCore::retire() {
  MutexLock l(mu_);
  if (!closed_ || requests_ != 0 || retired_) return false;
  retired_ = true;
  return true;
}

void RunCore::unretire() {
  MutexLock l(mu_);
  retired_ = false;
}

void EngineCore::start_retention() {
  if (options_.finished_run_retention <= Duration::zero()) return;
  const Duration every = std::max(options_.retention_sweep_every, Duration(std::chrono::milliseconds(1)));
  std::shared_ptr<Gate> gate = gate_;
  sweep_timer_ = options_.system->schedule_timer(
      every, every,
      [gate] {
        MutexLock l(gate->mu);
        EngineCore* core = gate->core;
        if (core == nullptr || core->halted()) return;
        core->sweep_strand_->post([core] { core->sweep_finished_runs(); });
      },
      kNoActor);
}

void EngineCore::sweep_finished_runs() {
  Result<std::vector<OwnerInfo>> owners = journal().owners();
  if (!owners) {
    log("retention: cannot list runs: " + owners.status().to_string());
    return;
  }
  const WallTime now = clock().wall_now();
  for (const OwnerInfo& o : *owners) {
    if (owner_kind(o.owner) != OwnerKind::kWorkflow) continue;
    if (now - o.last_time < options_.finished_run_retention) continue;
    RunCore* run = find(std::string(owner_id(o.owner)));
    if (run == nullptr || !run->is_finished()) continue;
    // One task per run, so that runs' strands interleave with a long sweep.
    sweep_strand_->post([this, id = run->id()] { remove_finished_run(id); });
  }
}

void EngineCore::remove_finished_run(const std::string& id) {
  RunCore* run = find(id);
  if (run == nullptr || halted() || !run->retire()) return;
  // Retired: no request starts on it any more, and it stays in runs_ (so a
  // start() of its id finds it) until its records are gone.
  Result<std::uint64_t> removed = journal().remove_owner(run->owner());
  if (!removed) {
    run->unretire();
    // kFailedPrecondition: its final status is the journal's newest record,
    // which stays until a later append; the next sweep tries again.
    if (removed.status().code() != StatusCode::kFailedPrecondition) {
      log("retention: cannot remove run '" + id + "': " + removed.status().to_string());
    }
    return;
  }
  forget(*run);
}

}  // namespace keel::detail
