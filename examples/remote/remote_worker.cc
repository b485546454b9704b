// remote_worker.cc: a worker program for keel-agent. It registers the
// actor types it can host and hands control to the agent, which starts it
// (fork+exec) and routes clients' spawns and calls to it.
//
// Run (run_remote.sh does all of this):
//   KEEL_SECRET=s3cret keel-agent --listen 127.0.0.1:7700
//       --worker ./keel_example_remote_worker --journal /tmp/ledger-journal   (one line)
// Run on its own, it prints how it is meant to be started and exits 2.

// [snippet]
#include "keel/agent/worker_host.h"
#include "ledger.h"

int main(int argc, char** argv) {
  keel::WorkerHost host;
  host.register_type<Ledger>("Ledger");  // durable: recovered from the journal
  return host.run(argc, argv);
}
// [/snippet]
