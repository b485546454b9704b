// workflow_report.cc: keel_workflow_bench's table and JSON (workflow_bench.h).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "workflow_bench.h"

namespace workflow_bench {
namespace {

std::string f(double v, int prec = 0) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
std::string ms(double us) { return us >= 1000 ? f(us / 1000, 2) + " ms" : f(us / 1000, 3) + " ms"; }
std::string ratio(double a, double b) { return b > 0 ? f(a / b, 2) + "x" : "-"; }

// One printed row: how it picks its repetition and what it shows.
struct Row {
  std::string workload;
  std::string restate;
  std::string target;
  double (*key)(const Rep&);  // the Keel figure; the median repetition by it is shown
  bool (*ok)(const Rep&);
  std::string (*keel)(const Rep&);
  std::string (*raw)(const Rep&);
  std::string (*vs_raw)(const Rep&);
  bool (*met)(const Rep&);
  std::string (*detail)(const Rep&);
};

double steps_per_run = 10;  // cfg.client_steps, set by print_report for the row lambdas

std::vector<Row> rows() {
  return {
      {"one-step run, sequential: p50", "7.7 ms", "< 0.8 ms",
       [](const Rep& r) { return r.one.more[0]; }, [](const Rep& r) { return r.one.ok && r.raw1.ok; },
       [](const Rep& r) { return ms(r.one.more[0]); },
       [](const Rep& r) { return "1-row commit " + ms(r.raw1.more[0]); },
       [](const Rep& r) { return ratio(r.one.more[0], r.raw1.more[0]); },
       [](const Rep& r) { return r.one.more[0] < 800; },
       [](const Rep& r) {
         return f(r.one.rate()) + " runs/s; " + f(r.one.more[3], 2) + " commits/run";
       }},
      {"one-step run, sequential: p99", "25 ms", "< 2.5 ms",
       [](const Rep& r) { return r.one.more[1]; }, [](const Rep& r) { return r.one.ok && r.raw1.ok; },
       [](const Rep& r) { return ms(r.one.more[1]); },
       [](const Rep& r) { return "1-row commit " + ms(r.raw1.more[1]); },
       [](const Rep& r) { return ratio(r.one.more[1], r.raw1.more[1]); },
       [](const Rep& r) { return r.one.more[1] < 2500; }, [](const Rep&) { return std::string(); }},
      {"one run of 200 sequential steps", "1,094 steps/s", ">= 0.8x raw (10,940/s: above raw)",
       [](const Rep& r) { return -r.chain.rate(); }, [](const Rep& r) { return r.chain.ok && r.raw1.ok; },
       [](const Rep& r) { return f(r.chain.rate()) + " steps/s"; },
       [](const Rep& r) { return "1-row commits " + f(r.raw1.rate()) + "/s"; },
       [](const Rep& r) { return ratio(r.chain.rate(), r.raw1.rate()); },
       [](const Rep& r) { return r.chain.rate() >= 0.8 * r.raw1.rate(); },
       [](const Rep& r) { return f(r.chain.more[3], 2) + " commits/step"; }},
      {"32 clients, 10-step runs: steps/s", "1,110 steps/s (111 runs/s)", "> 11,000 steps/s",
       [](const Rep& r) { return -r.clients.rate(); }, [](const Rep& r) { return r.clients.ok && r.raw_clients.ok; },
       [](const Rep& r) { return f(r.clients.rate() * steps_per_run) + " steps/s"; },
       [](const Rep& r) { return f(r.raw_clients.rate() * r.raw_clients.more[2]) + " rows/s @" + f(r.raw_clients.more[2]); },
       [](const Rep& r) { return ratio(r.clients.rate() * steps_per_run, r.raw_clients.rate() * r.raw_clients.more[2]); },
       [](const Rep& r) { return r.clients.rate() * steps_per_run > 11'000; },
       [](const Rep& r) {
         return f(r.clients.rate()) + " runs/s; group " + f(r.clients.more[2], 1) + " batches/commit, " +
                f(r.clients.more[3], 2) + " commits/run";
       }},
      {"32 clients, 10-step runs: p50", "259 ms", "< 25.9 ms",
       [](const Rep& r) { return r.clients.more[0]; }, [](const Rep& r) { return r.clients.ok && r.raw_clients.ok; },
       [](const Rep& r) { return ms(r.clients.more[0]); },
       [](const Rep& r) { return "commit @" + f(r.raw_clients.more[2]) + " " + ms(r.raw_clients.more[0]); },
       [](const Rep& r) { return ratio(r.clients.more[0], r.raw_clients.more[0]); },
       [](const Rep& r) { return r.clients.more[0] < 25'900; },
       [](const Rep& r) { return "p99 " + ms(r.clients.more[1]); }},
      {"durable counter, one key: ops/s", "170 ops/s", "> 1,700 ops/s",
       [](const Rep& r) { return -r.counter.rate(); }, [](const Rep& r) { return r.counter.ok && r.raw1.ok; },
       [](const Rep& r) { return f(r.counter.rate()) + " ops/s"; },
       [](const Rep& r) { return "1-row commits " + f(r.raw1.rate()) + "/s"; },
       [](const Rep& r) { return ratio(r.counter.rate(), r.raw1.rate()); },
       [](const Rep& r) { return r.counter.rate() > 1700; },
       [](const Rep& r) { return f(r.counter.more[3], 2) + " commits/op"; }},
      {"durable counter, one key: p50", "5.2 ms", "< 0.52 ms",
       [](const Rep& r) { return r.counter.more[0]; }, [](const Rep& r) { return r.counter.ok && r.raw1.ok; },
       [](const Rep& r) { return ms(r.counter.more[0]); },
       [](const Rep& r) { return "1-row commit " + ms(r.raw1.more[0]); },
       [](const Rep& r) { return ratio(r.counter.more[0], r.raw1.more[0]); },
       [](const Rep& r) { return r.counter.more[0] < 520; },
       [](const Rep& r) { return "p99 " + ms(r.counter.more[1]); }},
      {"durable counter, 32 keys: ops/s", "490 ops/s", "> 4,900 ops/s",
       [](const Rep& r) { return -r.counters.rate(); }, [](const Rep& r) { return r.counters.ok && r.raw_counters.ok; },
       [](const Rep& r) { return f(r.counters.rate()) + " ops/s"; },
       [](const Rep& r) { return f(r.raw_counters.rate() * r.raw_counters.more[2]) + " rows/s @" + f(r.raw_counters.more[2]); },
       [](const Rep& r) { return ratio(r.counters.rate(), r.raw_counters.rate() * r.raw_counters.more[2]); },
       [](const Rep& r) { return r.counters.rate() > 4900; },
       [](const Rep& r) {
         return "p50 " + ms(r.counters.more[0]) + "; group " + f(r.counters.more[2], 1) + " batches/commit, " +
                f(r.counters.more[3], 2) + " commits/op";
       }},
      {"kill -9 mid-run: restart to resumed", "3-7 s", "< 100 ms",
       [](const Rep& r) { return r.crash.more[1]; }, [](const Rep& r) { return r.crash.ok && r.scan.ok; },
       [](const Rep& r) { return ms(r.crash.more[1] * 1e6); },
       [](const Rep& r) { return "open + scan_lsn " + ms(r.scan.seconds * 1e6); },
       [](const Rep& r) { return ratio(r.crash.more[1], r.scan.seconds); },
       [](const Rep& r) { return r.crash.more[1] < 0.1; },
       [](const Rep& r) {
         return "engine open " + ms(r.crash.more[0] * 1e6) + ", finished " + ms(r.crash.seconds * 1e6) + "; " +
                f(r.crash.more[4]) + " steps before the kill, " + f(r.scan.ops) + " records";
       }},
      {"kill -9 mid-run: steps run twice", "only the in-flight one", "<= 1",
       [](const Rep& r) { return r.crash.more[5]; }, [](const Rep& r) { return r.crash.ok; },
       [](const Rep& r) { return f(r.crash.more[5]); }, [](const Rep&) { return std::string("-"); },
       [](const Rep&) { return std::string("-"); }, [](const Rep& r) { return r.crash.more[5] <= 1; },
       [](const Rep&) { return std::string("the run's result checked"); }},
      {"start-up to ready (empty journal)", "0.5-1.7 s", "< 50 ms",
       [](const Rep& r) { return r.startup.seconds; }, [](const Rep& r) { return r.startup.ok && r.raw_open.ok; },
       [](const Rep& r) { return ms(r.startup.seconds * 1e6); },
       [](const Rep& r) { return "journal open " + ms(r.raw_open.seconds * 1e6); },
       [](const Rep& r) { return ratio(r.startup.seconds, r.raw_open.seconds); },
       [](const Rep& r) { return r.startup.seconds < 0.05; },
       [](const Rep&) { return std::string("journal + System + WorkflowEngine::open"); }},
      {"resident memory, idle", "266 MiB", "< 26.6 MiB",
       [](const Rep& r) { return r.startup.more[0]; }, [](const Rep& r) { return r.startup.ok; },
       [](const Rep& r) { return keel_bench::mib(r.startup.more[0]); }, [](const Rep&) { return std::string("-"); },
       [](const Rep&) { return std::string("-"); },
       [](const Rep& r) { return r.startup.more[0] < 26.6 * 1024 * 1024; },
       [](const Rep&) { return std::string("/proc/self/statm, 200 ms after ready"); }},
  };
}

const Rep& median_by(const std::vector<Rep>& reps, const Row& row) {
  std::vector<const Rep*> v;
  for (const Rep& r : reps) {
    if (row.ok(r)) v.push_back(&r);
  }
  if (v.empty()) return reps.front();
  std::sort(v.begin(), v.end(), [&](const Rep* a, const Rep* b) { return row.key(*a) < row.key(*b); });
  return *v[v.size() / 2];
}

}  // namespace

void print_report(const Config& cfg, const std::vector<std::vector<Rep>>& all, FILE* out, bool json) {
  steps_per_run = static_cast<double>(cfg.client_steps);
  const std::vector<Row> table = rows();
  if (!json) {
    std::printf("keel_workflow_bench%s: journals in %s (%s), %d repetition(s), median; %d clients for %.1f s\n",
                cfg.quick ? " --quick" : "", cfg.dir.c_str(), cfg.fs.c_str(), cfg.reps, cfg.clients, cfg.sizes.duration_s);
    std::vector<std::vector<std::string>> t = {
        {"workload", "backend", "Keel", "raw (same run)", "Keel / raw", "Restate", "target", "met", "detail"}};
    for (std::size_t b = 0; b < cfg.backends.size(); ++b) {
      for (const Row& row : table) {
        const Rep& r = median_by(all[b], row);
        if (!row.ok(r)) {
          t.push_back({row.workload, cfg.backends[b], "FAILED or skipped", "", "", row.restate, row.target, "", ""});
          continue;
        }
        t.push_back({row.workload, cfg.backends[b], row.keel(r), row.raw(r), row.vs_raw(r), row.restate, row.target,
                     row.met(r) ? "yes" : "NO", row.detail(r)});
      }
    }
    keel_bench::print_table(t);
    return;
  }
  std::fprintf(out, "{\"bench\": \"workflow\", \"quick\": %s, \"reps\": %d, \"fs\": \"%s\", \"duration_s\": %.1f,\n",
               cfg.quick ? "true" : "false", cfg.reps, cfg.fs.c_str(), cfg.sizes.duration_s);
  std::fprintf(out, " \"rows\": [\n");
  bool first = true;
  for (std::size_t b = 0; b < cfg.backends.size(); ++b) {
    for (const Row& row : table) {
      const Rep& r = median_by(all[b], row);
      const bool ok = row.ok(r);
      std::fprintf(out, "%s  {\"workload\": \"%s\", \"backend\": \"%s\", \"ok\": %s, \"keel\": \"%s\", \"raw\": \"%s\", "
                   "\"ratio\": \"%s\", \"restate\": \"%s\", \"target\": \"%s\", \"met\": %s}",
                   first ? "" : ",\n", row.workload.c_str(), cfg.backends[b].c_str(), ok ? "true" : "false",
                   ok ? keel_bench::json_escape(row.keel(r)).c_str() : "",
                   ok ? keel_bench::json_escape(row.raw(r)).c_str() : "", ok ? row.vs_raw(r).c_str() : "",
                   keel_bench::json_escape(row.restate).c_str(), keel_bench::json_escape(row.target).c_str(),
                   ok && row.met(r) ? "true" : "false");
      first = false;
    }
  }
  std::fprintf(out, "\n]}\n");
}

}  // namespace workflow_bench
