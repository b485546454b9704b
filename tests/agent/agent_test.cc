// Multi-process tests of keel-agent and keel::Client on loopback: an agent
// (in this process, or the keel-agent executable as a child), its worker
// processes (remote_worker.cc) and a client.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <future>
#include <thread>

#include "agent_fixture.h"
#include "keel/net/tcp_transport.h"

extern char** environ;

namespace keel {
namespace {

using testing::AgentTest;
using testing::kSecret;
using testing::kWait;
using testing::RemoteCounter;
using testing::RemoteTally;
using testing::wait;
using std::chrono::seconds;

// Whether process `pid` exits within `timeout`, watched through a pidfd
// (it need not be our child).
bool exits_within(int pidfd, std::chrono::milliseconds timeout) {
  pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

int open_pidfd(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// An idempotent call with the test's deadline: retried while a worker
// restarts.
CallOptions retried() {
  CallOptions o;
  o.idempotent = true;
  o.deadline = std::chrono::duration_cast<Duration>(kWait);
  return o;
}

// Whether process `pid` is in the stopped state ('T' in /proc/PID/stat)
// within kWait.
bool wait_until_stopped(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'T') return true;
    std::this_thread::yield();
  }
  return false;
}

// Spawns counter `key`, adds to it, sends `signal` to its worker, and
// expects a retried call to reach a fresh counter in a new worker process.
void expect_fresh_counter_after_signal(Client& client, const std::string& key, int signal) {
  ASSERT_TRUE(wait(client.spawn("Counter", key)).is_ok());
  ASSERT_EQ(wait(client.call<&RemoteCounter::add>(key, 7)).value(), 7);
  const auto pid = wait(client.call<&RemoteCounter::pid>(key)).value();
  ASSERT_EQ(kill(static_cast<pid_t>(pid), signal), 0);
  if (signal == SIGSTOP) {
    // kill() returns before the stop takes effect: a call sent at once could
    // still be answered by the old worker. Wait until the kernel shows it stopped.
    ASSERT_TRUE(wait_until_stopped(static_cast<pid_t>(pid))) << "worker " << pid << " did not stop";
  }
  auto v = wait(client.call_with<&RemoteCounter::get>(retried(), key));
  ASSERT_TRUE(v.is_ok()) << v.status();
  EXPECT_EQ(*v, 0);
  EXPECT_NE(wait(client.call<&RemoteCounter::pid>(key)).value(), pid);
}

TEST_F(AgentTest, SpawnedActorAnswersTypedCalls) {
  auto spawned = wait(client_->spawn("Counter", "c-1"));
  ASSERT_TRUE(spawned.is_ok()) << spawned.status();
  EXPECT_EQ(spawned->key, "c-1");
  EXPECT_EQ(wait(client_->call<&RemoteCounter::add>("c-1", 2)).value(), 2);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::add>("c-1", 3)).value(), 5);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>("c-1")).value(), 5);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::pid>("c-1")).value(), agent_->worker_pids().at(0));
}

TEST_F(AgentTest, SpawnOfAnUnknownTypeIsNotFound) {
  auto r = wait(client_->spawn("NoSuchType", "x"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status();
  // The key stays free.
  EXPECT_TRUE(wait(client_->spawn("Counter", "x")).is_ok());
}

TEST_F(AgentTest, SpawnOfAKeyTakenByAnotherTypeIsAlreadyExistsNamingBoth) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "dup")).is_ok());
  auto r = wait(client_->spawn("Tally", "dup"));
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists) << r.status();
  EXPECT_EQ(std::string(r.status().message()).rfind("keel-agent: actor 'dup' is a Counter, not a Tally (worker 0", 0),
            0u)
      << r.status();
  EXPECT_EQ(wait(client_->call<&RemoteCounter::add>("dup", 1)).value_or(-1), 1);  // untouched
}

TEST_F(AgentTest, SpawnOfAKeyTakenByTheSameTypeReturnsTheExistingActor) {
  auto first = wait(client_->spawn("Counter", "again"));
  ASSERT_TRUE(first.is_ok()) << first.status();
  ASSERT_EQ(wait(client_->call<&RemoteCounter::add>("again", 2)).value_or(-1), 2);
  auto second = wait(client_->spawn("Counter", "again"));
  ASSERT_TRUE(second.is_ok()) << second.status();
  EXPECT_EQ(second->key, "again");
  EXPECT_EQ(second->worker, first->worker);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::add>("again", 3)).value_or(-1), 5);
}

TEST_F(AgentTest, SpawnsOfOneKeyInFlightTogetherAllReturnTheSameActor) {
  auto a = client_->spawn("Counter", "twice");
  auto b = client_->spawn("Counter", "twice");
  ASSERT_TRUE(wait(std::move(a)).is_ok());
  ASSERT_TRUE(wait(std::move(b)).is_ok());
  ASSERT_EQ(wait(client_->call<&RemoteCounter::add>("twice", 4)).value_or(-1), 4);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>("twice")).value_or(-1), 4);
}

