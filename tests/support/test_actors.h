// Shared test helpers for engine tests.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>
#include <ostream>

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

// A SystemConfig with `threads` workers (0: deterministic mode, stepped by
// run_one / run_until_idle) and, when given, `clock` (which must outlive the
// System). Avoids designated initializers, which warn about the members
// they leave out.
inline SystemConfig system_config(int threads, Clock* clock = nullptr) {
  SystemConfig c;
  c.threads = threads;
  c.clock = clock;
  return c;
}

// Lines appended from any engine thread (hooks, loggers), read by the test.
class SharedLog {
 public:
  void add(std::string line) {
    std::lock_guard<std::mutex> l(mu_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> l(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace keel::testing

namespace keel {
// GoogleTest prints status codes by name ("corruption") instead of a number.
inline void PrintTo(StatusCode code, std::ostream* os) { *os << status_code_name(code); }
}  // namespace keel
