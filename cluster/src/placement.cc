#include "keel/cluster/placement.h"

#include "keel/base/rendezvous.h"

namespace keel {

bool labels_match(const Labels& labels, const Labels& required) {
  for (const auto& [key, value] : required) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

std::string labels_to_string(const Labels& labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    if (!out.empty()) out += ',';
    out += key + "=" + value;
  }
  return out;
}

Result<Labels> labels_from_string(std::string_view text) {
  Labels out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::invalid_argument("label \"" + std::string(entry) + "\": write key=value");
    }
    if (!out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1))).second) {
      return Status::invalid_argument("label \"" + std::string(entry.substr(0, eq)) + "\" is given twice");
    }
  }
  return out;
}

Result<std::string> place_shard(std::uint32_t shard, const std::vector<PlacementHost>& hosts, const Labels& required) {
  const std::string key = std::to_string(shard);
  const PlacementHost* best = nullptr;
  std::uint64_t best_weight = 0;
  for (const PlacementHost& h : hosts) {
    if (!labels_match(h.labels, required)) continue;
    const std::uint64_t w = rendezvous_weight(h.id, key);
    if (best == nullptr || w > best_weight || (w == best_weight && h.id < best->id)) {
      best = &h;
      best_weight = w;
    }
  }
  if (best != nullptr) return best->id;
  if (hosts.empty()) return Status::failed_precondition("no live host to place shard " + key + " on");
  return Status::failed_precondition("no live host has the labels " + labels_to_string(required) + " (" +
                                     std::to_string(hosts.size()) + " live host" + (hosts.size() == 1 ? "" : "s") +
                                     " without them)");
}

std::vector<std::string> shard_map(std::uint32_t shards, const std::vector<PlacementHost>& hosts) {
  std::vector<std::string> out;
  if (hosts.empty()) return out;
  out.reserve(shards);
  for (std::uint32_t s = 0; s < shards; ++s) out.push_back(*place_shard(s, hosts));
  return out;
}

}  // namespace keel
