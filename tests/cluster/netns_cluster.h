// netns_cluster.h: NetnsClusterTest, the fixture of the cluster tests that
// run keel-agents as hosts in network namespaces (scripts/test_hosts.sh): a
// set of three hosts and its hub, a PostgreSQL server listening in the hub
// on 127.10.0.2 (the hub's own address, 127.10.0.1, is the clients'), and
// this test process inside the hub's namespace, so its clients and its
// database connections travel over the bridge like a remote client's.
// Needs root; the tests fail saying so when the namespaces cannot be made.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent_process.h"
#include "keel/cluster/cluster_view.h"
#include "poll_tables.h"

namespace keel::testing {

class NetnsClusterTest : public ::testing::Test {
 protected:
  static constexpr const char* kAgentSecret = "agent secret of the netns tests";
  static constexpr const char* kClusterSecret = "cluster secret of the netns tests";
  static constexpr const char* kDbAddress = "127.10.0.2";
  static constexpr int kHosts = 3;

  // Runs `cmd` with a shell; returns its exit code and what it printed.
  static std::pair<int, std::string> run(const std::string& cmd) {
    std::unique_ptr<FILE, int (*)(FILE*)> p(popen((cmd + " 2>&1").c_str(), "r"), pclose);
    if (!p) return {-1, "popen failed: " + std::string(std::strerror(errno))};
    std::string out;
    std::array<char, 512> buf;
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p.get()) != nullptr) out += buf.data();
    const int status = pclose(p.release());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  }
  static std::string script(const std::string& name) { return std::string(KEEL_SOURCE_DIR) + "/scripts/" + name; }
  static std::string hosts(const std::string& args) { return script("test_hosts.sh") + " " + args; }

  static void SetUpTestSuite() {
    set_ = "n" + std::to_string(getpid() % 1000000);
    pg_dir_ = "/tmp/keel-netns-pg-" + set_;
    auto [rc, out] = run(hosts("up " + set_ + " " + std::to_string(kHosts)));
    if (rc != 0) {
      setup_error_ = "the test hosts could not be made (network namespaces need root): " + out;
      return;
    }
    up_ = true;
    std::tie(rc, out) = run("ip netns exec " + netns(0) + " ip addr add " + kDbAddress + "/16 dev br0");
    if (rc != 0) {
      setup_error_ = "the database's address could not be added in the hub: " + out;
      return;
    }
    // This process (its main thread, before it starts any other) moves into
    // the hub: every thread and child it makes from now on is there.
    const int fd = open(("/run/netns/" + netns(0)).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      setup_error_ = "cannot enter " + netns(0) + ": " + std::strerror(errno);
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    std::tie(rc, out) = run("KEEL_PG_LISTEN=" + std::string(kDbAddress) + " " + script("pg_test_server.sh") +
                            " start " + pg_dir_);
    if (rc != 0) setup_error_ = "the PostgreSQL server did not start in the hub: " + out;
  }

  static void TearDownTestSuite() {
    run(script("pg_test_server.sh") + " stop " + pg_dir_);
    if (up_) run(hosts("down " + set_));
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string schema = std::string("t_") + info->name();
    for (char& c : schema) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    url_ = "postgresql://postgres@" + std::string(kDbAddress) + ":5432/postgres?keel_schema=" + schema.substr(0, 60);
    agents_.resize(kHosts + 1);
  }

  void TearDown() override {
    // A failed test shows what the agents (and their workers) logged.
    for (int i = 1; i <= kHosts && HasFailure(); ++i) {
      std::printf("---- %s's log:\n%s%s\n", id(i).c_str(), past_logs_[i].c_str(),
                  agents_[i] ? agents_[i]->error_output().c_str() : "");
    }
    for (int i = 1; i <= kHosts; ++i) {
      if (agents_[i]) kill(agents_[i]->pid(), SIGCONT);  // a paused one must hear its SIGTERM
      heal(i);
    }
    agents_.clear();
  }

  static std::string netns(int i) { return "keel-" + set_ + "-" + std::to_string(i); }
  static std::string address(int i) { return "127.10.0." + std::to_string(10 + i); }
  static std::string id(int i) { return "host-" + std::to_string(i); }
  static AgentEndpoint endpoint(int i) { return AgentEndpoint{address(i), 7700}; }
  static std::vector<AgentEndpoint> endpoints() {
    std::vector<AgentEndpoint> out;
    for (int i = 1; i <= kHosts; ++i) out.push_back(endpoint(i));
    return out;
  }

  // Starts host i's agent in its namespace (again, after a kill): a new
  // incarnation. False, with a test failure, when it did not get ready.
  bool start_agent(int i) {
    agents_[i] = std::make_unique<AgentProcess>(
        KEEL_IP_EXE,
        std::vector<std::string>{"netns", "exec", netns(i), KEEL_AGENT_EXE, "--listen", address(i) + ":7700",
                                 "--worker", KEEL_TEST_WORKER, "--workers", "2", "--cluster", url_, "--host-id",
                                 id(i), "--cluster-name", "netns", "--lease-ms", "2000"},
        std::vector<std::string>{std::string("KEEL_SECRET=") + kAgentSecret,
                                 std::string("KEEL_CLUSTER_SECRET=") + kClusterSecret});
    const bool ready = agents_[i]->wait_ready(std::chrono::seconds(30)).has_value();
    EXPECT_TRUE(ready) << id(i) << " did not start: " << agents_[i]->error_output();
    return ready;
  }
  bool start_all() {
    for (int i = 1; i <= kHosts; ++i) {
      if (!start_agent(i)) return false;
    }
    return true;
  }
  void signal_agent(int i, int sig) {
    ASSERT_TRUE(agents_[i]);
    ASSERT_EQ(kill(agents_[i]->pid(), sig), 0) << std::strerror(errno);
  }
  // SIGKILL, and reaps it.
  void kill_agent(int i) {
    ASSERT_NO_FATAL_FAILURE(signal_agent(i, SIGKILL));
    agents_[i]->wait_exit(std::chrono::seconds(10));
    past_logs_[i] += agents_[i]->error_output() + "-- killed --\n";
    agents_[i].reset();
  }

  // Faults in host i's namespace, and their removal.
  void cut_from_database(int i) { expect_ok(hosts("cut " + set_ + " " + std::to_string(i) + " " + kDbAddress)); }
  void cut_from_peers(int i) {
    for (int j = 1; j <= kHosts; ++j) {
      if (j != i) expect_ok(hosts("partition " + set_ + " " + std::to_string(i) + " " + std::to_string(j)));
    }
  }
  void link(int i, bool up) {
    expect_ok("ip netns exec " + netns(i) + " ip link set eth0 " + (up ? "up" : "down"));
  }
  // Every cut of host i and of its peers towards it, and its link up.
  void heal(int i) {
    for (int j = 1; j <= kHosts; ++j) run(hosts("heal " + set_ + " " + std::to_string(j)));
    run("ip netns exec " + netns(i) + " ip link set eth0 up");
  }
  void kill_database() { expect_ok(script("pg_test_server.sh") + " kill " + pg_dir_); }
  void start_database() {
    expect_ok("KEEL_PG_LISTEN=" + std::string(kDbAddress) + " " + script("pg_test_server.sh") + " start " + pg_dir_);
  }
  static void expect_ok(const std::string& cmd) {
    auto [rc, out] = run(cmd);
    EXPECT_EQ(rc, 0) << cmd << ": " << out;
  }

  bool wait_balanced(const std::set<std::string>& ids, std::chrono::seconds deadline = std::chrono::seconds(60)) {
    return testing::wait_balanced(url_, ids, deadline);
  }
  std::set<std::string> all_ids() const {
    std::set<std::string> out;
    for (int i = 1; i <= kHosts; ++i) out.insert(id(i));
    return out;
  }

  static ClientOptions client_options() {
    ClientOptions o;
    o.secret = kAgentSecret;
    o.cluster = true;
    o.allow_partial_connect = true;
    o.default_deadline = std::chrono::seconds(20);
    o.retry.max_attempts = 400;
    o.retry.max_backoff = std::chrono::milliseconds(200);
    return o;
  }

  static inline std::string set_;
  static inline std::string pg_dir_;
  static inline std::string setup_error_;
  static inline bool up_ = false;
  std::string url_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;  // by host number; [0] unused
  std::map<int, std::string> past_logs_;  // what killed incarnations logged, by host number
};

}  // namespace keel::testing
