// A PostgreSQL journal's commit that cannot proceed because another session
// holds a conflicting lock on its tables: it fails with kTimeout within
// JournalOptions::pg_timeout, naming the wait, writes nothing, and once the
// lock is released the same handle commits again. Runs on the test server
// of the fixture keel_pg, in a schema of its own.
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "journal_test_util.h"
#include "pg_backend.h"

namespace keel::testing {
namespace {

// Appends on another thread; fails the test if it does not return in 60 s
// (the deadline is the journal's pg_timeout; the margin is for a slow machine).
Result<LsnRange> append_within_deadline(Journal& j, std::vector<NewRecord> batch) {
  auto f = std::async(std::launch::async, [&j, b = std::move(batch)]() mutable { return j.append(std::move(b)); });
  EXPECT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "an append hangs on a lock";
  return f.get();
}

std::vector<std::string> payloads(Journal& j) {
  std::vector<std::string> out;
  for (const Record& r : all_records(j)) out.push_back(r.payload);
  return out;
}

TEST(PgJournalLock, ACommitBlockedByAnotherSessionsLockTimesOutWritesNothingAndLaterCommitsSucceed) {
  TempDir dir;
  const std::string path = PgBackend::journal_path(dir.path());
  JournalOptions o;
  o.pg_timeout = std::chrono::seconds(2);
  auto j = PgBackend::open(path, o);
  ASSERT_OK(j);
  ASSERT_OK((*j)->append(one("owner", "before")));

  PgRaw raw(path);
  ASSERT_TRUE(raw.ok()) << PQerrorMessage(raw.get());
  ASSERT_TRUE(raw.exec("BEGIN; LOCK TABLE S.records IN ACCESS EXCLUSIVE MODE")) << PQerrorMessage(raw.get());
  Result<LsnRange> blocked = append_within_deadline(**j, one("owner", "blocked"));
  EXPECT_CODE(blocked, StatusCode::kTimeout);
  EXPECT_NE(blocked.status().message().find("statement timeout"), std::string_view::npos) << blocked.status();
  EXPECT_NE(blocked.status().message().find("may hold a lock"), std::string_view::npos) << blocked.status();
  ASSERT_TRUE(raw.exec("ROLLBACK")) << PQerrorMessage(raw.get());

  EXPECT_EQ(payloads(**j), std::vector<std::string>{"before"}) << "the blocked commit was written after all";
  Result<LsnRange> after = append_within_deadline(**j, one("owner", "after"));
  ASSERT_OK(after);
  EXPECT_EQ(after->first, 2u);
  EXPECT_EQ(payloads(**j), (std::vector<std::string>{"before", "after"}));
  EXPECT_TRUE(problems(**j).empty());
}

}  // namespace
}  // namespace keel::testing
