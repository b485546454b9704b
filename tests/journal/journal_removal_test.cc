// Removal (Journal::truncate, remove_owner) and giving space back
// (vacuum), against every backend (built once more for PostgreSQL:
// backends.h): what stays, what the counters, owner summaries and verify()
// say afterwards, and SQLite's page count.
#include <sqlite3.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <type_traits>

#include "backends.h"
#include "journal_test_util.h"
#include "sqlite_removal.h"
#include "keel/base/clock.h"

namespace keel::testing {
namespace {

template <class Backend>
class JournalRemovalTest : public ::testing::Test {
 protected:
  std::string path() const { return Backend::journal_path(dir_.path()); }
  std::unique_ptr<Journal> open(JournalOptions o = {}) {
    if (o.clock == nullptr) o.clock = &clock_;
    auto j = Backend::open(path(), o);
    EXPECT_TRUE(j.has_value()) << j.status();
    return j.has_value() ? std::move(*j) : nullptr;
  }
  std::vector<Record> owner_records(Journal& j, const std::string& owner) {
    std::vector<Record> out;
    EXPECT_TRUE(j.scan_owner(owner, 1, [&](const Record& r) {
                   out.push_back(r);
                   return true;
                 }).is_ok());
    return out;
  }

  TempDir dir_;
  ManualClock clock_;
};

TYPED_TEST_SUITE(JournalRemovalTest, Backends, BackendNames);

TYPED_TEST(JournalRemovalTest, TruncateRemovesOlderRecordsAndKeepsTheNewest) {
  auto j = this->open();
  for (int i = 1; i <= 5; ++i) ASSERT_OK(j->append(one("a", "a" + std::to_string(i))));
  ASSERT_OK(j->append(one("b", "b1", RecordKind::kSnapshot)));
  auto n = j->truncate("a", 4);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 3u);
  auto a = this->owner_records(*j, "a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].seq, 4u);
  EXPECT_EQ(a[0].payload, "a4");
  // Past the newest record: everything but the newest goes.
  n = j->truncate("a", 100);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 1u);
  a = this->owner_records(*j, "a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].seq, 5u);
  n = j->truncate("a", 100);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);
  auto r = j->append(one("a", "a6"));
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 7u);  // LSNs go on from the last one given
  EXPECT_EQ(this->owner_records(*j, "a").back().seq, 6u);
  expect_summaries_match_a_scan(*j);
}

TYPED_TEST(JournalRemovalTest, TruncateAsyncReportsItsCountOnTheWriterThread) {
  auto j = this->open();
  for (int i = 1; i <= 4; ++i) ASSERT_OK(j->append(one("a", std::to_string(i))));
  std::promise<Result<std::uint64_t>> removed;
  j->truncate_async("a", 3, [&](Result<std::uint64_t> n) { removed.set_value(std::move(n)); });
  auto done = removed.get_future();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  Result<std::uint64_t> n = done.get();
  ASSERT_OK(n);
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(this->owner_records(*j, "a").front().seq, 3u);
  // Refused up front: `done` has run when truncate_async returns.
  std::optional<Status> refused;
  j->truncate_async("", 3, [&](Result<std::uint64_t> r) { refused = r.status(); });
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(JournalRemovalTest, RemovalsSurviveReopenAndReadersSeeThem) {
  {
    auto j = this->open();
    for (int i = 0; i < 30; ++i) ASSERT_OK(j->append(one(i % 3 == 0 ? "b" : "a", std::to_string(i))));
    ASSERT_OK(j->truncate("a", 15));
    ASSERT_OK(j->truncate("b", 5));
  }
  auto j = this->open();
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);
  JournalOptions ro;
  ro.read_only = true;
  auto reader = this->open(ro);
  ASSERT_NE(reader, nullptr);
  EXPECT_TRUE(problems(*reader).empty());
  expect_summaries_match_a_scan(*reader);
  auto a = this->owner_records(*reader, "a");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.front().seq, 15u);
}

TYPED_TEST(JournalRemovalTest, RemoveOwnerDeletesItAndItsNameStartsAgainAtSeqOne) {
  auto j = this->open();
  for (int i = 1; i <= 3; ++i) ASSERT_OK(j->append(one("run/1", std::to_string(i), RecordKind::kStep)));
  ASSERT_OK(j->append(one("run/2", "x", RecordKind::kRun)));
  auto n = j->remove_owner("run/1");
  ASSERT_OK(n);
  EXPECT_EQ(*n, 3u);
  EXPECT_TRUE(this->owner_records(*j, "run/1").empty());
  auto owners = j->owners();
  ASSERT_OK(owners);
  ASSERT_EQ(owners->size(), 1u);
  EXPECT_EQ((*owners)[0].owner, "run/2");
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);
  n = j->remove_owner("run/unknown");
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0u);
  auto r = j->append(one("run/1", "again", RecordKind::kRun));
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 5u);
  auto again = this->owner_records(*j, "run/1");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seq, 1u);
  expect_summaries_match_a_scan(*j);
}

