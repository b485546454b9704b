// `keel journal` on bad input: a path that is not a journal, a newer format
// version, a damaged record, an unknown id, malformed arguments. Each is one
// line naming the problem, its own exit status, and nothing written.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/file_contents.h"
#include "tools/bank_journal.h"

namespace keel::testing {
namespace {

template <class B>
class BadInputTest : public BankJournalTest<B> {};
TYPED_TEST_SUITE(BadInputTest, Backends, BackendNames);

// The commands that read (and `compact` and `workflow signal`, which would
// write) on `path`: each as the arguments of one `keel` run.
std::vector<std::vector<std::string>> every_kind_of_open(const std::string& path) {
  std::vector<std::vector<std::string>> out;
  for (const char* verb : {"stats", "ls", "verify", "export", "compact"}) out.push_back({"journal", verb, "-j", path});
  out.push_back({"workflow", "ls", "-j", path});
  out.push_back({"workflow", "signal", "r-1", "go", "-j", path});
  out.push_back({"workflow", "cancel", "r-1", "-j", path});
  return out;
}

// A refusal as one line that says "not a Keel journal" once.
void expect_not_a_journal(const CliRun& r) {
  EXPECT_EQ(r.exit_code, 4) << r.err;
  expect_one_line_error(r, "not a Keel journal");
  EXPECT_EQ(r.err.find("not a Keel journal"), r.err.rfind("not a Keel journal")) << r.err;
}

TYPED_TEST(BadInputTest, AStoreThatIsNotAJournalIsRefusedAndLeftAlone) {
  ASSERT_TRUE(TypeParam::make_foreign(this->path_));
  const auto before = file_contents(this->path_);
  const auto names = names_in(this->dir_);
  for (const auto& args : every_kind_of_open(this->path_)) {
    SCOPED_TRACE(args[0] + " " + args[1]);
    expect_not_a_journal(run_keel(args));
    EXPECT_EQ(file_contents(this->path_), before);
    EXPECT_EQ(names_in(this->dir_), names);
  }
}

TYPED_TEST(BadInputTest, ANewerFormatVersionIsRefused) {
  this->write_bank();
  ASSERT_TRUE(TypeParam::set_format_version(this->path_, kJournalFormatVersion + 1));
  const auto before = file_contents(this->path_);
  for (const char* verb : {"stats", "compact"}) {
    CliRun r = this->keel(verb);
    EXPECT_EQ(r.exit_code, 5) << verb << ": " << r.err;
    expect_one_line_error(r, "format version");
  }
  if (std::string(TypeParam::kName) == "sqlite") {
    EXPECT_EQ(file_contents(this->path_), before);
  }
}

TYPED_TEST(BadInputTest, ADamagedRecordIsNamedByItsLsn) {
  this->write_bank();
  const std::vector<Record> alice = this->records_of("actor/alice");
  const Lsn bad = alice[2].lsn;  // its third record, an INBOX envelope
  ASSERT_EQ(alice[2].kind, RecordKind::kInbox);
  ASSERT_TRUE(TypeParam::corrupt_payload(this->path_, bad));
  const std::string named = "lsn " + std::to_string(bad);

  CliRun verify = this->keel("verify");
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_TRUE(has(verify.out, named)) << verify.out;
  EXPECT_TRUE(has(verify.out, "checksum")) << verify.out;
  EXPECT_TRUE(has(verify.err, "1 problem found")) << verify.err;

  CliRun show = this->keel("show", {"alice"});
  EXPECT_EQ(show.exit_code, 6);
  EXPECT_EQ(lines_of(show.out).size(), alice.size() + 2) << "the damaged record has its row:\n" << show.out;
  EXPECT_TRUE(has(show.out, "damaged: ")) << show.out;
  ASSERT_EQ(lines_of(show.err).size(), 1u) << show.err;
  EXPECT_TRUE(has(show.err, named)) << show.err;

  CliRun exported = this->keel("export");
  EXPECT_EQ(exported.exit_code, 6);
  const std::vector<std::string> lines = lines_of(exported.out);
  ASSERT_EQ(lines.size(), this->records_.size()) << "every record has its line, the damaged one too";
  EXPECT_EQ(lines[bad - 1].rfind("{\"lsn\":" + std::to_string(bad) + ",\"owner\":\"actor/alice\",\"damaged\":\"" +
                                     named + ", owner actor/alice: checksum mismatch",
                                 0),
            0u)
      << lines[bad - 1];
  EXPECT_TRUE(JsonCheck::valid(lines[bad - 1])) << lines[bad - 1];
  EXPECT_EQ(lines.back().rfind("{\"lsn\":" + std::to_string(this->records_.back().lsn) + ",", 0), 0u) << lines.back();
  ASSERT_EQ(lines_of(exported.err).size(), 1u) << exported.err;
  EXPECT_TRUE(has(exported.err, named)) << exported.err;
  CliRun alices = this->keel("export", {"--owner", "alice"});
  EXPECT_EQ(alices.exit_code, 6);
  EXPECT_EQ(lines_of(alices.out).size(), alice.size()) << alices.out;

  CliRun stats = this->keel("stats", {"--json"});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_TRUE(has(stats.out, "\"damaged\":null")) << "the kept counts read no record:\n" << stats.out;
  CliRun deep = this->keel("stats", {"--deep", "--json"});
  EXPECT_EQ(deep.exit_code, 0) << deep.err;
  EXPECT_TRUE(has(deep.out, "\"damaged\":1")) << deep.out;

  CliRun at = this->keel("at", {"alice", std::to_string(alice.back().lsn)});
  EXPECT_EQ(at.exit_code, 6);
  EXPECT_TRUE(has(at.err, named)) << at.err;
}

TYPED_TEST(BadInputTest, LsFlagsAnOwnerWithADamagedRecordItReads) {
  this->write_bank();
  const std::vector<Record> bob = this->records_of("actor/bob");
  ASSERT_TRUE(TypeParam::corrupt_payload(this->path_, bob.back().lsn));  // read for bob's status

  CliRun ls = this->keel("ls");
  EXPECT_EQ(ls.exit_code, 6);
  const std::vector<std::string> lines = lines_of(ls.out);
  ASSERT_EQ(lines.size(), 4u) << "the whole table is printed:\n" << ls.out;
  EXPECT_TRUE(has(lines[2], "actor/bob") && has(lines[2], " damaged ")) << ls.out;
  EXPECT_TRUE(has(lines[1], "actor/alice") && has(lines[1], " idle ")) << ls.out;
  ASSERT_EQ(lines_of(ls.err).size(), 1u) << ls.err;
  EXPECT_TRUE(has(ls.err, "keel: actor/bob has damaged records")) << ls.err;

  CliRun json = this->keel("ls", {"--json", "--status", "damaged"});
  EXPECT_EQ(json.exit_code, 6);
  EXPECT_TRUE(JsonCheck::valid(json.out)) << json.out;
  EXPECT_EQ(json.out.rfind("{\"owners\":[{\"owner\":\"actor/bob\",\"kind\":\"actor\",\"status\":\"damaged\",", 0),
            0u)
      << json.out;
  EXPECT_TRUE(has(json.out, ",\"damaged\":1,")) << json.out;
  EXPECT_FALSE(has(json.out, "actor/alice")) << json.out;
}

TYPED_TEST(BadInputTest, LsDeepFindsDamageBeforeTheRecordsItReadsForTheStatus) {
  this->write_bank();
  const std::vector<Record> alice = this->records_of("actor/alice");
  ASSERT_GT(alice.size(), 10u) << "the damaged record is older than the window ls reads";
  ASSERT_TRUE(TypeParam::corrupt_payload(this->path_, alice[1].lsn));

  CliRun ls = this->keel("ls", {"--json"});
  EXPECT_EQ(ls.exit_code, 0) << "the default reads only the end of each owner's records: " << ls.err;
  EXPECT_TRUE(has(ls.out, "\"owner\":\"actor/alice\",\"kind\":\"actor\",\"status\":\"idle\",\"pending\":0,"
                          "\"damaged\":0,"))
      << ls.out;
  CliRun deep = this->keel("ls", {"--deep", "--json"});
  EXPECT_EQ(deep.exit_code, 6);
  EXPECT_TRUE(has(deep.out, "\"owner\":\"actor/alice\",\"kind\":\"actor\",\"status\":\"damaged\",\"pending\":0,"
                            "\"damaged\":1,"))
      << deep.out;
  EXPECT_TRUE(has(deep.out, "\"owner\":\"actor/bob\",\"kind\":\"actor\",\"status\":\"idle\",")) << deep.out;
  ASSERT_EQ(lines_of(deep.err).size(), 1u) << deep.err;
  EXPECT_TRUE(has(deep.err, "keel: actor/alice has damaged records")) << deep.err;

  ASSERT_TRUE(TypeParam::corrupt_payload(this->path_, this->records_of("actor/bob").front().lsn));
  CliRun two = this->keel("ls", {"--deep"});
  EXPECT_EQ(two.exit_code, 6);
  ASSERT_EQ(lines_of(two.err).size(), 1u) << two.err;
  EXPECT_TRUE(has(two.err, "keel: 2 owners have damaged records, actor/alice first")) << two.err;
}

TYPED_TEST(BadInputTest, UnknownIdsAndLsnsAreRefused) {
  this->write_bank();
  const auto before = file_contents(this->path_);
  CliRun show = this->keel("show", {"nobody"});
  EXPECT_EQ(show.exit_code, 7);
  expect_one_line_error(show, "no owner 'nobody'");
  CliRun at = this->keel("at", {"alice", "999999"});
  EXPECT_EQ(at.exit_code, 7);
  expect_one_line_error(at, "lsn 999999 is not in the journal");
  CliRun tail = this->keel("tail", {"--owner", "nobody"});
  EXPECT_EQ(tail.exit_code, 7);
  expect_one_line_error(tail, "nobody");
  if (std::string(TypeParam::kName) == "sqlite") {
    EXPECT_EQ(file_contents(this->path_), before);
  }
}

TYPED_TEST(BadInputTest, MalformedArgumentsAreRefused) {
  this->write_bank();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"journal", "show", "--journal", this->path_}, "usage: keel journal show ID"},
      {{"journal", "frobnicate", "--journal", this->path_}, "unknown command 'frobnicate'"},
      {{"journal", "stats", "--journal", this->path_, "--bogus"}, "unknown option --bogus"},
      {{"journal", "tail", "--journal", this->path_, "-n", "many"}, "-n must be a non-negative integer"},
      {{"journal", "at", "--journal", this->path_, "alice", "ten"}, "LSN must be a non-negative integer"},
      {{"journal", "ls", "--journal", this->path_, "--kind", "robot"}, "--kind must be"},
      {{"journal", "export", "--journal", this->path_, "--from", "9", "--to", "3"}, "--from 9 is after --to 3"},
      {{"journal", "stats"}, "give --journal PATH or set KEEL_JOURNAL"},
      {{"journal", "stats", "--journal"}, "--journal needs a value"},
      {{"journal", "show", "--journal", this->path_, "alice", "--schema", this->dir_ + "/none.capnp"},
       "--schema"},
      {{}, "a command is needed"},
  };
  for (const auto& [args, message] : cases) {
    SCOPED_TRACE(message);
    CliRun r = run_keel(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    expect_one_line_error(r, message);
  }
}

