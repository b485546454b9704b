// Runtime: the shared core of a System. The System object owns the threads
// (workers, timer thread); the Runtime is reference-counted by the System and
// by every cell, so a ref that outlives its System still points at valid
// memory (sends through it are dead letters).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>

#include "keel/base/clock.h"
#include "keel/base/thread_annotations.h"
#include "keel/engine/dead_letters.h"
#include "keel/engine/detail/commit_pipeline.h"
#include "keel/engine/diagnostics.h"
#include "keel/engine/system.h"
#include "keel/wire/envelope.h"
#include "scheduler.h"
#include "timer_service.h"

namespace keel::detail {
struct DurableCell;
}

namespace keel::internal {

class Runtime {
 public:
  Runtime(System& system, SystemConfig config);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  void add_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // acq_rel: the last release sees every write made through other refs.
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // ---- Used by cells and the System ---------------------------------------
  System& system() { return *system_; }
  Clock& clock() { return *clock_; }
  const SystemConfig& config() const { return config_; }
  Scheduler& scheduler() { return *scheduler_; }
  TimerService& timers() { return *timers_; }
  DeadLetterChannel& dead_letters() { return dead_letters_; }
  void log(std::string_view line);

  Result<AnyRef> spawn(const SpawnOptions& options, const std::type_info& type,
                       System::Factory factory, detail::Cell* parent) {
    return spawn_cell(options, type, std::move(factory), parent, nullptr);
  }
  Result<AnyRef> spawn_durable(const std::string& key, const DurableOptions& options,
                               const std::type_info& type, System::Factory factory,
                               System::DurableDecoder decoder);
  // DurableGroup: creates a durable actor that is not started yet (its
  // messages are held), then starts created ones together after one pass
  // over the journal. The created cells' references are the caller's.
  Result<detail::Cell*> create_durable(const std::string& key, const DurableOptions& options,
                                       const std::type_info& type, System::Factory factory,
                                       System::DurableDecoder decoder);
  Status start_durable_group(const std::vector<detail::Cell*>& cells);
  // A fresh id for a journaled message: this runtime's random node id and a
  // counter.
  wire::Id128 next_message_id();
  // Called by a cell when it has finished stopping: drops its registration
  // and its table entry.
  void on_cell_stopped(detail::Cell* cell) KEEL_EXCLUDES(table_mu_, names_mu_);

  Status register_name(const std::string& name, detail::Cell* cell, std::uint32_t gen)
      KEEL_EXCLUDES(names_mu_);
  Status unregister_name(const std::string& name) KEEL_EXCLUDES(names_mu_);
  Result<AnyRef> lookup(const std::string& name, const std::type_info* type) const
      KEEL_EXCLUDES(names_mu_);
  std::string name_of(const detail::Cell* cell) const KEEL_EXCLUDES(names_mu_);

  // Records a dead letter for `msg` (which the caller then deletes).
  void dead_letter(DeadLetterReason reason, const detail::Cell* target, const detail::Message& msg,
                   std::string detail);
  void dead_letter_unknown(std::string_view target_name, std::string_view method);

  void note_late_reply() { late_replies_.fetch_add(1, std::memory_order_relaxed); }
  void note_stop_hook_failure() { stop_hook_failures_.fetch_add(1, std::memory_order_relaxed); }

  bool is_shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }
  Status shutdown(ShutdownMode mode, Duration deadline);
  bool is_shut_down() const { return shut_down_.load(std::memory_order_acquire); }

  SystemSnapshot snapshot() const KEEL_EXCLUDES(table_mu_);
  EngineMetrics metrics() const KEEL_EXCLUDES(table_mu_);
  // Shared by the commit pipelines of this runtime's durable actors.
  const std::shared_ptr<detail::CommitStats>& commit_stats() const { return commit_stats_; }
  // Journal appends of durable actors whose callbacks have not run yet.
  void journal_op_started() KEEL_EXCLUDES(journal_mu_);
  void journal_op_done() KEEL_EXCLUDES(journal_mu_);
  bool journal_idle() const KEEL_EXCLUDES(journal_mu_);
  bool wait_journal_idle(std::chrono::steady_clock::time_point deadline) KEEL_EXCLUDES(journal_mu_);

