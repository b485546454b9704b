// keel::tools::run_cli called in-process: colours only when the caller says
// the output is a terminal, KEEL_JOURNAL's role (default_journal), and the
// exit status as the return value.
#include <gtest/gtest.h>

#include <sstream>

#include "keel/tools/journal_cli.h"
#include "tools/bank_journal.h"

namespace keel::testing {
namespace {

class JournalCliLibraryTest : public BankJournalTest<SqliteBackend> {
 protected:
  void SetUp() override {
    BankJournalTest<SqliteBackend>::SetUp();
    write_bank();
  }
  int run(const std::vector<std::string>& args, bool color) {
    out_.str("");
    err_.str("");
    tools::CliEnvironment env;
    env.out = &out_;
    env.err = &err_;
    env.color = color;
    env.default_journal = path_;
    return tools::run_cli(args, env);
  }
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(JournalCliLibraryTest, ColoursOnlyWhenTheOutputIsATerminal) {
  ASSERT_EQ(run({"journal", "ls"}, /*color=*/true), 0) << err_.str();
  EXPECT_NE(out_.str().find("\x1b[1mOWNER"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("\x1b[32midle\x1b[0m"), std::string::npos) << out_.str();
  ASSERT_EQ(run({"journal", "ls"}, /*color=*/false), 0);
  EXPECT_EQ(out_.str().find('\x1b'), std::string::npos) << out_.str();
}

TEST_F(JournalCliLibraryTest, JsonHasNoColoursEvenOnATerminal) {
  ASSERT_EQ(run({"journal", "show", "alice", "--json"}, /*color=*/true), 0) << err_.str();
  EXPECT_EQ(out_.str().find('\x1b'), std::string::npos);
  EXPECT_TRUE(JsonCheck::valid(out_.str()));
}

TEST_F(JournalCliLibraryTest, ColouredTablesStayAligned) {
  ASSERT_EQ(run({"journal", "ls"}, /*color=*/true), 0);
  std::vector<std::string> rows = lines_of(out_.str());
  ASSERT_EQ(rows.size(), 4u);
  auto strip = [](std::string s) {
    std::string plain;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\x1b') {
        while (i < s.size() && s[i] != 'm') ++i;
      } else {
        plain += s[i];
      }
    }
    return plain;
  };
  const std::size_t column = strip(rows[0]).find("RECORDS");
  for (const std::string& row : rows) {
    const std::string plain = strip(row);
    EXPECT_EQ(plain[column - 1], ' ') << plain;
    EXPECT_NE(plain[column], ' ') << plain;
  }
}

TEST_F(JournalCliLibraryTest, TheDefaultJournalIsUsedWithoutJournalOption) {
  EXPECT_EQ(run({"journal", "verify"}, false), static_cast<int>(tools::ExitCode::kOk)) << err_.str();
  EXPECT_EQ(run({"journal", "show", "nobody"}, false), static_cast<int>(tools::ExitCode::kUnknownId));
  EXPECT_EQ(err_.str(), "keel: no owner 'nobody' in the journal (keel journal ls lists them)\n");
}

}  // namespace
}  // namespace keel::testing