TEST(BadInput, AMissingPathIsNotCreated) {
  const std::string path = "/tmp/keel-cli-missing-" + std::to_string(::getpid()) + ".db";
  for (const char* verb : {"stats", "compact", "verify"}) {
    CliRun r = run_keel({"journal", verb, "--journal", path});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    expect_one_line_error(r, "no journal at this path");
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".lock"));
  }
}

TEST(BadInput, ATextFileIsNotAJournalAndStaysAsItWas) {
  char tmpl[] = "/tmp/keel-cli-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string path = dir + "/notes.txt";
  std::ofstream(path) << "these are not the records you are looking for\n";
  const auto before = file_contents(path);
  for (const auto& args : every_kind_of_open(path)) {
    SCOPED_TRACE(args[0] + " " + args[1]);
    expect_not_a_journal(run_keel(args));
    EXPECT_EQ(file_contents(path), before);
    EXPECT_EQ(names_in(dir), std::set<std::string>{"notes.txt"});
  }
  std::filesystem::remove_all(dir);
}

TEST(BadInput, AnEmptyDirectoryIsNotAJournalAndStaysEmpty) {
  char tmpl[] = "/tmp/keel-cli-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  for (const auto& args : every_kind_of_open(dir)) {
    SCOPED_TRACE(args[0] + " " + args[1]);
    CliRun r = run_keel(args);
    expect_not_a_journal(r);
    EXPECT_TRUE(has(r.err, "an empty directory")) << r.err;
    EXPECT_TRUE(std::filesystem::is_empty(dir));
  }
  std::filesystem::remove_all(dir);
}

