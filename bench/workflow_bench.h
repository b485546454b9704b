// workflow_bench.h: keel_workflow_bench's options and the figures of one
// repetition, shared by its driver (workflow_bench.cc) and its report
// (workflow_report.cc).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_support.h"

namespace workflow_bench {

using keel_bench::Sample;

// Workload sizes: kFullSizes, or kQuickSizes with --quick.
struct Sizes {
  int raw_commits;  // 1-row raw commits
  int one_step_runs;
  std::int64_t chain_steps;
  double duration_s;  // of the 32-client rows
  int counter_asks;
  std::int64_t crash_steps;
  std::int64_t crash_kill_at;
  int raw_group_rows;  // rows committed by the raw baseline at a group size
  int reps;
};
constexpr Sizes kFullSizes{.raw_commits = 1000, .one_step_runs = 1000, .chain_steps = 200, .duration_s = 3,
                           .counter_asks = 1000, .crash_steps = 2000, .crash_kill_at = 1000,
                           .raw_group_rows = 40'000, .reps = 3};
constexpr Sizes kQuickSizes{.raw_commits = 100, .one_step_runs = 50, .chain_steps = 50, .duration_s = 0.5,
                            .counter_asks = 50, .crash_steps = 200, .crash_kill_at = 100,
                            .raw_group_rows = 2000, .reps = 1};

struct Config {
  bool quick = false;
  bool json = false;
  Sizes sizes = kFullSizes;
  int reps = 0;  // 0: sizes.reps
  std::vector<std::string> backends = {"sqlite", "rocksdb"};
  std::string pg_url;  // --pg-url or KEEL_PG_URL: the server of --backend postgres
  std::string dir;
  std::string fs;
  std::string json_file;
  std::string only;
  int clients = 32;
  std::int64_t client_steps = 10;
  int counters = 32;
};

// One repetition of one backend: every workload's sample, next to its raw limit.
struct Rep {
  Sample raw1, one, chain, clients, raw_clients, counter, counters, raw_counters, scan, crash, startup, raw_open;
};

// Prints the table (json false) or the JSON of `all` (one vector of
// repetitions per backend of cfg.backends) to `out`; each row shows the
// repetition with the median Keel figure.
void print_report(const Config& cfg, const std::vector<std::vector<Rep>>& all, FILE* out, bool json);

}  // namespace workflow_bench
