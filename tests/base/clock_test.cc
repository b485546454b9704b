#include "keel/base/clock.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock clock;
  const TimePoint t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(std::chrono::seconds(3));
  EXPECT_EQ(clock.now() - t0, std::chrono::seconds(3));
  clock.advance_to(t0 + std::chrono::seconds(1));  // earlier: no change
  EXPECT_EQ(clock.now() - t0, std::chrono::seconds(3));
}

TEST(ManualClock, ListenersRunAfterEachAdvanceUntilRemoved) {
  ManualClock clock;
  int calls = 0;
  const auto h = clock.add_listener([&] { ++calls; });
  clock.advance(std::chrono::milliseconds(1));
  clock.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(calls, 2);
  clock.remove_listener(h);
  clock.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(calls, 2);
}

TEST(ManualClock, WallTimeAdvancesWithMonotonicTime) {
  ManualClock clock;
  const WallTime w0 = clock.wall_now();
  clock.advance(std::chrono::minutes(2));
  EXPECT_EQ(clock.wall_now() - w0, std::chrono::minutes(2));
}

}  // namespace
}  // namespace keel