// A PostgreSQL journal whose server is not there: nothing listens on port 1
// of the loopback address, so the connection is refused at once.
TEST(BadInput, AnUnreachableDatabaseIsItsOwnExitCodeAndNamesTheHostNotThePassword) {
  const std::string url = "postgresql://keel:s3cret-pw@127.0.0.1:1/app?keel_schema=orders";
  for (const char* verb : {"stats", "ls", "verify"}) {
    SCOPED_TRACE(verb);
    CliRun r = run_keel({"journal", verb, "--journal", url});
    EXPECT_EQ(r.exit_code, 12) << r.err;
    expect_one_line_error(r, "127.0.0.1");
    EXPECT_FALSE(has(r.err, "s3cret-pw")) << r.err;
    EXPECT_FALSE(has(r.err, "\t")) << r.err;
  }
  CliRun w = run_keel({"workflow", "ls", "--journal", url});
  EXPECT_EQ(w.exit_code, 12) << w.err;
  EXPECT_FALSE(has(w.err, "s3cret-pw")) << w.err;
}

TEST(BadInput, AMalformedConnectionStringIsABadArgument) {
  for (const std::string& url : {std::string("postgresql://keel:s3cret-pw@127.0.0.1:1/app?keel_schema=Not-A-Name"),
                                std::string("postgresql://keel:s3cret-pw@[::1/app")}) {
    SCOPED_TRACE(url);
    CliRun r = run_keel({"journal", "stats", "--journal", url});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_FALSE(has(r.err, "s3cret-pw")) << r.err;
  }
}

TEST(BadInput, HelpListsTheCommandsAndExitCodes) {
  CliRun r = run_keel({"journal", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* verb : {"stats", "ls", "show", "tail", "verify", "at", "export", "compact"}) {
    EXPECT_TRUE(has(r.out, std::string("  ") + verb + " ")) << verb;
  }
  EXPECT_TRUE(has(r.out, "8 owned by a live process")) << r.out;
  EXPECT_TRUE(has(r.out, "12 the database server cannot be reached")) << r.out;
}

}  // namespace
}  // namespace keel::testing
