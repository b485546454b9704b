// durable_fixture.h: a test of durable actors over a journal on disk,
// parameterized by backend ("sqlite" or "rocksdb"). Each test gets a fresh
// temporary folder, removed afterwards, with the journal in it; reopen()
// closes and opens it again, as a restarted process would.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "keel/journal/journal.h"
#include "support/test_actors.h"

namespace keel::testing {

class DurableJournalTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-durable-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + (GetParam() == "sqlite" ? "/journal.db" : "/journal");
    reopen();
  }
  void TearDown() override {
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    journal_.reset();
    auto j = GetParam() == "sqlite" ? open_sqlite_journal(path_, JournalOptions{})
                                    : open_rocks_journal(path_, JournalOptions{});
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
