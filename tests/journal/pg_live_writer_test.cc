// Who runs a PostgreSQL journal (pg_live_writer.cc): the live lock that
// every writable handle holds and an exclusive open respects, and the
// admin endpoint announced in the admin table. Against the test server of
// the CTest fixture keel_pg (pg_backend.h).
#include <optional>
#include <string>

#include "backends.h"
#include "journal_test_util.h"
#include "keel/journal/pg_journal.h"
#include "pg_backend.h"

namespace keel::testing {
namespace {

class PgLiveWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto url = pg_test_url();
    ASSERT_TRUE(url.has_value()) << url.status();
  }
  std::string path() const { return PgBackend::journal_path(dir_.path()); }
  Result<std::unique_ptr<Journal>> open(bool exclusive, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    JournalOptions o;
    o.pg_exclusive = exclusive;
    o.pg_timeout = timeout;
    return PgBackend::open(path(), o);
  }
  static PgAdminAnnouncement announcement(std::string token) {
    return PgAdminAnnouncement{"host-a", 17, "keel-admin-abc", std::move(token)};
  }

  TempDir dir_;
};

TEST_F(PgLiveWriterTest, AnExclusiveOpenBesideALiveWriterIsRefusedNamingItAndFencesNothing) {
  auto writer = open(false);
  ASSERT_OK(writer);
  ASSERT_OK((*writer)->append(one("actor/a", "1")));
  auto refused = open(true);
  EXPECT_CODE(refused, StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("a live writer holds it (last claimed by "), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find(" pid "), std::string::npos) << refused.status();
  auto after = (*writer)->append(one("actor/a", "2"));
  ASSERT_OK(after);
  EXPECT_EQ(after->first, 2u);
}

TEST_F(PgLiveWriterTest, AnExclusiveOpenAfterTheWriterClosedTakesTheJournal) {
  {
    auto writer = open(false);
    ASSERT_OK(writer);
    ASSERT_OK((*writer)->append(one("actor/a", "1")));
  }
  auto exclusive = open(true);
  ASSERT_OK(exclusive);
  auto r = (*exclusive)->append(one("actor/a", "2"));
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 2u);
}

TEST_F(PgLiveWriterTest, AWriterWaitsForAnExclusiveHolderUntilItsTimeout) {
  auto exclusive = open(true);
  ASSERT_OK(exclusive);
  auto waited = open(false, std::chrono::seconds(2));
  EXPECT_CODE(waited, StatusCode::kUnavailable);
  EXPECT_NE(waited.status().message().find("an offline command holds it exclusively"), std::string::npos)
      << waited.status();
  // The exclusive handle was not fenced by the writer that gave up.
  ASSERT_OK((*exclusive)->append(one("actor/a", "1")));
  exclusive->reset();
  ASSERT_OK(open(false));
}

TEST_F(PgLiveWriterTest, AWriterThatReconnectsHoldsTheLiveLockAgain) {
  int commits = 0;
  internal::BackendHooks hooks;
  hooks.pg_commit_sent = [&commits](int) { return ++commits == 1; };  // writer thread: drop after the first
  auto writer = PgBackend::open(path(), JournalOptions{}, hooks);
  ASSERT_OK(writer);
  ASSERT_OK((*writer)->append(one("actor/a", "1")));  // committed, then the connection goes and comes back
  EXPECT_CODE(open(true), StatusCode::kFailedPrecondition);
  ASSERT_OK((*writer)->append(one("actor/a", "2")));
}

