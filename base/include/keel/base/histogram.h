// keel/base/histogram.h: keel::Histogram, a distribution of observed values
// over fixed buckets (Prometheus' histogram), and HistogramSnapshot, its
// contents as a value that can be copied, sent and added up.
//
//   keel::Histogram latency(keel::latency_buckets_seconds());
//   latency.observe(0.0003);                 // on any thread
//   keel::HistogramSnapshot s = latency.snapshot();
//   // s.counts[i]: observations v with bounds[i-1] < v <= bounds[i];
//   // s.counts.back(): those above the last bound. s.count() == 1 here.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "keel/base/status.h"

namespace keel {

// A histogram's contents. `counts` has one entry per bucket: bounds.size()
// finite buckets, then the one above the last bound. Counts are per bucket,
// not cumulative.
struct HistogramSnapshot {
  std::vector<double> bounds;         // upper bounds, strictly ascending, finite
  std::vector<std::uint64_t> counts;  // bounds.size() + 1 entries
  double sum = 0;                     // of every observed value

  // Observations in all buckets.
  std::uint64_t count() const;
  // Adds `other` into this one. Errors: kInvalidArgument when the bounds
  // differ or `other` is malformed (counts not bounds.size() + 1 long);
  // this one is then unchanged.
  Status add(const HistogramSnapshot& other);
  // Whether the bounds are strictly ascending and finite and counts has one
  // more entry than bounds (what a snapshot read from the network must be).
  bool is_well_formed() const;

  friend bool operator==(const HistogramSnapshot&, const HistogramSnapshot&) = default;
};

// Bounds for latencies in seconds: 50 us, 100 us, 250 us, 500 us, 1 ms, ...
// up to 1 s (15 buckets).
std::vector<double> latency_buckets_seconds();

// Thread-safe: observe() and snapshot() may run on any threads at once.
// A snapshot taken during observations may have a sum that does not yet
// include an observation its counts include (or the reverse); the counts
// are each exact.
class Histogram {
 public:
  // Precondition (checked): `bounds` is strictly ascending and finite.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `v` in the first bucket whose bound is >= v (the last bucket if
  // none is). A NaN is not counted.
  void observe(double v);
  // Adds a snapshot's observations (another process's, say). Errors:
  // kInvalidArgument when its bounds differ from this histogram's or it is
  // malformed; nothing is added then.
  Status add(const HistogramSnapshot& s);
  HistogramSnapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  // relaxed: statistics; each is exact on its own (see the class comment).
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

}  // namespace keel
