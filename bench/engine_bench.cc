// keel_engine_bench: the engine's throughput, latency and memory, side by
// side with raw limits of this machine measured in the same run (and, when
// built with CAF, the same workloads on CAF 0.17).
//
//   keel_engine_bench            # full sizes, 3 repetitions, median, table
//   keel_engine_bench --reps 5   # what docs/PERFORMANCE.md records
//   keel_engine_bench --quick    # scaled down: a smoke test (CTest bench.engine_quick)
//   keel_engine_bench --json     # the same figures as JSON on stdout
//   keel_engine_bench --json-file out.json   # the table, and the JSON in a file
//   keel_engine_bench --filter fan_in --no-caf   # a subset (for profiling)
//
// Every workload and baseline runs in a forked child, one after another
// (never two at once), so each peak RSS (VmHWM) is that run's own. The
// repetitions are interleaved (all rows, then all rows again), so a noisy
// period hits baselines and workloads alike; each row reports its median.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "bench_support.h"
#include "raw_baselines.h"
#include "workloads.h"

#ifndef KEEL_BENCH_BUILD_TYPE
#define KEEL_BENCH_BUILD_TYPE "unknown"
#endif

namespace keel_bench {

#ifndef KEEL_BENCH_WITH_CAF
WorkloadSet caf_workloads() { return {}; }
const char* caf_version() { return ""; }
#endif

namespace {

struct Options {
  int reps = 3;
  bool reps_given = false;
  bool quick = false;
  bool json = false;
  bool caf = true;
  std::string filter;
  std::string json_file;  // also write the JSON here
};

enum class Kind { kRate, kLatency };

struct Baseline {
  const char* id;
  const char* label;
  const char* unit;
  Sample (*fn)(const Sizes&);
  std::vector<Sample> samples;
};

struct Row {
  const char* id;
  const char* label;
  const char* unit;  // of the rate ("rt/s"), or "" for a latency row
  Kind kind;
  Sample (*keel)(const Sizes&);
  Sample (*caf)(const Sizes&);
  const char* baseline_id;
  double baseline_factor;  // workload ops per baseline op (a round trip is 2 dispatches: 0.5)
  const char* baseline_note;
  double target_rate;  // 0: no rate target
  bool memory_target;  // peak RSS must stay bounded by the mailbox policy
  std::vector<Sample> keel_samples;
  std::vector<Sample> caf_samples;
};

std::vector<Baseline> make_baselines() {
  return {
      {"cv_handoff", "mutex+condvar handoff, 2 threads", "rt/s", raw_cv_handoff, {}},
      {"dispatch", "deque push/pop + indirect call, 1 thread", "msg/s", raw_dispatch, {}},
      {"dispatch_alloc", "as above + new/delete 64 B + virtual call", "msg/s", raw_dispatch_alloc, {}},
      {"malloc_xthread", "malloc 64 B on A, free on B", "blocks/s", raw_malloc_cross_thread, {}},
      {"mpsc_bounded", "4 threads -> mutex FIFO (bounded) -> 1 thread", "msg/s", raw_mpsc_bounded, {}},
      {"mpsc_unbounded", "4 threads -> mutex FIFO (unbounded) -> 1 thread", "msg/s", raw_mpsc_unbounded, {}},
      {"alloc_register", "new 512 B + unordered_map insert", "obj/s", raw_alloc_register, {}},
      {"thread_start", "std::thread ctor to thread running (median)", "", raw_thread_start, {}},
  };
}

std::vector<Row> make_rows(const WorkloadSet& k, const WorkloadSet& c) {
  return {
      {"ping_pong", "ping-pong", "rt/s", Kind::kRate, k.ping_pong, c.ping_pong, "dispatch_alloc", 0.5,
       "2 msgs per rt", 1.6e6, false, {}, {}},
      {"fan_in_threads", "fan-in, 4 threads -> bounded mailbox", "msg/s", Kind::kRate, k.fan_in_threads,
       c.fan_in_threads, "mpsc_bounded", 1.0, "", 5e6, true, {}, {}},
      {"fan_in_actors", "fan-in, 4 actors -> unbounded", "msg/s", Kind::kRate, k.fan_in_actors, c.fan_in_actors,
       "mpsc_unbounded", 1.0, "", 5e6, false, {}, {}},
      {"spawn", "spawn + 1 msg + reply, from an actor", "actors/s", Kind::kRate, k.spawn, c.spawn,
       "alloc_register", 1.0, "", 250e3, false, {}, {}},
      {"spawn_external", "spawn + 1 msg + reply, from main()", "actors/s", Kind::kRate, k.spawn_external,
       c.spawn_external, "alloc_register", 1.0, "", 250e3, false, {}, {}},
      {"asks", "ask chain, actor -> actor", "calls/s", Kind::kRate, k.asks, c.asks, "dispatch_alloc", 0.5,
       "2 msgs per call", 1e6, false, {}, {}},
      {"external_asks", "ask().get() from a thread", "calls/s", Kind::kRate, k.external_asks, c.external_asks,
       "cv_handoff", 1.0, "", 0, false, {}, {}},
      {"startup", "start-up to first handler", "", Kind::kLatency, k.startup, c.startup, "thread_start", 1.0, "",
       0, false, {}, {}},
  };
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      o->quick = true;
    } else if (a == "--json") {
      o->json = true;
    } else if (a == "--no-caf") {
      o->caf = false;
    } else if (a == "--reps" && i + 1 < argc) {
      o->reps = std::atoi(argv[++i]);
      o->reps_given = true;
      if (o->reps < 1) return false;
    } else if (a == "--json-file" && i + 1 < argc) {
      o->json_file = argv[++i];
    } else if (a == "--filter" && i + 1 < argc) {
      o->filter = argv[++i];
    } else {
      return false;
    }
  }
  if (o->quick && !o->reps_given) o->reps = 1;
  return true;
}

