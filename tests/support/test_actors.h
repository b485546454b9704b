// Shared test helpers for engine tests.
#pragma once

#include <chrono>

#include "keel/engine/engine.h"

namespace keel::testing {

// Generous real-time deadline for waits in tests: a test that needs it has failed.
inline constexpr auto kWait = std::chrono::seconds(20);

// Waits for `f` (real time, kWait) and returns its result; a timeout fails
// the test with kTimeout.
template <class T>
auto await(Future<T> f) {
  using R = typename Future<T>::GetType;
  if (!f.wait_for(kWait)) return R(Status::timeout("test wait expired"));
  return f.get();
}

}  // namespace keel::testing
