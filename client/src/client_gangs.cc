// keel::Client's cluster gangs: allocation, release and dead members are
// calls to an agent of the cluster under its cluster key (method "gang",
// "gang-release", "gang-dead"; docs/cluster.md, "Gangs through the
// agents"), and members are spawned on their rank's agent.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "keel/client/client.h"

namespace keel {
namespace {

constexpr const char* kClusterKey = "keel.cluster";


std::vector<GangMember> members_of(const std::vector<std::uint32_t>& ranks, std::vector<std::string>& hosts) {
  std::vector<GangMember> out;
  for (std::size_t i = 0; i < ranks.size() && i < hosts.size(); ++i) out.push_back(GangMember{ranks[i], std::move(hosts[i])});
  return out;
}

}  // namespace

Future<std::string> Client::call_cluster(std::string method, std::string payload, bool elsewhere_when_lost) {
  auto out = std::make_shared<Promise<std::string>>();
  Future<std::string> f = out->future();
  call_cluster_from(0, std::move(method), std::move(payload), elsewhere_when_lost, out);
  return f;
}

void Client::call_cluster_from(std::size_t from, std::string method, std::string payload, bool elsewhere_when_lost,
                               std::shared_ptr<Promise<std::string>> out) {
  std::size_t i = from;
  while (i < agents().size() && !is_connected(i)) ++i;
  if (i == agents().size()) {
    out->set_error(Status::unavailable("no agent of the cluster is connected"));
    return;
  }
  // Not idempotent: an allocation sent twice would make two gangs.
  call_on(i, kClusterKey, method, payload, CallOptions{})
      .then([this, i, method, payload, elsewhere_when_lost, out](Result<std::string> r) mutable {
        if (!r && elsewhere_when_lost && r.status().code() == StatusCode::kUnavailable) {
          return call_cluster_from(i + 1, std::move(method), std::move(payload), elsewhere_when_lost, out);
        }
        out->try_set(std::move(r));
      });
}

std::string Client::gang_member_key(const std::string& ticket, std::uint32_t rank) {
  return "gang/" + ticket + "/" + std::to_string(rank);
}

Future<ClusterGang> Client::allocate_gang(const GangRequest& request) {
  std::vector<std::string> labels;
  for (const auto& [k, v] : request.required) labels.push_back(k + "=" + v);
  return call_cluster("gang",
                      wire::encode_args(request.name, request.size, static_cast<std::uint32_t>(request.policy), labels),
                      /*elsewhere_when_lost=*/false)
      .then([this](Result<std::string> r) -> Result<ClusterGang> {
        if (!r) return r.status();
        KEEL_ASSIGN_OR_RETURN(auto a, (wire::decode_args<std::string, std::vector<std::uint32_t>,
                                                         std::vector<std::string>, std::vector<std::string>>(*r)));
        auto& [ticket, ranks, hosts, addresses] = a;
        ClusterGang g{ticket, members_of(ranks, hosts), {}};
        const std::vector<AgentEndpoint> known = agents();
        for (const std::string& address : addresses) {
          const auto at = std::find_if(known.begin(), known.end(),
                                       [&](const AgentEndpoint& e) { return e.to_string() == address; });
          g.agents.push_back(static_cast<std::size_t>(at - known.begin()));
        }
        return g;
      });
}

Future<void> Client::release_gang(const std::string& ticket) {
  return call_cluster("gang-release", wire::encode_args(ticket), /*elsewhere_when_lost=*/true)
      .then([](Result<std::string> r) -> Status { return r.status(); });
}

Future<std::vector<GangMember>> Client::dead_gang_members(const std::string& ticket) {
  return call_cluster("gang-dead", wire::encode_args(ticket), /*elsewhere_when_lost=*/true)
      .then([](Result<std::string> r) -> Result<std::vector<GangMember>> {
        if (!r) return r.status();
        KEEL_ASSIGN_OR_RETURN(auto a, (wire::decode_args<std::vector<std::uint32_t>, std::vector<std::string>>(*r)));
        return members_of(std::get<0>(a), std::get<1>(a));
      });
}

Future<SpawnInfo> Client::spawn_gang_member(const ClusterGang& gang, std::uint32_t rank, const std::string& type,
                                            Duration deadline) {
  if (rank >= gang.members.size() || rank >= gang.agents.size()) {
    return Future<SpawnInfo>::ready(Status::invalid_argument("gang " + gang.ticket + " has no rank " + std::to_string(rank)));
  }
  if (gang.agents[rank] >= agents().size()) {
    return Future<SpawnInfo>::ready(Status::failed_precondition(
        "the host " + gang.members[rank].host + " of rank " + std::to_string(rank) + " is not one of this client's agents"));
  }
  return spawn_on(gang.agents[rank], type, gang_member_key(gang.ticket, rank), deadline);
}

}  // namespace keel
