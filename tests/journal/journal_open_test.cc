// Opening what is not a Keel journal: a foreign SQLite database or RocksDB
// directory, a plain file, an empty directory. Each is refused with
// kCorruption ("not a Keel journal") by a writable and a read-only open, and
// left byte for byte as it was, with nothing created beside it.
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "backends.h"
#include "support/file_contents.h"
#include "journal_test_util.h"

namespace keel::testing {
namespace {

// Creates the SQLite database `path` and runs `sql` on it; the SQLite result code.
int create_sqlite(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open(path.c_str(), &db);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close_v2(db);
  return rc;
}

JournalOptions read_only() {
  JournalOptions o;
  o.read_only = true;
  return o;
}

JournalOptions no_create() {
  JournalOptions o;
  o.create_if_missing = false;
  return o;
}

void expect_not_a_journal(const Result<std::unique_ptr<Journal>>& j) {
  EXPECT_CODE(j, StatusCode::kCorruption);
  EXPECT_NE(j.status().message().find("not a Keel journal"), std::string::npos) << j.status();
}

template <class Backend>
class JournalOpenTest : public ::testing::Test {
 protected:
  std::string path() const { return Backend::journal_path(dir_.path()); }
  TempDir dir_;
};
TYPED_TEST_SUITE(JournalOpenTest, Backends, BackendNames);

TYPED_TEST(JournalOpenTest, AForeignStoreIsRefusedAndLeftByteForByte) {
  ASSERT_TRUE(TypeParam::make_foreign(this->path()));
  const auto before = file_contents(this->dir_.path());
  for (const JournalOptions& o : {JournalOptions{}, no_create(), read_only()}) {
    SCOPED_TRACE(o.read_only           ? "read-only"
                 : o.create_if_missing ? "writable"
                                       : "writable, no create");
    expect_not_a_journal(TypeParam::open(this->path(), o));
    expect_not_a_journal(open_journal(this->path(), o));
    EXPECT_EQ(file_contents(this->dir_.path()), before);
  }
}

TEST(JournalOpen, AForeignSqliteDatabaseInWalModeGetsNoWalOrShmFiles) {
  TempDir dir;
  const std::string path = dir.path() + "/wal.db";
  ASSERT_EQ(create_sqlite(
                path, "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)"),
            SQLITE_OK);
  const auto before = file_contents(dir.path());
  ASSERT_EQ(before.size(), 1u) << "the closing connection removed its -wal and -shm";
  for (const JournalOptions& o : {JournalOptions{}, read_only()}) {
    expect_not_a_journal(open_journal(path, o));
    EXPECT_EQ(file_contents(dir.path()), before);
  }
}

TEST(JournalOpen, APlainFileIsNotAJournalAndGetsNoLockFile) {
  TempDir dir;
  const std::string path = dir.path() + "/notes.txt";
  std::ofstream(path) << "these are not the records you are looking for\n";
  const auto before = file_contents(dir.path());
  for (const JournalOptions& o : {JournalOptions{}, read_only()}) {
    expect_not_a_journal(open_journal(path, o));
    EXPECT_EQ(file_contents(dir.path()), before);
  }
}

TEST(JournalOpen, AnEmptyDirectoryIsNotAJournalUnlessAWriterMayCreateOne) {
  TempDir dir;
  const std::string path = dir.path() + "/empty";
  std::filesystem::create_directory(path);
  for (const JournalOptions& o : {read_only(), no_create()}) {
    auto j = open_journal(path, o);
    expect_not_a_journal(j);
    EXPECT_NE(j.status().message().find("an empty directory"), std::string::npos) << j.status();
    EXPECT_TRUE(std::filesystem::is_empty(path));
  }
  auto created = open_journal(path, JournalOptions{});
  ASSERT_OK(created);
  auto stats = (*created)->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->backend, "rocksdb");
}

TEST(JournalOpen, ASqliteDatabaseWithNoSchemaBecomesAJournalOnlyForAWriterThatMayCreateOne) {
  TempDir dir;
  const std::string path = dir.path() + "/blank.db";
  ASSERT_EQ(create_sqlite(path, "PRAGMA user_version = 7; VACUUM"), SQLITE_OK);
  ASSERT_GT(std::filesystem::file_size(path), 0u);
  expect_not_a_journal(open_journal(path, read_only()));
  expect_not_a_journal(open_journal(path, no_create()));
  auto j = open_journal(path, JournalOptions{});
  ASSERT_OK(j);
  ASSERT_OK((*j)->append(one("a", "1")));
}

}  // namespace
}  // namespace keel::testing
