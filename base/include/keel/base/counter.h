// keel/base/counter.h: keel::Counter, a count that only goes up, for
// metrics (keel/base/metrics_registry.h renders it).
//
//   keel::Counter requests;
//   requests.add();        // on any thread
//   requests.add(3);
//   std::uint64_t n = requests.value();  // 4
#pragma once

#include <atomic>
#include <cstdint>

namespace keel {

// Thread-safe: add() and value() may be called from any thread at once.
// One shared atomic: for a count bumped by many threads per message, keep
// a cell per thread (or per actor) and sum them on read instead.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  // relaxed: a statistic; no other memory is published through it.
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace keel