  // The System is gone: stop reading its clock (dead letters get no time).
  void detach();
  // The demangled name of `type`; the reference stays valid for the
  // runtime's life (cells keep it).
  const std::string& type_name(const std::type_info& type) KEEL_EXCLUDES(types_mu_);

 private:
  // Spawns a cell; `durable` (null for in-memory actors) makes it durable.
  Result<AnyRef> spawn_cell(const SpawnOptions& options, const std::type_info& type,
                            System::Factory factory, detail::Cell* parent,
                            std::unique_ptr<detail::DurableCell> durable);
  // The two halves of spawn_cell. create_cell makes the cell and its
  // instance, reserves its name (hidden from lookups) and returns the
  // creation reference; messages sent to a durable one are held.
  // activate_cell starts it (recovering a durable one unless `recovered`:
  // its state was already rebuilt) and publishes it, taking the creation
  // reference; without `release`, a durable one keeps its messages held
  // until Cell::release_held(). discard_cell drops a created cell that will
  // not start.
  Result<detail::Cell*> create_cell(const SpawnOptions& options, const std::type_info& type,
                                    System::Factory factory, detail::Cell* parent,
                                    std::unique_ptr<detail::DurableCell> durable);
  Result<AnyRef> activate_cell(detail::Cell* cell, detail::Cell* parent, bool recovered, bool release);
  void discard_cell(detail::Cell* cell, const Status& why);
  // Frees `name` for a new holder: ok(nullptr) if nobody holds it; the
  // holder (whose reference the caller releases after unlocking) if it has
  // stopped; kAlreadyExists if it is alive.
  Result<detail::Cell*> claim_name_locked(const std::string& name) KEEL_REQUIRES(names_mu_);
  void stop_all_top_level() KEEL_EXCLUDES(table_mu_);
  bool wait_table_empty(std::chrono::steady_clock::time_point deadline) KEEL_EXCLUDES(table_mu_);
  void force_finalize_remaining() KEEL_EXCLUDES(table_mu_);

  std::atomic<int> refs_{1};
  System* system_;  // valid until shutdown completes
  SystemConfig config_;
  std::unique_ptr<Clock> owned_clock_;
  Clock* clock_;
  DeadLetterChannel dead_letters_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<TimerService> timers_;

  std::atomic<ActorId> next_id_{1};  // relaxed: only uniqueness matters
  const std::uint64_t node_id_;      // random, for message ids
  std::atomic<std::uint64_t> next_message_{1};  // relaxed: only uniqueness matters
  std::atomic<bool> shutting_down_{false};  // release/acquire with spawn's check
  std::atomic<bool> shut_down_{false};
  std::atomic<bool> clock_alive_{true};  // release/acquire: see detach()
  Mutex shutdown_mu_;  // one shutdown at a time

  mutable Mutex table_mu_;
  CondVar table_cv_;
  std::unordered_map<ActorId, detail::Cell*> table_ KEEL_GUARDED_BY(table_mu_);  // holds a ref each
  // Messages handled by the cells that left table_: with the cells in it,
  // every message handled, so metrics() never goes back.
  std::uint64_t retired_processed_ KEEL_GUARDED_BY(table_mu_) = 0;
  const std::shared_ptr<detail::CommitStats> commit_stats_;

  mutable Mutex names_mu_;
  std::unordered_map<std::string, std::pair<detail::Cell*, std::uint32_t>> names_
      KEEL_GUARDED_BY(names_mu_);  // holds a ref each
  std::unordered_map<const detail::Cell*, std::string> name_by_cell_ KEEL_GUARDED_BY(names_mu_);
  std::unordered_set<const detail::Cell*> starting_ KEEL_GUARDED_BY(names_mu_);  // names not yet visible

  mutable Mutex journal_mu_;
  CondVar journal_cv_;
  std::int64_t journal_ops_ KEEL_GUARDED_BY(journal_mu_) = 0;

  Mutex types_mu_;
  std::unordered_map<const std::type_info*, std::string> type_names_ KEEL_GUARDED_BY(types_mu_);

  // relaxed: statistics.
  std::atomic<std::uint64_t> late_replies_{0};
  std::atomic<std::uint64_t> stop_hook_failures_{0};
};

}  // namespace keel::internal
