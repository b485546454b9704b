// net_test_support.h: waiting for transport events in tests without sleeps:
// a counter and a log that a test waits on with a generous deadline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace keel::wire::testing {

inline constexpr std::chrono::seconds kDeadline{30};

// A set of named counters and log lines; every change wakes waiters.
class Events {
 public:
  void add(const std::string& name, long n = 1) {
    std::lock_guard<std::mutex> l(mu_);
    counts_[name] += n;
    cv_.notify_all();
  }
  void log(std::string_view line) {
    std::lock_guard<std::mutex> l(mu_);
    lines_.emplace_back(line);
    cv_.notify_all();
  }
  long count(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    return counts_[name];
  }
  // Waits until counter `name` reaches `n`; false at the deadline.
  bool wait_count(const std::string& name, long n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kDeadline, [&] { return counts_[name] >= n; });
  }
  // Waits until a log line contains every one of `parts`; false at the deadline.
  bool wait_log(const std::vector<std::string>& parts) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kDeadline, [&] {
      for (const std::string& line : lines_) {
        bool all = true;
        for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
        if (all) return true;
      }
      return false;
    });
  }
  std::string lines() {
    std::lock_guard<std::mutex> l(mu_);
    std::string out;
    for (const std::string& s : lines_) out += s + "\n";
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, long> counts_;
  std::vector<std::string> lines_;
};

}  // namespace keel::wire::testing
