// keel/client/client_outbox.h: keel::ClientOutbox, an OutboxTransport
// (keel/engine/outbox.h) that delivers durable actors' messages sent by key
// as calls through a keel::Client, each with its outbox message id (so
// applied once however often it is sent). keel::WorkerHost installs one
// over the worker's client of its agent; in a cluster that client follows
// the shard map, so a message reaches the receiver's host wherever it moves.
//
//   keel::SystemConfig config;
//   config.journal = journal.get();
//   config.outbox = std::make_shared<keel::ClientOutbox>(*client);
//   keel::System system(config);   // destroyed before the client
#pragma once

#include "keel/base/clock.h"
#include "keel/client/client.h"
#include "keel/engine/outbox.h"

namespace keel {

// Thread-safe. The client must outlive the System that uses it (and so
// every delivery in flight, which a System waits for or drops at shutdown).
class ClientOutbox : public OutboxTransport {
 public:
  // `deadline`: how long one attempt waits for the receiver's reply before
  // it fails with kTimeout (and is sent again).
  explicit ClientOutbox(Client& client, Duration deadline = std::chrono::seconds(10))
      : client_(client), deadline_(deadline) {}

  // A call of m.method on m.target with m.args under m.id: OK once the
  // receiver applied it (its reply is dropped), kAlreadyExists when it had
  // already, otherwise the call's error (keel/client/client.h).
  Future<void> deliver(const OutboxMessage& m) override;

 private:
  Client& client_;
  const Duration deadline_;
};

}  // namespace keel
