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

#include <cstdio>
#include <cstdlib>

// [snippet]
#include "keel/client/client.h"
#include "ledger.h"

int main(int argc, char** argv) {
  if (argc < 2 || std::getenv("KEEL_SECRET") == nullptr) {
    std::fprintf(stderr, "usage: KEEL_SECRET=... %s AGENT_PORT\n", argv[0]);
    return 2;
  }
  keel::ClientOptions options;
  options.secret = std::getenv("KEEL_SECRET");
  auto client = keel::Client::connect("127.0.0.1", static_cast<std::uint16_t>(std::atoi(argv[1])), options);
  if (!client) {
    std::fprintf(stderr, "connect: %s\n", client.status().to_string().c_str());
    return 1;
  }
  // Completes once the actor is constructed, or recovered from its journal.
  auto spawned = (*client)->spawn("Ledger", "acct-1").get();
  if (!spawned) {
    std::fprintf(stderr, "spawn: %s\n", spawned.status().to_string().c_str());
    return 1;
  }
  std::printf("spawned %s on worker %llu\n", spawned->key.c_str(),
              static_cast<unsigned long long>(spawned->worker));

  for (int i = 0; i < 3; ++i) {
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
