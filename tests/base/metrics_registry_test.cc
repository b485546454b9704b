#include "keel/base/metrics_registry.h"

#include <cmath>

#include "gtest/gtest.h"

namespace keel {
namespace {

TEST(MetricsRegistry, EmptyRegistryRendersNothing) {
  MetricsRegistry r;
  EXPECT_EQ(r.render(), "");
}

TEST(MetricsRegistry, RendersCountersWithHelpTypeAndLabelsInRegistrationOrder) {
  MetricsRegistry r;
  r.counter("app_calls_total", "Calls handled.", {{"kind", "call"}}).add(3);
  r.counter("app_calls_total", "ignored: the first help stays", {{"kind", "spawn"}}).add();
  r.counter("app_starts_total", "Starts.").add(18446744073709551615ull);
  EXPECT_EQ(r.render(),
            "# HELP app_calls_total Calls handled.\n"
            "# TYPE app_calls_total counter\n"
            "app_calls_total{kind=\"call\"} 3\n"
            "app_calls_total{kind=\"spawn\"} 1\n"
            "# HELP app_starts_total Starts.\n"
            "# TYPE app_starts_total counter\n"
            "app_starts_total 18446744073709551615\n");
}

TEST(MetricsRegistry, SameNameAndLabelsIsTheSameSeries) {
  MetricsRegistry r;
  Counter& a = r.counter("c_total", "C.", {{"w", "0"}});
  Counter& b = r.counter("c_total", "C.", {{"w", "0"}});
  EXPECT_EQ(&a, &b);
}

TEST(MetricsRegistry, RendersGaugesAsShortestRoundTripNumbers) {
  MetricsRegistry r;
  r.gauge("g", "G.", {{"v", "int"}}).set(12);
  r.gauge("g", "G.", {{"v", "neg"}}).set(-0.5);
  r.gauge("g", "G.", {{"v", "small"}}).set(5e-05);
  r.gauge("g", "G.", {{"v", "inf"}}).set(INFINITY);
  EXPECT_EQ(r.render(),
            "# HELP g G.\n"
            "# TYPE g gauge\n"
            "g{v=\"int\"} 12\n"
            "g{v=\"neg\"} -0.5\n"
            "g{v=\"small\"} 5e-05\n"
            "g{v=\"inf\"} +Inf\n");
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.counter("e_total", "A \\ and a\nnewline; \"quotes\" stay.", {{"path", "C:\\dir\n\"x\""}}).add();
  EXPECT_EQ(r.render(),
            "# HELP e_total A \\\\ and a\\nnewline; \"quotes\" stay.\n"
            "# TYPE e_total counter\n"
            "e_total{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsRegistry, RendersHistogramsWithCumulativeBucketsSumAndCount) {
  MetricsRegistry r;
  Histogram& h = r.histogram("op_seconds", "Op time.", {0.00025, 0.5, 1}, {{"worker", "0"}});
  h.observe(0);
  h.observe(0.25);
  h.observe(0.5);
  h.observe(2);
  EXPECT_EQ(r.render(),
            "# HELP op_seconds Op time.\n"
            "# TYPE op_seconds histogram\n"
            "op_seconds_bucket{worker=\"0\",le=\"0.00025\"} 1\n"
            "op_seconds_bucket{worker=\"0\",le=\"0.5\"} 3\n"
            "op_seconds_bucket{worker=\"0\",le=\"1\"} 3\n"
            "op_seconds_bucket{worker=\"0\",le=\"+Inf\"} 4\n"
            "op_seconds_sum{worker=\"0\"} 2.75\n"
            "op_seconds_count{worker=\"0\"} 4\n");
}

TEST(MetricsRegistry, RendersAHistogramWithoutLabels) {
  MetricsRegistry r;
  r.histogram("h", "H.", {1});
  EXPECT_EQ(r.render(),
            "# HELP h H.\n"
            "# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\n"
            "h_bucket{le=\"+Inf\"} 0\n"
            "h_sum 0\n"
            "h_count 0\n");
}

TEST(MetricsRegistryDeathTest, ABadNameIsABug) {
  MetricsRegistry r;
  EXPECT_DEATH(r.counter("9lives", "Bad."), "bad metric name");
  EXPECT_DEATH(r.counter("ok_total", "Ok.", {{"__reserved", "x"}}), "bad metric label name");
  EXPECT_DEATH(r.histogram("h", "H.", {1}, {{"le", "x"}}), "'le'");
}

TEST(MetricsRegistryDeathTest, ANameAgainWithAnotherTypeIsABug) {
  MetricsRegistry r;
  r.counter("x", "X.");
  EXPECT_DEATH(r.gauge("x", "X."), "another type");
}

}  // namespace
}  // namespace keel
