// `keel cluster status | hosts | shards`: what the cluster's tables in a
// PostgreSQL journal say (keel/cluster/cluster_view.h), as tables or JSON.
#include <map>

#include "command.h"
#include "keel/cluster/cluster_view.h"
#include "keel/journal/pg_journal.h"
#include "text.h"

namespace keel::internal {
namespace {

std::string lease_text(const HostView& h) {
  if (h.left) return "left";
  const long long ms = h.lease_left.count();
  return ms > 0 ? std::to_string(ms) + " ms left" : "ended " + std::to_string(-ms) + " ms ago";
}

// "live", "draining" (live and draining), "left" or "down".
std::string state_text(const HostView& h) {
  if (h.live) return h.draining ? "draining" : "live";
  return h.left ? "left" : "down";
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

// Shards held by each live host.
std::map<std::string, std::size_t> shards_by_host(const ClusterView& v) {
  std::map<std::string, std::size_t> out;
  for (const ShardHolder& s : v.shards) {
    if (s.live) ++out[s.host];
  }
  return out;
}

void write_host_json(std::ostream& out, const HostView& h, std::size_t shards) {
  out << "{\"id\":" << json_string(h.id) << ",\"incarnation\":" << h.incarnation << ",\"live\":" << (h.live ? "true" : "false")
      << ",\"left\":" << (h.left ? "true" : "false") << ",\"draining\":" << (h.draining ? "true" : "false")
      << ",\"lease_left_ms\":" << h.lease_left.count()
      << ",\"addresses\":[";
  for (std::size_t i = 0; i < h.addresses.size(); ++i) out << (i ? "," : "") << json_string(h.addresses[i]);
  out << "],\"labels\":{";
  bool first = true;
  for (const auto& [k, value] : h.labels) {
    out << (first ? "" : ",") << json_string(k) << ":" << json_string(value);
    first = false;
  }
  out << "},\"shards\":" << shards << "}";
}

Outcome status(const ClusterView& v, std::ostream& out, const Palette& palette, bool json) {
  std::size_t live = 0, held = 0;
  for (const HostView& h : v.hosts) live += h.live ? 1 : 0;
  for (const ShardHolder& s : v.shards) held += s.live ? 1 : 0;
  if (json) {
    out << "{\"cluster\":" << json_string(v.name) << ",\"journal\":" << json_string(v.journal)
        << ",\"hosts\":" << v.hosts.size() << ",\"live_hosts\":" << live << ",\"shards\":" << v.shards.size()
        << ",\"held_shards\":" << held << "}\n";
    return {};
  }
  out << "cluster " << v.name << " on " << v.journal << "\n"
      << "hosts   " << live << " live of " << v.hosts.size() << "\n"
      << "shards  " << held << " held by live hosts of " << v.shards.size() << " (" << v.shards.size() - held
      << " free or held by a host that is gone)\n";
  if (!v.hosts.empty()) {
    out << "\n";
    const std::map<std::string, std::size_t> by_host = shards_by_host(v);
    Table t({"HOST", "STATE", "SHARDS"});
    for (const HostView& h : v.hosts) {
      auto it = by_host.find(h.id);
      t.add({h.id, state_text(h), std::to_string(it == by_host.end() ? 0 : it->second)});
    }
    t.print(out, palette);
  }
  return {};
}

Outcome hosts(const ClusterView& v, std::ostream& out, const Palette& palette, bool json) {
  const std::map<std::string, std::size_t> by_host = shards_by_host(v);
  auto shards_of = [&by_host](const std::string& id) {
    auto it = by_host.find(id);
    return it == by_host.end() ? std::size_t{0} : it->second;
  };
  if (json) {
    out << "[";
    for (std::size_t i = 0; i < v.hosts.size(); ++i) {
      out << (i ? "," : "");
      write_host_json(out, v.hosts[i], shards_of(v.hosts[i].id));
    }
    out << "]\n";
    return {};
  }
  Table t({"HOST", "INCARNATION", "STATE", "LEASE", "SHARDS", "ADDRESSES", "LABELS"});
  for (const HostView& h : v.hosts) {
    t.add({h.id, std::to_string(h.incarnation), state_text(h), lease_text(h),
           std::to_string(shards_of(h.id)), joined(h.addresses), labels_to_string(h.labels)});
  }
  if (t.empty()) {
    out << "no hosts\n";
  } else {
    t.print(out, palette);
  }
  return {};
}

Outcome shards(const ClusterView& v, std::ostream& out, const Palette& palette, bool json) {
  if (json) {
    out << "[";
    for (std::size_t i = 0; i < v.shards.size(); ++i) {
      const ShardHolder& s = v.shards[i];
      out << (i ? "," : "") << "{\"shard\":" << s.shard << ",\"epoch\":" << s.epoch
          << ",\"host\":" << json_string(s.host) << ",\"incarnation\":" << s.incarnation
          << ",\"live\":" << (s.live ? "true" : "false") << "}";
    }
    out << "]\n";
    return {};
  }
  Table t({"SHARD", "EPOCH", "HOLDER", "STATE"});
  for (const ShardHolder& s : v.shards) {
    std::string holder = s.host.empty() ? "-" : s.incarnation > 0 ? s.host + "#" + std::to_string(s.incarnation) : s.host;
    t.add({std::to_string(s.shard), std::to_string(s.epoch), std::move(holder),
           s.live ? "held" : s.host.empty() ? "free" : "holder gone"});
  }
  t.print(out, palette);
  return {};
}

}  // namespace

Outcome check_cluster_url(const std::string& path) {
  if (is_pg_conninfo(path)) return {};
  return Outcome::fail(ExitCode::kUsage, "keel cluster reads a cluster's PostgreSQL journal: give a postgresql:// URL, "
                                         "not " + path);
}

Outcome cluster_read_failure(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound: return Outcome::fail(ExitCode::kNoJournal, std::string(s.message()));
    case StatusCode::kCorruption: return Outcome::fail(ExitCode::kNotAJournal, std::string(s.message()));
    case StatusCode::kFailedPrecondition: return Outcome::fail(ExitCode::kNewerFormat, std::string(s.message()));
    default: return from_status(s);
  }
}

Outcome run_cluster(std::string_view verb, const std::string& path, std::ostream& out, const Palette& palette,
                    bool json) {
  if (Outcome url = check_cluster_url(path); !url.ok()) return url;
  Result<ClusterView> v = read_cluster(path);
  if (!v) return cluster_read_failure(v.status());
  if (verb == "status") return status(*v, out, palette, json);
  if (verb == "hosts") return hosts(*v, out, palette, json);
  return shards(*v, out, palette, json);
}

}  // namespace keel::internal
