// keel/base/gauge.h: keel::Gauge, a value that goes up and down (a queue's
// depth, connections open), for metrics (keel/base/metrics_registry.h).
//
//   keel::Gauge open_connections;
//   open_connections.add(1);     // a connection opened
//   open_connections.add(-1);    // and closed
//   open_connections.set(12.5);  // or set outright
//   double v = open_connections.value();
#pragma once

#include <atomic>

namespace keel {

// Thread-safe: every member may be called from any thread at once.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  // relaxed: a statistic; no other memory is published through it.
  std::atomic<double> value_{0.0};
};

}  // namespace keel
