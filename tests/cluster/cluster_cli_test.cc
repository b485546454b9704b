// `keel cluster status | hosts | shards` (tools/src/commands_cluster.cc),
// through keel::tools::run_cli, on a cluster in the PostgreSQL test server.
#include <gtest/gtest.h>

#include <sstream>

#include "cluster_test.h"
#include "keel/cluster/shard_claims.h"
#include "keel/journal/journal.h"
#include "keel/tools/journal_cli.h"
#include "tools/cli_process.h"
#include "tools/ui_process.h"

namespace keel::testing {
namespace {

class ClusterCliTest : public ClusterTest {
 protected:
  int run(std::vector<std::string> args, const std::string& journal = "") {
    out_.str("");
    err_.str("");
    tools::CliEnvironment env;
    env.out = &out_;
    env.err = &err_;
    env.default_journal = journal.empty() ? url_ : journal;
    return tools::run_cli(args, env);
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
  ASSERT_NE(a, nullptr);
  Result<std::unique_ptr<ShardClaims>> claims = ShardClaims::open(url_, *a);
  ASSERT_TRUE(claims.has_value()) << claims.status();
  ASSERT_TRUE((*claims)->claim({4}).has_value());
  UiProcess ui(url_);
  ASSERT_NE(ui.port(), 0) << ui.out() << ui.err();
  HttpReply hosts = http_get(ui.port(), "/api/cluster/hosts");
  EXPECT_EQ(hosts.status, 200) << hosts.body;
  EXPECT_TRUE(JsonCheck::valid(hosts.body)) << hosts.body;
  EXPECT_NE(hosts.body.find("{\"id\":\"host-a\",\"incarnation\":1,\"live\":true"), std::string::npos) << hosts.body;
  HttpReply shards = http_get(ui.port(), "/api/cluster/shards");
  EXPECT_EQ(shards.status, 200) << shards.body;
  EXPECT_NE(shards.body.find("{\"shard\":4,\"epoch\":1,\"host\":\"host-a\""), std::string::npos) << shards.body;
  HttpReply status = http_get(ui.port(), "/api/cluster/status");
  EXPECT_EQ(status.status, 200) << status.body;
  EXPECT_NE(status.body.find("\"held_shards\":1"), std::string::npos) << status.body;
  EXPECT_EQ(http_get(ui.port(), "/api/cluster/drain").status, 404);
  HttpReply page = http_get(ui.port(), "/");
  EXPECT_NE(page.body.find("#/cluster"), std::string::npos);
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

}  // namespace
}  // namespace keel::testing