TYPED_TEST(JournalRemovalTest, RemoveOwnerKeepsTheJournalsNewestRecord) {
  auto j = this->open();
  ASSERT_OK(j->append(one("run/1", "1", RecordKind::kStep)));
  ASSERT_OK(j->append(one("run/2", "1", RecordKind::kStep)));
  EXPECT_CODE(j->remove_owner("run/2"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(this->owner_records(*j, "run/2").size(), 1u);
  ASSERT_OK(j->append(one("run/1", "2", RecordKind::kStep)));
  ASSERT_OK(j->remove_owner("run/2"));
  {
    j.reset();
    j = this->open();  // the last LSN is still 3 after a reopen
  }
  auto r = j->append(one("run/3", "1"));
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 4u);
  EXPECT_TRUE(problems(*j).empty());
}

TYPED_TEST(JournalRemovalTest, VerifyStillReportsALossBeyondTheRemovedRecords) {
  {
    auto j = this->open();
    for (int i = 0; i < 12; ++i) ASSERT_OK(j->append(one(i % 2 == 0 ? "a" : "b", std::to_string(i))));
    ASSERT_OK(j->truncate("a", 4));  // lsn 1, 3, 5
  }
  ASSERT_TRUE(TypeParam::delete_record(this->path(), 8));  // b's seq 4
  auto j = this->open();
  auto found = problems(*j);
  ASSERT_FALSE(found.empty());
  bool lsn_gap = false;
  for (const JournalProblem& p : found) {
    EXPECT_EQ(p.status.code(), StatusCode::kCorruption) << p.status;
    lsn_gap = lsn_gap || p.status.message().find("lsn 8..8 missing") != std::string::npos;
  }
  EXPECT_TRUE(lsn_gap) << found.front().status;
}

TYPED_TEST(JournalRemovalTest, ReadOnlyAndEmptyOwnerAreRefused) {
  auto j = this->open();
  ASSERT_OK(j->append(one("a", "1")));
  EXPECT_CODE(j->truncate("", 2), StatusCode::kInvalidArgument);
  EXPECT_CODE(j->remove_owner(""), StatusCode::kInvalidArgument);
  JournalOptions ro;
  ro.read_only = true;
  auto reader = this->open(ro);
  ASSERT_NE(reader, nullptr);
  EXPECT_CODE(reader->truncate("a", 2), StatusCode::kFailedPrecondition);
  EXPECT_CODE(reader->remove_owner("a"), StatusCode::kFailedPrecondition);
  EXPECT_CODE(reader->vacuum(), StatusCode::kFailedPrecondition);
}

TYPED_TEST(JournalRemovalTest, VacuumKeepsEveryRecord) {
  auto j = this->open();
  for (int i = 0; i < 50; ++i) ASSERT_OK(j->append(one("a", std::string(1000, 'p'))));
  ASSERT_OK(j->append(one("b", "1")));
  ASSERT_OK(j->truncate("a", 50));
  ASSERT_OK(j->vacuum());
  EXPECT_EQ(all_records(*j).size(), 2u);
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);
}

// ---- SQLite: pages given back -------------------------------------------------
#ifndef KEEL_JOURNAL_TEST_POSTGRES

// One integer from `sql` (a PRAGMA) on a raw read-only connection.
std::int64_t pragma(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_stmt* s = nullptr;
  std::int64_t v = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
    v = sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  sqlite3_close_v2(db);
  return v;
}

class SqliteVacuumTest : public JournalRemovalTest<SqliteBackend> {
 protected:
  // 400 records of 4 KiB for "a", then one for "b".
  void fill(Journal& j) {
    for (int i = 0; i < 400; ++i) ASSERT_OK(j.append(one("a", std::string(4096, 'p'))));
    ASSERT_OK(j.append(one("b", "1")));
  }
};

TEST_F(SqliteVacuumTest, NewJournalGivesPagesBackAfterTruncate) {
  auto j = open();
  EXPECT_EQ(pragma(path(), "PRAGMA auto_vacuum"), 2);  // INCREMENTAL
  fill(*j);
  const std::int64_t before = pragma(path(), "PRAGMA page_count");
  auto n = j->truncate("a", 400);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 399u);
  const std::int64_t after = pragma(path(), "PRAGMA page_count");
  EXPECT_LT(after, before - 399) << "pages: " << before << " before, " << after << " after";
  EXPECT_LT(pragma(path(), "PRAGMA freelist_count"), internal::kGiveBackPages);
}

TEST_F(SqliteVacuumTest, VacuumGivesBackTheFreePagesOfAJournalWithoutAutoVacuum) {
  {
    auto j = open();
    ASSERT_OK(j->append(one("b", "0")));
  }
  // A journal made before incremental auto-vacuum.
  ASSERT_EQ(SqliteBackend::exec(path(), "PRAGMA auto_vacuum = NONE; VACUUM"), SQLITE_OK);
  ASSERT_EQ(pragma(path(), "PRAGMA auto_vacuum"), 0);
  auto j = open();
  fill(*j);
  ASSERT_OK(j->truncate("a", 400));
  const std::int64_t before = pragma(path(), "PRAGMA page_count");
  EXPECT_GT(pragma(path(), "PRAGMA freelist_count"), 399);  // kept in the file
  ASSERT_OK(j->vacuum());
  EXPECT_EQ(pragma(path(), "PRAGMA auto_vacuum"), 2);
  EXPECT_EQ(pragma(path(), "PRAGMA freelist_count"), 0);
  EXPECT_LT(pragma(path(), "PRAGMA page_count"), before - 399);
  EXPECT_EQ(all_records(*j).size(), 3u);
}

#endif  // KEEL_JOURNAL_TEST_POSTGRES

}  // namespace
}  // namespace keel::testing
