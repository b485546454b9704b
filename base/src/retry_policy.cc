#include "keel/base/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace keel {

bool RetryPolicy::should_retry(const Status& error, int attempt) const {
  if (attempt >= max_attempts || error.is_ok()) return false;
  if (retry_on.empty()) {
    return error.code() != StatusCode::kCancelled && error.code() != StatusCode::kNonDeterministic &&
           error.code() != StatusCode::kInvalidArgument && error.code() != StatusCode::kOwnershipLost;
  }
  return std::find(retry_on.begin(), retry_on.end(), error.code()) != retry_on.end();
}

Duration RetryPolicy::backoff(int attempt) const {
  double ns = static_cast<double>(initial_backoff.count()) * std::pow(multiplier, std::max(attempt - 1, 0));
  double cap = static_cast<double>(max_backoff.count());
  return Duration(static_cast<Duration::rep>(std::min(ns, cap)));
}

}  // namespace keel
