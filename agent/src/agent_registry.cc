// keel::Agent's registry in a cluster (docs/cluster.md, "The registry in a
// cluster"): the members live in the cluster's table, read and written on
// the database thread; watches live here and are answered when a read shows
// another version, after a notification or every kRegistryReread. The
// threads and locking are described in agent_impl.h.
#include <algorithm>
#include <chrono>

#include "agent_impl.h"

namespace keel {
namespace {

using internal::RegistryWatches;

// How often the watched names are read again whatever was heard: the table
// is the truth, and a notification is lost while the listener reconnects.
constexpr auto kRegistryReread = std::chrono::seconds(1);

std::string encode_members(const ClusterRegistryMembers& m) {
  return internal::encode_registry_members(m.version, m.keys);
}

}  // namespace

void Agent::Impl::serve_cluster_registry(std::uint64_t client_id, std::uint64_t correlation, std::string_view method,
                                         std::string_view payload, std::int64_t deadline_ns) {
  auto answer = [&](const Status& s) KEEL_REQUIRES(mu_) {
    std::vector<internal::RegistryAnswer> out{internal::RegistryAnswer{client_id, correlation, s}};
    send_answers(out);
  };
  Result<internal::RegistryCall> call = internal::decode_registry_call(method, payload);
  if (!call) return answer(call.status());
  if (Status s = check_registry_name(call->ns, call->name); !s.is_ok()) return answer(s);
  using Method = internal::RegistryCall::Method;
  if (call->method == Method::kRegister || call->method == Method::kUnregister) {
    const bool add = call->method == Method::kRegister;
    // A registration belongs to the incarnation that hosts its actor.
    if (add && hosted_.count(call->key) == 0) return answer(Status::not_found("no actor '" + call->key + "'"));
    return on_db_thread([this, client_id, correlation, add, c = std::move(*call)] {
      answer_registry(client_id, correlation,
                      add ? cluster_registry_->add(c.ns, c.name, c.key) : cluster_registry_->remove(c.ns, c.name, c.key));
    });
  }
  const bool watch = call->method == Method::kWatch;
  on_db_thread([this, client_id, correlation, watch, version = call->version, deadline_ns,
                n = RegistryWatches::Name(std::move(call->ns), std::move(call->name))] {
    Result<ClusterRegistryMembers> m = cluster_registry_->lookup(n.first, n.second);
    if (watch && m && m->version == version) {
      // A change from here on reaches the watch: the listener hears it, or
      // the next reread reads it.
      MutexLock lock(mu_);
      registry_watches_.add(client_id, correlation, n, version, deadline_ns);
      return;
    }
    answer_registry(client_id, correlation, m);
  });
}

void Agent::Impl::answer_registry(std::uint64_t client_id, std::uint64_t correlation,
                                  const Result<ClusterRegistryMembers>& r) {
  std::vector<internal::RegistryAnswer> out;
  out.push_back(internal::RegistryAnswer{client_id, correlation,
                                         r ? Result<std::string>(encode_members(*r)) : Result<std::string>(r.status())});
  MutexLock lock(mu_);
  send_answers(out);
}

void Agent::Impl::forget_registrations(const std::string& key) {
  registrations_to_forget_.push_back(key);
  if (registrations_to_forget_.size() > 1) return;  // a task is queued already
  on_db_thread([this] {
    std::vector<std::string> keys;
    {
      MutexLock lock(mu_);
      keys.swap(registrations_to_forget_);
    }
    // Watches hear of it from the table.
    if (Status s = cluster_registry_->remove_keys(keys); !s.is_ok()) {
      log("could not remove the registrations of " + std::to_string(keys.size()) + " actors: " + s.to_string());
    }
  });
}

void Agent::Impl::reread_watched(const std::vector<RegistryWatches::Name>& names) {
  if (registry_watches_.mark_due(names)) on_db_thread([this] { answer_watches(); });
}

void Agent::Impl::answer_watches() {
  std::set<RegistryWatches::Name> due;
  {
    MutexLock lock(mu_);
    due = registry_watches_.take_due();
  }
  for (const RegistryWatches::Name& n : due) {
    Result<ClusterRegistryMembers> m = cluster_registry_->lookup(n.first, n.second);
    if (!m) continue;  // read again at the next reread
    std::vector<internal::RegistryAnswer> out;
    MutexLock lock(mu_);
    registry_watches_.changed(n, m->version, encode_members(*m), out);
    send_answers(out);
  }
}

void Agent::Impl::run_registry_listener() {
  auto next_reread = std::chrono::steady_clock::now() + kRegistryReread;
  bool failing = false;  // the last wait failed: logged once
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_reread -
                                                                             std::chrono::steady_clock::now());
    Result<ClusterWakeup> w = registry_listener_->wait(std::max(left, std::chrono::milliseconds(0)));
    if (!w && !failing) log("the registry's notifications: " + w.status().to_string() + " (reading every second)");
    failing = !w;
    if (w && (w->shards || w->resubscribed)) {
      MutexLock keeping(keeper_mu_);
      if (keeper_ != nullptr) keeper_->wake();  // a round now, not at the next rebalance_every
    }
    MutexLock lock(mu_);
    if (db_stopping_) return;
    const auto now = std::chrono::steady_clock::now();
    std::vector<RegistryWatches::Name> due;
    if (!w || w->resubscribed || now >= next_reread) {
      due = registry_watches_.names(internal::registry_now_ns());
      next_reread = now + kRegistryReread;
    } else {
      for (const RegistryWatches::Name& n : w->names) {
        if (registry_watches_.is_watched(n)) due.push_back(n);
      }
    }
    if (!due.empty()) reread_watched(due);
    // The shards' holders changed: the next shard map is read afresh.
    if (w && w->shards) on_db_thread([this] { shard_map_cache_.clear(); });
    // Without a connection, the next try waits for the next reread.
    if (!w && db_changed_.wait_until(lock, next_reread, [&]() KEEL_REQUIRES(mu_) { return db_stopping_; })) return;
  }
}

}  // namespace keel
