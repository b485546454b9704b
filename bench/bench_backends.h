// bench_backends.h: the journal backends a benchmark runs on, by name, so
// that keel_durable_bench and keel_workflow_bench open journals and measure
// raw limits the same way. "sqlite" and "rocksdb" keep each journal in a
// file or directory under the run's scratch directory; "postgres" keeps
// each in a schema of its own (keel_schema) on the server of a libpq URL,
// and measures the raw limit with libpq on the same server (raw_pg.h).
//
//   keel_bench::Backends b{"/tmp/run", "postgresql:///keel?host=/tmp/pg"};
//   std::string where = b.fresh("postgres", "r1-ask");      // a URL with keel_schema
//   auto journal = keel_bench::open_bench_journal(where);   // keel::open_journal
//   keel_bench::RawCommits raw = b.raw_commits("postgres", "r1-raw", 1, 1000);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/journal/journal.h"
#include "raw_journal.h"

namespace keel_bench {

// The backends a --backend value names ("both": sqlite and rocksdb), or an
// empty list for an unknown value.
std::vector<std::string> parse_backends(const std::string& value);

struct Backends {
  std::string dir;     // scratch directory for file backends
  std::string pg_url;  // libpq URL or keyword string of the server for "postgres"

  // Where the journal `tag` of `backend` goes: a path, or pg_url naming the
  // schema "bench_<pid>_<tag>" (tag: [a-z0-9_]).
  std::string fresh(const std::string& backend, const std::string& tag) const;
  // Commits `commits` raw transactions of `batch` rows on `backend` (a new
  // file `tag` under dir, or a new table on the server). Exits on an error.
  RawCommits raw_commits(const std::string& backend, const std::string& tag, int batch, int commits) const;
  // Drops the schemas that fresh() named on the server (postgres only).
  void clean_up() const;
};

// keel::open_journal(where), writable, created if missing.
keel::Result<std::unique_ptr<keel::Journal>> open_bench_journal(const std::string& where);

}  // namespace keel_bench
