// keel::RemotePool: a registry watch kept in flight follows the members.
#include "keel/client/remote_pool.h"

#include <chrono>

#include "keel/base/thread_annotations.h"

namespace keel {

struct RemotePool::State {
  std::string ns;
  std::string name;
  Mutex mu;
  CondVar changed;
  std::uint64_t version KEEL_GUARDED_BY(mu) = 0;
  std::vector<RemoteEndpoint> members KEEL_GUARDED_BY(mu);
  std::size_t next KEEL_GUARDED_BY(mu) = 0;
  bool closed KEEL_GUARDED_BY(mu) = false;
};

namespace {

// How long one registry watch may wait before it is renewed.
constexpr auto kWatchRenewal = std::chrono::seconds(30);

// Keeps one watch in flight until the pool closes or the client is
// destroyed (kCancelled). A failed watch (the agent unreachable past the
// client's retries) is renewed too.
void watch_next(Client& client, std::shared_ptr<RemotePool::State> st) {
  std::uint64_t version = 0;
  {
    MutexLock lock(st->mu);
    if (st->closed) return;
    version = st->version;
  }
  client.watch(st->ns, st->name, version, kWatchRenewal)
      .then([&client, st](Result<RegistryMembers> r) {
        if (!r && r.status().code() == StatusCode::kCancelled) return;
        if (r) {
          MutexLock lock(st->mu);
          st->version = r->version;
          st->members.clear();
          for (std::string& k : r->keys) st->members.push_back(RemoteEndpoint{&client, std::move(k)});
          st->changed.notify_all();
        }
        watch_next(client, st);
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
  std::unique_ptr<RemotePool> pool(new RemotePool(std::move(st)));
  watch_next(client, pool->state_);
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