TEST_F(AgentTest, SpawnOfAStoppedActorsKeyStartsItAgain) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "phoenix")).is_ok());
  ASSERT_EQ(wait(client_->call<&RemoteCounter::add>("phoenix", 2)).value_or(-1), 2);
  ASSERT_EQ(wait(client_->call<&RemoteCounter::quit>("phoenix")).value_or(-1), 2);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>("phoenix")).status().code(), StatusCode::kNotFound);
  auto again = wait(client_->spawn("Counter", "phoenix"));
  ASSERT_TRUE(again.is_ok()) << again.status();
  EXPECT_EQ(wait(client_->call<&RemoteCounter::add>("phoenix", 1)).value_or(-1), 1);
}

TEST_F(AgentTest, CallToAMissingActorIsNotFound) {
  auto r = wait(client_->call<&RemoteCounter::get>("nobody"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status();
}

TEST_F(AgentTest, HandlerExceptionArrivesWithRemoteTypeAndMessage) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "f")).is_ok());
  auto r = wait(client_->call<&RemoteCounter::fail>("f", std::string("boom")));
  EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status();
  EXPECT_EQ(r.status().message(), "Counter.fail: boom");
}

// The exception restarts the actor; the next call, sent at once, reaches
// the new incarnation (fresh state) whether or not the restart is done.
TEST_F(AgentTest, CallRightAfterAHandlerExceptionReachesTheRestartedActor) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "thrower")).is_ok());
  for (int i = 0; i < 50; ++i) {
    auto thrown = wait(client_->call<&RemoteCounter::fail>("thrower", std::string("boom")));
    ASSERT_EQ(thrown.status().code(), StatusCode::kInternal) << "round " << i << ": " << thrown.status();
    auto added = wait(client_->call<&RemoteCounter::add>("thrower", 1));
    ASSERT_TRUE(added.is_ok()) << "round " << i << ": " << added.status();
    EXPECT_EQ(*added, 1) << "round " << i;
  }
}

TEST_F(AgentTest, BadFrameClosesOnlyItsConnection) {
  wire::TransportOptions options;
  options.secret = kSecret;
  options.node_name = "bad-peer";
  auto transport = wire::TcpTransport::create(options).value();
  std::promise<Status> closed;
  wire::ConnectionCallbacks cb;
  cb.on_open = [](wire::Connection& c) { c.send(wire::MessageType::kCall, "not an envelope").ignore(); };
  cb.on_close = [&](wire::Connection&, const Status& why) { closed.set_value(why); };
  wire::ReconnectOptions once;
  once.enabled = false;
  auto bad = transport->connect("127.0.0.1", agent_->port(), std::move(cb), once);
  auto why = closed.get_future();
  ASSERT_EQ(why.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(why.get().code(), StatusCode::kUnavailable);  // the agent hung up
  bad.reset();
  ASSERT_TRUE(wait(client_->spawn("Counter", "still-served")).is_ok());
  EXPECT_EQ(wait(client_->call<&RemoteCounter::add>("still-served", 1)).value(), 1);
}

TEST_F(AgentTest, CallPastItsDeadlineIsTimeout) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "slow")).is_ok());
  CallOptions o;
  o.deadline = std::chrono::milliseconds(50);
  auto r = wait(client_->call_with<&RemoteCounter::slow>(o, "slow", 1000));
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status();
}

TEST_F(AgentTest, WrongSecretIsUnauthenticated) {
  auto r = connect("not-the-secret");
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status();
  EXPECT_EQ(r.status().message(), "handshake: the server's proof does not match (wrong shared secret)");
}

TEST_F(AgentTest, DurableActorRecoversItsStateAfterItsWorkerIsKilled) {
  ASSERT_TRUE(wait(client_->spawn("Tally", "t-1")).is_ok());
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(wait(client_->call<&RemoteTally::add>("t-1", i)).is_ok());
  const auto pid = wait(client_->call<&RemoteTally::pid>("t-1")).value();
  ASSERT_EQ(kill(static_cast<pid_t>(pid), SIGKILL), 0);

  // Idempotent calls are retried while the worker restarts and the actor
  // recovers from its journal.
  const CallOptions o = retried();
  auto after = wait(client_->call_with<&RemoteTally::get>(o, "t-1"));
  ASSERT_TRUE(after.is_ok()) << after.status();
  EXPECT_EQ(after->total, 10);
  EXPECT_EQ(after->adds, 4);
  EXPECT_NE(wait(client_->call_with<&RemoteTally::pid>(o, "t-1")).value(), pid);
  EXPECT_GE(agent_->restart_count(), 1u);
}

