// raw_pg.h: the raw limits of PostgreSQL as a journal uses it, with no Keel
// code in the path: libpq in pipeline mode, each commit one round trip
// (BEGIN, one prepared INSERT per row, COMMIT, sync), synchronous_commit as
// the server has it (on by default), into a table of its own that is
// dropped afterwards. The baseline keel_durable_bench and
// keel_workflow_bench put next to the PostgreSQL journal.
//
//   keel_bench::RawCommits r = keel_bench::raw_pg_commits("postgresql:///keel?host=/tmp/pg", 64, 100);
//   std::printf("%.0f rows/s, p50 %.0f us\n", r.rows_per_s(), r.p50_us());
#pragma once

#include <cstddef>
#include <string>

#include "raw_journal.h"

namespace keel_bench {

// One connection to `url` (a libpq URL or keyword string) commits `commits`
// transactions of `batch` rows each. Exits the process on an error, naming
// the server's message (never the password).
RawCommits raw_pg_commits(const std::string& url, int batch, int commits,
                          std::size_t payload_bytes = kRawPayloadBytes);

// `clients` connections, each on its own thread, commit transactions of
// `batch` rows into one table for `seconds`. The result's commits, rows
// and latencies are those of all clients together. Exits on an error.
RawCommits raw_pg_clients(const std::string& url, int clients, int batch, double seconds,
                          std::size_t payload_bytes = kRawPayloadBytes);

// Drops every schema whose name starts with `prefix` (a benchmark's
// journals), with what they hold. Exits on an error.
void drop_pg_schemas(const std::string& url, const std::string& prefix);

}  // namespace keel_bench
