// Every installed header in one translation unit (all_headers.h is generated
// by CMake from the include/ folders), plus the uses that need two modules'
// headers at once: a worker program that runs workflows calling remote
// actors includes both keel/client/client.h and keel/workflow/context.h.
#include "all_headers.h"

#include <gtest/gtest.h>

#include <type_traits>

namespace keel {
namespace {

TEST(AllHeaders, ClientAndWorkflowShareOneRetryPolicy) {
  ClientOptions client;
  StepOptions step;
  step.retry = client.retry;  // one type: a call's policy serves a step
  EXPECT_EQ(step.retry.max_attempts, 8);
  EXPECT_EQ(step.retry.retry_on, std::vector<StatusCode>{StatusCode::kUnavailable});
  EXPECT_TRUE(step.retry.should_retry(Status::unavailable("worker restarting"), 1));
  EXPECT_FALSE(step.retry.should_retry(Status::internal("handler threw"), 1));
}

TEST(AllHeaders, ClientRetryBacksOffByDoublingUpToItsCap) {
  RetryPolicy retry = ClientOptions{}.retry;
  EXPECT_EQ(retry.backoff(1), std::chrono::milliseconds(20));
  EXPECT_EQ(retry.backoff(2), std::chrono::milliseconds(40));
  EXPECT_EQ(retry.backoff(20), std::chrono::seconds(1));
  EXPECT_FALSE(retry.should_retry(Status::unavailable("x"), 8));
}

// The engine's durable actors journal the payload types of
// keel/journal/format.h, which the inspection tool reads.
TEST(AllHeaders, DurableActorsSnapshotWithTheJournalFormatsTypes) {
  static_assert(std::is_same_v<DurableActorBase::SnapshotMeta, DurableSnapshotMeta>);
  DurableActorBase::SnapshotMeta meta;
  meta.timers.push_back(DurableTimer{1, 2, "tick", {}});
  EXPECT_EQ(meta.timers.front().method, "tick");
}

TEST(AllHeaders, StepRetryDefaultsToOneAttempt) {
  StepOptions step;
  EXPECT_FALSE(step.retry.should_retry(Status::unavailable("x"), 1));
}

}  // namespace
}  // namespace keel