// Idempotent adds keep flowing while the worker is killed: each is applied
// exactly once, so the recovered total counts every add that succeeded or
// was found applied already (kAlreadyExists: applied before the crash, its
// reply lost).
TEST_F(AgentTest, IdempotentTrafficSurvivesAWorkerKillExactlyOnce) {
  ASSERT_TRUE(wait(client_->spawn("Tally", "flow")).is_ok());
  const auto pid = wait(client_->call<&RemoteTally::pid>("flow")).value();
  constexpr int kCalls = 150;
  std::promise<void> halfway;
  int applied = 0;
  int failed = 0;
  std::thread traffic([&] {
    CallOptions o = retried();
    for (int i = 0; i < kCalls; ++i) {
      Result<std::int64_t> r = wait(client_->call_with<&RemoteTally::add>(o, "flow", 1));
      if (r.is_ok() || r.status().code() == StatusCode::kAlreadyExists) {
        ++applied;
      } else {
        ++failed;
        ADD_FAILURE() << r.status();
      }
      if (i == kCalls / 3) halfway.set_value();
    }
  });
  halfway.get_future().wait();
  ASSERT_EQ(kill(static_cast<pid_t>(pid), SIGKILL), 0);
  traffic.join();
  EXPECT_EQ(applied + failed, kCalls);
  auto total = wait(client_->call_with<&RemoteTally::get>(retried(), "flow"));
  ASSERT_TRUE(total.is_ok()) << total.status();
  EXPECT_EQ(total->total, applied);
  EXPECT_NE(wait(client_->call<&RemoteTally::pid>("flow")).value(), pid);
}

TEST_F(AgentTest, CallPendingOnAKilledWorkerFailsUnavailable) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "busy")).is_ok());
  ASSERT_TRUE(wait(client_->spawn("Counter", "probe")).is_ok());
  auto pending = client_->call<&RemoteCounter::slow>("busy", 20'000);
  // Frames keep their order on the way to the worker: once the probe has
  // answered, the slow call is with the worker.
  const auto pid = wait(client_->call<&RemoteCounter::pid>("probe")).value();
  ASSERT_EQ(kill(static_cast<pid_t>(pid), SIGKILL), 0);
  auto r = wait(std::move(pending));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("worker 0 (pid " + std::to_string(pid) + ")"),
            std::string::npos)
      << r.status();
  EXPECT_EQ(std::string(r.status().message()).find("unavailable"), std::string::npos) << "the code twice: " << r.status();
}

TEST_F(AgentTest, PlainActorIsSpawnedAgainFreshAfterItsWorkerIsKilled) {
  expect_fresh_counter_after_signal(*client_, "p", SIGKILL);
}

class TwoWorkerTest : public AgentTest {
 protected:
  void configure(AgentOptions& o) override { o.workers = 2; }
};

TEST_F(TwoWorkerTest, ActorCallsAnActorInAnotherWorkerProcess) {
  ASSERT_TRUE(wait(client_->spawn("Forwarder", "fwd")).is_ok());
  const auto here = wait(client_->call<&testing::RemoteForwarder::pid>("fwd")).value();
  // Keys are placed by hash: find a counter on the other worker.
  std::string there;
  for (int i = 0; i < 32 && there.empty(); ++i) {
    const std::string key = "c-" + std::to_string(i);
    ASSERT_TRUE(wait(client_->spawn("Counter", key)).is_ok());
    if (wait(client_->call<&RemoteCounter::pid>(key)).value() != here) there = key;
  }
  ASSERT_FALSE(there.empty()) << "no key landed on the second worker";
  EXPECT_EQ(wait(client_->call<&testing::RemoteForwarder::add_to>("fwd", there, 4)).value(), 4);
  EXPECT_EQ(wait(client_->call<&testing::RemoteForwarder::add_to>("fwd", there, 3)).value(), 7);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>(there)).value(), 7);
}

class HeartbeatTest : public AgentTest {
 protected:
  void configure(AgentOptions& o) override {
    o.heartbeat_interval = std::chrono::milliseconds(100);
    o.heartbeat_timeout = std::chrono::milliseconds(1000);
  }
};

// A stopped worker does not exit: the agent notices the missing heartbeat
// echoes and kills it.
TEST_F(HeartbeatTest, StoppedWorkerIsKilledAndRestarted) {
  expect_fresh_counter_after_signal(*client_, "h", SIGSTOP);
  EXPECT_GE(agent_->restart_count(), 1u);
}

