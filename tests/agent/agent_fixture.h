// agent_fixture.h: an agent (in the test process) with one worker
// process running remote_worker.cc, a journal in a fresh directory, and a
// client connected to it.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "keel/agent/agent.h"
#include "keel/client/client.h"
#include "remote_actors.h"

namespace keel::testing {

inline constexpr const char* kSecret = "agent-test-secret";
inline constexpr auto kWait = std::chrono::seconds(30);  // generous: the machine is shared

// Waits for `f` under kWait; fails the test (kTimeout result) if it passes.
template <class T>
inline auto wait(Future<T> f) {
  EXPECT_TRUE(f.wait_for(kWait)) << "no result within the deadline";
  if (!f.is_ready()) {
    using Get = typename Future<T>::GetType;
    return Get(Status::timeout("the test's deadline passed"));
  }
  return f.get();
}

// Options of an agent with one test worker and no journal.
inline AgentOptions test_agent_options() {
  AgentOptions o;
  o.secret = kSecret;
  o.worker_argv = {KEEL_TEST_WORKER};
  return o;
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keel-agent-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    AgentOptions o = test_agent_options();
    o.journal_dir = (dir_ / "journal").string();
    o.max_restarts = 3;
    configure(o);
    auto agent = Agent::start(o);
    ASSERT_TRUE(agent.is_ok()) << agent.status();
    agent_ = std::move(*agent);
    client_ = connect(kSecret).value();
  }
  void TearDown() override {
    client_.reset();
    agent_.reset();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  // A fixture may change the agent's options (more workers...).
  virtual void configure(AgentOptions& options) { (void)options; }
  // The options of the fixture's clients.
  virtual ClientOptions client_options(const std::string& secret) {
    ClientOptions o;
    o.secret = secret;
    // Generous: retried calls must outlast a worker restart on a busy machine.
    o.retry.max_attempts = 50;
    return o;
  }
  Result<std::unique_ptr<Client>> connect(const std::string& secret) {
    return Client::connect("127.0.0.1", agent_->port(), client_options(secret));
  }

  std::filesystem::path dir_;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<Client> client_;
};

}  // namespace keel::testing
