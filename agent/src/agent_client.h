// agent_client.h: a worker's own keel::Client of its agent (AgentClient)
// and the outbox transport over it (AgentOutbox). Internal to Keel::agent.
#pragma once

#include <future>
#include <memory>
#include <string>

#include "keel/base/thread_annotations.h"
#include "keel/client/client.h"
#include "keel/engine/outbox.h"

namespace keel::internal {

// The actors' client of the agent (keel::Client over the agent's client
// listener), connected in the background from the worker's start so that
// start-up does not wait for its handshake; the first spawn waits for it.
// start() from main(); get() and ready() from any thread.
class AgentClient {
 public:
  explicit AgentClient(int slot) : slot_(slot) {}
  ~AgentClient();
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // Starts connecting to `host_port` ("HOST:PORT"). Once, before get().
  void start(const std::string& host_port, ClientOptions options) KEEL_EXCLUDES(mu_);

  // The client once connected (waits for it); nullptr when the worker was
  // started without one. Errors: the connect's (kUnavailable,
  // kUnauthenticated, kTimeout...), reported to stderr once.
  Result<Client*> get() KEEL_EXCLUDES(mu_);
  // The client if it is connected by now, without waiting; nullptr while
  // it connects, or when there is none or its connect failed.
  Client* ready() KEEL_EXCLUDES(mu_);

 private:
  const int slot_;
  std::future<void> connecting_;
  Mutex mu_;
  CondVar cv_;
  bool started_ KEEL_GUARDED_BY(mu_) = false;
  bool done_ KEEL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Client> client_ KEEL_GUARDED_BY(mu_);
  Status error_ KEEL_GUARDED_BY(mu_);
};

// The worker's outbox transport (keel/engine/outbox.h): durable actors'
// messages sent by key go out as calls of the worker's client of its
// agent (a ClientOutbox), which in a cluster follows the shard map.
// kUnavailable while that client is not connected.
class AgentOutbox : public OutboxTransport {
 public:
  explicit AgentOutbox(AgentClient& client) : client_(client) {}
  Future<void> deliver(const OutboxMessage& m) override;

 private:
  AgentClient& client_;
};

}  // namespace keel::internal