// TLS end to end: the agent listens with a certificate, the workers and a
// client that trusts it connect; a plain client is refused.
class TlsTest : public AgentTest {
 protected:
  void SetUp() override {
    cert_dir_ = std::filesystem::temp_directory_path() / ("keel-agent-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(cert_dir_);
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                            " -subj /CN=keel-agent -keyout " + (cert_dir_ / "agent.key").string() + " -out " +
                            (cert_dir_ / "agent.crt").string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "the openssl command could not make a test certificate";
    AgentTest::SetUp();
  }
  void TearDown() override {
    AgentTest::TearDown();
    std::error_code ignored;
    std::filesystem::remove_all(cert_dir_, ignored);
  }
  void configure(AgentOptions& o) override {
    o.tls.enabled = true;
    o.tls.certificate_chain_file = (cert_dir_ / "agent.crt").string();
    o.tls.private_key_file = (cert_dir_ / "agent.key").string();
  }
  ClientOptions client_options(const std::string& secret) override {
    ClientOptions o = AgentTest::client_options(secret);
    o.tls.enabled = true;
    o.tls.ca_file = (cert_dir_ / "agent.crt").string();
    return o;
  }
  std::filesystem::path cert_dir_;
};

TEST_F(TlsTest, ClientsAndWorkersTalkThroughTls) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "tls")).is_ok());
  EXPECT_EQ(wait(client_->call<&RemoteCounter::add>("tls", 3)).value(), 3);
  ClientOptions plain;
  plain.secret = kSecret;
  plain.connect_timeout = std::chrono::duration_cast<Duration>(kWait);
  auto refused = Client::connect("127.0.0.1", agent_->port(), plain);
  EXPECT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().code(), StatusCode::kTimeout) << refused.status();
}

TEST(AgentSupervision, WorkerThatKeepsExitingIsGivenUpOn) {
  AgentOptions o;
  o.secret = kSecret;
  o.worker_argv = {KEEL_TEST_WORKER, "--crash-at-start"};
  o.max_restarts = 2;
  o.restart_window = std::chrono::minutes(10);
  o.start_timeout = std::chrono::minutes(2);  // the give-up ends start(), not this
  std::vector<std::string> lines;
  o.log = [&](std::string_view line) { lines.emplace_back(line); };
  auto agent = Agent::start(o);
  EXPECT_EQ(agent.status().code(), StatusCode::kUnavailable) << agent.status();
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.back().find("exit status 3"), std::string::npos) << lines.back();
  EXPECT_NE(lines.back().find("giving up"), std::string::npos) << lines.back();
}

// The keel-agent executable as a child: killing it kills its workers
// (PR_SET_PDEATHSIG), even though nothing asked them to stop.
TEST(AgentProcess, KillingTheAgentKillsItsWorkers) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  // Options from a config file, the listen address from the command line.
  const auto config = std::filesystem::temp_directory_path() / ("keel-agent-test-" + std::to_string(getpid()) + ".conf");
  {
    std::ofstream file(config);
    file << "# two workers\nworkers = 2\nworker = " << KEEL_TEST_WORKER << "\nlisten = 0.0.0.0:1\n";
  }
  std::vector<std::string> args = {KEEL_AGENT_EXE, "--listen", "127.0.0.1:0", "--config", config.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store = {std::string("KEEL_SECRET=") + kSecret};
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(env_store[0].data());
  env.push_back(nullptr);
  pid_t agent = -1;
  ASSERT_EQ(posix_spawn(&agent, argv[0], &actions, nullptr, argv.data(), env.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);

  // The ready line: "keel-agent: ready on 127.0.0.1:PORT with 2 workers in N us".
  std::string line;
  char ch = 0;
  pollfd p{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&p, 1, 30'000) == 1 && read(out[0], &ch, 1) == 1) {
    line += ch;
  }
  close(out[0]);
  std::filesystem::remove(config);
  const auto at = line.find("127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << "no ready line: " << line;
  EXPECT_NE(line.find("with 2 workers"), std::string::npos) << line;
  const auto port = static_cast<std::uint16_t>(std::atoi(line.c_str() + at + 10));

  ClientOptions o;
  o.secret = kSecret;
  auto client = Client::connect("127.0.0.1", port, o).value();
  std::vector<int> pidfds;
  for (const char* key : {"a", "b", "c", "d", "e", "f"}) {
    ASSERT_TRUE(wait(client->spawn("Counter", key)).is_ok());
    const auto pid = wait(client->call<&RemoteCounter::pid>(key)).value();
    pidfds.push_back(open_pidfd(static_cast<pid_t>(pid)));
    ASSERT_GE(pidfds.back(), 0);
  }
  ASSERT_EQ(kill(agent, SIGKILL), 0);
  ASSERT_EQ(waitpid(agent, nullptr, 0), agent);
  for (int fd : pidfds) {
    EXPECT_TRUE(exits_within(fd, std::chrono::milliseconds(30'000))) << "a worker outlived its agent";
    close(fd);
  }
}

}  // namespace
}  // namespace keel
