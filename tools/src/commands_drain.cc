// `keel cluster drain HOST [--wait [--timeout SECONDS]] [--undo]`: marks a
// host draining (keel/cluster/drain.h) and, with --wait, polls the
// cluster's tables until the host holds no shard, then prints where its
// shards went.
#include <algorithm>
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
constexpr std::uint64_t kMaxWaitSeconds = 100'000'000;  // a longer --timeout is taken as this

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

// Polls until `host`#`incarnation` holds no shard, leaving the last view
// read in `last`. Errors: kTimedOut (`timeout` passed, or `stop` was set),
// kRefused (the incarnation stopped being live first), or those of
// read_cluster.
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
                                                   std::to_string(held.size()) + " shards: they move once its "
                                                   "lease has ended");
    }
    const bool stopped = stop != nullptr && stop->load(std::memory_order_relaxed);
    if (stopped || std::chrono::steady_clock::now() >= deadline) {
      const std::string when = stopped ? "when interrupted" : "after " + std::to_string(timeout.count()) + " s";
      return Outcome::fail(ExitCode::kTimedOut, who + " still holds " + std::to_string(held.size()) + " shards " +
                                                    when + "; it stays draining");
    }
    std::this_thread::sleep_for(kPollEvery);  // polling: nothing tells a reader of a release
  }
}

// What the command line asks for.
struct DrainRequest {
  std::string host;
  bool undo = false;
  bool wait = false;
  std::chrono::seconds timeout{kDefaultWaitSeconds};
  std::string secret;
};

// Errors: kInvalidArgument (options that do not go together, a bad
// --timeout, no secret).
Result<DrainRequest> parse_request(const Args& args, const std::string& secret_from_environment) {
  DrainRequest r;
  r.host = args.positional.at(0);
  r.undo = args.has("--undo");
  r.wait = args.has("--wait");
  if (r.undo && r.wait) return Status::invalid_argument("--undo and --wait do not go together");
  if (args.has("--timeout") && !r.wait) return Status::invalid_argument("--timeout goes with --wait");
  if (args.has("--timeout")) {
    KEEL_ASSIGN_OR_RETURN(std::uint64_t seconds, parse_u64(args.get("--timeout"), "--timeout"));
    r.timeout = std::chrono::seconds(std::min(seconds, kMaxWaitSeconds));
  }
  KEEL_ASSIGN_OR_RETURN(r.secret, cluster_secret(args, secret_from_environment));
  return r;
}

// The host marked (or unmarked, with --undo), when the command does not wait.
void print_marked(const DrainRequest& r, std::uint64_t incarnation, std::size_t shards, std::ostream& out,
                  bool json) {
  const std::string who = r.host + "#" + std::to_string(incarnation);
  if (json) {
    out << "{\"host\":" << json_string(r.host) << ",\"incarnation\":" << incarnation
        << ",\"draining\":" << (r.undo ? "false" : "true") << ",\"shards\":" << shards << "}\n";
  } else if (r.undo) {
    out << who << " is no longer draining: placement gives it its share again\n";
  } else {
    out << who << " is draining: its " << shards
        << " shards move to other hosts in their next rounds (--wait waits for them)\n";
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
  Result<DrainRequest> request = parse_request(args, secret_from_environment);
  if (!request) return Outcome::fail(ExitCode::kUsage, std::string(request.status().message()));
  // The shards the host holds before it is marked: what the drain moves.
  Result<ClusterView> before = read_cluster(path);
  if (!before) return cluster_read_failure(before.status());
  DrainOptions o;
  o.secret = request->secret;
  Result<std::uint64_t> incarnation =
      request->undo ? undrain_host(path, request->host, o) : drain_host(path, request->host, o);
  if (!incarnation) return cluster_failure(incarnation.status());
  const std::string who = request->host + "#" + std::to_string(*incarnation);
  const std::vector<std::uint32_t> moved = held_by(*before, request->host, *incarnation);
  if (request->undo || !request->wait) {
    print_marked(*request, *incarnation, moved.size(), out, json);
    return {};
  }
  if (!json) out << who << " is draining: waiting for its " << moved.size() << " shards to move\n" << std::flush;
  ClusterView after;
  Outcome waited = wait_drained(path, request->host, *incarnation, request->timeout, stop, &after);
  if (!waited.ok()) return waited;
  if (json) {
    out << "{\"host\":" << json_string(request->host) << ",\"incarnation\":" << *incarnation << ",\"draining\":true,";
    print_moved(who, moved, after, out, palette, json);
    out << "}\n";
  } else {
    print_moved(who, moved, after, out, palette, json);
  }
  return {};
}

}  // namespace keel::internal
