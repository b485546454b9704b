// The keel-agent executable's options (agent/src/agent_main.cc), run as a
// child process with the test worker (remote_worker.cc): --secret-file, and
// what a worker that cannot start reports.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent_fixture.h"
#include "agent_process.h"
#include "support/http_client.h"

namespace keel {
namespace {

using testing::AgentProcess;
using testing::kWait;
using testing::RemoteCounter;
using testing::wait;

constexpr auto kWaitMs = std::chrono::duration_cast<std::chrono::milliseconds>(kWait);

class AgentMain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keel-agent-main-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Writes `content` to a file in the test's directory and returns its path.
  std::string secret_file(const std::string& content) {
    const std::string path = (dir_ / "secret").string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // keel-agent with the test worker and `--secret-file path`.
  std::unique_ptr<AgentProcess> start_agent(const std::string& path) {
    return std::make_unique<AgentProcess>(
        KEEL_AGENT_EXE,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER, "--secret-file", path},
        std::vector<std::string>{});
  }

  static Result<std::unique_ptr<Client>> connect(std::uint16_t port, const std::string& secret) {
    ClientOptions o;
    o.secret = secret;
    return Client::connect("127.0.0.1", port, o);
  }

  // Starts an agent on a file holding `content`, and expects clients
  // using "s3cret" to be served, and clients using `content` refused.
  void expect_served_with_trimmed_secret(const std::string& content) {
    auto agent = start_agent(secret_file(content));
    ASSERT_TRUE(agent->started());
    const auto port = agent->wait_ready(kWaitMs);  // its worker got the secret, and connected with it
    ASSERT_TRUE(port.has_value()) << "no ready line";

    auto client = connect(*port, "s3cret");
    ASSERT_TRUE(client.is_ok()) << client.status();
    ASSERT_TRUE(wait((*client)->spawn("Counter", "c")).is_ok());
    EXPECT_EQ(wait((*client)->call<&RemoteCounter::add>("c", 2)).value_or(-1), 2);

    EXPECT_EQ(connect(*port, content).status().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(connect(*port, "s3cre").status().code(), StatusCode::kUnauthenticated);
  }

  std::filesystem::path dir_;
};

TEST_F(AgentMain, SecretFilesTrailingNewlineIsNotPartOfTheSecret) { expect_served_with_trimmed_secret("s3cret\n"); }

TEST_F(AgentMain, SecretFilesSurroundingSpacesTabsAndCrlfAreNotPartOfTheSecret) {
  expect_served_with_trimmed_secret(" \ts3cret \r\n\n");
}

TEST_F(AgentMain, SecretFileOfOnlyWhitespaceIsAnErrorAndTheAgentExits) {
  const std::string path = secret_file(" \n");
  auto agent = start_agent(path);
  ASSERT_TRUE(agent->started());
  EXPECT_EQ(agent->wait_exit(kWaitMs), 2);
  const std::string err = agent->error_output();
  EXPECT_EQ(err.rfind("keel-agent: invalid_argument: secret file " + path + " is empty\n", 0), 0u) << err;
}

TEST_F(AgentMain, MissingSecretFileIsAnErrorAndTheAgentExits) {
  const std::string path = (dir_ / "no-such-file").string();
  auto agent = start_agent(path);
  ASSERT_TRUE(agent->started());
  EXPECT_EQ(agent->wait_exit(kWaitMs), 2);
  const std::string err = agent->error_output();
  EXPECT_EQ(err.rfind("keel-agent: io_error: cannot read secret file " + path + ": No such file or directory\n", 0),
            0u)
      << err;
}

// A worker program that is missing, or is a folder, is refused at start
// in one line, before any worker is started and restarted.
TEST_F(AgentMain, MissingWorkerProgramIsRefusedBeforeAnyWorkerStarts) {
  const std::string missing = (dir_ / "no-such-worker").string();
  for (const std::string& program : {missing, dir_.string()}) {
    AgentProcess agent(KEEL_AGENT_EXE, {"--listen", "127.0.0.1:0", "--worker", program}, {"KEEL_SECRET=s3cret"});
    ASSERT_TRUE(agent.started());
    EXPECT_EQ(agent.wait_exit(kWaitMs), 1);
    const std::string err = agent.error_output();
    const std::string why = program == missing ? "No such file or directory" : "not a regular file";
    EXPECT_EQ(err, "keel-agent: invalid_argument: worker program " + program + ": " + why + "\n");
  }
}

// --metrics HOST:PORT (also `metrics = ...` in --config) serves
// /metrics, and the ready line says where.
TEST_F(AgentMain, MetricsFlagServesMetricsAndTheReadyLineGivesItsUrl) {
  const std::string config = (dir_ / "agent.conf").string();
  std::ofstream(config) << "metrics = 127.0.0.1:0\n";
  for (const std::vector<std::string>& how :
       {std::vector<std::string>{"--metrics", "127.0.0.1:0"}, std::vector<std::string>{"--config", config}}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER};
    args.insert(args.end(), how.begin(), how.end());
    AgentProcess agent(KEEL_AGENT_EXE, args, {"KEEL_SECRET=s3cret"});
    ASSERT_TRUE(agent.started());
    ASSERT_TRUE(agent.wait_ready(kWaitMs).has_value()) << agent.error_output();
    const std::string line = agent.ready_line();
    const std::string prefix = "; metrics on http://127.0.0.1:";
    const auto at = line.find(prefix);
    ASSERT_NE(at, std::string::npos) << line;
    const int port = std::atoi(line.c_str() + at + prefix.size());
    EXPECT_NE(line.find("/metrics\n", at), std::string::npos) << line;
    const testing::HttpReply reply = testing::http_get(port, "/metrics");
    EXPECT_EQ(reply.status, 200) << reply.head;
    EXPECT_NE(reply.body.find("# TYPE keel_agent_workers_up gauge\n"), std::string::npos) << reply.body;
    EXPECT_EQ(testing::http_get(port, "/nope").status, 404);
  }
}

// The endpoint has no authentication: an address other than loopback is
// refused before anything starts.
TEST_F(AgentMain, NonLoopbackMetricsAddressIsRefused) {
  for (const char* address : {"0.0.0.0:9100", "192.168.1.5:9100", "[::]:9100"}) {
    AgentProcess agent(KEEL_AGENT_EXE, {"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER, "--metrics", address},
                       {"KEEL_SECRET=s3cret"});
    ASSERT_TRUE(agent.started());
    EXPECT_EQ(agent.wait_exit(kWaitMs), 2) << address;
    const std::string err = agent.error_output();
    EXPECT_EQ(err.rfind("keel-agent: invalid_argument: --metrics must name a loopback address", 0), 0u) << err;
  }
}

// --direct-calls takes on or off; anything else is refused before anything
// starts, and off serves calls through the agent alone.
TEST_F(AgentMain, DirectCallsFlagTakesOnOrOff) {
  AgentProcess bad(KEEL_AGENT_EXE, {"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER, "--direct-calls", "yes"},
                   {"KEEL_SECRET=s3cret"});
  ASSERT_TRUE(bad.started());
  EXPECT_EQ(bad.wait_exit(kWaitMs), 2);
  const std::string err = bad.error_output();
  EXPECT_EQ(err.rfind("keel-agent: invalid_argument: --direct-calls takes on or off, not 'yes'", 0), 0u) << err;

  AgentProcess off(KEEL_AGENT_EXE, {"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER, "--direct-calls", "off"},
                   {"KEEL_SECRET=s3cret"});
  ASSERT_TRUE(off.started());
  const auto port_of_off = off.wait_ready(kWaitMs);
  ASSERT_TRUE(port_of_off.has_value()) << "no ready line";
  auto client = connect(*port_of_off, "s3cret");
  ASSERT_TRUE(client.has_value()) << client.status();
  ASSERT_TRUE((*client)->spawn("Counter", "c").get().has_value());
  EXPECT_EQ((*client)->call<&testing::RemoteCounter::add>("c", 2).get().value_or(-1), 2);
  auto where = (*client)->call_encoded("keel.route", "where", wire::encode_args(std::string("c")), CallOptions{}).get();
  ASSERT_TRUE(where.has_value()) << where.status();
  auto port = wire::decode_args<std::uint32_t>(*where);
  ASSERT_TRUE(port.has_value()) << port.status();
  EXPECT_EQ(std::get<0>(*port), 0u);  // no worker takes calls directly
}

// A worker that cannot open its journal says why in one line, naming the
// file once, and the agent gives up on it.
TEST_F(AgentMain, WorkerJournalThatIsNotAJournalIsReportedOnce) {
  const std::filesystem::path journal = dir_ / "journal";
  std::filesystem::create_directories(journal);
  const std::string db = (journal / "worker-0.db").string();
  std::ofstream(db) << "not a journal\n";
  AgentProcess agent(KEEL_AGENT_EXE,
                     {"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER, "--journal", journal.string(),
                      "--max-restarts", "0"},
                     {"KEEL_SECRET=s3cret"});
  ASSERT_TRUE(agent.started());
  EXPECT_EQ(agent.wait_exit(kWaitMs), 1);
  const std::string err = agent.error_output();
  const auto line_at = err.find("keel worker 0: corruption: ");
  ASSERT_NE(line_at, std::string::npos) << err;
  const std::string line = err.substr(line_at, err.find('\n', line_at) - line_at);
  const auto path_at = line.find(db);
  ASSERT_NE(path_at, std::string::npos) << line;
  EXPECT_EQ(line.find(db, path_at + 1), std::string::npos) << "the path twice: " << line;
}

}  // namespace
}  // namespace keel
