// keel/base/retry_policy.h: keel::RetryPolicy, how an operation that failed
// is tried again. One type for every layer that retries: a workflow step
// (StepOptions::retry, keel/workflow/context.h) and an idempotent remote
// call (ClientOptions::retry, keel/client/client.h). Each layer chooses its
// own defaults and says which codes it retries.
//
//   keel::RetryPolicy retry;
//   retry.max_attempts = 5;                                 // 1 try + 4 retries
//   retry.initial_backoff = std::chrono::milliseconds(50);  // 50, 100, 200, 400 ms
//   retry.retry_on = {keel::StatusCode::kUnavailable};      // only this code
//   if (retry.should_retry(error, attempt)) wait(retry.backoff(attempt));
#pragma once

#include <chrono>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"

namespace keel {

// An operation runs at most max_attempts times; before attempt n+1 it waits
// initial_backoff * multiplier^(n-1), capped at max_backoff. retry_on lists
// the codes worth retrying; empty means every code except kCancelled,
// kNonDeterministic, kInvalidArgument and kOwnershipLost. A value type: copy it freely.
struct RetryPolicy {
  int max_attempts = 1;
  Duration initial_backoff = std::chrono::milliseconds(100);
  double multiplier = 2.0;
  Duration max_backoff = std::chrono::seconds(30);
  std::vector<StatusCode> retry_on;

  // Whether an attempt that failed with `error` as attempt number `attempt`
  // (from 1) is followed by another. False for an OK status.
  bool should_retry(const Status& error, int attempt) const;
  // The wait before attempt `attempt` + 1.
  Duration backoff(int attempt) const;
};

}  // namespace keel
