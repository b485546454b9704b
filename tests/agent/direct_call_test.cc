// Direct calls (docs/distribution.md, "Direct calls"): a client asks the
// agent where a key is hosted and then calls that worker process over a
// connection of its own. The agent's call counter (its metrics endpoint)
// tells which calls passed through it.
#include <signal.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "agent_fixture.h"
#include "support/http_client.h"
#include "support/tcp_proxy.h"

namespace keel {
namespace {

using testing::AgentTest;
using testing::kSecret;
using testing::kWait;
using testing::RemoteCounter;
using testing::wait;

class DirectCallTest : public AgentTest {
 protected:
  void configure(AgentOptions& o) override {
    o.workers = 2;
    o.metrics_host = "127.0.0.1";
    o.direct_calls = agent_direct_;
  }

  // The calls the agent has acted on (route questions included).
  double agent_calls() {
    const testing::HttpReply r = testing::http_get(agent_->metrics_port(), "/metrics");
    static const std::regex kCalls(R"(keel_agent_messages_total\{kind="call"\} (\S+))");
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.body, m, kCalls)) << r.body;
    return m.empty() ? -1 : std::stod(m[1].str());
  }

  // Adds 1 to counter `key` until one add passes the agent by, within
  // kWait; returns the counter's value then (0 on failure).
  int until_direct(Client& client, const std::string& key) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      const double before = agent_calls();
      Result<int> v = wait(client.call<&RemoteCounter::add>(key, 1));
      if (!v) {
        ADD_FAILURE() << v.status();
        return 0;
      }
      if (agent_calls() == before) return *v;
    }
    ADD_FAILURE() << "the calls of '" << key << "' never went to its worker directly";
    return 0;
  }

  // The port of the worker hosting `key`, as its agent names it (0: none).
  std::uint32_t route_port(const std::string& key) {
    auto answer = wait(client_->call_encoded("keel.route", "where", wire::encode_args(key), CallOptions{}));
    EXPECT_TRUE(answer.is_ok()) << answer.status();
    if (!answer) return 0;
    auto port = wire::decode_args<std::uint32_t>(*answer);
    EXPECT_TRUE(port.is_ok()) << port.status();
    return port ? std::get<0>(*port) : 0;
  }

  bool agent_direct_ = true;
};

TEST_F(DirectCallTest, CallsGoToTheWorkerDirectlyOnceItsAgentNamedIt) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "c")).is_ok());
  const int v = until_direct(*client_, "c");
  ASSERT_GT(v, 0);
  const double before = agent_calls();
  for (int i = 1; i <= 100; ++i) ASSERT_EQ(wait(client_->call<&RemoteCounter::add>("c", 1)).value(), v + i);
  EXPECT_EQ(agent_calls(), before);
  // Handler errors come back the same way.
  auto failed = wait(client_->call<&RemoteCounter::fail>("c", std::string("boom")));
  ASSERT_FALSE(failed.is_ok());
  EXPECT_NE(failed.status().to_string().find("boom"), std::string::npos) << failed.status();
}

TEST_F(DirectCallTest, CallsInFlightKeepTheirOrderAcrossTheSwitchToTheWorker) {
  // Another client keeps the agent busy, so that calls through it take
  // longer than calls straight to the worker.
  ClientOptions busy_options = client_options(kSecret);
  busy_options.direct_calls = false;
  auto busy = Client::connect("127.0.0.1", agent_->port(), busy_options);
  ASSERT_TRUE(busy.is_ok()) << busy.status();
  ASSERT_TRUE(wait((*busy)->spawn("Counter", "other")).is_ok());
  // For each fresh key, adds sent without waiting: the first ones go
  // through the agent with the question where the key lives, and the
  // worker's connection is there while later ones are being sent. Each add
  // returns the running total, so the answers say in which order the
  // actor handled them.
  constexpr int kKeys = 6, kAdds = 3000;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "c-" + std::to_string(k);
    ASSERT_TRUE(wait(client_->spawn("Counter", key)).is_ok());
    std::vector<Future<int>> load;
    for (int i = 0; i < kAdds; ++i) load.push_back((*busy)->call<&RemoteCounter::add>("other", 1));
    std::vector<Future<int>> adds;
    for (int i = 0; i < kAdds; ++i) adds.push_back(client_->call<&RemoteCounter::add>(key, 1));
    for (int i = 0; i < kAdds; ++i) {
      ASSERT_EQ(wait(std::move(adds[static_cast<std::size_t>(i)])).value(), i + 1) << key << ", add " << i;
    }
    for (Future<int>& f : load) ASSERT_TRUE(wait(std::move(f)).is_ok());
    EXPECT_GT(until_direct(*client_, key), kAdds);
  }
}

TEST_F(DirectCallTest, AStoppedActorIsAnsweredThroughItsAgentAndCanBeSpawnedAgain) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "c")).is_ok());
  const int v = until_direct(*client_, "c");
  ASSERT_EQ(wait(client_->call<&RemoteCounter::quit>("c")).value(), v);
  // The worker hands the call back unhandled; the agent answers it.
  auto gone = wait(client_->call<&RemoteCounter::add>("c", 1));
  ASSERT_FALSE(gone.is_ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound) << gone.status();
  ASSERT_TRUE(wait(client_->spawn("Counter", "c")).is_ok());
  EXPECT_EQ(until_direct(*client_, "c") > 0, true);
}

