#include "registry_watches.h"

#include <algorithm>

namespace keel::internal {

void RegistryWatches::add(std::uint64_t client, std::uint64_t correlation, const Name& name, std::uint64_t version,
                          std::int64_t deadline_ns) {
  watches_[name].push_back(Watch{client, correlation, version, deadline_ns});
}

void RegistryWatches::changed(const Name& name, std::uint64_t version, const std::string& payload,
                              std::vector<RegistryAnswer>& out) {
  auto it = watches_.find(name);
  if (it == watches_.end()) return;
  std::erase_if(it->second, [&](const Watch& w) {
    if (w.version == version) return false;
    out.push_back(RegistryAnswer{w.client, w.correlation, payload});
    return true;
  });
  if (it->second.empty()) watches_.erase(it);
}

void RegistryWatches::forget_client(std::uint64_t client) {
  drop_if([&](const Watch& w) { return w.client == client; });
}

void RegistryWatches::drop_expired(std::int64_t now_ns) {
  drop_if([&](const Watch& w) { return w.deadline_ns != 0 && w.deadline_ns < now_ns; });
}

std::vector<RegistryWatches::Name> RegistryWatches::names(std::int64_t now_ns) {
  drop_expired(now_ns);
  std::vector<Name> out;
  for (const auto& [name, watches] : watches_) out.push_back(name);
  return out;
}

template <class Pred>
void RegistryWatches::drop_if(Pred pred) {
  for (auto it = watches_.begin(); it != watches_.end();) {
    std::erase_if(it->second, pred);
    it = it->second.empty() ? watches_.erase(it) : std::next(it);
  }
}

bool RegistryWatches::mark_due(const std::vector<Name>& names) {
  const bool first = due_.empty();
  due_.insert(names.begin(), names.end());
  return first && !due_.empty();
}

}  // namespace keel::internal