bool selected(const Options& o, const char* id) { return o.filter.empty() || std::strstr(id, o.filter.c_str()); }

const Baseline* find_baseline(const std::vector<Baseline>& bs, const char* id) {
  for (const Baseline& b : bs) {
    if (std::strcmp(b.id, id) == 0) return &b;
  }
  return nullptr;
}

// Whether the bounded fan-in kept its memory within what its mailbox allows:
// the capacity in messages (64 B each, doubled for allocator slack) plus
// 32 MiB for stacks and arenas. Unbounded, 10M messages would need ~610 MiB.
double memory_bound_bytes(const Sizes& sizes) {
  return static_cast<double>(sizes.fan_in_capacity) * 128.0 + 32.0 * 1024 * 1024;
}

std::string rate_text(const Sample& s, const char* unit) {
  if (!s.ok) return std::string("FAILED: ") + s.error;
  return si(s.rate()) + " " + unit;
}

std::string value_text(const Row& r, const Sample& s) {
  if (!s.ok) return std::string("FAILED: ") + s.error;
  return r.kind == Kind::kLatency ? nanos(s.seconds * 1e9) : rate_text(s, r.unit);
}

// The baseline in the row's unit, and the Keel figure relative to it.
void baseline_cells(const Row& r, const Sample& keel, const std::vector<Baseline>& bs, std::string* text,
                    std::string* ratio) {
  const Baseline* b = find_baseline(bs, r.baseline_id);
  if (b == nullptr || b->samples.empty()) return;
  const Sample m = median_by_rate(b->samples);
  if (!m.ok) {
    *text = std::string(b->id) + " FAILED";
    return;
  }
  char buf[64];
  if (r.kind == Kind::kLatency) {
    *text = std::string(b->id) + " " + nanos(m.seconds * 1e9);
    if (keel.ok) std::snprintf(buf, sizeof(buf), "%.1fx", keel.seconds / m.seconds);
  } else {
    const double bound = m.rate() * r.baseline_factor;
    *text = std::string(b->id) + " " + si(bound) + " " + r.unit;
    if (r.baseline_note[0] != '\0') *text += std::string(" (") + r.baseline_note + ")";
    if (keel.ok) std::snprintf(buf, sizeof(buf), "%.2fx", keel.rate() / bound);
  }
  if (keel.ok) *ratio = buf;
}

std::string target_text(const Row& r, const Sample& keel, const Sizes& sizes, std::string* met) {
  std::string t;
  std::vector<std::string> verdict;
  if (r.target_rate > 0) {
    t = ">= " + si(r.target_rate) + " " + r.unit;
    if (keel.ok) verdict.push_back(keel.rate() >= r.target_rate ? "yes" : "NO");
  }
  if (r.memory_target) {
    t += ", RSS bounded";
    if (keel.ok) verdict.push_back(keel.peak_rss - keel.start_rss <= memory_bound_bytes(sizes) ? "yes" : "NO");
  }
  for (std::size_t i = 0; i < verdict.size(); ++i) *met += (i ? ", mem " : "") + verdict[i];
  return t;
}

