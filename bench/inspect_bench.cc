// inspect_bench: `keel journal` at scale, on both backends, next to the raw
// limits of the backends measured in the same run.
//
//   keel_inspect_bench [--quick] [--json] [--dir <dir>] [--records <n>] [--reps <n>]
//                      [--keel <path>] [--gen <path>]
//
// For each backend, keel_journal_gen writes a journal of durable-actor
// records (n = 1,000,000 by default, 1,000 actors) and one of n/10, so the
// table shows how time and memory grow with the journal. Each command then
// runs as its own process, `keel journal stats | ls | show ID | tail -n 20 |
// verify | export`, `reps` times (3): the median wall time and the largest
// peak RSS of the child (getrusage). Beside them, in forked children: the
// raw limits (SQLite: one `SELECT count(*)` and one pass reading every
// payload; RocksDB: one iterator pass over every key and value) and the
// journal API alone (a read-only open, stats(), owners()). Prints an aligned
// table, or JSON with --json. The journals live in a fresh directory under
// --dir (default $TMPDIR or /tmp), removed at the end. --quick is the CTest
// smoke test: 4,000 and 400 records, one run each. --keel and --gen run
// other builds of `keel` and `keel_journal_gen` (to compare two commits).
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_support.h"
#include "keel/journal/format.h"
#include "keel/journal/journal.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  bool quick = false;
  bool json = false;
  std::string dir;
  std::uint64_t records = 1'000'000;
  int repetitions = 3;
  std::string keel = KEEL_CLI_PATH;
  std::string gen = KEEL_JOURNAL_GEN_PATH;
};

// One row of the result table.
struct Row {
  std::string backend;
  std::uint64_t records = 0;
  std::string what;
  double seconds = 0;
  double peak_rss = 0;  // bytes
  std::string note;
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "keel_inspect_bench: %s\n", why.c_str());
  std::exit(1);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs `argv` with its output sent to /dev/null; returns its wall time and
// peak RSS. Exits the bench when it fails.
Row run_process(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const Clock::time_point t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (::wait4(pid, &status, 0, &usage) != pid) die("wait4 failed");
  Row r;
  r.seconds = seconds_since(t0);
  r.peak_rss = static_cast<double>(usage.ru_maxrss) * 1024;  // ru_maxrss is in KiB
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const std::string& a : argv) cmd += " " + a;
    die("exit status " + std::to_string(WEXITSTATUS(status)) + " from" + cmd);
  }
  return r;
}

// A Sample from a forked child as a row; exits the bench when it failed.
Row sample_row(const keel_bench::Sample& s, double seconds) {
  if (!s.ok) die(s.error);
  Row r;
  r.seconds = seconds;
  r.peak_rss = s.peak_rss;
  return r;
}

// ---- Raw limits -------------------------------------------------------------

// seconds: one SELECT count(*); more[0]: one pass reading every payload.
keel_bench::Sample raw_sqlite(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    return keel_bench::Sample::failure("cannot open " + path);
  }
  auto time_query = [&](const char* sql) {
    const Clock::time_point t0 = Clock::now();
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) {
    }
    sqlite3_finalize(s);
    return seconds_since(t0);
  };
  keel_bench::Sample out;
  out.seconds = time_query("SELECT count(*) FROM records");
  out.more[0] = time_query("SELECT sum(length(payload)) FROM records");
  sqlite3_close_v2(db);
  out.ok = true;
  out.peak_rss = keel_bench::peak_rss_bytes();
  return out;
}

// seconds: a read-only open and one iterator pass over every key and value.
keel_bench::Sample raw_rocks(const std::string& path) {
  const Clock::time_point t0 = Clock::now();
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(rocksdb::Options(), path, &db).ok()) {
    return keel_bench::Sample::failure("cannot open " + path);
  }
  std::unique_ptr<rocksdb::DB> owned(db);
  std::uint64_t bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) bytes += it->key().size() + it->value().size();
  keel_bench::Sample out;
  out.ok = it->status().ok() && bytes > 0;
  out.seconds = seconds_since(t0);
  out.peak_rss = keel_bench::peak_rss_bytes();
  return out;
}

// seconds: a read-only open; more[0]: stats(); more[1]: owners().
keel_bench::Sample journal_api(const std::string& path) {
  keel::JournalOptions o;
  o.read_only = true;
  Clock::time_point t0 = Clock::now();
  auto journal = keel::open_journal(path, o);
  if (!journal) return keel_bench::Sample::failure(journal.status().to_string());
  keel_bench::Sample out;
  out.seconds = seconds_since(t0);
  t0 = Clock::now();
  auto stats = (*journal)->stats();
  out.more[0] = seconds_since(t0);
  t0 = Clock::now();
  auto owners = (*journal)->owners();
  out.more[1] = seconds_since(t0);
  if (!stats || !owners) return keel_bench::Sample::failure("stats() or owners() failed");
  out.ok = true;
  out.peak_rss = keel_bench::peak_rss_bytes();
  return out;
}

// ---- One journal --------------------------------------------------------------

