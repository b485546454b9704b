#include "runtime.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <thread>

#include "cell.h"

namespace keel::internal {

namespace {
int resolve_threads(int requested) {
  if (requested >= 0) return requested;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
}  // namespace

Runtime::Runtime(System& system, SystemConfig config)
    : system_(&system),
      config_(std::move(config)),
      owned_clock_(config_.clock ? nullptr : std::make_unique<SystemClock>()),
      clock_(config_.clock ? config_.clock : owned_clock_.get()),
      dead_letters_(config_.dead_letter_history),
      scheduler_(std::make_unique<Scheduler>(resolve_threads(config_.threads), std::max(1, config_.throughput),
                                             config_.spin_before_park)),
      timers_(std::make_unique<TimerService>(*clock_)),
      node_id_(std::random_device{}() * 0x100000001ull ^ std::random_device{}()),
      commit_stats_(std::make_shared<detail::CommitStats>()) {}

Runtime::~Runtime() = default;

void Runtime::log(std::string_view line) {
  if (config_.log) {
    config_.log(line);
  } else {
    std::fprintf(stderr, "keel: %.*s\n", static_cast<int>(line.size()), line.data());
  }
}

const std::string& Runtime::type_name(const std::type_info& type) {
  MutexLock l(types_mu_);
  auto it = type_names_.find(&type);
  if (it != type_names_.end()) return it->second;
  int status = 0;
  char* d = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string name = (status == 0 && d) ? d : type.name();
  std::free(d);
  // unordered_map nodes are stable, so the returned reference stays valid.
  return type_names_.emplace(&type, std::move(name)).first->second;
}

Result<AnyRef> Runtime::spawn_cell(const SpawnOptions& options, const std::type_info& type,
                                   System::Factory factory, detail::Cell* parent,
                                   std::unique_ptr<detail::DurableCell> durable) {
  KEEL_ASSIGN_OR_RETURN(detail::Cell * cell,
                        create_cell(options, type, std::move(factory), parent, std::move(durable)));
  return activate_cell(cell, parent, /*recovered=*/false, /*release=*/true);
}

Result<detail::Cell*> Runtime::create_cell(const SpawnOptions& options, const std::type_info& type,
                                           System::Factory factory, detail::Cell* parent,
                                           std::unique_ptr<detail::DurableCell> durable) {
  if (is_shutting_down()) return Status::unavailable("the actor system is shutting down");
  if (parent != nullptr) {
    KEEL_CHECK(detail::Cell::current() == parent, "Actor::spawn called outside the actor's turn");
  }
  const ActorId id = next_id_.fetch_add(1, std::memory_order_relaxed);
  auto* cell = new detail::Cell(this, id, type, type_name(type), options.mailbox, factory);
  if (durable) cell->make_durable(std::move(durable));
  if (!options.name.empty()) {
    MutexLock l(names_mu_);
    Result<detail::Cell*> evicted = claim_name_locked(options.name);
    if (!evicted.is_ok()) {
      l.native().unlock();
      cell->release();
      return evicted.status();
    }
    cell->acquire();
    names_.emplace(options.name, std::make_pair(cell, 1u));
    name_by_cell_[cell] = options.name;
    // Reserved, but found by lookups only once started: a durable actor
    // must not receive messages while it recovers.
    starting_.insert(cell);
    l.native().unlock();
    if (*evicted != nullptr) (*evicted)->release();
  }
  std::unique_ptr<Actor> instance;
  try {
    instance = factory();
  } catch (...) {
    Status st = detail::status_from_current_exception().with_context("constructor of " + cell->type_name());
    {
      MutexLock l(names_mu_);
      starting_.erase(cell);
    }
    on_cell_stopped(cell);
    cell->release();
    return st;
  }
  cell->attach(std::move(instance), parent);
  return cell;
}

Result<AnyRef> Runtime::activate_cell(detail::Cell* cell, detail::Cell* parent, bool recovered,
                                      bool release) {
  Status st = cell->start(recovered, release);
  {
    MutexLock l(names_mu_);
    starting_.erase(cell);
  }
  if (!st.is_ok()) {
    cell->release();  // start() already unregistered it
    return st;
  }
  if (parent != nullptr) parent->supervisor().add_child(cell);
  cell->acquire();
  AnyRef ref = AnyRef::adopt(cell, 1);
  bool late;
  {
    MutexLock l(table_mu_);
    table_.emplace(cell->id(), cell);  // takes the creation reference
    late = is_shutting_down();
  }
  if (late) system_->stop(ref);  // raced with shutdown: it will not be enumerated
  return ref;
}

void Runtime::discard_cell(detail::Cell* cell, const Status& why) {
  cell->abandon(why);
  {
    MutexLock l(names_mu_);
    starting_.erase(cell);
  }
  cell->release();
}

void Runtime::on_cell_stopped(detail::Cell* cell) {
  std::vector<detail::Cell*> to_release;
  {
    MutexLock l(names_mu_);
    for (auto it = names_.begin(); it != names_.end();) {
      if (it->second.first == cell) {
        to_release.push_back(cell);
        it = names_.erase(it);
      } else {
        ++it;
      }
    }
    name_by_cell_.erase(cell);
  }
  {
    MutexLock l(table_mu_);
    auto it = table_.find(cell->id());
    if (it != table_.end() && it->second == cell) {
      to_release.push_back(cell);
      retired_processed_ += cell->processed();
      table_.erase(it);
      if (table_.empty()) table_cv_.notify_all();
    }
  }
  for (auto* c : to_release) c->release();
}

Result<detail::Cell*> Runtime::claim_name_locked(const std::string& name) {
  auto it = names_.find(name);
  if (it == names_.end()) return static_cast<detail::Cell*>(nullptr);
  detail::Cell* holder = it->second.first;
  if (!holder->is_stopped()) return Status::already_exists("an actor is already registered as '" + name + "'");
  // A stopped actor's name is free (lookups already miss it) even before its
  // cell has finished on_cell_stopped, which then finds no entry to drop.
  names_.erase(it);
  auto rit = name_by_cell_.find(holder);
  if (rit != name_by_cell_.end() && rit->second == name) name_by_cell_.erase(rit);
  return holder;
}

Status Runtime::register_name(const std::string& name, detail::Cell* cell, std::uint32_t gen) {
  if (cell == nullptr) return Status::invalid_argument("cannot register '" + name + "': empty ref");
  MutexLock l(names_mu_);
  // Checked under the lock: a cell marks itself stopped before it removes its
  // names (on_cell_stopped, which takes this lock), so a name registered here
  // to a live cell is always removed when it stops.
  if (cell->is_stopped()) return Status::not_found("cannot register '" + name + "': the actor has stopped");
  KEEL_ASSIGN_OR_RETURN(detail::Cell * evicted, claim_name_locked(name));
  cell->acquire();
  names_.emplace(name, std::make_pair(cell, gen));
  name_by_cell_[cell] = name;
  l.native().unlock();
  if (evicted != nullptr) evicted->release();
  return Status::ok();
}

Status Runtime::unregister_name(const std::string& name) {
  detail::Cell* cell = nullptr;
  {
    MutexLock l(names_mu_);
    auto it = names_.find(name);
    if (it == names_.end()) return Status::not_found("no actor is registered as '" + name + "'");
    cell = it->second.first;
    names_.erase(it);
    auto rit = name_by_cell_.find(cell);
    if (rit != name_by_cell_.end() && rit->second == name) name_by_cell_.erase(rit);
  }
  cell->release();
  return Status::ok();
}

Result<AnyRef> Runtime::lookup(const std::string& name, const std::type_info* type) const {
  MutexLock l(names_mu_);
  auto it = names_.find(name);
  if (it == names_.end() || it->second.first->is_stopped() || starting_.count(it->second.first) != 0)
    return Status::not_found("no actor is registered as '" + name + "'");
  detail::Cell* cell = it->second.first;
  if (type != nullptr && cell->type() != *type)
    return Status::invalid_argument("'" + name + "' is a " + cell->type_name() + ", not the requested type");
  cell->acquire();
  return AnyRef::adopt(cell, cell->generation());
}

std::string Runtime::name_of(const detail::Cell* cell) const {
  MutexLock l(names_mu_);
  auto it = name_by_cell_.find(cell);
  return it == name_by_cell_.end() ? std::string() : it->second;
}

void Runtime::dead_letter(DeadLetterReason reason, const detail::Cell* target,
                          const detail::Message& msg, std::string detail) {
  DeadLetter d;
  d.reason = reason;
  d.target_generation = msg.generation;
  if (target != nullptr) {
    d.target = target->id();
    d.target_type = target->type_name();
    // A message sent by id alone missed the incarnation current now.
    if (msg.generation == kAnyGeneration) d.target_generation = target->generation();
  }
  d.method = std::string(msg.method());
  d.sender = msg.sender;
  d.time = clock_alive_.load(std::memory_order_acquire) ? clock_->now() : TimePoint{};
  d.detail = std::move(detail);
  dead_letters_.publish(std::move(d));
}

void Runtime::dead_letter_unknown(std::string_view target_name, std::string_view method) {
  DeadLetter d;
  d.reason = DeadLetterReason::kUnknownTarget;
  d.method = std::string(method);
  if (detail::Cell* cur = detail::Cell::current()) d.sender = cur->id();
  d.time = clock_alive_.load(std::memory_order_acquire) ? clock_->now() : TimePoint{};
  d.detail = "no actor is registered as '" + std::string(target_name) + "'";
  dead_letters_.publish(std::move(d));
}

void Runtime::journal_op_started() {
  MutexLock l(journal_mu_);
  ++journal_ops_;
}

void Runtime::journal_op_done() {
  MutexLock l(journal_mu_);
  if (--journal_ops_ == 0) journal_cv_.notify_all();
}

bool Runtime::journal_idle() const {
  MutexLock l(journal_mu_);
  return journal_ops_ == 0;
}

bool Runtime::wait_journal_idle(std::chrono::steady_clock::time_point deadline) {
  MutexLock l(journal_mu_);
  return journal_cv_.wait_until(l, deadline, [&]() KEEL_REQUIRES(journal_mu_) { return journal_ops_ == 0; });
}

void Runtime::detach() {
  clock_alive_.store(false, std::memory_order_release);
  system_ = nullptr;
}

void Runtime::stop_all_top_level() {
  std::vector<detail::CellRef> tops;
  {
    MutexLock l(table_mu_);
    for (auto& [id, cell] : table_) {
      if (cell->parent_id() == kNoActor) tops.emplace_back(cell);
    }
  }
  for (auto& c : tops) {
    c->send_system(detail::make_sys(detail::SysMsg::kStop));
  }
}

bool Runtime::wait_table_empty(std::chrono::steady_clock::time_point deadline) {
  MutexLock l(table_mu_);
  return table_cv_.wait_until(l, deadline, [&]() KEEL_REQUIRES(table_mu_) { return table_.empty(); });
}

void Runtime::force_finalize_remaining() {
  for (;;) {
    detail::CellRef cell;
    {
      MutexLock l(table_mu_);
      if (table_.empty()) return;
      // Top-level first, so children stop before their parents.
      detail::Cell* pick = table_.begin()->second;
      for (auto& [id, c] : table_) {
        if (c->parent_id() == kNoActor) {
          pick = c;
          break;
        }
      }
      cell = detail::CellRef(pick);
    }
    cell->force_stop();
  }
}

Status Runtime::shutdown(ShutdownMode mode, Duration deadline) {
  MutexLock guard(shutdown_mu_);
  if (is_shut_down()) return Status::ok();
  KEEL_CHECK(detail::Cell::current() == nullptr, "System::shutdown called from an actor's turn");
  const auto until = std::chrono::steady_clock::now() + deadline;
  const bool threaded = scheduler_->threads() > 0;
  Status result;
  shutting_down_.store(true, std::memory_order_release);

  if (mode == ShutdownMode::kDrain) {
    // Quiet means no runnable actor and no journal commit in flight (a
    // commit releases messages that make actors runnable again).
    bool quiet = false;
    while (!quiet && std::chrono::steady_clock::now() < until) {
      if (threaded) {
        if (!scheduler_->wait_quiescent(until)) break;
      } else {
        while (std::chrono::steady_clock::now() < until && scheduler_->run_one()) {
        }
      }
      if (!wait_journal_idle(until)) break;
      quiet = scheduler_->active() == 0 && journal_idle();
    }
    if (!quiet) result = Status::timeout("shutdown: drain did not finish in time");
  }
  timers_->stop();
  stop_all_top_level();
  if (threaded) {
    if (!wait_table_empty(until) && result.is_ok())
      result = Status::timeout("shutdown: actors did not stop in time");
  } else {
    while (std::chrono::steady_clock::now() < until && scheduler_->run_one()) {
    }
  }
  scheduler_->stop_and_join();
  force_finalize_remaining();
  // Commit callbacks still due run on the journal's thread; wait for them so
  // that nothing of this system runs after shutdown returns.
  if (!wait_journal_idle(until) && result.is_ok())
    result = Status::timeout("shutdown: journal commits did not complete in time");
  // After force_finalize: stopping cells on this thread notifies parents and
  // watchers, which queues them again (no worker will run them now).
  for (detail::Cell* c : scheduler_->take_queued()) {
    scheduler_->remove_active();
    c->release();
  }
  shut_down_.store(true, std::memory_order_release);
  return result;
}

SystemSnapshot Runtime::snapshot() const {
  SystemSnapshot s;
  s.worker_threads = scheduler_->threads();
  std::vector<detail::CellRef> cells;
  {
    MutexLock l(table_mu_);
    cells.reserve(table_.size());
    for (auto& [id, c] : table_) cells.emplace_back(c);
  }
  s.actors.reserve(cells.size());
  for (auto& c : cells) s.actors.push_back(c->snapshot());
  std::sort(s.actors.begin(), s.actors.end(),
            [](const ActorSnapshot& a, const ActorSnapshot& b) { return a.id < b.id; });
  for (std::size_t i = 0; i < kDeadLetterReasonCount; ++i)
    s.dead_letters[i] = dead_letters_.count(static_cast<DeadLetterReason>(i));
  s.dead_letters_total = dead_letters_.total();
  s.late_replies = late_replies_.load(std::memory_order_relaxed);
  s.stop_hook_failures = stop_hook_failures_.load(std::memory_order_relaxed);
  s.pending_timers = timers_->pending();
  return s;
}

EngineMetrics Runtime::metrics() const {
  EngineMetrics m;
  {
    MutexLock l(table_mu_);
    m.messages_handled = retired_processed_;
    for (const auto& [id, c] : table_) {
      m.messages_handled += c->processed();
      m.inbox_depth += c->mailbox_depth();
    }
  }
  m.durable_commits = commit_stats_->commits.value();
  m.durable_records = commit_stats_->records.value();
  m.commit_seconds = commit_stats_->seconds.snapshot();
  return m;
}

}  // namespace keel::internal