void print_text(const Options& o, const Sizes& sizes, const std::vector<Row>& rows,
                const std::vector<Baseline>& bs, bool have_caf) {
  std::printf("keel_engine_bench: %d worker threads, %s sizes, median of %d rep(s), build %s\n\n",
              kWorkerThreads, o.quick ? "quick" : "full", o.reps, KEEL_BENCH_BUILD_TYPE);
  std::vector<std::vector<std::string>> t;
  std::vector<std::string> head = {"workload", "Keel", "per op", "peak RSS", "raw baseline (same run)", "Keel/raw"};
  if (have_caf) head.push_back(std::string(caf_version()) + " (same run)");
  head.push_back("target");
  head.push_back("met");
  t.push_back(head);
  for (const Row& r : rows) {
    if (r.keel_samples.empty()) continue;
    const Sample k = median_by_rate(r.keel_samples);
    std::string base, ratio, met;
    baseline_cells(r, k, bs, &base, &ratio);
    std::vector<std::string> line = {r.label, value_text(r, k),
                                     k.ok && r.kind == Kind::kRate ? nanos(k.ns_per_op()) : "",
                                     k.ok ? mib(k.peak_rss) : "", base, ratio};
    if (have_caf) {
      const Sample c = median_by_rate(r.caf_samples);
      line.push_back(r.caf_samples.empty() ? "-" : value_text(r, c) + (c.ok ? " (" + mib(c.peak_rss) + ")" : ""));
    }
    line.push_back(target_text(r, k, sizes, &met));
    line.push_back(met);
    t.push_back(line);
  }
  print_table(t);

  std::printf("\nraw baselines (median)\n");
  std::vector<std::vector<std::string>> b = {{"baseline", "what", "rate", "per op"}};
  for (const Baseline& x : bs) {
    if (x.samples.empty()) continue;
    const Sample m = median_by_rate(x.samples);
    if (!m.ok) {
      b.push_back({x.id, x.label, std::string("FAILED: ") + m.error, ""});
    } else if (x.unit[0] == '\0') {
      b.push_back({x.id, x.label, "", nanos(m.seconds * 1e9)});
    } else {
      b.push_back({x.id, x.label, si(m.rate()) + " " + x.unit, nanos(m.ns_per_op())});
    }
  }
  print_table(b);
  for (const Row& r : rows) {
    const Sample k = median_by_rate(r.keel_samples);
    if (std::strncmp(r.id, "spawn", 5) == 0 && k.ok)
      std::printf("\n%s: %.3f s measured; %.3f s more for set-up and stopping them all (System destructor)",
                  r.id, k.seconds, k.extra);
  }
  std::printf("\n");
}

void json_sample_list(std::FILE* out, const std::vector<Sample>& v) {
  std::fprintf(out, "[");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const Sample& s = v[i];
    std::fprintf(out, "%s{\"ok\": %s, \"seconds\": %.9g, \"ops\": %.0f, \"peak_rss_bytes\": %.0f, \"start_rss_bytes\": %.0f",
                i ? ", " : "", s.ok ? "true" : "false", s.seconds, s.ops, s.peak_rss, s.start_rss);
    if (!s.ok) std::fprintf(out, ", \"error\": \"%s\"", json_escape(s.error).c_str());
    std::fprintf(out, "}");
  }
  std::fprintf(out, "]");
}

void json_median(std::FILE* out, const char* key, const std::vector<Sample>& v) {
  const Sample m = median_by_rate(v);
  std::fprintf(out, "\"%s\": {\"ok\": %s, \"rate\": %.6g, \"seconds\": %.9g, \"ns_per_op\": %.6g, \"peak_rss_bytes\": %.0f, "
              "\"extra_seconds\": %.6g, \"samples\": ",
              key, m.ok ? "true" : "false", m.rate(), m.seconds, m.ns_per_op(), m.peak_rss, m.extra);
  json_sample_list(out, v);
  std::fprintf(out, "}");
}

