// Durable actors' public entry points: spawning and grouping them, and
// DurableActorBase's timers. The work is DurableCell's (durable_cell.cc,
// durable_recovery.cc). See keel/engine/durable.h for the contract.
#include <algorithm>
#include <limits>
#include <unordered_map>
#include <string>

#include "cell.h"
#include "cell_internal.h"
#include "runtime.h"
#include "keel/wire/envelope.h"


namespace keel {

Result<std::uint64_t> DurableActorBase::schedule_durable_erased(Duration delay, std::string_view method,
                                                                std::string args) {
  return cell_->durable_schedule(delay, method, std::move(args));
}

bool DurableActorBase::cancel_durable(std::uint64_t id) { return cell_->durable_cancel(id); }

Status DurableActorBase::send_to_erased(const std::string& key, std::string_view method, std::string args) {
  return cell_->durable_send_to(key, method, std::move(args));
}

}  // namespace keel

namespace keel::internal {

namespace {
Result<std::unique_ptr<detail::DurableCell>> durable_cell(const SystemConfig& config, const std::string& key,
                                                          const DurableOptions& options,
                                                          System::DurableDecoder decoder,
                                                          const std::shared_ptr<detail::CommitStats>& stats) {
  if (config.journal == nullptr)
    return Status::failed_precondition("spawn_durable needs SystemConfig::journal");
  if (key.empty()) return Status::invalid_argument("a durable actor needs a key");
  if (options.snapshot_every == 0 || options.max_attempts == 0)
    return Status::invalid_argument("snapshot_every and max_attempts must be at least 1");
  auto d = std::make_unique<detail::DurableCell>();
  d->journal = config.journal;
  d->key = key;
  d->owner = actor_owner(key);
  d->commits = detail::CommitPipeline::create(*config.journal, d->owner, detail::OnFailure::kRefuseLater, stats);
  d->accepts = detail::CommitPipeline::create(*config.journal, d->owner, detail::OnFailure::kContinue, stats);
  d->options = options;
  d->decoder = decoder;
  return d;
}
}  // namespace

Result<AnyRef> Runtime::spawn_durable(const std::string& key, const DurableOptions& options,
                                      const std::type_info& type, System::Factory factory,
                                      System::DurableDecoder decoder) {
  KEEL_ASSIGN_OR_RETURN(detail::Cell * cell, create_durable(key, options, type, std::move(factory), decoder));
  return activate_cell(cell, nullptr, /*recovered=*/false, /*release=*/true);
}

Result<detail::Cell*> Runtime::create_durable(const std::string& key, const DurableOptions& options,
                                              const std::type_info& type, System::Factory factory,
                                              System::DurableDecoder decoder) {
  KEEL_ASSIGN_OR_RETURN(auto d, durable_cell(config_, key, options, decoder, commit_stats_));
  SpawnOptions spawn;
  spawn.name = key;
  return create_cell(spawn, type, std::move(factory), nullptr, std::move(d));
}

Status Runtime::start_durable_group(const std::vector<detail::Cell*>& cells) {
  const Status recovered = detail::DurableCell::recover_group(cells);
  if (!recovered.is_ok()) {
    for (detail::Cell* c : cells) discard_cell(c, recovered);
    return recovered;
  }
  // Every member is started and can be looked up before any of them
  // handles a message.
  Status first;
  std::vector<AnyRef> started;
  for (detail::Cell* c : cells) {
    Result<AnyRef> r = activate_cell(c, nullptr, /*recovered=*/true, /*release=*/false);
    if (r) {
      started.push_back(std::move(*r));
    } else if (first.is_ok()) {
      first = r.status();
    }
  }
  for (AnyRef& r : started) r.cell()->release_held();
  return first;
}

wire::Id128 Runtime::next_message_id() {
  return wire::Id128{node_id_, next_message_.fetch_add(1, std::memory_order_relaxed)};
}

}  // namespace keel::internal

namespace keel {

Result<AnyRef> System::spawn_durable_erased(const std::string& key, const DurableOptions& options,
                                            const std::type_info& type, Factory factory,
                                            DurableDecoder decoder) {
  return rt_->spawn_durable(key, options, type, std::move(factory), decoder);
}

Result<AnyRef> System::create_durable_erased(const std::string& key, const DurableOptions& options,
                                             const std::type_info& type, Factory factory,
                                             DurableDecoder decoder) {
  KEEL_ASSIGN_OR_RETURN(detail::Cell * cell,
                        rt_->create_durable(key, options, type, std::move(factory), decoder));
  cell->acquire();  // the returned ref's; the creation reference is the group's
  return AnyRef::adopt(cell, 1);
}

Status System::start_durable_erased(const std::vector<AnyRef>& members) {
  std::vector<detail::Cell*> cells;
  cells.reserve(members.size());
  for (const AnyRef& m : members) cells.push_back(m.cell());
  return rt_->start_durable_group(cells);
}

DurableGroup::~DurableGroup() {
  if (created_.empty()) return;
  Status st = start();
  if (!st.is_ok()) system_->runtime().log("DurableGroup: start at destruction failed: " + st.to_string());
}

Status DurableGroup::start() {
  std::vector<AnyRef> members;
  members.swap(created_);
  if (members.empty()) return Status::ok();
  return system_->start_durable_erased(members);
}

}  // namespace keel
