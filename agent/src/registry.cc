#include "registry.h"

#include <algorithm>
#include <chrono>
#include <tuple>
#include <utility>

#include "keel/wire/value.h"

namespace keel::internal {

Result<RegistryCall> decode_registry_call(std::string_view method, std::string_view payload) {
  RegistryCall call;
  if (method == "register" || method == "unregister") {
    call.method = method == "register" ? RegistryCall::Method::kRegister : RegistryCall::Method::kUnregister;
    KEEL_ASSIGN_OR_RETURN(std::tie(call.ns, call.name, call.key),
                          (wire::decode_args<std::string, std::string, std::string>(payload)));
  } else if (method == "lookup") {
    call.method = RegistryCall::Method::kLookup;
    KEEL_ASSIGN_OR_RETURN(std::tie(call.ns, call.name), (wire::decode_args<std::string, std::string>(payload)));
  } else if (method == "watch") {
    call.method = RegistryCall::Method::kWatch;
    KEEL_ASSIGN_OR_RETURN(std::tie(call.ns, call.name, call.version),
                          (wire::decode_args<std::string, std::string, std::uint64_t>(payload)));
  } else {
    return Status::not_found("no registry method '" + std::string(method) + "'");
  }
  if (call.ns.empty() || call.name.empty() || call.ns.find('/') != std::string::npos) {
    return Status::invalid_argument("registry names need a namespace without '/' and a name, not '" + call.ns +
                                    "', '" + call.name + "'");
  }
  return call;
}

std::string encode_registry_members(std::uint64_t version, const std::vector<std::string>& keys) {
  return wire::encode_value(std::make_pair(version, keys));
}

std::int64_t registry_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Registry::changed(const Name& name, Entry& e, std::vector<RegistryAnswer>& out) {
  ++e.version;
  watches_.changed(name, e.version, members(e), out);
}

void Registry::handle(std::uint64_t client, std::uint64_t correlation, std::string_view method,
                      std::string_view payload, std::int64_t deadline_ns,
                      const std::function<bool(const std::string&)>& is_hosted, std::vector<RegistryAnswer>& out) {
  auto answer = [&](Result<std::string> r) { out.push_back(RegistryAnswer{client, correlation, std::move(r)}); };
  Result<RegistryCall> call = decode_registry_call(method, payload);
  if (!call) return answer(call.status());
  const Name name(call->ns, call->name);
  switch (call->method) {
    case RegistryCall::Method::kRegister:
    case RegistryCall::Method::kUnregister: {
      const bool add = call->method == RegistryCall::Method::kRegister;
      if (add && !is_hosted(call->key)) return answer(Status::not_found("no actor '" + call->key + "'"));
      Entry& e = names_[name];
      auto at = std::find(e.keys.begin(), e.keys.end(), call->key);
      if (add && at == e.keys.end()) {
        e.keys.push_back(call->key);
        changed(name, e, out);
      } else if (!add && at != e.keys.end()) {
        e.keys.erase(at);
        changed(name, e, out);
      }
      return answer(members(e));
    }
    case RegistryCall::Method::kLookup:
      return answer(members(names_[name]));
    case RegistryCall::Method::kWatch: {
      Entry& e = names_[name];
      if (e.version != call->version) return answer(members(e));
      // Watches whose caller has given up are dropped as new ones come.
      watches_.drop_expired(registry_now_ns());
      watches_.add(client, correlation, name, e.version, deadline_ns);
      return;
    }
  }
}

void Registry::forget_key(const std::string& key, std::vector<RegistryAnswer>& out) {
  for (auto& [name, e] : names_) {
    auto at = std::find(e.keys.begin(), e.keys.end(), key);
    if (at == e.keys.end()) continue;
    e.keys.erase(at);
    changed(name, e, out);
  }
}

void Registry::forget_client(std::uint64_t client) { watches_.forget_client(client); }

}  // namespace keel::internal
