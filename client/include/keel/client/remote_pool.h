// keel/client/remote_pool.h: keel::RemotePool, the actors registered under
// one name in the registries of a client's agents, followed as they
// register and go away (or a fixed list of actor keys). Calls go
// round-robin; a broadcast reaches every member.
//
//   auto pool = keel::RemotePool::follow(*client, "jobs", "workers");  // or fixed(...)
//   KEEL_RETURN_IF_ERROR(pool->wait_for_size(2, std::chrono::seconds(5)));
//   keel::Result<int> one = pool->call<&Counter::add>(1).get();     // next member
//   std::vector<keel::Future<int>> all = pool->broadcast<&Counter::get>();
//   for (auto& f : all) std::printf("%d\n", f.get().value());
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/client/client.h"

namespace keel {

// One member of a pool: an actor key and the client that reaches it.
struct RemoteEndpoint {
  Client* client = nullptr;
  std::string key;
};

// Owned by its user; the clients it uses must outlive it. Thread-safe.
class RemotePool {
 public:
  // Starts following `ns`/`name` on every agent of `client`, with one
  // registry watch in flight per agent: the members arrive shortly after
  // (wait_for_size), merged as merge_members does (agent by agent, each key
  // once). An agent that stays unreachable past the client's retries
  // leaves the pool until it answers again; a name the registry refuses
  // (kInvalidArgument) leaves the pool empty.
  static std::unique_ptr<RemotePool> follow(Client& client, std::string ns, std::string name);
  // A pool over a fixed list of actor keys, which never changes, called
  // through `client` (each key on its agent, Client::agent_for).
  static std::unique_ptr<RemotePool> fixed(Client& client, const std::vector<std::string>& keys);
  // A pool over a fixed list of endpoints, which may be reached through
  // different clients.
  static std::unique_ptr<RemotePool> fixed(std::vector<RemoteEndpoint> endpoints);
  ~RemotePool();
  RemotePool(const RemotePool&) = delete;
  RemotePool& operator=(const RemotePool&) = delete;

  std::size_t size() const;
  // The members' keys, in registration order (agent by agent).
  std::vector<std::string> endpoints() const;
  // The members with their clients, in the same order.
  std::vector<RemoteEndpoint> members() const;
  // Returns once the pool has at least `n` members (ok) or, past `timeout`
  // of real time, kTimeout with the size it had.
  Status wait_for_size(std::size_t n, Duration timeout) const;
  // The same, until it has at most `n` members.
  Status wait_for_size_at_most(std::size_t n, Duration timeout) const;

  // The next member, round-robin. Errors: kUnavailable (no member).
  Result<RemoteEndpoint> next_member();

  // Client::call_with on the next member; an empty pool completes the
  // future with kUnavailable.
  template <auto M, class... A>
  auto call(A&&... args) {
    return call_with<M>(CallOptions{}, std::forward<A>(args)...);
  }
  template <auto M, class... A>
  auto call_with(const CallOptions& options, A&&... args) {
    using F = decltype(std::declval<Client&>().call_with<M>(options, std::string(), std::forward<A>(args)...));
    Result<RemoteEndpoint> m = next_member();
    if (!m) return F::ready(m.status());
    return m->client->call_with<M>(options, m->key, std::forward<A>(args)...);
  }
  // Calls every member (as they are now) and returns one future each, in
  // endpoints() order; none for an empty pool.
  template <auto M, class... A>
  auto broadcast(const A&... args) {
    return broadcast_with<M>(CallOptions{}, args...);
  }
  template <auto M, class... A>
  auto broadcast_with(const CallOptions& options, const A&... args) {
    std::vector<decltype(std::declval<Client&>().call_with<M>(options, std::string(), args...))> out;
    for (const RemoteEndpoint& m : members()) out.push_back(m.client->call_with<M>(options, m.key, args...));
    return out;
  }

  struct State;

 private:
  explicit RemotePool(std::unique_ptr<State> state);
  // Shared with the registry watch in flight, which may complete after the
  // pool is gone (then it stops).
  std::shared_ptr<State> state_;
};

}  // namespace keel
