#include "keel/base/histogram.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "keel/base/check.h"

namespace keel {

namespace {
bool ascending_and_finite(const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) return false;
    if (i > 0 && !(bounds[i - 1] < bounds[i])) return false;
  }
  return true;
}
// Whether `s` may be added into a histogram of `bounds`.
Status addable(const HistogramSnapshot& s, const std::vector<double>& bounds) {
  if (!s.is_well_formed()) return Status::invalid_argument("malformed histogram snapshot");
  if (s.bounds != bounds) return Status::invalid_argument("histogram bounds differ");
  return Status::ok();
}

}  // namespace

std::uint64_t HistogramSnapshot::count() const {
  std::uint64_t n = 0;
  for (std::uint64_t c : counts) n += c;
  return n;
}

bool HistogramSnapshot::is_well_formed() const {
  return counts.size() == bounds.size() + 1 && ascending_and_finite(bounds);
}

Status HistogramSnapshot::add(const HistogramSnapshot& other) {
  KEEL_RETURN_IF_ERROR(addable(other, bounds));
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum += other.sum;
  return Status::ok();
}

std::vector<double> latency_buckets_seconds() {
  return {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
          25e-3, 50e-3,  100e-3, 250e-3, 500e-3, 1.0};
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  KEEL_CHECK(ascending_and_finite(bounds_), "histogram bounds must be strictly ascending and finite");
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[at].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Status Histogram::add(const HistogramSnapshot& s) {
  KEEL_RETURN_IF_ERROR(addable(s, bounds_));
  for (std::size_t i = 0; i < s.counts.size(); ++i) counts_[i].fetch_add(s.counts[i], std::memory_order_relaxed);
  sum_.fetch_add(s.sum, std::memory_order_relaxed);
  return Status::ok();
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (std::size_t i = 0; i < s.counts.size(); ++i) s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace keel
