#include "keel/base/histogram.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace keel {
namespace {

TEST(Histogram, CountsEachValueInTheFirstBucketWhoseBoundIsAtLeastIt) {
  Histogram h({1.0, 2.0, 5.0});
  h.observe(0.5);
  h.observe(1.0);  // on a bound: that bucket
  h.observe(1.5);
  h.observe(5.0);
  h.observe(7.0);  // above the last bound
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.bounds, (std::vector<double>{1.0, 2.0, 5.0}));
  EXPECT_EQ(s.counts, (std::vector<std::uint64_t>{2, 1, 1, 1}));
  EXPECT_EQ(s.count(), 5u);
  EXPECT_DOUBLE_EQ(s.sum, 15.0);
}

TEST(Histogram, NanIsNotCounted) {
  Histogram h({1.0});
  h.observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(h.snapshot().count(), 0u);
  EXPECT_EQ(h.snapshot().sum, 0.0);
}

TEST(Histogram, AddsASnapshotWithTheSameBounds) {
  Histogram h({1.0, 2.0});
  h.observe(1.5);
  HistogramSnapshot other{{1.0, 2.0}, {3, 0, 1}, 4.5};
  ASSERT_TRUE(h.add(other).is_ok());
  EXPECT_EQ(h.snapshot().counts, (std::vector<std::uint64_t>{3, 1, 1}));
  EXPECT_DOUBLE_EQ(h.snapshot().sum, 6.0);
}

TEST(Histogram, RefusesASnapshotWithOtherBoundsAndAddsNothing) {
  Histogram h({1.0, 2.0});
  EXPECT_EQ(h.add(HistogramSnapshot{{1.0, 3.0}, {1, 1, 1}, 3.0}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.add(HistogramSnapshot{{1.0, 2.0}, {1, 1}, 3.0}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.snapshot().count(), 0u);
}

TEST(HistogramSnapshot, AddSumsBucketsAndSums) {
  HistogramSnapshot a{{0.5}, {1, 2}, 3.0};
  ASSERT_TRUE(a.add(HistogramSnapshot{{0.5}, {4, 5}, 6.0}).is_ok());
  EXPECT_EQ(a, (HistogramSnapshot{{0.5}, {5, 7}, 9.0}));
}

TEST(HistogramSnapshot, MalformedOnesAreRecognised) {
  EXPECT_TRUE((HistogramSnapshot{{1.0, 2.0}, {0, 0, 0}, 0}).is_well_formed());
  EXPECT_FALSE((HistogramSnapshot{{2.0, 1.0}, {0, 0, 0}, 0}).is_well_formed());
  EXPECT_FALSE((HistogramSnapshot{{1.0, INFINITY}, {0, 0, 0}, 0}).is_well_formed());
  EXPECT_FALSE((HistogramSnapshot{{1.0}, {0}, 0}).is_well_formed());
}

TEST(Histogram, LatencyBucketsGoFrom50MicrosecondsToOneSecond) {
  const std::vector<double> b = latency_buckets_seconds();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 50e-6);
  EXPECT_DOUBLE_EQ(b.back(), 1.0);
  EXPECT_TRUE((HistogramSnapshot{b, std::vector<std::uint64_t>(b.size() + 1), 0}).is_well_formed());
}

}  // namespace
}  // namespace keel
