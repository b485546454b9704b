// The runs of a cluster host's engine (WorkflowEngineOptions::
// recover_at_open = false): the engine hosts the runs of the shards of the
// PostgreSQL journal that it is handed (resume_shards), and stops those of
// the shards it gives up (release_shards). See docs/cluster.md, "Workflow
// runs on a cluster host".
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine_core.h"
#include "keel/journal/pg_journal.h"

namespace keel::detail {
namespace {

// Counts the runs of one release_shards call down to zero.
struct ReleaseWait {
  Mutex mu;
  CondVar cv;
  std::size_t left KEEL_GUARDED_BY(mu) = 0;

  void done() {
    MutexLock l(mu);
    if (--left == 0) cv.notify_all();
  }
  bool wait_for(Duration deadline) {
    MutexLock l(mu);
    return cv.wait_for(l, deadline, [&]() KEEL_REQUIRES(mu) { return left == 0; });
  }
};

Status moved(const std::string& run_id) {
  return Status::ownership_lost("run '" + run_id + "' moved: its shard was released");
}

std::vector<bool> shard_set(const std::vector<std::uint32_t>& shards, std::uint32_t count) {
  std::vector<bool> set(count, false);
  for (std::uint32_t s : shards) set[s] = true;
  return set;
}

}  // namespace

// ---- EngineCore --------------------------------------------------------------

Status EngineCore::host_no_shards() {
  Result<std::uint32_t> count = pg_shard_count(journal());
  if (!count) {
    return Status::invalid_argument("WorkflowEngineOptions::recover_at_open = false needs a PostgreSQL journal: " +
                                    std::string(count.status().message()));
  }
  shard_count_ = *count;
  MutexLock l(mu_);
  hosted_.assign(shard_count_, false);
  return Status::ok();
}

Status EngineCore::check_hosted(const std::string& run_id) const {
  if (shard_count_ == 0) return Status::ok();
  const std::uint32_t shard = pg_shard_of(workflow_owner(run_id), shard_count_);
  if (hosted_[shard]) return Status::ok();
  return Status::ownership_lost("run '" + run_id + "' is in shard " + std::to_string(shard) +
                                ", which this host does not hold");
}

Status EngineCore::check_shards(const std::vector<std::uint32_t>& shards) const {
  if (shard_count_ == 0) {
    return Status::failed_precondition("this workflow engine hosts every run (WorkflowEngineOptions::recover_at_open)");
  }
  for (std::uint32_t s : shards) {
    if (s >= shard_count_) {
      return Status::invalid_argument("the journal has " + std::to_string(shard_count_) + " shards; there is no shard " +
                                      std::to_string(s));
    }
  }
  return Status::ok();
}

Status EngineCore::resume_shards(const std::vector<std::uint32_t>& shards) {
  MutexLock serial(shards_mu_);
  KEEL_RETURN_IF_ERROR(check_shards(shards));
  const std::vector<bool> wanted = shard_set(shards, shard_count_);
  // The shards are hosted from the moment their runs are in runs_: a start()
  // before that is refused, so it cannot start a run the journal holds.
  return resume_runs([&](std::string_view owner) { return wanted[pg_shard_of(owner, shard_count_)]; },
                     [&]() KEEL_REQUIRES(mu_) {
                       for (std::uint32_t s : shards) hosted_[s] = true;
                     });
}

Status EngineCore::release_shards(const std::vector<std::uint32_t>& shards, Duration deadline) {
  MutexLock serial(shards_mu_);
  KEEL_RETURN_IF_ERROR(check_shards(shards));
  const std::vector<bool> going = shard_set(shards, shard_count_);
  std::vector<RunCore*> released;
  {
    MutexLock l(mu_);
    for (std::uint32_t s : shards) hosted_[s] = false;
    for (auto it = runs_.begin(); it != runs_.end();) {
      if (!going[pg_shard_of(it->second->owner(), shard_count_)]) {
        ++it;
        continue;
      }
      it->second->mark_moved();
      released.push_back(it->second.get());
      retired_.push_back(std::move(it->second));
      it = runs_.erase(it);
    }
  }
  if (released.empty() || halted()) return Status::ok();  // a halted engine runs nothing
  auto wait = std::make_shared<ReleaseWait>();
  {
    MutexLock l(wait->mu);
    wait->left = released.size();
  }
  for (RunCore* run : released) {
    post(*run, [run, wait] { run->begin_release([wait] { wait->done(); }); });
  }
  if (wait->wait_for(deadline)) return Status::ok();
  // The runs whose steps still run stop once those return; their callers
  // learn now that the runs moved.
  for (RunCore* run : released) {
    run->abandon();
    run->fail_in_memory(moved(run->id()));
  }
  return Status::timeout("releasing " + std::to_string(shards.size()) + " shards: a step of one of their " +
                         std::to_string(released.size()) + " runs was still running after " +
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(deadline).count()) +
                         " ms; its outcome is not journaled here, and the next holder runs it again");
}

// ---- RunCore -----------------------------------------------------------------

void RunCore::mark_moved() {
  MutexLock l(mu_);
  moved_ = true;
}

void RunCore::begin_release(UniqueFunction<void()> released) {
  releasing_ = true;
  on_released_ = std::move(released);
  // Sleeps and backoffs end here; the next holder arms them again from the
  // journaled fire times.
  for (auto& [op_id, op] : pending_) {
    if (op->timer != 0) engine_.cancel_timer(op->timer);
    op->timer = 0;
  }
  maybe_released();
}

void RunCore::maybe_released() {
  if (!releasing_ || released_) return;
  if (!unsent_.empty()) send({}, nullptr);  // what the run made lands before its shard goes
  if (commits_in_flight_ > 0) return;
  for (const auto& [op_id, op] : pending_) {
    if (op->wait == Wait::kAttempt) return;
  }
  {
    MutexLock l(mu_);
    if (requests_ > 0) return;
  }
  released_ = true;
  fail_in_memory(moved(id_));
  drop_body();
  std::exchange(on_released_, nullptr)();
}

}  // namespace keel::detail
