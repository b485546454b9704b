// keel::RemotePool: a registry watch kept in flight per agent follows the
// members.
#include "keel/client/remote_pool.h"

#include <chrono>

#include "keel/base/thread_annotations.h"

namespace keel {

struct RemotePool::State {
  std::string ns;
  std::string name;
  Mutex mu;
  CondVar changed;
  // A followed pool: what each agent's registry said last (version 0 and
  // no keys before its first answer, and after it was unreachable).
  std::vector<RegistryMembers> per_agent KEEL_GUARDED_BY(mu);
  std::vector<RemoteEndpoint> members KEEL_GUARDED_BY(mu);
  std::size_t next KEEL_GUARDED_BY(mu) = 0;
  bool closed KEEL_GUARDED_BY(mu) = false;
};

namespace {

// How long one registry watch may wait before it is renewed.
constexpr auto kWatchRenewal = std::chrono::seconds(30);
// How long the pool waits before renewing a watch that failed.
constexpr auto kUnreachableBackoff = std::chrono::milliseconds(500);

// Sets agent `agent`'s members and rebuilds the pool's (merge_members; in
// a cluster newest_members, so a host that went down leaves no stale keys
// once the others answer a newer version).
void set_agent_members(Client& client, RemotePool::State& st, std::size_t agent, RegistryMembers m)
    KEEL_REQUIRES(st.mu) {
  st.per_agent[agent] = std::move(m);
  st.members.clear();
  RegistryMembers merged = client.in_cluster() ? newest_members(st.per_agent) : merge_members(st.per_agent);
  for (std::string& k : merged.keys) st.members.push_back(RemoteEndpoint{&client, std::move(k)});
  st.changed.notify_all();
}

// Keeps one watch in flight on agent `agent` until the pool closes or the
// client is destroyed (kCancelled), or the registry refuses the name
// (kInvalidArgument). A watch that fails with kUnavailable (the agent
// unreachable past the client's retries) drops the agent's members, to be
// asked again from version 0 so that they come back with the agent. A
// failed watch is renewed after kUnreachableBackoff, on the client's timer
// thread (a send that fails at once must not recurse).
void watch_next(Client& client, std::size_t agent, std::shared_ptr<RemotePool::State> st) {
  std::uint64_t version = 0;
  {
    MutexLock lock(st->mu);
    if (st->closed) return;
    version = st->per_agent[agent].version;
  }
  client.watch_on(agent, st->ns, st->name, version, kWatchRenewal)
      .then([&client, agent, st](Result<RegistryMembers> r) {
        const StatusCode code = r.status().code();
        if (code == StatusCode::kCancelled || code == StatusCode::kInvalidArgument) return;
        if (r || code == StatusCode::kUnavailable) {
          MutexLock lock(st->mu);
          set_agent_members(client, *st, agent, r ? std::move(*r) : RegistryMembers{});
        }
        if (r || code == StatusCode::kTimeout) return watch_next(client, agent, st);  // a renewal
        client.after(kUnreachableBackoff).then([&client, agent, st](Result<Unit> woke) {
          if (woke) watch_next(client, agent, st);
        });
      });
}

}  // namespace

RemotePool::RemotePool(std::unique_ptr<State> state) : state_(std::move(state)) {}

RemotePool::~RemotePool() {
  MutexLock lock(state_->mu);
  state_->closed = true;
}

std::unique_ptr<RemotePool> RemotePool::follow(Client& client, std::string ns, std::string name) {
  auto st = std::make_unique<State>();
  st->ns = std::move(ns);
  st->name = std::move(name);
  {
    MutexLock lock(st->mu);
    st->per_agent.resize(client.agents().size());
  }
  std::unique_ptr<RemotePool> pool(new RemotePool(std::move(st)));
  for (std::size_t i = 0; i < client.agents().size(); ++i) watch_next(client, i, pool->state_);
  return pool;
}

std::unique_ptr<RemotePool> RemotePool::fixed(Client& client, const std::vector<std::string>& keys) {
  std::vector<RemoteEndpoint> endpoints;
  for (const std::string& k : keys) endpoints.push_back(RemoteEndpoint{&client, k});
  return fixed(std::move(endpoints));
}

std::unique_ptr<RemotePool> RemotePool::fixed(std::vector<RemoteEndpoint> endpoints) {
  auto st = std::make_unique<State>();
  st->ns = "fixed";
  st->name = std::to_string(endpoints.size()) + " endpoints";
  {
    MutexLock lock(st->mu);
    st->members = std::move(endpoints);
  }
  return std::unique_ptr<RemotePool>(new RemotePool(std::move(st)));
}

std::size_t RemotePool::size() const {
  MutexLock lock(state_->mu);
  return state_->members.size();
}

std::vector<std::string> RemotePool::endpoints() const {
  MutexLock lock(state_->mu);
  std::vector<std::string> keys;
  for (const RemoteEndpoint& m : state_->members) keys.push_back(m.key);
  return keys;
}

std::vector<RemoteEndpoint> RemotePool::members() const {
  MutexLock lock(state_->mu);
  return state_->members;
}

Status RemotePool::wait_for_size(std::size_t n, Duration timeout) const {
  MutexLock lock(state_->mu);
  if (state_->changed.wait_for(lock, timeout, [&]() KEEL_REQUIRES(state_->mu) { return state_->members.size() >= n; })) {
    return Status::ok();
  }
  return Status::timeout("pool " + state_->ns + "/" + state_->name + " has " + std::to_string(state_->members.size()) +
                         " members, not " + std::to_string(n));
}

Status RemotePool::wait_for_size_at_most(std::size_t n, Duration timeout) const {
  MutexLock lock(state_->mu);
  if (state_->changed.wait_for(lock, timeout, [&]() KEEL_REQUIRES(state_->mu) { return state_->members.size() <= n; })) {
    return Status::ok();
  }
  return Status::timeout("pool " + state_->ns + "/" + state_->name + " has " + std::to_string(state_->members.size()) +
                         " members, more than " + std::to_string(n));
}

Result<RemoteEndpoint> RemotePool::next_member() {
  MutexLock lock(state_->mu);
  if (state_->members.empty()) return Status::unavailable("pool " + state_->ns + "/" + state_->name + " is empty");
  return state_->members[state_->next++ % state_->members.size()];
}

}  // namespace keel
