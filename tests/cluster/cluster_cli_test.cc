// `keel cluster status | hosts | shards | drain` (tools/src/commands_cluster.cc,
// commands_drain.cc), through keel::tools::run_cli, on a cluster in the
// PostgreSQL test server.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "keel/cluster/drain.h"
#include "keel/cluster/shard_claims.h"
#include "keel/journal/journal.h"
#include "keel/tools/journal_cli.h"
#include "shard_ledger.h"
#include "tools/cli_process.h"
#include "tools/ui_process.h"

namespace keel::testing {
namespace {

class ClusterCliTest : public ShardKeeperFixture {
 protected:
  // `secret` stands for $KEEL_CLUSTER_SECRET.
  int run(std::vector<std::string> args, const std::string& journal = "", const std::string& secret = "") {
    out_.str("");
    err_.str("");
    tools::CliEnvironment env;
    env.out = &out_;
    env.err = &err_;
    env.default_journal = journal.empty() ? url_ : journal;
    env.cluster_secret = secret;
    return tools::run_cli(args, env);
  }
  int drain(std::vector<std::string> args) {
    args.insert(args.begin(), {"cluster", "drain"});
    return run(std::move(args), "", kSecret);
  }
  static std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(ClusterCliTest, StatusHostsAndShardsShowWhatTheTablesSay) {
  auto a = join("host-a", {{"gpu", "1"}});
  auto b = join("host-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Result<std::unique_ptr<ShardClaims>> claims = ShardClaims::open(url_, *a);
  ASSERT_TRUE(claims.has_value()) << claims.status();
  ASSERT_TRUE((*claims)->claim({0, 1, 2}).has_value());
  expire("host-b");

  ASSERT_EQ(run({"cluster", "status"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("cluster test on postgresql://"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("hosts   1 live of 2"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("shards  3 held by live hosts of 64"), std::string::npos) << out_.str();

  ASSERT_EQ(run({"cluster", "status", "--json"}), 0) << err_.str();
  EXPECT_TRUE(JsonCheck::valid(out_.str())) << out_.str();
  EXPECT_NE(out_.str().find("\"cluster\":\"test\""), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("\"live_hosts\":1,\"shards\":64,\"held_shards\":3"), std::string::npos) << out_.str();

  ASSERT_EQ(run({"cluster", "hosts"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("HOST"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("gpu=1"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("down"), std::string::npos) << out_.str();

  ASSERT_EQ(run({"cluster", "hosts", "--json"}), 0) << err_.str();
  EXPECT_TRUE(JsonCheck::valid(out_.str())) << out_.str();
  EXPECT_NE(out_.str().find("{\"id\":\"host-a\",\"incarnation\":1,\"live\":true"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("\"labels\":{\"gpu\":\"1\"},\"shards\":3}"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("{\"id\":\"host-b\",\"incarnation\":1,\"live\":false"), std::string::npos) << out_.str();

  ASSERT_EQ(run({"cluster", "shards", "--json"}), 0) << err_.str();
  EXPECT_TRUE(JsonCheck::valid(out_.str())) << out_.str();
  EXPECT_NE(out_.str().find("{\"shard\":1,\"epoch\":1,\"host\":\"host-a\",\"incarnation\":1,\"live\":true}"),
            std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("{\"shard\":3,\"epoch\":0,\"host\":\"\",\"incarnation\":0,\"live\":false}"),
            std::string::npos)
      << out_.str();
  ASSERT_EQ(run({"cluster", "shards"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("host-a#1"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("free"), std::string::npos) << out_.str();
}

TEST_F(ClusterCliTest, TheWebViewServesTheSameHostsAndShards) {
  auto a = join("host-a", {{"gpu", "1"}});
  auto b = join("host-b");
  ASSERT_TRUE(a && b);
  Result<std::unique_ptr<ShardClaims>> claims = ShardClaims::open(url_, *a);
  ASSERT_TRUE(claims.has_value()) << claims.status();
  ASSERT_TRUE((*claims)->claim({4}).has_value());
  DrainOptions drain;
  drain.secret = kSecret;
  ASSERT_TRUE(drain_host(url_, "host-b", drain).has_value());
  UiProcess ui(url_);
  ASSERT_NE(ui.port(), 0) << ui.out() << ui.err();
  HttpReply hosts = http_get(ui.port(), "/api/cluster/hosts");
  EXPECT_EQ(hosts.status, 200) << hosts.body;
  EXPECT_TRUE(JsonCheck::valid(hosts.body)) << hosts.body;
  EXPECT_NE(hosts.body.find("{\"id\":\"host-a\",\"incarnation\":1,\"live\":true"), std::string::npos) << hosts.body;
  EXPECT_NE(hosts.body.find("{\"id\":\"host-b\",\"incarnation\":1,\"live\":true,\"left\":false,\"draining\":true"),
            std::string::npos)
      << hosts.body;
  HttpReply shards = http_get(ui.port(), "/api/cluster/shards");
  EXPECT_EQ(shards.status, 200) << shards.body;
  EXPECT_NE(shards.body.find("{\"shard\":4,\"epoch\":1,\"host\":\"host-a\""), std::string::npos) << shards.body;
  HttpReply status = http_get(ui.port(), "/api/cluster/status");
  EXPECT_EQ(status.status, 200) << status.body;
  EXPECT_NE(status.body.find("\"held_shards\":1"), std::string::npos) << status.body;
  EXPECT_EQ(http_get(ui.port(), "/api/cluster/drain").status, 404);
  HttpReply page = http_get(ui.port(), "/");
  EXPECT_NE(page.body.find("#/cluster"), std::string::npos);
  EXPECT_NE(page.body.find("draining"), std::string::npos);
  EXPECT_EQ(ui.stop(), 0) << ui.err();
}

TEST_F(ClusterCliTest, AJournalWithoutAClusterIsNamedAsSuch) {
  JournalOptions o;
  ASSERT_TRUE(open_journal(url_, o).has_value());
  EXPECT_EQ(run({"cluster", "status"}), static_cast<int>(tools::ExitCode::kNoJournal));
  EXPECT_NE(err_.str().find("no host has joined a cluster"), std::string::npos) << err_.str();
  UiProcess ui(url_);
  ASSERT_NE(ui.port(), 0) << ui.out() << ui.err();
  HttpReply hosts = http_get(ui.port(), "/api/cluster/hosts");
  EXPECT_EQ(hosts.status, 404) << hosts.body;
  EXPECT_NE(hosts.body.find("no host has joined a cluster"), std::string::npos) << hosts.body;
  EXPECT_EQ(ui.stop(), 0) << ui.err();
}

TEST_F(ClusterCliTest, BadJournalsGetTheirExitCodes) {
  EXPECT_EQ(run({"cluster", "status"}, "/tmp/a-file.db"), static_cast<int>(tools::ExitCode::kUsage));
  EXPECT_NE(err_.str().find("postgresql:// URL"), std::string::npos) << err_.str();
  EXPECT_EQ(run({"cluster", "hosts"}), static_cast<int>(tools::ExitCode::kNoJournal)) << err_.str();
  EXPECT_EQ(run({"cluster", "hosts"}, "postgresql://keel:pw-not-shown@127.0.0.1:1/db?keel_schema=c"),
            static_cast<int>(tools::ExitCode::kUnreachable));
  EXPECT_EQ(err_.str().find("pw-not-shown"), std::string::npos) << err_.str();
  EXPECT_EQ(run({"cluster", "drain"}), static_cast<int>(tools::ExitCode::kUsage));
  ASSERT_EQ(run({"cluster", "--help"}), 0);
  EXPECT_NE(out_.str().find("usage: keel cluster"), std::string::npos);
}

TEST_F(ClusterCliTest, DrainMarksTheHostAndTheViewsShowItDraining) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(drain({"host-b"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("host-b#1 is draining"), std::string::npos) << out_.str();

  ASSERT_EQ(run({"cluster", "hosts"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("draining"), std::string::npos) << out_.str();
  ASSERT_EQ(run({"cluster", "status"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("draining"), std::string::npos) << out_.str();
  ASSERT_EQ(run({"cluster", "hosts", "--json"}), 0) << err_.str();
  EXPECT_TRUE(JsonCheck::valid(out_.str())) << out_.str();
  // host-a, then host-b.
  EXPECT_LT(out_.str().find("\"live\":true,\"left\":false,\"draining\":false"),
            out_.str().find("\"live\":true,\"left\":false,\"draining\":true"))
      << out_.str();
  EXPECT_EQ(count(out_.str(), "\"draining\":true"), 1u) << out_.str();
}

TEST_F(ClusterCliTest, DrainWaitReturnsOnceTheHostHoldsNoShardAndSaysWhereTheyWent) {
  std::map<std::string, Host> hosts = start_settled({"host-a", "host-b"});
  ASSERT_EQ(hosts.size(), 2u);
  const std::map<std::uint32_t, std::string> both = placed({"host-a", "host-b"});
  std::size_t on_b = 0;
  for (const auto& [shard, host] : both) on_b += host == "host-b" ? 1 : 0;

  ASSERT_EQ(drain({"host-b", "--wait", "--json"}), 0) << err_.str();
  EXPECT_TRUE(JsonCheck::valid(out_.str())) << out_.str();
  EXPECT_NE(out_.str().find("{\"host\":\"host-b\",\"incarnation\":1,\"draining\":true,\"moved\":["),
            std::string::npos)
      << out_.str();
  EXPECT_EQ(count(out_.str(), "\"shard\":"), on_b) << out_.str();
  EXPECT_EQ(shards_held_by("host-b"), 0u);
  EXPECT_TRUE(hosts.at("host-b").keeper->held().empty());
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a"})));
  expect_no_violations();
}

TEST_F(ClusterCliTest, TheKeelExecutableDrainsWithTheSecretFromItsEnvironment) {
  std::map<std::string, Host> hosts = start_settled({"host-a", "host-b"});
  ASSERT_EQ(hosts.size(), 2u);
  const CliRun r = run_keel({std::string("KEEL_CLUSTER_SECRET=") + kSecret, KEEL_CLI_PATH, "cluster", "drain",
                             "host-b", "--wait", "--timeout", "120", "--journal", url_},
                            "/usr/bin/env");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "host-b#1 holds no shard")) << r.out;
  EXPECT_TRUE(has(r.out, "NOW HELD BY")) << r.out;
  EXPECT_EQ(shards_held_by("host-b"), 0u);
}

TEST_F(ClusterCliTest, DrainWaitTimesOutWhileTheHostStillHoldsShards) {
  auto b = join("host-b");
  ASSERT_NE(b, nullptr);
  // Claimed without a keeper: nothing hands them over.
  Result<std::unique_ptr<ShardClaims>> claims = ShardClaims::open(url_, *b);
  ASSERT_TRUE(claims.has_value()) << claims.status();
  ASSERT_TRUE((*claims)->claim({0, 1}).has_value());
  EXPECT_EQ(drain({"host-b", "--wait", "--timeout", "0"}), static_cast<int>(tools::ExitCode::kTimedOut));
  EXPECT_NE(err_.str().find("host-b#1 still holds 2 shards"), std::string::npos) << err_.str();
  ASSERT_EQ(run({"cluster", "hosts", "--json"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("\"draining\":true"), std::string::npos) << out_.str();
}

TEST_F(ClusterCliTest, DrainUndoGivesTheHostItsShareAgain) {
  std::map<std::string, Host> hosts = start_settled({"host-a", "host-b"});
  ASSERT_EQ(hosts.size(), 2u);
  ASSERT_EQ(drain({"host-b", "--wait"}), 0) << err_.str();
  ASSERT_EQ(drain({"--undo", "host-b"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("host-b#1 is no longer draining"), std::string::npos) << out_.str();
  ASSERT_TRUE(ledger_.wait_for(placed({"host-a", "host-b"})));
  expect_no_violations();
}

TEST_F(ClusterCliTest, DrainTakesTheSecretFromAFile) {
  auto b = join("host-b");
  ASSERT_NE(b, nullptr);
  const std::string file = ::testing::TempDir() + "/cluster-secret-" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::ofstream(file) << kSecret << "\n";
  ASSERT_EQ(run({"cluster", "drain", "host-b", "--secret-file", file}), 0) << err_.str();
  std::ofstream(file) << "not the secret of this cluster\n";
  EXPECT_EQ(run({"cluster", "drain", "host-b", "--secret-file", file}), static_cast<int>(tools::ExitCode::kUnreachable));
  EXPECT_NE(err_.str().find("the secret is not the cluster's"), std::string::npos) << err_.str();
  std::remove(file.c_str());
}

TEST_F(ClusterCliTest, DrainFailuresGetTheirExitCodes) {
  auto a = join("host-a");
  auto b = join("host-b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(run({"cluster", "drain", "host-a"}), static_cast<int>(tools::ExitCode::kUsage));
  EXPECT_NE(err_.str().find("KEEL_CLUSTER_SECRET"), std::string::npos) << err_.str();
  EXPECT_EQ(run({"cluster", "drain", "host-a"}, "", "not the secret of this cluster"),
            static_cast<int>(tools::ExitCode::kUnreachable));
  EXPECT_EQ(drain({"host-z"}), static_cast<int>(tools::ExitCode::kUnknownId));
  EXPECT_NE(err_.str().find("host-z"), std::string::npos) << err_.str();
  expire("host-b");
  EXPECT_EQ(drain({"host-b"}), static_cast<int>(tools::ExitCode::kRefused));
  EXPECT_NE(err_.str().find("not live"), std::string::npos) << err_.str();
  EXPECT_EQ(drain({"host-a", "--undo", "--wait"}), static_cast<int>(tools::ExitCode::kUsage));
  EXPECT_EQ(drain({"host-a", "--timeout", "5"}), static_cast<int>(tools::ExitCode::kUsage));
  EXPECT_EQ(drain({"host-a", "--wait", "--timeout", "soon"}), static_cast<int>(tools::ExitCode::kUsage));
  EXPECT_EQ(run({"cluster", "drain", "host-a"}, "/tmp/a-file.db", kSecret), static_cast<int>(tools::ExitCode::kUsage));
}

TEST_F(ClusterCliTest, DrainOnAJournalWithoutAClusterIsNoJournal) {
  JournalOptions o;
  ASSERT_TRUE(open_journal(url_, o).has_value());
  EXPECT_EQ(drain({"host-a"}), static_cast<int>(tools::ExitCode::kNoJournal));
  EXPECT_NE(err_.str().find("no host has joined a cluster"), std::string::npos) << err_.str();
}

}  // namespace
}  // namespace keel::testing
