// keel-agent: hosts actors in worker processes and routes clients' spawns
// and calls to them (docs/distribution.md).
//
//   keel-agent --listen 127.0.0.1:7700 --worker ./my-worker --workers 2
//              --journal /var/lib/keel --secret-file /etc/keel/secret   (one line)
//
// Options may also come from --config FILE, one "name = value" per line
// with the option names without dashes ("listen = 0.0.0.0:7700"); the
// command line wins. The secret comes from --secret-file (its content
// without surrounding whitespace) or KEEL_SECRET (as is).
// --metrics HOST:PORT serves GET /metrics (Prometheus text format 0.0.4,
// docs/metrics.md) on a loopback address; port 0 picks a free one.
// In a cluster (docs/cluster.md, "Agents in a cluster"): --cluster URL (a
// PostgreSQL journal's URL) with --host-id ID, the cluster's secret from
// --cluster-secret-file or KEEL_CLUSTER_SECRET, and optionally
// --cluster-name NAME, --label KEY=VALUE (repeated), --slots N,
// --advertise HOST:PORT (what clients and peers dial; default the listen
// address) and --lease-ms MS.
// Prints one line "keel-agent: ready on HOST:PORT ..." once every worker is
// up (ending with "; metrics on URL" with --metrics), and stops (workers
// included) on SIGINT or SIGTERM.
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "keel/agent/agent.h"
#include "metrics_endpoint.h"
#include "protocol.h"

namespace {

constexpr const char* kUsage =
    "usage: keel-agent --listen HOST:PORT --worker EXE [--worker-arg ARG]... [--workers N]\n"
    "                  [--journal DIR] [--secret-file FILE] [--max-restarts N]\n"
    "                  [--restart-window-ms MS] [--heartbeat-ms MS] [--heartbeat-timeout-ms MS]\n"
    "                  [--tls-cert FILE --tls-key FILE] [--metrics HOST:PORT] [--config FILE]\n"
    "                  [--direct-calls on|off]\n"
    "                  [--cluster URL --host-id ID [--cluster-secret-file FILE] [--cluster-name NAME]\n"
    "                   [--label KEY=VALUE]... [--slots N] [--advertise HOST:PORT] [--lease-ms MS]]\n";

// `s` without the spaces, tabs, carriage returns and newlines around it.
std::string trim(const std::string& s) {
  constexpr const char* kSpace = " \t\r\n";
  const auto b = s.find_first_not_of(kSpace);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// The secret in `path`: its content without the whitespace around it (the
// newline an editor or `echo` leaves), so that clients use the same bytes.
// Errors: kIoError (unreadable), kInvalidArgument (nothing but whitespace).
keel::Result<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return keel::Status::io_error("cannot read secret file " + path + ": " + std::strerror(errno));
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) return keel::Status::io_error("cannot read secret file " + path);
  std::string secret = trim(content.str());
  if (secret.empty()) return keel::Status::invalid_argument("secret file " + path + " is empty");
  return secret;
}

// Reads "name = value" lines ('#' starts a comment) into `out`, without
// overriding what the command line set.
keel::Status read_config(const std::string& path, std::multimap<std::string, std::string>& out) {
  std::ifstream in(path);
  if (!in) return keel::Status::io_error("cannot read config " + path);
  std::multimap<std::string, std::string> file;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      return keel::Status::invalid_argument(path + ":" + std::to_string(n) + ": expected name = value");
    }
    file.emplace(trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
  }
  for (auto& [k, v] : file) {
    if (out.count(k) == 0 || k == "worker-arg" || k == "label") out.emplace(k, v);
  }
  return keel::Status::ok();
}

// The cluster options, when --cluster is given. Errors: kInvalidArgument
// (no --host-id, no secret, a label without '='), kIoError (an unreadable
// secret file).
keel::Status parse_cluster(const std::multimap<std::string, std::string>& flags, keel::AgentClusterOptions& c) {
  auto one = [&](const char* name) -> const std::string* {
    auto it = flags.find(name);
    return it == flags.end() ? nullptr : &it->second;
  };
  const std::string* url = one("cluster");
  if (url == nullptr) {
    for (const char* n : {"host-id", "cluster-secret-file", "cluster-name", "label", "slots", "advertise", "lease-ms"}) {
      if (one(n) != nullptr) return keel::Status::invalid_argument("--" + std::string(n) + " needs --cluster");
    }
    return keel::Status::ok();
  }
  c.url = *url;
  const std::string* id = one("host-id");
  if (id == nullptr) return keel::Status::invalid_argument("--cluster needs --host-id");
  c.host.id = *id;
  auto labels = flags.equal_range("label");
  for (auto it = labels.first; it != labels.second; ++it) {
    const auto eq = it->second.find('=');
    if (eq == std::string::npos || eq == 0) {
      return keel::Status::invalid_argument("--label '" + it->second + "': expected KEY=VALUE");
    }
    c.host.labels[it->second.substr(0, eq)] = it->second.substr(eq + 1);
  }
  if (const std::string* n = one("slots")) c.host.slots = static_cast<std::uint32_t>(std::atoll(n->c_str()));
  if (const std::string* a = one("advertise")) c.advertise = *a;
  if (const std::string* n = one("cluster-name")) c.membership.cluster = *n;
  if (const std::string* n = one("lease-ms")) c.membership.lease = std::chrono::milliseconds(std::atoll(n->c_str()));
  if (const std::string* f = one("cluster-secret-file")) {
    KEEL_ASSIGN_OR_RETURN(c.membership.secret, read_secret_file(*f));
  } else if (const char* s = std::getenv("KEEL_CLUSTER_SECRET")) {
    c.membership.secret = s;
  }
  if (c.membership.secret.empty()) {
    return keel::Status::invalid_argument("no cluster secret: give --cluster-secret-file or set KEEL_CLUSTER_SECRET");
  }
  return keel::Status::ok();
}

