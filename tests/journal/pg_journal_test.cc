// What the PostgreSQL journal adds to the Journal contract (which
// journal_pg_conformance_test checks): fencing by writer epochs, the
// connection string and its errors, and commits whose connection is lost.
// Against the test server of the CTest fixture keel_pg (pg_backend.h).
#include <string>
#include <vector>

#include "backends.h"
#include "journal_test_util.h"
#include "pg_backend.h"
#include "keel/base/clock.h"
#include "keel/journal/pg_journal.h"

namespace keel::testing {
namespace {

class PgJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto url = pg_test_url();
    ASSERT_TRUE(url.has_value()) << url.status();
  }
  std::string path() const { return PgBackend::journal_path(dir_.path()); }
  std::unique_ptr<Journal> open(JournalOptions o = {}, const internal::BackendHooks& hooks = {}) {
    if (o.clock == nullptr) o.clock = &clock_;
    auto j = PgBackend::open(path(), o, hooks);
    EXPECT_TRUE(j.has_value()) << j.status();
    return j.has_value() ? std::move(*j) : nullptr;
  }
  std::unique_ptr<Journal> open_read_only() {
    JournalOptions o;
    o.read_only = true;
    return open(o);
  }
  std::vector<std::string> payloads() {
    auto reader = open_read_only();
    std::vector<std::string> out;
    if (reader == nullptr) return out;
    for (const Record& r : all_records(*reader)) out.push_back(r.owner + ":" + r.payload);
    return out;
  }

  TempDir dir_;
  ManualClock clock_;
};

TEST_F(PgJournalTest, ACommitAfterAnotherWriterClaimedTheShardFailsAndWritesNothing) {
  auto j = open();
  ASSERT_NE(j, nullptr);
  ASSERT_OK(j->append(one("actor/a", "1")));
  auto claimed = claim_pg_shards(path(), {pg_shard_of("actor/a")}, "the test");
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].epoch, 2u) << "the open claimed epoch 1, the test 2";
  auto refused = j->append(one("actor/a", "2"));
  EXPECT_CODE(refused, StatusCode::kOwnershipLost);
  EXPECT_NE(refused.status().message().find("ownership lost"), std::string::npos) << refused.status();
  // For good: the handle does not commit again, to any owner.
  EXPECT_CODE(j->append(one("actor/other", "3")), StatusCode::kOwnershipLost);
  EXPECT_EQ(payloads(), std::vector<std::string>{"actor/a:1"});
  j.reset();
  // The next writer's open claims again and goes on at the next LSN.
  auto next = open();
  ASSERT_NE(next, nullptr);
  auto r = next->append(one("actor/a", "4"));
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 2u);
  EXPECT_TRUE(problems(*next).empty());
}

TEST_F(PgJournalTest, ACommitToAnotherShardIsNotFenced) {
  auto j = open();
  ASSERT_NE(j, nullptr);
  std::string other = "actor/b";
  for (int i = 0; pg_shard_of(other) == pg_shard_of("actor/a"); ++i) other = "actor/b" + std::to_string(i);
  ASSERT_OK(claim_pg_shards(path(), {pg_shard_of("actor/a")}, "the test"));
  ASSERT_OK(j->append(one(other, "still mine")));
  EXPECT_CODE(j->append(one("actor/a", "not mine")), StatusCode::kOwnershipLost);
  EXPECT_EQ(payloads(), std::vector<std::string>{other + ":still mine"});
}

TEST_F(PgJournalTest, ClaimingAShardOutOfRangeIsInvalid) {
  auto j = open();
  ASSERT_NE(j, nullptr);
  EXPECT_CODE(claim_pg_shards(path(), {kPgShards}, "the test"), StatusCode::kInvalidArgument);
}

