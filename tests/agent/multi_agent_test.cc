// keel::Client over several agents: placement by rendezvous hashing, calls
// routed by key, the registry merged across agents, and agents that are
// down or unreachable. Two agents (in this process), one worker process
// each.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "agent_fixture.h"
#include "keel/client/remote_pool.h"

namespace keel {
namespace {

using testing::AgentTest;
using testing::kSecret;
using testing::kWait;
using testing::RemoteCounter;
using testing::wait;

class MultiAgentTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (HasFatalFailure()) return;
    AgentOptions o;
    o.secret = kSecret;
    o.worker_argv = {KEEL_TEST_WORKER};
    auto second = Agent::start(o);
    ASSERT_TRUE(second.is_ok()) << second.status();
    second_ = std::move(*second);
    auto multi = Client::connect(endpoints(), client_options(kSecret));
    ASSERT_TRUE(multi.is_ok()) << multi.status();
    multi_ = std::move(*multi);
  }
  void TearDown() override {
    multi_.reset();
    second_.reset();
    AgentTest::TearDown();
  }
  std::vector<AgentEndpoint> endpoints() const {
    return {{"127.0.0.1", agent_->port()}, {"127.0.0.1", second_->port()}};
  }
  // The worker process of agent `i` of endpoints().
  std::int64_t worker_pid(std::size_t i) const { return (i == 0 ? agent_ : second_)->worker_pids().at(0); }
  // The first `n` keys "<prefix>-<i>" that `client` places on agent `agent`.
  static std::vector<std::string> keys_on(const Client& client, std::size_t agent, std::size_t n,
                                          const std::string& prefix) {
    std::vector<std::string> keys;
    for (int i = 0; keys.size() < n; ++i) {
      std::string k = prefix + "-" + std::to_string(i);
      if (client.agent_for(k) == agent) keys.push_back(std::move(k));
    }
    return keys;
  }
  void spawn_registered(const std::vector<std::string>& keys) {
    for (const std::string& k : keys) {
      ASSERT_TRUE(wait(multi_->spawn("Counter", k)).is_ok());
      ASSERT_TRUE(wait(multi_->register_name("jobs", "counters", k)).is_ok());
    }
  }

  std::unique_ptr<Agent> second_;
  std::unique_ptr<Client> multi_;
};

TEST_F(MultiAgentTest, SpawnedKeysLandOnTheirHashedAgentAndAnswerCalls) {
  std::set<std::size_t> used;
  for (int i = 0; i < 32; ++i) {
    const std::string key = "c-" + std::to_string(i);
    const std::size_t hashed = multi_->agent_for(key);
    auto spawned = wait(multi_->spawn("Counter", key));
    ASSERT_TRUE(spawned.is_ok()) << spawned.status();
    EXPECT_EQ(spawned->agent, hashed);
    EXPECT_EQ(spawned->endpoint, endpoints()[hashed]);
    EXPECT_EQ(wait(multi_->call<&RemoteCounter::add>(key, i)).value(), i);
    EXPECT_EQ(wait(multi_->call<&RemoteCounter::pid>(key)).value(), worker_pid(hashed));
    used.insert(hashed);
  }
  EXPECT_EQ(used.size(), 2u) << "32 keys all hashed to one of two agents";
}

