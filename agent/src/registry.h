// registry.h: the agent's endpoint registry. Actors register under a name
// in a namespace; several under one name form a pool. Clients reach it as
// calls to the reserved key "keel.registry" (docs/distribution.md,
// "Registry"). Internal to Keel::agent.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/status.h"
#include "registry_watches.h"

namespace keel::internal {

inline constexpr std::string_view kRegistryKey = "keel.registry";

// A client's registry call, decoded: its method and arguments (those
// Registry::handle lists).
struct RegistryCall {
  enum class Method : std::uint8_t { kRegister, kUnregister, kLookup, kWatch };
  Method method = Method::kLookup;
  std::string ns;
  std::string name;
  std::string key;            // kRegister, kUnregister
  std::uint64_t version = 0;  // kWatch
};

// Decodes a registry call. Errors: kNotFound (an unknown method),
// kCorruption (arguments that do not decode), kInvalidArgument (an empty
// namespace or name, a '/' in the namespace).
Result<RegistryCall> decode_registry_call(std::string_view method, std::string_view payload);
// A registry answer's payload: wire::encode_value of
// std::pair<std::uint64_t, std::vector<std::string>>, version and keys.
std::string encode_registry_members(std::uint64_t version, const std::vector<std::string>& keys);
// The system clock now, in ns since the epoch: what watch deadlines are
// compared with.
std::int64_t registry_now_ns();

// Not thread-safe: the agent calls it under its lock.
class Registry {
 public:
  // Handles one call (decode_registry_call). Methods and arguments
  // (wire::encode_args):
  //   register(ns, name, key), unregister(ns, name, key): answer at once
  //     with the members after the change;
  //   lookup(ns, name): the members now;
  //   watch(ns, name, version): the members as soon as their version
  //     differs from `version` (at once if it does), until `deadline_ns`.
  // Errors: kInvalidArgument (an empty namespace or name, a '/' in the
  // namespace), kNotFound (register of a key `is_hosted` rejects, or an
  // unknown method), kCorruption (arguments that do not decode). Answers,
  // the caller's own and those of watches a change wakes, go to `out`.
  void handle(std::uint64_t client, std::uint64_t correlation, std::string_view method, std::string_view payload,
              std::int64_t deadline_ns, const std::function<bool(const std::string&)>& is_hosted,
              std::vector<RegistryAnswer>& out);
  // The actor `key` has gone: removes it from every name.
  void forget_key(const std::string& key, std::vector<RegistryAnswer>& out);
  // The client has gone: drops its watches.
  void forget_client(std::uint64_t client);

 private:
  using Name = RegistryWatches::Name;
  struct Entry {
    std::uint64_t version = 0;
    std::vector<std::string> keys;
  };
  static std::string members(const Entry& e) { return encode_registry_members(e.version, e.keys); }
  // Bumps the version of `name` (entry `e`) and answers its watches.
  void changed(const Name& name, Entry& e, std::vector<RegistryAnswer>& out);

  std::map<Name, Entry> names_;
  RegistryWatches watches_;
};

}  // namespace keel::internal
