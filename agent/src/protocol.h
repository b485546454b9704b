// protocol.h: what keel-agent and its workers agree on beyond
// docs/wire-protocol.md (docs/distribution.md, "Agent and workers").
// Internal to Keel::agent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "keel/base/status.h"
#include "keel/wire/control.h"
#include "keel/wire/transport.h"

namespace keel::internal {

// A worker's first frame on its connection to the agent is a Register with
// this name, node = its slot, key = its pid in decimal and request_id = the
// port it takes clients' calls on directly (0: none).
inline constexpr std::string_view kWorkerRegisterName = "keel.worker";

// remote_type of the errors the agent itself raises (no such actor, worker
// gone...), as opposed to errors of a remote handler ("<Type>.<method>").
inline constexpr std::string_view kAgentErrorType = "keel-agent";

// Calls from the agent to a worker that is one of a cluster's journal
// writers, addressed to this key: kHoldShards (args: shards, epochs) and
// kReleaseShards (args: shards); each is answered with an empty reply or
// an error (docs/distribution.md, "Agents in a cluster").
inline constexpr std::string_view kShardsKey = "keel.shards";
inline constexpr std::string_view kHoldShards = "hold";
inline constexpr std::string_view kReleaseShards = "release";

// A client's call to an agent in a cluster, addressed to this key with
// method kShardMap and no arguments, is answered with encode_args of a
// std::vector<std::string>: for every shard, by number, the address
// ("HOST:PORT") of the live host that holds it, or "" (docs/cluster.md,
// "Agents in a cluster"). The client spells the same key.
inline constexpr std::string_view kClusterKey = "keel.cluster";
inline constexpr std::string_view kShardMap = "shards";

// A client's call to an agent addressed to this key, with method kWhere
// and encode_args(std::string key), is answered with encode_args of a
// std::uint32_t: the port, on the agent's own host, where the worker that
// hosts `key` takes calls directly, or 0 when the actor is not hosted
// here (not spawned, not ready, its shard held elsewhere) or its worker
// takes none (docs/distribution.md, "Direct calls"). The client spells
// the same key.
inline constexpr std::string_view kRouteKey = "keel.route";
inline constexpr std::string_view kWhere = "where";

// Keys "gang/<ticket>/<rank>": members of a cluster gang (keel::Client::
// gang_member_key), plain actors pinned to their rank's host instead of
// placed by shard.
inline constexpr std::string_view kGangKeyPrefix = "gang/";
inline bool is_gang_key(std::string_view key) { return key.starts_with(kGangKeyPrefix); }

// The journal owner of the durable actor `key` (docs/journal-format.md).
inline std::string durable_owner(std::string_view key) { return "actor/" + std::string(key); }

// Encodes `m` and sends it on `c`; errors as Connection::send.
template <class M>
Status send_message(wire::Connection& c, const M& m) {
  return c.send(wire::message_type_of(m), wire::encode_body(m));
}

// The ErrorMessage for `correlation` built from `s` (not ok).
inline wire::ErrorMessage error_message(std::uint64_t correlation, const Status& s, std::string_view remote_type) {
  wire::ErrorMessage e;
  e.correlation_id = correlation;
  e.code = s.code();
  e.remote_type = std::string(remote_type);
  e.message = std::string(s.message());
  return e;
}

// Sends error_message(correlation, s, remote_type) on `c`.
inline Status send_error(wire::Connection& c, std::uint64_t correlation, const Status& s,
                         std::string_view remote_type) {
  return send_message(c, error_message(correlation, s, remote_type));
}

// Splits "host:port". Errors: kInvalidArgument.
inline Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::invalid_argument("expected HOST:PORT, got '" + std::string(s) + "'");
  }
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(std::string(s.substr(colon + 1)), &used);
    if (used != s.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return Status::invalid_argument("bad port in '" + std::string(s) + "'");
  }
  return std::make_pair(std::string(s.substr(0, colon)), static_cast<std::uint16_t>(port));
}

}  // namespace keel::internal
