// bench_support.h: what every benchmark workload shares: sizes, one
// measured sample, running a workload in a forked child (so its peak RSS is
// its own), medians, and the printed table.
//
// Nothing here includes Keel or CAF headers, so the optional CAF reference
// (caf_reference.cc) and the Keel workloads see the same plain types.
//
//   keel_bench::Sample s = keel_bench::run_isolated([&] { return ping_pong(sizes); });
//   if (s.ok) std::printf("%.0f round trips/s\n", s.rate());
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace keel_bench {

// Workload sizes; quick() is the scaled-down smoke-test set.
struct Sizes {
  std::int64_t ping_pong_round_trips = 1'000'000;
  std::int64_t fan_in_messages = 10'000'000;  // split evenly over fan_in_senders
  int fan_in_senders = 4;
  int fan_in_chunk = 1000;  // messages per sender turn (actor senders)
  std::size_t fan_in_capacity = 65536;  // bounded variant, policy kBlock
  std::int64_t spawn_actors = 100'000;
  std::int64_t asks = 200'000;
  std::int64_t external_asks = 200'000;
  int startup_repetitions = 15;
  // Raw baselines.
  std::int64_t handoff_round_trips = 100'000;
  std::int64_t dispatch_messages = 20'000'000;
  std::int64_t malloc_blocks = 10'000'000;
  static Sizes quick();
};

// One measurement, passed from a forked child through a pipe: plain data.
struct Sample {
  bool ok = false;
  double seconds = 0;     // wall time of the measured part
  double ops = 0;         // operations in that time (messages, round trips, ...)
  double start_rss = 0;   // bytes resident when the workload began
  double peak_rss = 0;    // VmHWM of the process running the workload, bytes
  double extra = 0;       // workload-specific (e.g. teardown seconds)
  double more[8] = {};   // further workload-specific figures (keel_durable_bench)
  char error[240] = {};

  double rate() const { return seconds > 0 ? ops / seconds : 0; }
  double ns_per_op() const { return ops > 0 ? seconds * 1e9 / ops : 0; }
  static Sample failure(const std::string& why);
};

// Resident set of this process, from /proc/self/status ("VmRSS" / "VmHWM"),
// in bytes; 0 when unreadable.
double rss_bytes();
double peak_rss_bytes();
// Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs);
// returns whether the kernel accepted it.
bool reset_peak_rss();

// Runs `fn` in a forked child and returns its Sample. The child starts from a
// copy of this (single-threaded) process with its peak RSS reset, so the
// sample's peak_rss is the workload's own. A child that crashes, or runs
// longer than `timeout_s`, yields a failed Sample. Precondition: this
// process has no other threads (fork copies only the caller).
Sample run_isolated(const std::function<Sample()>& fn, int timeout_s = 600);

// Median of the successful samples by rate (the sample itself, so its
// seconds and RSS travel with it); a failed Sample when none succeeded.
Sample median_by_rate(const std::vector<Sample>& samples);
double median(std::vector<double> v);

// Formatting helpers: "1.23M", "813 ns", "6.1 MiB", "0.571 s".
std::string si(double v);
std::string nanos(double ns);
std::string mib(double bytes);

// A text table with aligned columns (first row is the header).
void print_table(const std::vector<std::vector<std::string>>& rows);

std::string json_escape(const std::string& s);

// The PostgreSQL server of a benchmark that takes --pg-url: $KEEL_PG_URL,
// else the first line of the file $KEEL_PG_URL_FILE names (the CTest
// fixture keel_pg's), else empty.
std::string pg_url_from_env();

// Where a benchmark puts its scratch directory unless --dir names one:
// $TMPDIR, else /tmp.
inline std::string default_scratch_base() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

// Creates a fresh directory "<base>/<prefix>-XXXXXX" (mkdtemp) and returns
// its path; empty when it cannot be created.
inline std::string make_scratch_dir(const std::string& base, const std::string& prefix) {
  std::string tmpl = base + "/" + prefix + "-XXXXXX";
  return ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
}

// The flags of a benchmark that takes only --quick and --json. Anything else
// prints the usage line to stderr and returns false.
struct QuickJson {
  bool quick = false;
  bool json = false;
};
inline bool parse_quick_json(int argc, char** argv, QuickJson* out) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      out->quick = true;
    } else if (arg == "--json") {
      out->json = true;
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--json]\n", argv[0]);
      return false;
    }
  }
  return true;
}

}  // namespace keel_bench
