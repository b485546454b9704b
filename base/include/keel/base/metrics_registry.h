// keel/base/metrics_registry.h: keel::MetricsRegistry, a set of named
// metric families (counters, gauges, histograms), each with labelled
// series, rendered in the Prometheus text exposition format, version 0.0.4
// (docs/metrics.md).
//
//   keel::MetricsRegistry registry;
//   keel::Counter& calls = registry.counter("app_calls_total", "Calls handled.", {{"kind", "call"}});
//   keel::Histogram& latency =
//       registry.histogram("app_call_seconds", "Call latency.", keel::latency_buckets_seconds());
//   calls.add();
//   latency.observe(0.002);
//   std::string text = registry.render();  // serve as "text/plain; version=0.0.4"
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keel/base/counter.h"
#include "keel/base/gauge.h"
#include "keel/base/histogram.h"
#include "keel/base/thread_annotations.h"

namespace keel {

// A series' labels, in the order they are rendered.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType : std::uint8_t { kCounter, kGauge, kHistogram };

// The Content-Type of render()'s text.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4";

// Owns its metrics; the references it returns stay valid for its life.
// Thread-safe: registration, render() and the metrics themselves may be
// used from any threads at once.
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names
// [a-zA-Z_][a-zA-Z0-9_]* without a leading "__"; a histogram's series may
// not have a label "le". Breaking these, or registering a name again with
// another type (or a histogram with other bounds), is a bug (checked).
class MetricsRegistry {
 public:
  MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  ~MetricsRegistry();

  // The series of family `name` with `labels`, created (at zero) on first
  // use. The family's help text is the one given first.
  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {})
      KEEL_EXCLUDES(mu_);
  Gauge& gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {})
      KEEL_EXCLUDES(mu_);
  Histogram& histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                       const MetricLabels& labels = {}) KEEL_EXCLUDES(mu_);

  // Every family in registration order, each with "# HELP" and "# TYPE"
  // lines and then its series in registration order. A histogram series is
  // rendered as NAME_bucket{...,le="B"} (cumulative, ending with
  // le="+Inf"), NAME_sum and NAME_count.
  std::string render() const KEEL_EXCLUDES(mu_);

 private:
  struct Series;
  struct Family;
  Family& family(std::string_view name, std::string_view help, MetricType type,
                 const std::vector<double>* bounds) KEEL_REQUIRES(mu_);
  Series& series(Family& f, const MetricLabels& labels) KEEL_REQUIRES(mu_);

  mutable Mutex mu_;
  std::vector<std::unique_ptr<Family>> families_ KEEL_GUARDED_BY(mu_);
};

}  // namespace keel
