// bench_backends.cc: see bench_backends.h.
#include "bench_backends.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "raw_pg.h"

namespace keel_bench {

namespace {

bool is_url(const std::string& s) { return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0; }

std::string schema_prefix() { return "bench_" + std::to_string(::getpid()) + "_"; }

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "bench: %s\n", why.c_str());
  std::exit(1);
}

}  // namespace

std::vector<std::string> parse_backends(const std::string& value) {
  if (value == "both") return {"sqlite", "rocksdb"};
  if (value == "sqlite" || value == "rocksdb" || value == "postgres") return {value};
  return {};
}

std::string Backends::fresh(const std::string& backend, const std::string& tag) const {
  if (backend == "sqlite") return dir + "/sqlite-" + tag + ".db";
  if (backend == "rocksdb") return dir + "/rocksdb-" + tag + ".rocks";
  if (pg_url.empty()) die("--backend postgres needs --pg-url URL (or KEEL_PG_URL)");
  const std::string schema = "keel_schema=" + schema_prefix() + tag;
  if (is_url(pg_url)) return pg_url + (pg_url.find('?') == std::string::npos ? "?" : "&") + schema;
  return pg_url + " " + schema;
}

RawCommits Backends::raw_commits(const std::string& backend, const std::string& tag, int batch,
                                 int commits) const {
  if (backend == "sqlite") return raw_sqlite_commits(fresh(backend, tag), batch, commits);
  if (backend == "rocksdb") return raw_rocks_commits(fresh(backend, tag), batch, commits);
  if (pg_url.empty()) die("--backend postgres needs --pg-url URL (or KEEL_PG_URL)");
  return raw_pg_commits(pg_url, batch, commits);
}

void Backends::clean_up() const {
  if (!pg_url.empty()) drop_pg_schemas(pg_url, schema_prefix());
}

keel::Result<std::unique_ptr<keel::Journal>> open_bench_journal(const std::string& where) {
  return keel::open_journal(where, keel::JournalOptions{});
}

}  // namespace keel_bench
