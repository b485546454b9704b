// raw_journal.h: the raw limits of the journal's backends, with no Keel code
// in the path: SQLite (WAL, synchronous=FULL) and RocksDB (WriteOptions::sync)
// committing `batch` rows of `payload_bytes` per transaction / WriteBatch.
// Shared by keel_journal_bench and keel_durable_bench, so both compare with
// the same baseline.
//
//   keel_bench::RawCommits r = keel_bench::raw_sqlite_commits("/tmp/x.db", 64, 100);
//   std::printf("%.0f rows/s, p50 %.0f us\n", r.rows_per_s(), r.p50_us());
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace keel_bench {

inline constexpr std::size_t kRawPayloadBytes = 100;

struct RawCommits {
  int batch = 0;    // rows per commit
  int commits = 0;
  double seconds = 0;
  std::vector<double> latency_us;  // one per commit

  double commits_per_s() const { return seconds > 0 ? commits / seconds : 0; }
  double rows_per_s() const { return seconds > 0 ? commits * static_cast<double>(batch) / seconds : 0; }
  double p50_us() const;
  double p99_us() const;
};

// Seconds from `t0` to now.
double seconds_since(std::chrono::steady_clock::time_point t0);
// Prints "raw <which> baseline: <why>" and exits the process with 1.
[[noreturn]] void raw_baseline_failed(const std::string& which, const std::string& why);

// Nearest-rank percentile (p in [0, 1]); 0 for an empty vector.
double percentile(std::vector<double> v, double p);

// Opens a fresh database at `path`, commits `commits` transactions of
// `batch` rows each, closes it. Exits the process on an error.
RawCommits raw_sqlite_commits(const std::string& path, int batch, int commits,
                              std::size_t payload_bytes = kRawPayloadBytes);
RawCommits raw_rocks_commits(const std::string& path, int batch, int commits,
                             std::size_t payload_bytes = kRawPayloadBytes);

}  // namespace keel_bench
