// keel-agent's metrics endpoint (docs/metrics.md): an agent with two
// worker processes (remote_worker.cc), calls through a client, then GET
// /metrics over a real TCP socket. Workers report with their heartbeat
// echoes, so the tests poll the endpoint until the figures arrive, within
// a deadline.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "agent_fixture.h"
#include "support/http_client.h"

namespace keel {
namespace {

using testing::AgentTest;
using testing::http_get;
using testing::HttpReply;
using testing::kWait;
using testing::RemoteCounter;
using testing::RemoteTally;
using testing::wait;

// The samples of a scrape: by "name{labels}" as written, and in order.
struct Samples {
  std::map<std::string, double> by_name;
  std::vector<std::pair<std::string, double>> in_order;
  double at(const std::string& name) const { return by_name.at(name); }
};

// Every sample of a scrape; empty (and a test failure) if any line is
// neither a comment nor `name{labels} value`.
Samples parse_samples(const std::string& text) {
  static const std::regex kComment(R"(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*)");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})?) (\S+))");
  Samples out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, kComment)) continue;
    if (!std::regex_match(line, m, kSample)) {
      ADD_FAILURE() << "not a comment or a sample: '" << line << "'";
      return {};
    }
    char* end = nullptr;
    const std::string value = m[6].str();
    const double v = std::strtod(value.c_str(), &end);
    if (end != value.c_str() + value.size()) {
      ADD_FAILURE() << "not a number: '" << line << "'";
      return {};
    }
    out.by_name[m[1].str()] = v;
    out.in_order.emplace_back(m[1].str(), v);
  }
  return out;
}

class AgentMetricsTest : public AgentTest {
 protected:
  void configure(AgentOptions& o) override {
    o.workers = 2;
    o.metrics_host = "127.0.0.1";
    o.heartbeat_interval = std::chrono::milliseconds(20);
  }
  // The agent's counters count what passes through it: every call does.
  ClientOptions client_options(const std::string& secret) override {
    ClientOptions o = AgentTest::client_options(secret);
    o.direct_calls = false;
    return o;
  }

  // One scrape, which must succeed.
  Samples scrape() {
    const HttpReply r = http_get(agent_->metrics_port(), "/metrics");
    EXPECT_EQ(r.status, 200) << r.head;
    EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r.head;
    return parse_samples(r.body);
  }

  // Scrapes until `done(samples)` holds, or kWait passes (then fails the
  // test); returns the last scrape.
  template <class Pred>
  Samples scrape_until(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    Samples s = scrape();
    while (!done(s) && std::chrono::steady_clock::now() < deadline) s = scrape();
    EXPECT_TRUE(done(s)) << "the metrics did not get there within the deadline";
    return s;
  }

  static double handled(const Samples& s) {
    return s.at("keel_worker_messages_handled_total{worker=\"0\"}") +
           s.at("keel_worker_messages_handled_total{worker=\"1\"}");
  }
  static double commits(const Samples& s) {
    return s.at("keel_worker_commits_total{worker=\"0\"}") + s.at("keel_worker_commits_total{worker=\"1\"}");
  }
};

TEST_F(AgentMetricsTest, CountersMoveWithCallsAndEveryLineParses) {
  ASSERT_NE(agent_->metrics_port(), 0);
  ASSERT_TRUE(wait(client_->spawn("Counter", "c")).is_ok());
  ASSERT_TRUE(wait(client_->spawn("Tally", "t")).is_ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(wait(client_->call<&RemoteCounter::add>("c", 1)).is_ok());
    ASSERT_TRUE(wait(client_->call<&RemoteTally::add>("t", 1)).is_ok());
  }
  const auto s = scrape_until([](const auto& s) { return handled(s) >= 10 && commits(s) >= 1; });
  EXPECT_EQ(s.at("keel_agent_messages_total{kind=\"spawn\"}"), 2);
  EXPECT_EQ(s.at("keel_agent_messages_total{kind=\"call\"}"), 10);
  EXPECT_EQ(s.at("keel_agent_messages_total{kind=\"cancel\"}"), 0);
  EXPECT_EQ(s.at("keel_agent_workers_up"), 2);
  EXPECT_EQ(s.at("keel_agent_worker_restarts_total"), 0);
  EXPECT_GE(s.at("keel_agent_clients"), 1);  // this test's client, and each worker's own
  double records = 0, observed = 0;
  for (const char* w : {"0", "1"}) {
    const std::string l = std::string("{worker=\"") + w + "\"";
    records += s.at("keel_worker_commit_records_total" + l + "}");
    EXPECT_EQ(s.at("keel_worker_inbox_depth" + l + "}"), 0);
    // Buckets are cumulative and end with +Inf, which equals _count.
    double previous = 0;
    for (const auto& [name, value] : s.in_order) {
      if (name.rfind("keel_worker_commit_seconds_bucket" + l + ",", 0) != 0) continue;
      EXPECT_GE(value, previous) << name;
      previous = value;
    }
    EXPECT_EQ(s.at("keel_worker_commit_seconds_bucket" + l + ",le=\"+Inf\"}"),
              s.at("keel_worker_commit_seconds_count" + l + "}"));
    observed += s.at("keel_worker_commit_seconds_count" + l + "}");
  }
  EXPECT_GE(records, commits(s));
  EXPECT_GE(observed, 1);
}

TEST_F(AgentMetricsTest, AWorkersCountsOutliveItsProcess) {
  ASSERT_TRUE(wait(client_->spawn("Tally", "t")).is_ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(wait(client_->call<&RemoteTally::add>("t", 1)).is_ok());
  const auto before = scrape_until([](const auto& s) { return handled(s) >= 3; });
  const auto pid = wait(client_->call<&RemoteTally::pid>("t")).value();
  ASSERT_EQ(kill(static_cast<pid_t>(pid), SIGKILL), 0);
  const auto after = scrape_until([](const auto& s) {
    return s.at("keel_agent_worker_restarts_total") >= 1 && s.at("keel_agent_workers_up") == 2;
  });
  EXPECT_GE(handled(after), handled(before));
  EXPECT_GE(commits(after), commits(before));
}

TEST_F(AgentMetricsTest, OtherPathsAreNotFound) {
  EXPECT_EQ(http_get(agent_->metrics_port(), "/").status, 404);
  EXPECT_EQ(http_get(agent_->metrics_port(), "/metrics/x").status, 404);
  EXPECT_EQ(http_get(agent_->metrics_port(), "/api/stats").status, 404);
  EXPECT_EQ(http_get(agent_->metrics_port(), "/metrics").status, 200);
}

TEST(AgentMetricsOptions, ANonLoopbackMetricsAddressIsRefused) {
  for (const char* host : {"0.0.0.0", "10.1.2.3", "::", "localhost", "128.0.0.1"}) {
    AgentOptions o = testing::test_agent_options();
    o.metrics_host = host;
    auto agent = Agent::start(o);
    EXPECT_EQ(agent.status().code(), StatusCode::kInvalidArgument) << host;
    EXPECT_NE(std::string(agent.status().message()).find("loopback"), std::string::npos) << agent.status();
  }
}

TEST(AgentMetricsOptions, WithoutAMetricsHostThereIsNoEndpoint) {
  auto agent = Agent::start(testing::test_agent_options());
  ASSERT_TRUE(agent.is_ok()) << agent.status();
  EXPECT_EQ((*agent)->metrics_port(), 0);
}

}  // namespace
}  // namespace keel
