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

namespace keel::internal {

inline constexpr std::string_view kRegistryKey = "keel.registry";

// An answer to a registry call: the client connection, its correlation id,
// and the reply payload (wire::encode_value of
// std::pair<std::uint64_t, std::vector<std::string>>: version and keys, in
// registration order) or the error.
struct RegistryAnswer {
  std::uint64_t client = 0;
  std::uint64_t correlation = 0;
  Result<std::string> payload;
};

// A client's registry watch: its call, waiting for a version other than
// `version` until `deadline_ns` (system clock, ns since the epoch; 0: none).
struct RegistryWatch {
  std::uint64_t client = 0;
  std::uint64_t correlation = 0;
  std::uint64_t version = 0;
  std::int64_t deadline_ns = 0;
};

// Not thread-safe: the agent calls it under its lock.
class Registry {
 public:
  // Handles one call. Methods and arguments (wire::encode_args):
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
  using Watch = RegistryWatch;
  struct Entry {
    std::uint64_t version = 0;
    std::vector<std::string> keys;
    std::vector<Watch> watches;
  };
  static std::string members(const Entry& e);
  // Bumps the version and answers the watches of `e`.
  static void changed(Entry& e, std::vector<RegistryAnswer>& out);

  std::map<std::string, Entry> names_;  // "ns/name"
};

}  // namespace keel::internal
