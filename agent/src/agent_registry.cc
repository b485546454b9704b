// keel::Agent's registry in a cluster (docs/cluster.md, "The registry in a
// cluster"): the members live in the cluster's table, read and written on
// the database thread; watches live here and are answered when a read shows
// another version, after a notification or every kRegistryReread. The
// threads and locking are described in agent_impl.h.
#include <algorithm>
#include <chrono>

#include "keel/wire/value.h"
#include "agent_impl.h"

namespace keel {
namespace {

using internal::RegistryWatches;

// How often the watched names are read again whatever was heard: the table
// is the truth, and a notification is lost while the listener reconnects.
constexpr auto kRegistryReread = std::chrono::seconds(1);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string encode_members(const ClusterRegistryMembers& m) {
  return wire::encode_value(std::make_pair(m.version, m.keys));
}

}  // namespace

void Agent::Impl::serve_cluster_registry(std::uint64_t client_id, std::uint64_t correlation, std::string_view method,
                                         std::string_view payload, std::int64_t deadline_ns) {
  auto answer = [&](const Status& s) KEEL_REQUIRES(mu_) {
    std::vector<internal::RegistryAnswer> out{internal::RegistryAnswer{client_id, correlation, s}};
    send_answers(out);
  };
  if (method == "register" || method == "unregister") {
    auto args = wire::decode_args<std::string, std::string, std::string>(payload);
    if (!args) return answer(args.status());
    auto [ns, name, key] = std::move(*args);
    if (Status s = check_registry_name(ns, name); !s.is_ok()) return answer(s);
    const bool add = method == "register";
    // A registration belongs to the incarnation that hosts its actor.
    if (add && hosted_.count(key) == 0) return answer(Status::not_found("no actor '" + key + "'"));
    return on_db_thread([this, client_id, correlation, add, ns = std::move(ns), name = std::move(name),
                         key = std::move(key)] {
      answer_registry(client_id, correlation,
                      add ? cluster_registry_->add(ns, name, key) : cluster_registry_->remove(ns, name, key));
    });
  }
  if (method == "lookup" || method == "watch") {
    const bool watch = method == "watch";
    std::string ns, name;
    std::uint64_t version = 0;
    if (watch) {
      auto args = wire::decode_args<std::string, std::string, std::uint64_t>(payload);
      if (!args) return answer(args.status());
      std::tie(ns, name, version) = std::move(*args);
    } else {
      auto args = wire::decode_args<std::string, std::string>(payload);
      if (!args) return answer(args.status());
      std::tie(ns, name) = std::move(*args);
    }
    if (Status s = check_registry_name(ns, name); !s.is_ok()) return answer(s);
    return on_db_thread([this, client_id, correlation, watch, version, deadline_ns,
                         n = RegistryWatches::Name(std::move(ns), std::move(name))] {
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
  answer(Status::not_found("no registry method '" + std::string(method) + "'"));
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
    Result<RegistryWakeup> w = registry_listener_->wait(std::max(left, std::chrono::milliseconds(0)));
    if (!w && !failing) log("the registry's notifications: " + w.status().to_string() + " (reading every second)");
    failing = !w;
    MutexLock lock(mu_);
    if (db_stopping_) return;
    const auto now = std::chrono::steady_clock::now();
    std::vector<RegistryWatches::Name> due;
    if (!w || w->resubscribed || now >= next_reread) {
      due = registry_watches_.names(now_ns());
      next_reread = now + kRegistryReread;
    } else {
      for (const RegistryWatches::Name& n : w->names) {
        if (registry_watches_.is_watched(n)) due.push_back(n);
      }
    }
    if (!due.empty()) reread_watched(due);
    // Without a connection, the next try waits for the next reread.
    if (!w && db_changed_.wait_until(lock, next_reread, [&]() KEEL_REQUIRES(mu_) { return db_stopping_; })) return;
  }
}

}  // namespace keel
