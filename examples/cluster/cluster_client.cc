// cluster_client.cc: a client of a three-host cluster of keel-agents.
//
//   cluster_client HOST:PORT,HOST:PORT,... start
//     spawns the durable ledgers acct-0..acct-11 (each on the host holding
//     its shard), deposits 1000 cents in each, allocates a gang of three
//     Trainers spread over the hosts and greets each rank; prints
//     "gang: TICKET".
//   cluster_client HOST:PORT,HOST:PORT,... continue TICKET
//     after a host was killed: deposits 1000 cents in each ledger again
//     (the dead host's ledgers answer from their new hosts once its lease
//     has ended), prints every balance and the gang's dead members, and
//     exits 0 when every ledger holds 2000 cents.
//
// The secret comes from KEEL_SECRET. Run by scripts/cluster_demo.sh.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "../remote/ledger.h"
#include "trainer.h"

// [snippet connect]
#include <chrono>
#include <memory>
#include <vector>

#include "keel/client/client.h"

// Connects to the agents of a cluster, listed as they advertise themselves.
// Every key goes to the host that holds its shard; when a host dies, calls
// wait (within their deadline) until its shards have moved, then follow.
keel::Result<std::unique_ptr<keel::Client>> connect_to_cluster(std::vector<keel::AgentEndpoint> agents,
                                                               const char* secret) {
  keel::ClientOptions options;
  options.secret = secret;
  options.cluster = true;                // route every key by the cluster's shard map
  options.allow_partial_connect = true;  // a dead host's agent does not stop the others
  options.retry.max_attempts = 100;
  options.retry.max_backoff = std::chrono::milliseconds(200);
  return keel::Client::connect(std::move(agents), options);
}
// [/snippet connect]

namespace {

constexpr int kLedgers = 12;

std::vector<keel::AgentEndpoint> parse_agents(const std::string& list) {
  std::vector<keel::AgentEndpoint> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto colon = item.rfind(':');
    if (colon == std::string::npos) continue;
    out.push_back({item.substr(0, colon), static_cast<std::uint16_t>(std::atoi(item.c_str() + colon + 1))});
  }
  return out;
}

// Deposits 1000 cents in acct-i; a deposit the dead host applied but never
// acknowledged is applied once (the retry carries the same message id).
keel::Status deposit(keel::Client& client, const std::string& key) {
  keel::CallOptions once;
  once.idempotent = true;
  once.deadline = std::chrono::seconds(30);  // through a failover: the lease, then the claim
  keel::Result<std::int64_t> r = client.call_with<&Ledger::deposit>(once, key, std::int64_t{1000}).get();
  if (r || r.status().code() == keel::StatusCode::kAlreadyExists) return keel::Status::ok();
  return r.status();
}

int start(keel::Client& client) {
  for (int i = 0; i < kLedgers; ++i) {
    const std::string key = "acct-" + std::to_string(i);
    keel::Result<keel::SpawnInfo> s = client.spawn("Ledger", key).get();
    if (!s) return std::fprintf(stderr, "spawn %s: %s\n", key.c_str(), s.status().to_string().c_str()), 1;
    if (keel::Status d = deposit(client, key); !d.is_ok()) {
      return std::fprintf(stderr, "deposit %s: %s\n", key.c_str(), d.to_string().c_str()), 1;
    }
    std::printf("%s on %s\n", key.c_str(), s->endpoint.to_string().c_str());
  }
  // [snippet gang]
  keel::Result<keel::ClusterGang> gang =
      client.allocate_gang(keel::GangRequest{"trainer", 3, keel::GangPolicy::kStrictSpread, {}}).get();
  if (!gang) return std::fprintf(stderr, "gang: %s\n", gang.status().to_string().c_str()), 1;
  for (std::uint32_t rank = 0; rank < gang->members.size(); ++rank) {
    if (auto s = client.spawn_gang_member(*gang, rank, "Trainer").get(); !s) {
      return std::fprintf(stderr, "rank %u: %s\n", rank, s.status().to_string().c_str()), 1;
    }
    const std::string key = keel::Client::gang_member_key(gang->ticket, rank);
    keel::Result<std::string> hello = client.call<&Trainer::hello>(key, static_cast<int>(rank)).get();
    std::printf("%s (host %s)\n", hello ? hello->c_str() : hello.status().to_string().c_str(),
                gang->members[rank].host.c_str());
  }
  // [/snippet gang]
  std::printf("gang: %s\n", gang->ticket.c_str());
  return 0;
}

int go_on(keel::Client& client, const std::string& ticket) {
  int wrong = 0;
  for (int i = 0; i < kLedgers; ++i) {
    const std::string key = "acct-" + std::to_string(i);
    if (keel::Status d = deposit(client, key); !d.is_ok()) {
      return std::fprintf(stderr, "deposit %s: %s\n", key.c_str(), d.to_string().c_str()), 1;
    }
    keel::CallOptions read;
    read.idempotent = true;
    keel::Result<Balance> b = client.call_with<&Ledger::balance>(read, key).get();
    if (!b) return std::fprintf(stderr, "balance %s: %s\n", key.c_str(), b.status().to_string().c_str()), 1;
    std::printf("%s: %lld cents on %s\n", key.c_str(), static_cast<long long>(b->cents),
                client.agents()[client.agent_for(key)].to_string().c_str());
    wrong += b->cents == 2000 ? 0 : 1;
  }
  keel::Result<std::vector<keel::GangMember>> dead = client.dead_gang_members(ticket).get();
  if (!dead) return std::fprintf(stderr, "dead members: %s\n", dead.status().to_string().c_str()), 1;
  for (const keel::GangMember& m : *dead) std::printf("gang member rank %u died with host %s\n", m.rank, m.host.c_str());
  client.release_gang(ticket).get().ignore();
  std::printf(wrong == 0 ? "every ledger holds 2000 cents\n" : "%d ledgers are wrong\n", wrong);
  return wrong == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* secret = std::getenv("KEEL_SECRET");
  const std::string verb = argc > 2 ? argv[2] : "";
  if (secret == nullptr || !(verb == "start" || (verb == "continue" && argc > 3))) {
    std::fprintf(stderr, "usage: KEEL_SECRET=... %s HOST:PORT,... start | continue TICKET\n", argv[0]);
    return 2;
  }
  auto client = connect_to_cluster(parse_agents(argv[1]), secret);
  if (!client) {
    std::fprintf(stderr, "connect: %s\n", client.status().to_string().c_str());
    return 1;
  }
  return verb == "start" ? start(**client) : go_on(**client, argv[3]);
}