// The rows of one backend and size: generation, raw limits, the API, and
// each command.
std::vector<Row> measure(const Config& cfg, const std::string& backend, std::uint64_t records) {
  const bool rocks = backend == "rocksdb";
  const std::string path = cfg.dir + "/" + std::to_string(records) + (rocks ? ".rocks" : ".db");
  const std::uint64_t actors = std::min<std::uint64_t>(1000, records / 20);
  std::vector<std::string> gen = {cfg.gen, path, "--records", std::to_string(records), "--actors",
                                  std::to_string(actors)};
  if (rocks) gen.push_back("--rocksdb");
  std::vector<Row> rows;
  auto add = [&](Row r, std::string what, std::string note = "") {
    r.backend = backend;
    r.records = records;
    r.what = std::move(what);
    r.note = std::move(note);
    rows.push_back(std::move(r));
  };
  add(run_process(gen), "generate (keel_journal_gen)");

  keel_bench::Sample raw = keel_bench::run_isolated([&] { return rocks ? raw_rocks(path) : raw_sqlite(path); });
  if (rocks) {
    add(sample_row(raw, raw.seconds), "raw: open + iterator pass", "every key and value once");
  } else {
    add(sample_row(raw, raw.seconds), "raw: SELECT count(*)");
    add(sample_row(raw, raw.more[0]), "raw: read every payload", "SELECT sum(length(payload))");
  }
  keel_bench::Sample api = keel_bench::run_isolated([&] { return journal_api(path); });
  add(sample_row(api, api.seconds), "api: open read-only");
  add(sample_row(api, api.more[0]), "api: stats()");
  add(sample_row(api, api.more[1]), "api: owners()");

  const std::vector<std::vector<std::string>> commands = {
      {"stats"}, {"ls"}, {"show", keel::actor_owner("account-7")}, {"tail", "-n", "20"},
      {"verify"}, {"export"}};
  for (const auto& command : commands) {
    std::vector<std::string> argv = {cfg.keel, "journal"};
    argv.insert(argv.end(), command.begin(), command.end());
    argv.insert(argv.end(), {"--journal", path});
    std::vector<double> seconds;
    Row worst;
    for (int rep = 0; rep < cfg.repetitions; ++rep) {
      Row r = run_process(argv);
      seconds.push_back(r.seconds);
      worst.peak_rss = std::max(worst.peak_rss, r.peak_rss);
    }
    worst.seconds = keel_bench::median(seconds);
    std::string what = "keel journal";
    for (const std::string& c : command) what += " " + c;
    add(worst, what);
  }
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  std::filesystem::remove(path + ".lock", ec);
  return rows;
}

// ---- Output -------------------------------------------------------------------

std::string fmt(double v, int precision) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}

void print_table(const std::vector<Row>& rows, const Config& cfg) {
  std::printf("keel_inspect_bench%s: journals in %s (median of %d runs per command; peak RSS is the largest)\n"
              "  keel: %s\n  generator: %s\n",
              cfg.quick ? " --quick" : "", cfg.dir.c_str(), cfg.repetitions, cfg.keel.c_str(), cfg.gen.c_str());
  std::vector<std::vector<std::string>> cells = {{"backend", "records", "what", "wall s", "peak RSS", "note"}};
  for (const Row& r : rows) {
    cells.push_back({r.backend, std::to_string(r.records), r.what, fmt(r.seconds, 3), keel_bench::mib(r.peak_rss),
                     r.note});
  }
  keel_bench::print_table(cells);
}

void print_json(const std::vector<Row>& rows, const Config& cfg) {
  std::printf("{\"bench\": \"inspect\", \"quick\": %s, \"dir\": \"%s\", \"rows\": [\n", cfg.quick ? "true" : "false",
              keel_bench::json_escape(cfg.dir).c_str());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::printf("  {\"backend\": \"%s\", \"records\": %llu, \"what\": \"%s\", \"seconds\": %.4f, "
                "\"peak_rss_bytes\": %.0f, \"note\": \"%s\"}%s\n",
                r.backend.c_str(), static_cast<unsigned long long>(r.records), keel_bench::json_escape(r.what).c_str(),
                r.seconds, r.peak_rss, keel_bench::json_escape(r.note).c_str(), i + 1 < rows.size() ? "," : "");
  }
  std::printf("]}\n");
}

Config parse(int argc, char** argv) {
  Config cfg;
  std::string base = keel_bench::default_scratch_base();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      cfg.quick = true;
    } else if (a == "--json") {
      cfg.json = true;
    } else if (a == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (a == "--records" && i + 1 < argc) {
      cfg.records = std::max<std::uint64_t>(400, std::strtoull(argv[++i], nullptr, 10));
    } else if (a == "--reps" && i + 1 < argc) {
      cfg.repetitions = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--keel" && i + 1 < argc) {
      cfg.keel = argv[++i];
    } else if (a == "--gen" && i + 1 < argc) {
      cfg.gen = argv[++i];
    } else {
      die("usage: keel_inspect_bench [--quick] [--json] [--dir <dir>] [--records <n>] [--reps <n>] "
          "[--keel <path>] [--gen <path>]");
    }
  }
  if (cfg.quick) {
    cfg.records = 4000;
    cfg.repetitions = 1;
  }
  cfg.dir = keel_bench::make_scratch_dir(base, "keel-inspect-bench");
  if (cfg.dir.empty()) die("cannot create a directory under " + base);
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse(argc, argv);
  std::vector<Row> rows;
  for (const char* backend : {"sqlite", "rocksdb"}) {
    for (std::uint64_t records : {cfg.records / 10, cfg.records}) {
      std::vector<Row> r = measure(cfg, backend, records);
      rows.insert(rows.end(), r.begin(), r.end());
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(cfg.dir, ec);
  if (cfg.json) {
    print_json(rows, cfg);
  } else {
    print_table(rows, cfg);
  }
  return 0;
}
