// cluster_worker.cc: the worker program of the cluster example. Every
// keel-agent of the cluster runs it; it hosts durable Ledgers (placed by
// shard, recovered on another host when theirs dies) and plain Trainers
// (gang members, pinned to their host).
//
// Run (scripts/cluster_demo.sh does all of this, on three hosts):
//   KEEL_SECRET=s3cret KEEL_CLUSTER_SECRET=... keel-agent --listen 127.10.0.11:7700
//       --worker ./keel_example_cluster_worker --cluster postgresql://... --host-id host-1   (one line)

// [snippet]
#include "../remote/ledger.h"
#include "keel/agent/worker_host.h"
#include "trainer.h"

int main(int argc, char** argv) {
  keel::WorkerHost host;
  host.register_type<Ledger>("Ledger");    // durable: moves with its shard
  host.register_type<Trainer>("Trainer");  // plain: a gang member
  return host.run(argc, argv);
}
// [/snippet]
