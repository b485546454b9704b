#include "agent_client.h"

#include <cstdio>
#include <utility>

#include "keel/client/client_outbox.h"
#include "protocol.h"

namespace keel::internal {

AgentClient::~AgentClient() {
  if (connecting_.valid()) connecting_.wait();
}

void AgentClient::start(const std::string& host_port, ClientOptions options) {
  {
    MutexLock lock(mu_);
    started_ = true;
  }
  connecting_ = std::async(std::launch::async, [this, host_port, options = std::move(options)]() mutable {
    Result<std::unique_ptr<Client>> c = [&]() -> Result<std::unique_ptr<Client>> {
      KEEL_ASSIGN_OR_RETURN(auto at, parse_host_port(host_port));
      return Client::connect(at.first, at.second, std::move(options));
    }();
    MutexLock lock(mu_);
    if (c) {
      client_ = std::move(*c);
    } else {
      error_ = Status(c.status().code(), "client of the agent: " + std::string(c.status().message()));
      std::fprintf(stderr, "keel worker %d: %s\n", slot_, error_.to_string().c_str());
    }
    done_ = true;
    cv_.notify_all();
  });
}

Result<Client*> AgentClient::get() {
  MutexLock lock(mu_);
  cv_.wait(lock, [&]() KEEL_REQUIRES(mu_) { return !started_ || done_; });
  if (!error_.is_ok()) return error_;
  return client_.get();
}

Client* AgentClient::ready() {
  MutexLock lock(mu_);
  return done_ ? client_.get() : nullptr;
}

Future<void> AgentOutbox::deliver(const OutboxMessage& m) {
  Client* c = client_.ready();
  if (c == nullptr) {
    return Future<void>::ready(Status::unavailable("the worker's client of its agent is not connected"));
  }
  return ClientOutbox(*c).deliver(m);
}

}  // namespace keel::internal
