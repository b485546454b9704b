// A PostgreSQL role with only the rights docs/operations.md gives readers
// (CONNECT on the database, USAGE on the schema, SELECT on its tables but
// admin):
// a read-only open with it scans and verifies a journal while another
// handle writes it, and a writable open with it fails with
// kFailedPrecondition, saying that the role lacks a right and how to read
// instead. Runs on the test server of the fixture keel_pg, in a schema (and
// with a role) of its own.
#include <atomic>
#include <string>
#include <thread>

#include "journal_test_util.h"
#include "pg_backend.h"

namespace keel::testing {
namespace {

class PgReadOnlyRoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = PgBackend::journal_path(dir_.path());
    auto w = PgBackend::open(path_, JournalOptions{});
    ASSERT_OK(w);
    writer_ = std::move(*w);
    ASSERT_OK(writer_->append(one("owner", "first")));
    // The role, named after the schema, with the rights of a reader only.
    PgRaw raw(path_);
    ASSERT_TRUE(raw.ok()) << PQerrorMessage(raw.get());
    role_ = "r_" + raw.schema();
    ASSERT_TRUE(raw.exec("CREATE ROLE " + role_ + " LOGIN; GRANT CONNECT ON DATABASE postgres TO " + role_ +
                         "; GRANT USAGE ON SCHEMA " + raw.schema() + " TO " + role_ +
                         "; GRANT SELECT ON ALL TABLES IN SCHEMA " + raw.schema() + " TO " + role_ +
                         "; REVOKE SELECT ON " + raw.schema() + ".admin FROM " + role_))
        << PQerrorMessage(raw.get());
    const std::size_t user = path_.find("user=postgres");
    ASSERT_NE(user, std::string::npos) << path_;
    reader_path_ = path_.substr(0, user) + "user=" + role_ + path_.substr(user + 13);
  }

  TempDir dir_;
  std::string path_;
  std::string role_;
  std::string reader_path_;  // path_ as the role
  std::unique_ptr<Journal> writer_;
};

TEST_F(PgReadOnlyRoleTest, AReaderRoleScansAndVerifiesWhileAWriterAppends) {
  JournalOptions ro;
  ro.read_only = true;
  auto reader = PgBackend::open(reader_path_, ro);
  ASSERT_OK(reader);
  std::atomic<bool> done{false};  // relaxed: only ends the reader's loop; the join orders the rest
  std::thread appender([&] {
    for (int i = 0; i < 200; ++i) {
      Result<LsnRange> r = writer_->append(one("owner", "p" + std::to_string(i)));
      EXPECT_TRUE(r.has_value()) << r.status();
    }
    done.store(true, std::memory_order_relaxed);
  });
  std::size_t seen = 0;
  int scans = 0;
  for (; !done.load(std::memory_order_relaxed) || scans < 2; ++scans) {
    const std::vector<Record> records = all_records(**reader);
    EXPECT_GE(records.size(), seen) << "a later scan saw fewer records";
    seen = records.size();
    for (std::size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].lsn, i + 1);
    EXPECT_TRUE(problems(**reader).empty());
  }
  appender.join();
  EXPECT_EQ(all_records(**reader).size(), 201u);
  EXPECT_TRUE(problems(**reader).empty());
  std::printf("%d scans while the writer appended\n", scans);
}

TEST_F(PgReadOnlyRoleTest, AWritableOpenWithAReaderRoleFailsSayingWhy) {
  auto j = PgBackend::open(reader_path_, JournalOptions{});
  ASSERT_FALSE(j.has_value()) << "a reader role opened the journal for writing";
  const Status& s = j.status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("the role lacks a right"), std::string_view::npos) << s;
  EXPECT_NE(s.message().find("read_only"), std::string_view::npos) << s;
  EXPECT_NE(s.message().find(role_), std::string_view::npos) << s;
  // The writer was not disturbed.
  ASSERT_OK(writer_->append(one("owner", "after")));
}

}  // namespace
}  // namespace keel::testing