TEST_F(MultiAgentTest, AKeyMapsToTheSameAgentForEveryClientOfTheSameAgents) {
  std::vector<AgentEndpoint> reversed = endpoints();
  std::swap(reversed[0], reversed[1]);
  auto other = Client::connect(reversed, client_options(kSecret));
  ASSERT_TRUE(other.is_ok()) << other.status();
  for (int i = 0; i < 32; ++i) {
    const std::string key = "k-" + std::to_string(i);
    EXPECT_EQ(multi_->agents()[multi_->agent_for(key)], (*other)->agents()[(*other)->agent_for(key)]) << key;
  }
  // So a second spawn of a key, from either client, meets the first: the
  // same actor for the same type, kAlreadyExists for another type.
  const std::string key = keys_on(*multi_, 1, 1, "dup").front();
  ASSERT_TRUE(wait(multi_->spawn("Counter", key)).is_ok());
  ASSERT_EQ(wait(multi_->call<&RemoteCounter::add>(key, 2)).value_or(-1), 2);
  auto again = wait((*other)->spawn("Counter", key));
  ASSERT_TRUE(again.is_ok()) << again.status();
  EXPECT_EQ(again->endpoint, multi_->agents()[1]);
  EXPECT_EQ(wait((*other)->call<&RemoteCounter::add>(key, 3)).value_or(-1), 5);
  EXPECT_EQ(wait((*other)->spawn("Tally", key)).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(wait(multi_->spawn("Tally", key)).status().code(), StatusCode::kAlreadyExists);
}

TEST_F(MultiAgentTest, LookupMergesTheRegistriesOfAllAgents) {
  const auto on_a = keys_on(*multi_, 0, 2, "a");
  const auto on_b = keys_on(*multi_, 1, 2, "b");
  spawn_registered({on_a[0], on_b[0], on_a[1], on_b[1]});
  auto m = wait(multi_->lookup("jobs", "counters"));
  ASSERT_TRUE(m.is_ok()) << m.status();
  EXPECT_EQ(m->keys, (std::vector<std::string>{on_a[0], on_a[1], on_b[0], on_b[1]}));
  EXPECT_EQ(m->version, wait(multi_->lookup_on(0, "jobs", "counters"))->version +
                            wait(multi_->lookup_on(1, "jobs", "counters"))->version);
  // A watch from that version completes at the next change on either agent.
  auto changed = multi_->watch("jobs", "counters", m->version, kWait);
  ASSERT_TRUE(wait(multi_->unregister_name("jobs", "counters", on_b[1])).is_ok());
  auto w = wait(std::move(changed));
  ASSERT_TRUE(w.is_ok()) << w.status();
  EXPECT_EQ(w->keys, (std::vector<std::string>{on_a[0], on_a[1], on_b[0]}));
  EXPECT_NE(w->version, m->version);
}

TEST_F(MultiAgentTest, PoolSpansAgentsAndFollowsEachOfThem) {
  const auto on_a = keys_on(*multi_, 0, 2, "a");
  const auto on_b = keys_on(*multi_, 1, 2, "b");
  spawn_registered({on_a[0], on_b[0]});
  auto pool = RemotePool::follow(*multi_, "jobs", "counters");
  ASSERT_TRUE(pool->wait_for_size(2, kWait).is_ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(wait(pool->call<&RemoteCounter::add>(1)).is_ok());
  EXPECT_EQ(wait(multi_->call<&RemoteCounter::get>(on_a[0])).value(), 2);
  EXPECT_EQ(wait(multi_->call<&RemoteCounter::get>(on_b[0])).value(), 2);
  std::set<std::int64_t> pids;
  for (auto& f : pool->broadcast<&RemoteCounter::pid>()) pids.insert(wait(std::move(f)).value());
  EXPECT_EQ(pids, (std::set<std::int64_t>{worker_pid(0), worker_pid(1)}));

  spawn_registered({on_a[1]});  // added on one agent
  ASSERT_TRUE(pool->wait_for_size(3, kWait).is_ok());
  ASSERT_TRUE(wait(multi_->unregister_name("jobs", "counters", on_b[0])).is_ok());  // removed on the other
  ASSERT_TRUE(pool->wait_for_size_at_most(2, kWait).is_ok());
  EXPECT_EQ(pool->endpoints(), (std::vector<std::string>{on_a[0], on_a[1]}));
}

TEST_F(MultiAgentTest, AnAgentGoingAwayFailsItsKeysWhileTheOthersKeepAnswering) {
  const std::string a = keys_on(*multi_, 0, 1, "a").front();
  const std::string b = keys_on(*multi_, 1, 1, "b").front();
  for (const std::string& k : {a, b}) ASSERT_TRUE(wait(multi_->spawn("Counter", k)).is_ok());
  second_.reset();
  EXPECT_EQ(wait(multi_->call<&RemoteCounter::add>(b, 1)).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(wait(multi_->spawn("Counter", keys_on(*multi_, 1, 2, "b").back())).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(wait(multi_->call<&RemoteCounter::add>(a, 1)).value(), 1);
  EXPECT_TRUE(multi_->is_connected(0));
}

TEST_F(MultiAgentTest, APoolDropsTheMembersOfAnAgentThatGoesAway) {
  ClientOptions o = client_options(kSecret);
  o.retry.max_attempts = 1;  // the pool's watch of the lost agent fails at once
  auto client = Client::connect(endpoints(), o);
  ASSERT_TRUE(client.is_ok()) << client.status();
  Client& c = **client;
  const std::string a = keys_on(c, 0, 1, "a").front();
  const std::string b = keys_on(c, 1, 1, "b").front();
  for (const std::string& k : {a, b}) {
    ASSERT_TRUE(wait(c.spawn("Counter", k)).is_ok());
    ASSERT_TRUE(wait(c.register_name("jobs", "counters", k)).is_ok());
  }
  auto pool = RemotePool::follow(c, "jobs", "counters");
  ASSERT_TRUE(pool->wait_for_size(2, kWait).is_ok());
  second_.reset();
  ASSERT_TRUE(pool->wait_for_size_at_most(1, kWait).is_ok());
  EXPECT_EQ(pool->endpoints(), std::vector<std::string>{a});
  EXPECT_EQ(wait(pool->call<&RemoteCounter::add>(3)).value(), 3);
}

// A loopback port that refuses connections: bound, never listening, for
// as long as it lives.
class RefusingPort {
 public:
  RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

TEST_F(MultiAgentTest, AnUnreachableAgentFailsConnectUnlessPartialConnectIsAllowed) {
  RefusingPort refusing;
  const std::vector<AgentEndpoint> agents = {{"127.0.0.1", agent_->port()}, {"127.0.0.1", refusing.port()}};
  auto strict = Client::connect(agents, client_options(kSecret));
  EXPECT_EQ(strict.status().code(), StatusCode::kUnavailable) << strict.status();

  ClientOptions o = client_options(kSecret);
  o.allow_partial_connect = true;
  o.retry.max_attempts = 1;  // the lookup below does not wait for the unreachable agent
  auto partial = Client::connect(agents, o);
  ASSERT_TRUE(partial.is_ok()) << partial.status();
  Client& c = **partial;
  EXPECT_FALSE(c.is_connected());
  EXPECT_TRUE(c.is_connected(0));
  const std::string up = keys_on(c, 0, 1, "up").front();
  const std::string down = keys_on(c, 1, 1, "down").front();
  EXPECT_EQ(wait(c.spawn("Counter", down)).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(wait(c.spawn("Counter", up)).is_ok());
  EXPECT_EQ(wait(c.call<&RemoteCounter::add>(up, 2)).value(), 2);
  EXPECT_EQ(wait(c.call<&RemoteCounter::get>(down)).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(wait(c.register_name("jobs", "counters", up)).is_ok());
  auto m = wait(c.lookup("jobs", "counters"));  // the unreachable agent adds nothing
  ASSERT_TRUE(m.is_ok()) << m.status();
  EXPECT_EQ(m->keys, std::vector<std::string>{up});
}

TEST_F(MultiAgentTest, AnEmptyOrRepeatedAgentListIsInvalid) {
  EXPECT_EQ(Client::connect(std::vector<AgentEndpoint>{}, client_options(kSecret)).status().code(),
            StatusCode::kInvalidArgument);
  const AgentEndpoint a{"127.0.0.1", agent_->port()};
  EXPECT_EQ(Client::connect({a, a}, client_options(kSecret)).status().code(), StatusCode::kInvalidArgument);
}

TEST(RegistryMembers, MergingUnitesTheAgentsAndAClusterTakesTheNewestAnswer) {
  const std::vector<RegistryMembers> answers{{3, {"a", "b"}}, {5, {"b", "c"}}, {5, {"c"}}, {0, {}}};
  RegistryMembers merged = merge_members(answers);
  EXPECT_EQ(merged.version, 13u);
  EXPECT_EQ(merged.keys, (std::vector<std::string>{"a", "b", "c"}));
  RegistryMembers newest = newest_members(answers);
  EXPECT_EQ(newest.version, 5u);
  EXPECT_EQ(newest.keys, (std::vector<std::string>{"b", "c"})) << "the first of the newest";
  newest = newest_members({});
  EXPECT_EQ(newest.version, 0u);
  EXPECT_TRUE(newest.keys.empty());
}

}  // namespace
}  // namespace keel
