// `keel cluster drain HOST [--wait [--timeout SECONDS]] [--undo]`: marks a
// host draining (keel/cluster/drain.h) and, with --wait, polls the
// cluster's tables until the host holds no shard, then prints where its
// shards went.
#include <chrono>
#include <fstream>
#include <thread>

#include "command.h"
#include "keel/cluster/cluster_view.h"
#include "keel/cluster/drain.h"
#include "text.h"

namespace keel::internal {
namespace {

// How often --wait reads the tables: a reader is not told of hand-overs.
constexpr auto kPollEvery = std::chrono::milliseconds(100);
constexpr std::uint64_t kDefaultWaitSeconds = 600;

// The secret from --secret-file (its first line) or the environment.
Result<std::string> cluster_secret(const Args& args, const std::string& from_environment) {
  if (!args.has("--secret-file")) {
    if (from_environment.empty()) {
      return Status::invalid_argument("draining needs the cluster's secret: give --secret-file FILE or set "
                                      "KEEL_CLUSTER_SECRET");
    }
    return from_environment;
  }
  const std::string path = args.get("--secret-file");
  std::ifstream in(path, std::ios::binary);
  std::string secret;
  if (!in || !std::getline(in, secret)) return Status::invalid_argument("cannot read the secret file " + path);
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  return secret;
}

// Shards whose holder is `host`#`incarnation` (any incarnation when 0) and
// live.
std::vector<std::uint32_t> held_by(const ClusterView& v, const std::string& host, std::uint64_t incarnation) {
  std::vector<std::uint32_t> out;
  for (const ShardHolder& s : v.shards) {
    if (s.live && s.host == host && (incarnation == 0 || s.incarnation == incarnation)) out.push_back(s.shard);
  }
  return out;
}

const HostView* find_host(const ClusterView& v, const std::string& host) {
  for (const HostView& h : v.hosts) {
    if (h.id == host) return &h;
  }
  return nullptr;
}

std::string holder_text(const ShardHolder& s) {
  if (s.host.empty()) return "free";
  std::string out = s.incarnation > 0 ? s.host + "#" + std::to_string(s.incarnation) : s.host;
  return s.live ? out : out + " (gone)";
}

Outcome cluster_failure(const Status& s) {
  switch (s.code()) {
    case StatusCode::kFailedPrecondition: return Outcome::fail(ExitCode::kRefused, std::string(s.message()));
    default: return from_status(s);
  }
}

// Polls until `host`#`incarnation` holds no shard. Returns the last view
// read. Errors: kTimedOut, kRefused (the incarnation stopped being live
// first), or those of read_cluster.
Outcome wait_drained(const std::string& path, const std::string& host, std::uint64_t incarnation,
                     std::chrono::seconds timeout, const std::atomic<bool>* stop, ClusterView* last) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    Result<ClusterView> v = read_cluster(path);
    if (!v) return cluster_failure(v.status());
    *last = std::move(*v);
    const std::vector<std::uint32_t> held = held_by(*last, host, incarnation);
    if (held.empty()) return {};
    const HostView* h = find_host(*last, host);
    const std::string who = host + "#" + std::to_string(incarnation);
    if (h == nullptr || h->incarnation != incarnation || !h->live) {
      return Outcome::fail(ExitCode::kRefused, who + " stopped being live while draining, holding " +
                                                   std::to_string(held.size()) +
                                                   " shards: they move once its lease has ended");
    }
    const bool stopped = stop != nullptr && stop->load(std::memory_order_relaxed);
    if (stopped || std::chrono::steady_clock::now() >= deadline) {
      return Outcome::fail(ExitCode::kTimedOut, who + " still holds " + std::to_string(held.size()) + " shards " +
                                                    (stopped ? "(interrupted)" : "after " +
                                                     std::to_string(timeout.count()) + " s") +
                                                    "; it stays draining");
    }
    std::this_thread::sleep_for(kPollEvery);  // polling: nothing tells a reader of a release
  }
}

