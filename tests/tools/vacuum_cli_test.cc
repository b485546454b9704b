// `keel journal vacuum` run as a subprocess, on both backends: it gives the
// space of removed records back and keeps every record, and refuses a
// journal that a live process holds and a file that is not a journal,
// leaving them as they were.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "support/file_contents.h"
#include "tools/bank_journal.h"

namespace keel::testing {
namespace {

// PRAGMA auto_vacuum of a SQLite file: 0 none, 2 incremental; -1 unreadable.
int auto_vacuum(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_stmt* s = nullptr;
  int v = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "PRAGMA auto_vacuum", -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
    v = sqlite3_column_int(s, 0);
  }
  sqlite3_finalize(s);
  sqlite3_close_v2(db);
  return v;
}

bool is_sqlite(const char* name) { return std::string(name) == "sqlite"; }

template <class B>
class VacuumCliTest : public BankJournalTest<B> {};
TYPED_TEST_SUITE(VacuumCliTest, Backends, BackendNames);

TYPED_TEST(VacuumCliTest, VacuumKeepsEveryRecordAndTurnsOnIncrementalAutoVacuum) {
  this->write_bank();
  if constexpr (std::is_same_v<TypeParam, SqliteBackend>) {
    // A journal made before incremental auto-vacuum.
    ASSERT_EQ(TypeParam::exec(this->path_, "PRAGMA auto_vacuum = NONE; VACUUM"), SQLITE_OK);
    ASSERT_EQ(auto_vacuum(this->path_), 0);
  }
  // Records removed, as compaction and retention do: their space is free.
  this->open_writer();
  ASSERT_TRUE(this->writer_->truncate("actor/alice", this->records_of("actor/alice").back().seq).is_ok());
  const std::vector<Record> kept = this->read_records();
  this->writer_.reset();
  CliRun r = this->keel("vacuum", {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_TRUE(has(r.out, "\"records\":" + std::to_string(kept.size()) + "}")) << r.out;
  if (is_sqlite(TypeParam::kName)) {
    EXPECT_EQ(auto_vacuum(this->path_), 2);
    EXPECT_FALSE(std::filesystem::exists(this->path_ + "-wal") &&
                 std::filesystem::file_size(this->path_ + "-wal") > 0);
  }
  this->open_writer();
  const std::vector<Record> after = this->read_records();
  ASSERT_EQ(after.size(), kept.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].lsn, kept[i].lsn);
    EXPECT_EQ(after[i].payload, kept[i].payload) << "lsn " << after[i].lsn;
  }
  this->writer_.reset();
  CliRun verify = this->keel("verify");
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  CliRun human = this->keel("vacuum");
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out.rfind("vacuumed " + this->path_, 0), 0u) << human.out;
}

TYPED_TEST(VacuumCliTest, VacuumRefusesWhileALiveProcessOwnsTheJournal) {
  this->write_bank();
  this->open_writer();
  CliRun r = this->keel("vacuum");
  EXPECT_EQ(r.exit_code, 8);
  expect_one_line_error(r, "owned by a live process; vacuum refuses to run beside it");
  EXPECT_EQ(this->read_records().size(), this->records_.size());
}

TYPED_TEST(VacuumCliTest, VacuumRefusesAForeignFileAndLeavesItAsItWas) {
  ASSERT_TRUE(TypeParam::make_foreign(this->path_));
  const auto before = file_contents(this->path_);
  const auto names = names_in(this->dir_);
  CliRun r = this->keel("vacuum");
  EXPECT_EQ(r.exit_code, 4) << r.err;
  expect_one_line_error(r, "not a Keel journal");
  EXPECT_EQ(file_contents(this->path_), before);
  EXPECT_EQ(names_in(this->dir_), names);
}

TEST(VacuumCli, HelpListsVacuum) {
  CliRun r = run_keel({"journal", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has(r.out, "  vacuum ")) << r.out;
}

}  // namespace
}  // namespace keel::testing