void print_json(std::FILE* out, const Options& o, const Sizes& sizes, const std::vector<Row>& rows,
                const std::vector<Baseline>& bs, bool have_caf) {
  std::fprintf(out, "{\n  \"benchmark\": \"keel_engine_bench\",\n  \"build_type\": \"%s\",\n  \"worker_threads\": %d,\n"
              "  \"reps\": %d,\n  \"quick\": %s,\n",
              KEEL_BENCH_BUILD_TYPE, kWorkerThreads, o.reps, o.quick ? "true" : "false");
  std::fprintf(out, "  \"sizes\": {\"ping_pong_round_trips\": %lld, \"fan_in_messages\": %lld, \"fan_in_senders\": %d, "
              "\"fan_in_chunk\": %d, \"fan_in_capacity\": %zu, \"spawn_actors\": %lld, \"asks\": %lld, "
              "\"external_asks\": %lld, \"startup_repetitions\": %d},\n",
              static_cast<long long>(sizes.ping_pong_round_trips), static_cast<long long>(sizes.fan_in_messages),
              sizes.fan_in_senders, sizes.fan_in_chunk, sizes.fan_in_capacity,
              static_cast<long long>(sizes.spawn_actors), static_cast<long long>(sizes.asks),
              static_cast<long long>(sizes.external_asks), sizes.startup_repetitions);
  std::fprintf(out, "  \"baselines\": [");
  bool first = true;
  for (const Baseline& b : bs) {
    if (b.samples.empty()) continue;
    std::fprintf(out, "%s\n    {\"id\": \"%s\", \"what\": \"%s\", \"unit\": \"%s\", ", first ? "" : ",", b.id,
                json_escape(b.label).c_str(), b.unit);
    json_median(out, "median", b.samples);
    std::fprintf(out, "}");
    first = false;
  }
  std::fprintf(out, "\n  ],\n  \"workloads\": [");
  first = true;
  for (const Row& r : rows) {
    if (r.keel_samples.empty()) continue;
    const Sample k = median_by_rate(r.keel_samples);
    std::string met;
    target_text(r, k, sizes, &met);
    std::fprintf(out, "%s\n    {\"id\": \"%s\", \"what\": \"%s\", \"unit\": \"%s\", \"baseline\": \"%s\", "
                "\"baseline_factor\": %g, \"target_rate\": %g, \"memory_target\": %s, \"met\": \"%s\",\n      ",
                first ? "" : ",", r.id, json_escape(r.label).c_str(), r.kind == Kind::kLatency ? "s" : r.unit,
                r.baseline_id, r.baseline_factor, r.target_rate, r.memory_target ? "true" : "false", met.c_str());
    json_median(out, "keel", r.keel_samples);
    if (have_caf && !r.caf_samples.empty()) {
      std::fprintf(out, ",\n      ");
      json_median(out, "caf", r.caf_samples);
    }
    std::fprintf(out, "}");
    first = false;
  }
  std::fprintf(out, "\n  ]%s%s%s\n}\n", have_caf ? ",\n  \"caf_version\": \"" : "", have_caf ? caf_version() : "",
              have_caf ? "\"" : "");
}

}  // namespace
}  // namespace keel_bench

int main(int argc, char** argv) {
  using namespace keel_bench;
  Options o;
  if (!parse(argc, argv, &o)) {
    std::fprintf(stderr, "usage: %s [--reps N] [--quick] [--json] [--json-file PATH] [--no-caf] [--filter SUBSTRING]\n", argv[0]);
    return 2;
  }
  const Sizes sizes = o.quick ? Sizes::quick() : Sizes{};
  const WorkloadSet caf = o.caf ? caf_workloads() : WorkloadSet{};
  const bool have_caf = caf.ping_pong != nullptr;
  std::vector<Baseline> baselines = make_baselines();
  std::vector<Row> rows = make_rows(keel_workloads(), caf);

  bool failed = false;
  for (int rep = 0; rep < o.reps; ++rep) {
    for (Baseline& b : baselines) {
      if (!selected(o, b.id)) {
        bool needed = false;  // a selected row compares with it
        for (const Row& r : rows) needed |= selected(o, r.id) && std::strcmp(r.baseline_id, b.id) == 0;
        if (!needed) continue;
      }
      std::fprintf(stderr, "[rep %d/%d] baseline %s\n", rep + 1, o.reps, b.id);
      b.samples.push_back(run_isolated([&] { return b.fn(sizes); }));
    }
    for (Row& r : rows) {
      if (!selected(o, r.id)) continue;
      std::fprintf(stderr, "[rep %d/%d] keel %s\n", rep + 1, o.reps, r.id);
      r.keel_samples.push_back(run_isolated([&] { return r.keel(sizes); }));
      failed |= !r.keel_samples.back().ok;
      if (have_caf && r.caf != nullptr) {
        std::fprintf(stderr, "[rep %d/%d] caf %s\n", rep + 1, o.reps, r.id);
        r.caf_samples.push_back(run_isolated([&] { return r.caf(sizes); }));
      }
    }
  }
  if (o.json) {
    print_json(stdout, o, sizes, rows, baselines, have_caf);
  } else {
    print_text(o, sizes, rows, baselines, have_caf);
  }
  if (!o.json_file.empty()) {
    std::FILE* f = std::fopen(o.json_file.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "cannot write %s\n", o.json_file.c_str());
      return 1;
    }
    print_json(f, o, sizes, rows, baselines, have_caf);
    std::fclose(f);
  }
  return failed ? 1 : 0;
}
