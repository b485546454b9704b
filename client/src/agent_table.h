// agent_table.h: AgentTable, the agents a keel::Client knows and its
// connection to each, in the order it learned them: those given to
// connect(), then (in a cluster) the hosts the shard map named. Internal to
// Keel::client.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "keel/client/client.h"
#include "keel/net/tcp_transport.h"

namespace keel::internal {

// Entries are added, never changed or removed, so an index names one agent
// for the client's life. Thread-safe for readers on any thread: an entry is
// complete before size() counts it. add() calls must be serialized by the
// caller (the client's lock).
class AgentTable {
 public:
  // Agents one client can know: those listed, and the hosts a cluster
  // grows to.
  static constexpr std::size_t kMax = 256;

  std::size_t size() const { return size_.load(std::memory_order_acquire); }
  const AgentEndpoint& operator[](std::size_t i) const { return endpoints_[i]; }
  // Null until its connection is made.
  wire::TcpClient* conn(std::size_t i) const { return conns_[i].load(std::memory_order_acquire); }
  std::vector<AgentEndpoint> endpoints() const {
    return std::vector<AgentEndpoint>(endpoints_.begin(), endpoints_.begin() + static_cast<std::ptrdiff_t>(size()));
  }
  // The index of `e`, or size() when it is not known.
  std::size_t find(const AgentEndpoint& e) const {
    const std::size_t n = size();
    for (std::size_t i = 0; i < n; ++i) {
      if (endpoints_[i] == e) return i;
    }
    return n;
  }

  // Adds `e` and returns its index (kMax when full). Its connection comes
  // with set_conn.
  std::size_t add(AgentEndpoint e) {
    const std::size_t i = size_.load(std::memory_order_relaxed);
    if (i == kMax) return kMax;
    endpoints_[i] = std::move(e);
    size_.store(i + 1, std::memory_order_release);
    return i;
  }
  void set_conn(std::size_t i, std::unique_ptr<wire::TcpClient> c) {
    owned_[i] = std::move(c);
    conns_[i].store(owned_[i].get(), std::memory_order_release);
  }
  // Closes every connection (no callback runs after this).
  void close_all() {
    for (std::size_t i = 0; i < size(); ++i) {
      conns_[i].store(nullptr, std::memory_order_release);
      owned_[i].reset();
    }
  }

 private:
  std::array<AgentEndpoint, kMax> endpoints_;
  std::array<std::unique_ptr<wire::TcpClient>, kMax> owned_;
  std::array<std::atomic<wire::TcpClient*>, kMax> conns_{};
  std::atomic<std::size_t> size_{0};
};

}  // namespace keel::internal
