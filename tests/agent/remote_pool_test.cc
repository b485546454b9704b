// The agent's registry and keel::RemotePool, through a real agent and
// worker process.
#include "keel/client/remote_pool.h"

#include <signal.h>

#include <string>
#include <vector>

#include "agent_fixture.h"

namespace keel {
namespace {

using testing::AgentTest;
using testing::kWait;
using testing::RemoteCounter;
using testing::wait;

class RegistryTest : public AgentTest {
 protected:
  // Spawns Counters `keys` and registers them under jobs/counters.
  void spawn_registered(const std::vector<std::string>& keys) {
    for (const std::string& k : keys) {
      ASSERT_TRUE(wait(client_->spawn("Counter", k)).is_ok());
      ASSERT_TRUE(wait(client_->register_name("jobs", "counters", k)).is_ok());
    }
  }
};

TEST_F(RegistryTest, LookupReturnsTheKeysRegisteredUnderANameInItsNamespace) {
  spawn_registered({"a", "b"});
  auto m = wait(client_->lookup("jobs", "counters"));
  ASSERT_TRUE(m.is_ok()) << m.status();
  EXPECT_EQ(m->keys, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(wait(client_->lookup("other", "counters"))->keys.empty());
}

TEST_F(RegistryTest, RegisteringAMissingActorIsNotFound) {
  auto r = wait(client_->register_name("jobs", "counters", "ghost"));
  EXPECT_EQ(r.code(), StatusCode::kNotFound) << r;
}

TEST_F(RegistryTest, ANamespaceWithASlashIsInvalid) {
  spawn_registered({"a"});
  auto r = wait(client_->register_name("jobs/x", "counters", "a"));
  EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << r;
}

TEST_F(RegistryTest, PoolCallsGoRoundRobin) {
  spawn_registered({"a", "b"});
  auto pool = RemotePool::follow(*client_, "jobs", "counters");
  ASSERT_TRUE(pool->wait_for_size(2, kWait).is_ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(wait(pool->call<&RemoteCounter::add>(1)).is_ok());
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>("a")).value(), 2);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>("b")).value(), 2);
}

TEST_F(RegistryTest, BroadcastReturnsOneFuturePerMember) {
  spawn_registered({"a", "b", "c"});
  ASSERT_TRUE(wait(client_->call<&RemoteCounter::add>("b", 5)).is_ok());
  auto pool = RemotePool::follow(*client_, "jobs", "counters");
  ASSERT_TRUE(pool->wait_for_size(3, kWait).is_ok());
  auto replies = pool->broadcast<&RemoteCounter::add>(10);
  ASSERT_EQ(replies.size(), 3u);
  std::vector<int> values;
  for (auto& f : replies) values.push_back(wait(std::move(f)).value());
  EXPECT_EQ(values, (std::vector<int>{10, 15, 10}));
}

TEST_F(RegistryTest, PoolFollowsRegistrationsAndRemovals) {
  auto pool = RemotePool::follow(*client_, "jobs", "counters");
  EXPECT_EQ(wait(pool->call<&RemoteCounter::get>()).status().code(), StatusCode::kUnavailable);
  spawn_registered({"a"});
  ASSERT_TRUE(pool->wait_for_size(1, kWait).is_ok());
  spawn_registered({"b"});
  ASSERT_TRUE(pool->wait_for_size(2, kWait).is_ok());
  ASSERT_TRUE(wait(client_->unregister_name("jobs", "counters", "a")).is_ok());
  ASSERT_TRUE(pool->wait_for_size_at_most(1, kWait).is_ok());
  EXPECT_EQ(pool->endpoints(), (std::vector<std::string>{"b"}));
}

TEST_F(RegistryTest, FixedPoolCallsItsKeysRoundRobin) {
  for (const char* k : {"x", "y"}) ASSERT_TRUE(wait(client_->spawn("Counter", k)).is_ok());
  auto pool = RemotePool::fixed(*client_, {"x", "y"});
  EXPECT_EQ(pool->size(), 2u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(wait(pool->call<&RemoteCounter::add>(1)).is_ok());
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>("x")).value(), 2);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>("y")).value(), 1);
}

TEST_F(RegistryTest, FixedPoolSpansTwoAgents) {
  auto second = Agent::start(testing::test_agent_options());
  ASSERT_TRUE(second.is_ok()) << second.status();
  ClientOptions co;
  co.secret = testing::kSecret;
  auto other = Client::connect("127.0.0.1", (*second)->port(), co);
  ASSERT_TRUE(other.is_ok()) << other.status();
  ASSERT_TRUE(wait(client_->spawn("Counter", "x")).is_ok());
  ASSERT_TRUE(wait((*other)->spawn("Counter", "y")).is_ok());

  auto pool = RemotePool::fixed({{client_.get(), "x"}, {other->get(), "y"}});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(wait(pool->call<&RemoteCounter::add>(1)).is_ok());
  auto pids = pool->broadcast<&RemoteCounter::pid>();
  ASSERT_EQ(pids.size(), 2u);
  EXPECT_NE(wait(std::move(pids[0])).value(), wait(std::move(pids[1])).value());
  EXPECT_EQ(wait((*other)->call<&RemoteCounter::get>("y")).value(), 2);
}

TEST_F(RegistryTest, WaitForSizeTimesOutWithTheSizeItHad) {
  auto pool = RemotePool::follow(*client_, "jobs", "counters");
  auto r = pool->wait_for_size(1, std::chrono::milliseconds(20));
  EXPECT_EQ(r.code(), StatusCode::kTimeout) << r;
}

}  // namespace
}  // namespace keel