keel::Result<keel::AgentOptions> parse(int argc, char** argv) {
  std::multimap<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) return keel::Status::invalid_argument("bad argument " + a);
    flags.emplace(a.substr(2), argv[++i]);
  }
  if (auto c = flags.find("config"); c != flags.end()) KEEL_RETURN_IF_ERROR(read_config(c->second, flags));
  keel::AgentOptions o;
  auto one = [&](const char* name) -> const std::string* {
    auto it = flags.find(name);
    return it == flags.end() ? nullptr : &it->second;
  };
  for (auto& [k, v] : flags) {
    static const char* const kKnown[] = {"config",       "listen",      "worker",           "worker-arg",
                                         "workers",      "journal",     "secret-file",      "max-restarts",
                                         "restart-window-ms", "heartbeat-ms", "heartbeat-timeout-ms", "tls-cert", "tls-key", "metrics",
                                         "cluster", "host-id", "cluster-secret-file", "cluster-name", "label",
                                         "slots", "advertise", "lease-ms", "direct-calls"};
    bool known = false;
    for (const char* n : kKnown) known = known || k == n;
    if (!known) return keel::Status::invalid_argument("unknown option --" + k);
    (void)v;
  }
  if (const std::string* l = one("listen")) {
    KEEL_ASSIGN_OR_RETURN(auto hp, keel::internal::parse_host_port(*l));
    o.listen_host = hp.first;
    o.listen_port = hp.second;
  }
  if (const std::string* m = one("metrics")) {
    KEEL_ASSIGN_OR_RETURN(auto hp, keel::internal::parse_host_port(*m));
    std::string host = hp.first;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (!keel::internal::is_loopback_address(host)) {
      return keel::Status::invalid_argument("--metrics must name a loopback address (127.0.0.1 or [::1]), not '" +
                                            hp.first + "'");
    }
    o.metrics_host = host;
    o.metrics_port = hp.second;
  }
  if (const std::string* w = one("worker")) o.worker_argv.push_back(*w);
  auto args = flags.equal_range("worker-arg");
  for (auto it = args.first; it != args.second; ++it) o.worker_argv.push_back(it->second);
  if (const std::string* n = one("workers")) o.workers = std::atoi(n->c_str());
  if (const std::string* j = one("journal")) o.journal_dir = *j;
  if (const std::string* n = one("max-restarts")) o.max_restarts = std::atoi(n->c_str());
  if (const std::string* n = one("restart-window-ms")) o.restart_window = std::chrono::milliseconds(std::atoll(n->c_str()));
  if (const std::string* n = one("heartbeat-ms")) o.heartbeat_interval = std::chrono::milliseconds(std::atoll(n->c_str()));
  if (const std::string* n = one("heartbeat-timeout-ms")) {
    o.heartbeat_timeout = std::chrono::milliseconds(std::atoll(n->c_str()));
  }
  if (const std::string* d = one("direct-calls")) {
    if (*d != "on" && *d != "off") return keel::Status::invalid_argument("--direct-calls takes on or off, not '" + *d + "'");
    o.direct_calls = *d == "on";
  }
  if (const std::string* c = one("tls-cert")) {
    o.tls.enabled = true;
    o.tls.certificate_chain_file = *c;
    if (const std::string* k = one("tls-key")) o.tls.private_key_file = *k;
  }
  if (const std::string* f = one("secret-file")) {
    KEEL_ASSIGN_OR_RETURN(o.secret, read_secret_file(*f));
  } else if (const char* s = std::getenv("KEEL_SECRET")) {
    o.secret = s;
  }
  KEEL_RETURN_IF_ERROR(parse_cluster(flags, o.cluster));
  if (o.worker_argv.empty()) return keel::Status::invalid_argument("--worker is required");
  if (o.secret.empty()) return keel::Status::invalid_argument("no secret: give --secret-file or set KEEL_SECRET");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse(argc, argv);
  if (!options) {
    std::fprintf(stderr, "keel-agent: %s\n%s", options.status().to_string().c_str(), kUsage);
    return 2;
  }
  // Blocked before any thread starts, so that sigwait below receives them;
  // workers get an empty mask back before exec.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  auto agent = keel::Agent::start(*options);
  if (!agent) {
    std::fprintf(stderr, "keel-agent: %s\n", agent.status().to_string().c_str());
    return 1;
  }
  const auto startup_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  const std::string url = (*agent)->metrics_url();
  const std::string metrics = url.empty() ? "" : "; metrics on " + url;
  const std::string cluster = options->cluster.url.empty() ? "" : "; host " + options->cluster.host.id + " of cluster " + options->cluster.membership.cluster;
  std::printf("keel-agent: ready on %s:%u with %d workers in %lld us%s%s\n", options->listen_host.c_str(),
              static_cast<unsigned>((*agent)->port()), options->workers, static_cast<long long>(startup_us),
              metrics.c_str(), cluster.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "keel-agent: signal %d: stopping\n", sig);
  agent->reset();
  return 0;
}
