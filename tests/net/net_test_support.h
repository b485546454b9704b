// net_test_support.h: waiting for transport events in tests without sleeps
// (a counter and a log that a test waits on with a generous deadline),
// frames numbered to check their order, and whether this machine has an
// RDMA device.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "rdma_transport.h"

namespace keel::wire::testing {

inline constexpr std::chrono::seconds kDeadline{30};

// A set of named counters and log lines; every change wakes waiters.
class Events {
 public:
  void add(const std::string& name, long n = 1) {
    std::lock_guard<std::mutex> l(mu_);
    counts_[name] += n;
    cv_.notify_all();
  }
  void log(std::string_view line) {
    std::lock_guard<std::mutex> l(mu_);
    lines_.emplace_back(line);
    cv_.notify_all();
  }
  long count(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    return counts_[name];
  }
  // Waits until counter `name` reaches `n`; false at the deadline.
  bool wait_count(const std::string& name, long n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kDeadline, [&] { return counts_[name] >= n; });
  }
  // Waits until a log line contains every one of `parts`; false at the deadline.
  bool wait_log(const std::vector<std::string>& parts) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kDeadline, [&] {
      for (const std::string& line : lines_) {
        bool all = true;
        for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
        if (all) return true;
      }
      return false;
    });
  }
  std::string lines() {
    std::lock_guard<std::mutex> l(mu_);
    std::string out;
    for (const std::string& s : lines_) out += s + "\n";
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, long> counts_;
  std::vector<std::string> lines_;
};

// A body of `bytes` (at least 8) whose first 8 bytes are `seq`.
inline std::string numbered_body(std::uint64_t seq, std::size_t bytes) {
  std::string b(std::max<std::size_t>(bytes, sizeof seq), 'c');
  std::memcpy(b.data(), &seq, sizeof seq);
  return b;
}

// Checks that bodies made by numbered_body arrive as 0, 1, 2...
struct OrderCheck {
  std::uint64_t expected = 0;
  bool in_order = true;
  void see(std::string_view body) {
    std::uint64_t seq = ~std::uint64_t{0};
    if (body.size() >= sizeof seq) std::memcpy(&seq, body.data(), sizeof seq);
    in_order = in_order && seq == expected;
    ++expected;
  }
};

// Why this machine cannot run the RDMA device tests, or "" when it can.
inline std::string no_rdma_device_reason() {
  auto devices = rdma_devices();
  if (!devices.has_value()) return "no RDMA support: " + devices.status().to_string();
  if (devices->empty()) return "no RDMA device (ibv_get_device_list is empty)";
  return "";
}

}  // namespace keel::wire::testing
