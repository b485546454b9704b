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
  std::vector<std::string> keys KEEL_GUARDED_BY(mu);
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
          st->keys = std::move(r->keys);
          st->changed.notify_all();
        }
        watch_next(client, st);
      });
}

}  // namespace

RemotePool::RemotePool(Client& client, std::unique_ptr<State> state) : client_(client), state_(std::move(state)) {}

RemotePool::~RemotePool() {
  MutexLock lock(state_->mu);
  state_->closed = true;
}

std::unique_ptr<RemotePool> RemotePool::follow(Client& client, std::string ns, std::string name) {
  auto st = std::make_unique<State>();
  st->ns = std::move(ns);
  st->name = std::move(name);
  std::unique_ptr<RemotePool> pool(new RemotePool(client, std::move(st)));
  watch_next(client, pool->state_);
  return pool;
}

std::unique_ptr<RemotePool> RemotePool::fixed(Client& client, std::vector<std::string> keys) {
  auto st = std::make_unique<State>();
  st->ns = "fixed";
  st->name = std::to_string(keys.size()) + " keys";
  {
    MutexLock lock(st->mu);
    st->keys = std::move(keys);
  }
  return std::unique_ptr<RemotePool>(new RemotePool(client, std::move(st)));
}

std::size_t RemotePool::size() const {
  MutexLock lock(state_->mu);
  return state_->keys.size();
}

std::vector<std::string> RemotePool::endpoints() const {
  MutexLock lock(state_->mu);
  return state_->keys;
}

Status RemotePool::wait_for_size(std::size_t n, Duration timeout) const {
  MutexLock lock(state_->mu);
  if (state_->changed.wait_for(lock, timeout, [&]() KEEL_REQUIRES(state_->mu) { return state_->keys.size() >= n; })) {
    return Status::ok();
  }
  return Status::timeout("pool " + state_->ns + "/" + state_->name + " has " + std::to_string(state_->keys.size()) +
                         " members, not " + std::to_string(n));
}

Status RemotePool::wait_for_size_at_most(std::size_t n, Duration timeout) const {
  MutexLock lock(state_->mu);
  if (state_->changed.wait_for(lock, timeout, [&]() KEEL_REQUIRES(state_->mu) { return state_->keys.size() <= n; })) {
    return Status::ok();
  }
  return Status::timeout("pool " + state_->ns + "/" + state_->name + " has " + std::to_string(state_->keys.size()) +
                         " members, more than " + std::to_string(n));
}

Result<std::string> RemotePool::next_endpoint() {
  MutexLock lock(state_->mu);
  if (state_->keys.empty()) return Status::unavailable("pool " + state_->ns + "/" + state_->name + " is empty");
  return state_->keys[state_->next++ % state_->keys.size()];
}

}  // namespace keel
