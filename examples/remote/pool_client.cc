// pool_client.cc: a pool of remote actors. It spawns three Ledgers,
// registers them under one name of the agents' registries, follows that
// name with a RemotePool, spreads deposits round-robin and reads every
// member with a broadcast. Given several agents, it places the Ledgers on
// them by key and the pool spans them all.
//
// Run (with agents hosting remote_worker, see remote_worker.cc):
//   KEEL_SECRET=s3cret ./keel_example_remote_pool_client 7700 [7701...]
// Prints:
//   pool bank/shards has 3 members
//   shard-0: 2000 cents in 2 entries
//   shard-1: 2000 cents in 2 entries
//   shard-2: 2000 cents in 2 entries

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

// [snippet]
#include "keel/client/remote_pool.h"
#include "ledger.h"

int run(keel::Client& client) {
  for (const char* key : {"shard-0", "shard-1", "shard-2"}) {
    keel::Status s = client.spawn("Ledger", key).get().status();
    if (s.is_ok()) s = client.register_name("bank", "shards", key).get();
    if (!s.is_ok()) {
      std::fprintf(stderr, "%s: %s\n", key, s.to_string().c_str());
      return 1;
    }
  }
  // The pool follows the name as actors register and go away.
  auto pool = keel::RemotePool::follow(client, "bank", "shards");
  if (keel::Status s = pool->wait_for_size(3, std::chrono::seconds(10)); !s.is_ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  }
  std::printf("pool bank/shards has %zu members\n", pool->size());
  for (int i = 0; i < 6; ++i) {  // round-robin: two deposits each
    if (auto r = pool->call<&Ledger::deposit>(1000).get(); !r) {
      std::fprintf(stderr, "deposit: %s\n", r.status().to_string().c_str());
      return 1;
    }
  }
  // One future per member, in pool->endpoints() order.
  std::vector<keel::Future<Balance>> balances = pool->broadcast<&Ledger::balance>();
  const std::vector<std::string> keys = pool->endpoints();
  for (std::size_t i = 0; i < balances.size(); ++i) {
    keel::Result<Balance> b = balances[i].get();
    if (!b) return 1;
    std::printf("%s: %lld cents in %lld entries\n", keys[i].c_str(), static_cast<long long>(b->cents),
                static_cast<long long>(b->entries));
  }
  return 0;
}
// [/snippet]

int main(int argc, char** argv) {
  if (argc < 2 || std::getenv("KEEL_SECRET") == nullptr) {
    std::fprintf(stderr, "usage: KEEL_SECRET=... %s AGENT_PORT...\n", argv[0]);
    return 2;
  }
  keel::ClientOptions options;
  options.secret = std::getenv("KEEL_SECRET");
  std::vector<keel::AgentEndpoint> agents;  // every client names them alike: placement hashes "host:port"
  for (int i = 1; i < argc; ++i) agents.push_back({"127.0.0.1", static_cast<std::uint16_t>(std::atoi(argv[i]))});
  auto client = keel::Client::connect(agents, options);
  if (!client) {
    std::fprintf(stderr, "connect: %s\n", client.status().to_string().c_str());
    return 1;
  }
  return run(**client);
}