TEST_F(PgJournalTest, AServerThatCannotBeReachedIsUnavailableNamingTheHostNotThePassword) {
  JournalOptions o;
  o.pg_timeout = std::chrono::seconds(5);
  for (const std::string& name :
       {std::string("postgresql://keel:s3cret-pw@/postgres?host=/nonexistent/keel-pg&keel_schema=x"),
        std::string("host=/nonexistent/keel-pg dbname=postgres user=keel password=s3cret-pw")}) {
    SCOPED_TRACE(name.substr(0, 10));
    auto j = open_pg_journal(name, o);
    EXPECT_CODE(j, StatusCode::kUnavailable);
    const std::string message(j.status().message());
    EXPECT_NE(message.find("/nonexistent/keel-pg"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
  }
}

TEST_F(PgJournalTest, AMalformedNameIsInvalidAndLeavesThePasswordOut) {
  const std::string url = *pg_test_url();
  EXPECT_CODE(open_pg_journal(with_schema(url, "Bad-Name"), {}), StatusCode::kInvalidArgument);
  EXPECT_CODE(open_pg_journal(url + "&keel_colour=blue", {}), StatusCode::kInvalidArgument);
  JournalOptions o;
  o.pg_schema = "one";
  EXPECT_CODE(open_pg_journal(with_schema(url, "two"), o), StatusCode::kInvalidArgument);
  for (const std::string& name : {std::string("host=x password='s3cret-pw"), std::string("host=x password=s3cret pw"),
                                  std::string("postgresql://keel:s3cret%zz@[::1/db"),
                                  std::string("postgresql://keel:s3cret@host/db?colour=blue")}) {
    auto bad = open_pg_journal(name, {});
    EXPECT_CODE(bad, StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(bad.status().message()).find("s3cret"), std::string::npos) << bad.status();
  }
}

TEST_F(PgJournalTest, ARedactedPathNamesTheJournalWithoutThePassword) {
  EXPECT_EQ(redacted_journal_path("postgresql://keel:s3cret@db:5433/app?keel_schema=orders"),
            "postgresql://keel@db:5433/app?keel_schema=orders");
  EXPECT_EQ(redacted_journal_path("host=db user=keel password=s3cret dbname=app"),
            "postgresql://keel@db/app?keel_schema=keel");
  EXPECT_EQ(redacted_journal_path("host=db password='s3cret"), "a malformed PostgreSQL connection string");
  EXPECT_EQ(redacted_journal_path("/var/lib/keel/bank.db"), "/var/lib/keel/bank.db");
}

TEST_F(PgJournalTest, TheSchemaComesFromTheOptionWhenTheNameHasNone) {
  const std::string url = *pg_test_url();
  JournalOptions o;
  o.pg_schema = PgRaw(path()).schema();
  {
    auto j = open_pg_journal(url, o);
    ASSERT_OK(j);
    ASSERT_OK((*j)->append(one("a", "by option")));
  }
  EXPECT_EQ(payloads(), std::vector<std::string>{"a:by option"});
}

TEST_F(PgJournalTest, ACommitWhoseConnectionIsLostAfterItCommittedIsAcknowledgedOnce) {
  int commits = 0;
  internal::BackendHooks hooks;
  hooks.pg_commit_sent = [&commits](int) { return ++commits == 2; };  // writer thread
  auto j = open({}, hooks);
  ASSERT_NE(j, nullptr);
  ASSERT_OK(j->append(one("a", "1")));
  auto lost = j->append(one("a", "2"));  // committed, then the connection goes
  ASSERT_OK(lost);
  EXPECT_EQ(lost->first, 2u);
  auto after = j->append(one("a", "3"));  // on a new connection
  ASSERT_OK(after);
  EXPECT_EQ(after->first, 3u);
  EXPECT_EQ(payloads(), (std::vector<std::string>{"a:1", "a:2", "a:3"}));
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);
}

TEST_F(PgJournalTest, ACommitWhoseServerProcessEndsBeforeItCommitsFailsAndWritesNothing) {
  PgRaw holder(path());
  PgRaw killer(path());
  ASSERT_TRUE(holder.ok() && killer.ok());
  int commits = 0;
  internal::BackendHooks hooks;
  hooks.pg_commit_sent = [&](int pid) {  // writer thread
    if (++commits == 2) {
      EXPECT_EQ(killer.value("SELECT pg_terminate_backend(" + std::to_string(pid) + ")"), "t");
    }
    return false;
  };
  auto j = open({}, hooks);
  ASSERT_NE(j, nullptr);
  ASSERT_OK(j->append(one("a", "1")));
  // The test holds the epochs' rows, so the next commit waits in its epoch
  // check until the hook ends the writer's server process.
  ASSERT_TRUE(holder.exec("BEGIN; SELECT 1 FROM S.epochs FOR UPDATE"));
  auto lost = j->append(one("a", "2"));
  EXPECT_CODE(lost, StatusCode::kUnavailable);
  EXPECT_NE(std::string(lost.status().message()).find("not written"), std::string::npos) << lost.status();
  ASSERT_TRUE(holder.exec("ROLLBACK"));
  auto next = j->append(one("a", "3"));
  ASSERT_OK(next);
  EXPECT_EQ(next->first, 2u) << "the lost commit's LSN is given again";
  EXPECT_EQ(payloads(), (std::vector<std::string>{"a:1", "a:3"}));
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);
}

}  // namespace
}  // namespace keel::testing