void print_moved(const std::string& who, const std::vector<std::uint32_t>& moved, const ClusterView& after,
                 std::ostream& out, const Palette& palette, bool json) {
  if (json) {
    out << "\"moved\":[";
    for (std::size_t i = 0; i < moved.size(); ++i) {
      const ShardHolder& s = after.shards.at(moved[i]);
      out << (i ? "," : "") << "{\"shard\":" << s.shard << ",\"epoch\":" << s.epoch
          << ",\"host\":" << json_string(s.host) << ",\"incarnation\":" << s.incarnation
          << ",\"live\":" << (s.live ? "true" : "false") << "}";
    }
    out << "]";
    return;
  }
  out << who << " holds no shard: " << moved.size() << " moved\n";
  if (moved.empty()) return;
  Table t({"SHARD", "EPOCH", "NOW HELD BY"});
  for (std::uint32_t shard : moved) {
    const ShardHolder& s = after.shards.at(shard);
    t.add({std::to_string(s.shard), std::to_string(s.epoch), holder_text(s)});
  }
  t.print(out, palette);
}

}  // namespace

Outcome run_cluster_drain(const Args& args, const std::string& path, const std::string& secret_from_environment,
                          std::ostream& out, const Palette& palette, bool json, const std::atomic<bool>* stop) {
  if (Outcome url = check_cluster_url(path); !url.ok()) return url;
  const std::string& host = args.positional.at(0);
  const bool undo = args.has("--undo");
  const bool wait = args.has("--wait");
  if (undo && wait) return Outcome::fail(ExitCode::kUsage, "--undo and --wait do not go together");
  if (args.has("--timeout") && !wait) return Outcome::fail(ExitCode::kUsage, "--timeout goes with --wait");
  Result<std::uint64_t> timeout = parse_u64(args.get("--timeout", std::to_string(kDefaultWaitSeconds)), "--timeout");
  if (!timeout) return Outcome::fail(ExitCode::kUsage, std::string(timeout.status().message()));
  Result<std::string> secret = cluster_secret(args, secret_from_environment);
  if (!secret) return Outcome::fail(ExitCode::kUsage, std::string(secret.status().message()));

  // The shards the host holds before it is marked: what the drain moves.
  Result<ClusterView> before = read_cluster(path);
  if (!before) return cluster_read_failure(before.status());
  DrainOptions o;
  o.secret = std::move(*secret);
  Result<std::uint64_t> incarnation = undo ? undrain_host(path, host, o) : drain_host(path, host, o);
  if (!incarnation) return cluster_failure(incarnation.status());
  const std::string who = host + "#" + std::to_string(*incarnation);
  const std::vector<std::uint32_t> moved = held_by(*before, host, *incarnation);
  if (undo || !wait) {
    if (json) {
      out << "{\"host\":" << json_string(host) << ",\"incarnation\":" << *incarnation
          << ",\"draining\":" << (undo ? "false" : "true") << ",\"shards\":" << moved.size() << "}\n";
    } else if (undo) {
      out << who << " is no longer draining: placement gives it its share again\n";
    } else {
      out << who << " is draining: its " << moved.size()
          << " shards move to other hosts in their next rounds (--wait waits for them)\n";
    }
    return {};
  }
  if (!json) out << who << " is draining: waiting for its " << moved.size() << " shards to move\n" << std::flush;
  ClusterView after;
  Outcome waited = wait_drained(path, host, *incarnation, std::chrono::seconds(*timeout), stop, &after);
  if (!waited.ok()) return waited;
  if (json) {
    out << "{\"host\":" << json_string(host) << ",\"incarnation\":" << *incarnation << ",\"draining\":true,";
    print_moved(who, moved, after, out, palette, json);
    out << "}\n";
  } else {
    print_moved(who, moved, after, out, palette, json);
  }
  return {};
}

}  // namespace keel::internal
