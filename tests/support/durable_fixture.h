// durable_fixture.h: a test of durable actors over a journal, parameterized
// by backend (KEEL_DURABLE_BACKENDS: "sqlite" and "rocksdb", or, in a test
// built with KEEL_DURABLE_TEST_POSTGRES, "postgresql": a schema of its own
// in the test server whose URL is in the file $KEEL_PG_URL_FILE). Each test
// gets a fresh temporary folder, removed afterwards, with the journal in it
// (or named after it); reopen() closes and opens it again, as a restarted
// process would.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "keel/journal/journal.h"
#include "support/test_actors.h"

#ifdef KEEL_DURABLE_TEST_POSTGRES
#define KEEL_DURABLE_BACKENDS ::testing::Values(std::string("postgresql"))
#else
#define KEEL_DURABLE_BACKENDS ::testing::Values("sqlite", "rocksdb")
#endif

namespace keel::testing {

// The journal path of backend `backend` for the test folder `dir`: a file or
// directory in it, or a PostgreSQL URL with a schema named after it (empty
// when the test server's URL is unknown).
inline std::string durable_journal_path(const std::string& backend, const std::string& dir) {
  if (backend == "sqlite") return dir + "/journal.db";
  if (backend != "postgresql") return dir + "/journal";
  const char* file = std::getenv("KEEL_PG_URL_FILE");
  std::string url;
  if (file != nullptr) {
    std::ifstream in(file);
    std::getline(in, url);
  }
  if (url.empty()) return url;
  std::string schema = "d_";
  for (unsigned char c : dir.substr(dir.rfind('/') + 1)) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", c);
    schema += hex;
  }
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "keel_schema=" + schema;
}

// Opens the journal of backend `backend` at `path` (a durable_journal_path).
inline Result<std::unique_ptr<Journal>> open_durable_journal(const std::string& backend, const std::string& path,
                                                             const JournalOptions& options = {}) {
  if (backend == "sqlite") return open_sqlite_journal(path, options);
  if (backend == "rocksdb") return open_rocks_journal(path, options);
  return open_journal(path, options);
}

class DurableJournalTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-durable-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = durable_journal_path(GetParam(), dir_);
    ASSERT_FALSE(path_.empty()) << "no PostgreSQL test server: KEEL_PG_URL_FILE names no URL (CTest's fixture "
                                   "keel_pg starts one with scripts/pg_test_server.sh)";
    reopen();
  }
  void TearDown() override {
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    journal_.reset();
    auto j = open_durable_journal(GetParam(), path_);
    ASSERT_TRUE(j.is_ok()) << j.status();
    journal_ = std::move(*j);
  }
  // A system of `threads` threads on the journal.
  SystemConfig config(int threads = 2) {
    SystemConfig c = system_config(threads);
    c.journal = journal_.get();
    return c;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Journal> journal_;
};

}  // namespace keel::testing
