// keel/client/remote_pool.h: keel::RemotePool, the actors registered under
// one name of the agent's registry, followed as they register and go away
// (or a fixed list of actor keys). Calls go round-robin; a broadcast
// reaches every member.
//
//   auto pool = keel::RemotePool::follow(*client, "jobs", "workers");
//   KEEL_RETURN_IF_ERROR(pool->wait_for_size(2, std::chrono::seconds(5)));
//   keel::Result<int> one = pool->call<&Counter::add>(1).get();     // next member
//   std::vector<keel::Future<int>> all = pool->broadcast<&Counter::get>();
//   for (auto& f : all) std::printf("%d\n", f.get().value());
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/client/client.h"

namespace keel {

// Owned by its user; `client` must outlive it. Thread-safe.
class RemotePool {
 public:
  // Starts following `ns`/`name` on `client`'s agent: the members arrive
  // shortly after (wait_for_size).
  static std::unique_ptr<RemotePool> follow(Client& client, std::string ns, std::string name);
  // A pool over a fixed list of actor keys, which never changes.
  static std::unique_ptr<RemotePool> fixed(Client& client, std::vector<std::string> keys);
  ~RemotePool();
  RemotePool(const RemotePool&) = delete;
  RemotePool& operator=(const RemotePool&) = delete;

  std::size_t size() const;
  // The members' keys, in registration order.
  std::vector<std::string> endpoints() const;
  // Returns once the pool has at least `n` members (ok) or, past `timeout`
  // of real time, kTimeout with the size it had.
  Status wait_for_size(std::size_t n, Duration timeout) const;
  // The same, until it has at most `n` members.
  Status wait_for_size_at_most(std::size_t n, Duration timeout) const;

  // The next member, round-robin. Errors: kUnavailable (no member).
  Result<std::string> next_endpoint();

  // Client::call_with on the next member; an empty pool completes the
  // future with kUnavailable.
  template <auto M, class... A>
  auto call(A&&... args) {
    return call_with<M>(CallOptions{}, std::forward<A>(args)...);
  }
  template <auto M, class... A>
  auto call_with(const CallOptions& options, A&&... args) {
    using F = decltype(client_.call_with<M>(options, std::string(), std::forward<A>(args)...));
    Result<std::string> key = next_endpoint();
    if (!key) return F::ready(key.status());
    return client_.call_with<M>(options, *key, std::forward<A>(args)...);
  }
  // Calls every member (as they are now) and returns one future each, in
  // endpoints() order; none for an empty pool.
  template <auto M, class... A>
  auto broadcast(const A&... args) {
    return broadcast_with<M>(CallOptions{}, args...);
  }
  template <auto M, class... A>
  auto broadcast_with(const CallOptions& options, const A&... args) {
    std::vector<decltype(client_.call_with<M>(options, std::string(), args...))> out;
    for (const std::string& key : endpoints()) out.push_back(client_.call_with<M>(options, key, args...));
    return out;
  }

  struct State;

 private:
  RemotePool(Client& client, std::unique_ptr<State> state);
  Client& client_;
  // Shared with the registry watch in flight, which may complete after the
  // pool is gone (then it stops).
  std::shared_ptr<State> state_;
};

}  // namespace keel