TEST_F(PgLiveWriterTest, AnAnnouncementIsReadBackAndWithdrawnOnlyWithItsToken) {
  auto writer = open(false);
  ASSERT_OK(writer);
  auto none = read_pg_admin(path());
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  ASSERT_OK(announce_pg_admin(**writer, announcement("t1")));
  ASSERT_OK(announce_pg_admin(**writer, announcement("t2")));  // a newer engine replaces it
  auto read = read_pg_admin(path());
  ASSERT_OK(read);
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->host, "host-a");
  EXPECT_EQ((*read)->pid, 17);
  EXPECT_EQ((*read)->socket, "keel-admin-abc");
  EXPECT_EQ((*read)->token, "t2");
  ASSERT_OK(withdraw_pg_admin(**writer, "t1"));  // the older engine's close
  EXPECT_TRUE(read_pg_admin(path())->has_value());
  ASSERT_OK(withdraw_pg_admin(**writer, "t2"));
  EXPECT_FALSE(read_pg_admin(path())->has_value());
}

TEST_F(PgLiveWriterTest, OnlyAWritablePostgresqlHandleAnnounces) {
  ASSERT_OK(open(false));  // creates the journal
  JournalOptions o;
  o.read_only = true;
  auto reader = PgBackend::open(path(), o);
  ASSERT_OK(reader);
  EXPECT_CODE(announce_pg_admin(**reader, announcement("t")), StatusCode::kFailedPrecondition);
  auto sqlite = SqliteBackend::open(SqliteBackend::journal_path(dir_.path()), JournalOptions{});
  ASSERT_OK(sqlite);
  EXPECT_CODE(announce_pg_admin(**sqlite, announcement("t")), StatusCode::kInvalidArgument);
}

TEST_F(PgLiveWriterTest, ALayoutBeforeTheAdminTableAnnouncesNothingAndIsUpgraded) {
  ASSERT_OK(open(false));
  PgRaw raw(path());
  ASSERT_TRUE(raw.exec("DROP TABLE S.admin; UPDATE S.meta SET value = '1' WHERE key = 'layout_version'"));
  auto none = read_pg_admin(path());
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  auto writer = open(false);
  ASSERT_OK(writer);
  EXPECT_EQ(raw.value("SELECT value FROM S.meta WHERE key = 'layout_version'"), "2");
  ASSERT_OK(announce_pg_admin(**writer, announcement("t")));
  EXPECT_TRUE(read_pg_admin(path())->has_value());
}

TEST_F(PgLiveWriterTest, AReadOnlyRoleReadsTheJournalButNotTheToken) {
  auto writer = open(false);
  ASSERT_OK(writer);
  ASSERT_OK((*writer)->append(one("actor/a", "1")));
  ASSERT_OK(announce_pg_admin(**writer, announcement("secret")));
  // The rights of docs/operations.md, "The database user's rights".
  PgRaw raw(path());
  const std::string role = "reader_" + raw.schema();
  ASSERT_TRUE(raw.exec("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role + " LOGIN; GRANT USAGE ON SCHEMA " +
                       raw.schema() + " TO " + role + "; GRANT SELECT ON ALL TABLES IN SCHEMA " + raw.schema() +
                       " TO " + role + "; REVOKE SELECT ON S.admin FROM " + role));
  std::string as_reader = path();
  const std::size_t user = as_reader.find("user=postgres");
  ASSERT_NE(user, std::string::npos) << as_reader;
  as_reader.replace(user, 13, "user=" + role);
  JournalOptions o;
  o.read_only = true;
  {
    auto reader = open_pg_journal(as_reader, o);
    ASSERT_OK(reader);
    auto stats = (*reader)->stats();
    ASSERT_OK(stats);
    EXPECT_EQ(stats->last_lsn, 1u);
    EXPECT_EQ(all_records(**reader).size(), 1u);
  }
  EXPECT_CODE(read_pg_admin(as_reader), StatusCode::kIoError);
  EXPECT_TRUE(raw.exec("REVOKE ALL ON ALL TABLES IN SCHEMA " + raw.schema() + " FROM " + role + "; REVOKE USAGE ON SCHEMA " +
                       raw.schema() + " FROM " + role + "; DROP ROLE " + role));
}

}  // namespace
}  // namespace keel::testing
