// The worker program of the agent tests: hosts RemoteCounter,
// RemoteTally, RemoteForwarder and RemoteCancellable (remote_actors.h). With --crash-at-start it exits at once
// (status 3), as a worker that cannot start would.
#include <string_view>

#include "keel/agent/worker_host.h"
#include "remote_actors.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "--crash-at-start") return 3;
  keel::WorkerHost host;
  host.register_type<keel::testing::RemoteCounter>("Counter");
  host.register_type<keel::testing::RemoteTally>("Tally");
  host.register_type<keel::testing::RemoteOpLog>("OpLog");
  host.register_type<keel::testing::RemoteRelay>("Relay");
  host.register_type<keel::testing::RemoteForwarder>("Forwarder");
  host.register_type<keel::testing::RemoteCancellable>("Cancellable");
  return host.run(argc, argv);
}
