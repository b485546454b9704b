// remote_client.cc: a client of keel-agent. It spawns a durable Ledger on
// the agent's worker, calls it, and shows the typed errors a remote call
// can end with.
//
// Run: KEEL_SECRET=s3cret ./keel_example_remote_client 7700
// Prints (on a fresh journal; a second run finds the balance recovered):
//   spawned acct-1 on worker 0
//   balance: 3000 cents in 3 entries
//   missing actor: not_found: keel-agent: no actor 'acct-404'
//   bad deposit: internal: Ledger.deposit: deposit of -5 cents

#include <cstdlib>

// [snippet]
// [snippet connect]
#include <cstdio>

#include "keel/client/client.h"
#include "ledger.h"

// Connects to the agent on 127.0.0.1:`port` and spawns the ledger acct-1:
// ready once constructed, or recovered from its journal; run again, the
// spawn finds the actor the last run spawned (idempotent by key).
keel::Result<std::unique_ptr<keel::Client>> connect_and_spawn(std::uint16_t port, const char* secret) {
  keel::ClientOptions options;
  options.secret = secret;  // the agent's: every connection proves it knows it
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<keel::Client> client,
                        keel::Client::connect("127.0.0.1", port, options));
  KEEL_ASSIGN_OR_RETURN(keel::SpawnInfo spawned, client->spawn("Ledger", "acct-1").get());
  std::printf("spawned %s on worker %llu\n", spawned.key.c_str(),
              static_cast<unsigned long long>(spawned.worker));
  keel::Result<std::int64_t> cents = client->call<&Ledger::deposit>("acct-1", 1000).get();
  if (!cents) return cents.status();
  return client;
}
// [/snippet connect]

int main(int argc, char** argv) {
  if (argc < 2 || std::getenv("KEEL_SECRET") == nullptr) {
    std::fprintf(stderr, "usage: KEEL_SECRET=... %s AGENT_PORT\n", argv[0]);
    return 2;
  }
  auto client = connect_and_spawn(static_cast<std::uint16_t>(std::atoi(argv[1])), std::getenv("KEEL_SECRET"));
  if (!client) {
    std::fprintf(stderr, "connect and spawn: %s\n", client.status().to_string().c_str());
    return 1;
  }
  for (int i = 1; i < 3; ++i) {
    // Handlers are named as in Ledger::kHandlers; arguments are typed.
    keel::Result<std::int64_t> r = (*client)->call<&Ledger::deposit>("acct-1", 1000).get();
    if (!r) {
      std::fprintf(stderr, "deposit: %s\n", r.status().to_string().c_str());
      return 1;
    }
  }
  keel::CallOptions read;
  read.idempotent = true;                       // safe to retry while a worker restarts
  read.deadline = std::chrono::seconds(5);      // every call has one
  keel::Result<Balance> b = (*client)->call_with<&Ledger::balance>(read, "acct-1").get();
  if (!b) {
    std::fprintf(stderr, "balance: %s\n", b.status().to_string().c_str());
    return 1;
  }
  std::printf("balance: %lld cents in %lld entries\n", static_cast<long long>(b->cents),
              static_cast<long long>(b->entries));

  // Remote failures are typed: a code, the remote type and its message.
  std::printf("missing actor: %s\n",
              (*client)->call<&Ledger::balance>("acct-404").get().status().to_string().c_str());
  std::printf("bad deposit: %s\n",
              (*client)->call<&Ledger::deposit>("acct-1", -5).get().status().to_string().c_str());
  return 0;
}
// [/snippet]