TEST_F(DirectCallTest, AKilledWorkerIsCalledAgainOnItsNewPort) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "c")).is_ok());
  ASSERT_GT(until_direct(*client_, "c"), 0);
  const std::uint32_t old_port = route_port("c");
  ASSERT_NE(old_port, 0u);
  const std::int64_t old_pid = wait(client_->call<&RemoteCounter::pid>("c")).value();
  ASSERT_EQ(::kill(static_cast<pid_t>(old_pid), SIGKILL), 0);
  // Idempotent calls are retried through the restart: the agent starts
  // the worker again and spawns its actors there.
  CallOptions again;
  again.idempotent = true;
  std::int64_t pid = old_pid;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (pid == old_pid && std::chrono::steady_clock::now() < deadline) {
    auto r = wait(client_->call_with<&RemoteCounter::pid>(again, "c"));
    if (r) pid = *r;
  }
  ASSERT_NE(pid, old_pid);
  ASSERT_GT(until_direct(*client_, "c"), 0);
  const std::uint32_t new_port = route_port("c");
  EXPECT_NE(new_port, 0u);
  EXPECT_NE(new_port, old_port);
}

TEST_F(DirectCallTest, AWorkersPortTakesOnlyClientsWithTheSecret) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "c")).is_ok());
  ASSERT_TRUE(wait(client_->call<&RemoteCounter::add>("c", 2)).is_ok());
  const std::uint32_t port = route_port("c");
  ASSERT_NE(port, 0u);
  EXPECT_EQ(route_port("nobody"), 0u);
  ClientOptions wrong;
  wrong.secret = "not-the-secret";
  wrong.connect_timeout = std::chrono::seconds(10);
  auto refused = Client::connect("127.0.0.1", static_cast<std::uint16_t>(port), wrong);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated) << refused.status();
  // With the secret, the worker's port serves calls of its actors.
  ClientOptions right;
  right.secret = kSecret;
  right.direct_calls = false;
  auto direct = Client::connect("127.0.0.1", static_cast<std::uint16_t>(port), right);
  ASSERT_TRUE(direct.is_ok()) << direct.status();
  EXPECT_EQ(wait((*direct)->call<&RemoteCounter::add>("c", 1)).value(), 3);
  auto missing = wait((*direct)->call<&RemoteCounter::add>("nobody", 1));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status();
}

TEST_F(DirectCallTest, WorkersBehindAPortMappingAreNotCalledDirectly) {
  // The client reaches the agent through a forwarder on another loopback
  // address, where nothing listens on the workers' ports: the direct
  // connections fail, and after a few the client stops asking that agent.
  testing::TcpProxy proxy("127.0.0.3", "127.0.0.1", agent_->port());
  ASSERT_NE(proxy.port(), 0);
  auto client = Client::connect("127.0.0.3", proxy.port(), client_options(kSecret));
  ASSERT_TRUE(client.is_ok()) << client.status();
  constexpr int kKeys = 5;
  for (int k = 0; k < kKeys; ++k) ASSERT_TRUE(wait((*client)->spawn("Counter", "c-" + std::to_string(k))).is_ok());
  // Each key is asked for, its worker's connection fails, and a key is
  // asked for again a second later, until the client gives up on the
  // agent's workers; every add is answered through the agent meanwhile.
  // Given up: no question for well over a second of adds.
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  auto last_question = std::chrono::steady_clock::now();
  int total = 0;
  while (std::chrono::steady_clock::now() - last_question < std::chrono::milliseconds(2500)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the client kept asking where its keys live";
    const double before = agent_calls();
    for (int k = 0; k < kKeys; ++k) {
      ASSERT_EQ(wait((*client)->call<&RemoteCounter::add>("c-" + std::to_string(k), 1)).value(), total + 1);
    }
    ++total;
    if (agent_calls() - before > kKeys) last_question = std::chrono::steady_clock::now();
  }
  // From then on every add goes through the agent, and nothing is asked.
  const double calls_before = agent_calls();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(wait((*client)->call<&RemoteCounter::add>("c-0", 1)).is_ok());
  EXPECT_EQ(agent_calls(), calls_before + 200);
}

TEST_F(DirectCallTest, AClientWithDirectCallsOffGoesThroughTheAgent) {
  ClientOptions o = client_options(kSecret);
  o.direct_calls = false;
  auto client = Client::connect("127.0.0.1", agent_->port(), o);
  ASSERT_TRUE(client.is_ok()) << client.status();
  ASSERT_TRUE(wait((*client)->spawn("Counter", "c")).is_ok());
  const double before = agent_calls();
  for (int i = 1; i <= 20; ++i) ASSERT_EQ(wait((*client)->call<&RemoteCounter::add>("c", 1)).value(), i);
  EXPECT_EQ(agent_calls(), before + 20);
}

class NoDirectCallTest : public DirectCallTest {
 protected:
  NoDirectCallTest() { agent_direct_ = false; }
};

TEST_F(NoDirectCallTest, AnAgentWithoutDirectCallsNamesNoWorker) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "c")).is_ok());
  for (int i = 1; i <= 20; ++i) ASSERT_EQ(wait(client_->call<&RemoteCounter::add>("c", 1)).value(), i);
  EXPECT_EQ(route_port("c"), 0u);
  // Every add went through the agent (and a route question now and then).
  EXPECT_GE(agent_calls(), 20);
}

}  // namespace
}  // namespace keel
