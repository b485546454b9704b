#include "registry.h"

#include <algorithm>
#include <chrono>
#include <tuple>
#include <utility>

#include "keel/wire/value.h"

namespace keel::internal {
namespace {

Result<std::string> full_name(const std::string& ns, const std::string& name) {
  if (ns.empty() || name.empty() || ns.find('/') != std::string::npos) {
    return Status::invalid_argument("registry names need a namespace without '/' and a name, not '" + ns + "', '" +
                                    name + "'");
  }
  return ns + "/" + name;
}

}  // namespace

std::string Registry::members(const Entry& e) { return wire::encode_value(std::make_pair(e.version, e.keys)); }

void Registry::changed(Entry& e, std::vector<RegistryAnswer>& out) {
  ++e.version;
  for (const Watch& w : e.watches) out.push_back(RegistryAnswer{w.client, w.correlation, members(e)});
  e.watches.clear();
}

void Registry::handle(std::uint64_t client, std::uint64_t correlation, std::string_view method,
                      std::string_view payload, std::int64_t deadline_ns,
                      const std::function<bool(const std::string&)>& is_hosted, std::vector<RegistryAnswer>& out) {
  auto answer = [&](Result<std::string> r) { out.push_back(RegistryAnswer{client, correlation, std::move(r)}); };
  if (method == "register" || method == "unregister") {
    auto args = wire::decode_args<std::string, std::string, std::string>(payload);
    if (!args) return answer(args.status());
    auto& [ns, name, key] = *args;
    auto full = full_name(ns, name);
    if (!full) return answer(full.status());
    if (method == "register" && !is_hosted(key)) return answer(Status::not_found("no actor '" + key + "'"));
    Entry& e = names_[*full];
    auto at = std::find(e.keys.begin(), e.keys.end(), key);
    if (method == "register" && at == e.keys.end()) {
      e.keys.push_back(key);
      changed(e, out);
    } else if (method == "unregister" && at != e.keys.end()) {
      e.keys.erase(at);
      changed(e, out);
    }
    return answer(members(e));
  }
  if (method == "lookup") {
    auto args = wire::decode_args<std::string, std::string>(payload);
    if (!args) return answer(args.status());
    auto full = full_name(std::get<0>(*args), std::get<1>(*args));
    if (!full) return answer(full.status());
    return answer(members(names_[*full]));
  }
  if (method == "watch") {
    auto args = wire::decode_args<std::string, std::string, std::uint64_t>(payload);
    if (!args) return answer(args.status());
    auto full = full_name(std::get<0>(*args), std::get<1>(*args));
    if (!full) return answer(full.status());
    Entry& e = names_[*full];
    if (e.version != std::get<2>(*args)) return answer(members(e));
    // Watches whose caller has given up are dropped as new ones come.
    const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    std::erase_if(e.watches, [&](const Watch& w) { return w.deadline_ns != 0 && w.deadline_ns < now; });
    e.watches.push_back(Watch{client, correlation, e.version, deadline_ns});
    return;
  }
  answer(Status::not_found("no registry method '" + std::string(method) + "'"));
}

void Registry::forget_key(const std::string& key, std::vector<RegistryAnswer>& out) {
  for (auto& [full, e] : names_) {
    auto at = std::find(e.keys.begin(), e.keys.end(), key);
    if (at == e.keys.end()) continue;
    e.keys.erase(at);
    changed(e, out);
  }
}

void Registry::forget_client(std::uint64_t client) {
  for (auto& [full, e] : names_) {
    std::erase_if(e.watches, [&](const Watch& w) { return w.client == client; });
  }
}

}  // namespace keel::internal
