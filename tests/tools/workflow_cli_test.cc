// `keel workflow ls` and `show` run as a subprocess on journals written by
// the real workflow engine, on both embedded backends or on PostgreSQL
// (built with KEEL_JOURNAL_TEST_POSTGRES): a completed run of three
// steps, a failed run, a run waiting for a signal, and a run asleep.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "journal/backends.h"
#include "tools/cli_process.h"
#include "tools/workflow_runs.h"

namespace keel::testing {
namespace {

template <class B>
class WorkflowCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-wcli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = B::journal_path(dir_);
    write_example_runs<B>(path_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `keel workflow <verb> --journal <path> args...`
  CliRun keel(const std::string& verb, std::vector<std::string> args = {}) {
    std::vector<std::string> all = {"workflow", verb, "--journal", path_};
    all.insert(all.end(), args.begin(), args.end());
    return run_keel(all);
  }

  std::string dir_;
  std::string path_;
};
TYPED_TEST_SUITE(WorkflowCliTest, Backends, BackendNames);

// The line of `text` that starts with `prefix`, or "".
std::string line_starting(const std::string& text, const std::string& prefix) {
  for (const std::string& line : lines_of(text)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

TYPED_TEST(WorkflowCliTest, LsListsEveryRunWithItsStatus) {
  CliRun r = this->keel("ls");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(lines_of(r.out).size(), 5u) << r.out;
  EXPECT_EQ(lines_of(r.out)[0].rfind("RUN", 0), 0u) << r.out;
  EXPECT_TRUE(has(r.out, "LAST ACTIVITY")) << r.out;
  const std::string o1 = line_starting(r.out, "o-1 ");
  EXPECT_TRUE(has(o1, " order ") && has(o1, " completed ") && has(o1, " 3 ")) << r.out;
  EXPECT_TRUE(has(o1, "\"reserved o-1, 120, shipped o-1\"")) << r.out;
  const std::string p1 = line_starting(r.out, "p-1 ");
  EXPECT_TRUE(has(p1, " payment ") && has(p1, " failed ") && has(p1, " 2 ")) << r.out;
  EXPECT_TRUE(has(p1, "failed_precondition (10): card declined")) << r.out;
  EXPECT_TRUE(has(line_starting(r.out, "e-1 "), " running ")) << r.out;
  EXPECT_TRUE(has(line_starting(r.out, "s-1 "), " running ")) << r.out;
  EXPECT_FALSE(has(r.out, "\x1b[")) << "no colours when stdout is not a terminal";
}

TYPED_TEST(WorkflowCliTest, LsFiltersByStatusAndWorkflow) {
  CliRun running = this->keel("ls", {"--status", "running"});
  ASSERT_EQ(running.exit_code, 0) << running.err;
  ASSERT_EQ(lines_of(running.out).size(), 3u) << running.out;
  EXPECT_FALSE(line_starting(running.out, "e-1 ").empty()) << running.out;
  EXPECT_FALSE(line_starting(running.out, "s-1 ").empty()) << running.out;

  CliRun payments = this->keel("ls", {"--workflow", "payment", "--json"});
  ASSERT_EQ(payments.exit_code, 0) << payments.err;
  EXPECT_TRUE(JsonCheck::valid(payments.out)) << payments.out;
  EXPECT_TRUE(has(payments.out, "\"run\":\"p-1\"")) << payments.out;
  EXPECT_FALSE(has(payments.out, "\"run\":\"o-1\"")) << payments.out;

  CliRun none = this->keel("ls", {"--status", "cancelled", "--json"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "{\"runs\":[]}\n");

  CliRun bad = this->keel("ls", {"--status", "asleep"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(has(bad.err, "--status must be")) << bad.err;
}

TYPED_TEST(WorkflowCliTest, LsJsonHasOneObjectPerRun) {
  CliRun r = this->keel("ls", {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_EQ(r.out.rfind("{\"runs\":[", 0), 0u) << r.out;
  EXPECT_TRUE(has(r.out, "{\"run\":\"o-1\",\"owner\":\"workflow/o-1\",\"workflow\":\"order\",\"status\":\"completed\","
                         "\"event\":\"completed\",\"steps_done\":3,"))
      << r.out;
  EXPECT_TRUE(has(r.out, "\"result\":\"reserved o-1, 120, shipped o-1\",\"error\":null}")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"run\":\"p-1\",\"owner\":\"workflow/p-1\",\"workflow\":\"payment\",\"status\":\"failed\","
                         "\"event\":\"failed\",\"steps_done\":2,"))
      << r.out;
  EXPECT_TRUE(has(r.out, "\"result\":null,\"error\":{\"code\":10,\"code_name\":\"failed_precondition\","
                         "\"message\":\"card declined\"}}"))
      << r.out;
  EXPECT_TRUE(has(r.out, "\"run\":\"e-1\",\"owner\":\"workflow/e-1\",\"workflow\":\"expense\",\"status\":\"running\","
                         "\"event\":\"started\""))
      << r.out;
}

TYPED_TEST(WorkflowCliTest, ShowListsACompletedRunsStepsInOrder) {
  CliRun r = this->keel("show", {"o-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "workflow/o-1");
  EXPECT_EQ(line_starting(r.out, "workflow "), "workflow       order") << r.out;
  EXPECT_EQ(line_starting(r.out, "status "), "status         completed") << r.out;
  EXPECT_EQ(line_starting(r.out, "code version "), "code version   1") << r.out;
  EXPECT_EQ(line_starting(r.out, "input "), "input          \"o-1\"") << r.out;
  EXPECT_EQ(line_starting(r.out, "result "), "result         \"reserved o-1, 120, shipped o-1\"") << r.out;
  EXPECT_TRUE(has(r.out, "\nsteps (3)\nPOSITION  NAME     KIND  STATUS  ATTEMPTS  DURATION")) << r.out;
  const std::string s0 = line_starting(r.out, "0 ");
  const std::string s1 = line_starting(r.out, "1 ");
  const std::string s2 = line_starting(r.out, "2 ");
  EXPECT_TRUE(has(s0, "reserve") && has(s0, " ok ") && has(s0, "\"reserved o-1\"")) << r.out;
  EXPECT_TRUE(has(s1, "charge") && has(s1, " ok ") && has(s1, "120")) << r.out;
  EXPECT_TRUE(has(s2, "ship") && has(s2, " ok ") && has(s2, "\"shipped o-1\"")) << r.out;
  EXPECT_LT(r.out.find(s0), r.out.find(s1));
  EXPECT_LT(r.out.find(s1), r.out.find(s2));
  EXPECT_FALSE(has(r.out, "pending timers")) << r.out;
}

TYPED_TEST(WorkflowCliTest, ShowGivesAFailedStepsError) {
  CliRun r = this->keel("show", {"workflow/p-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(line_starting(r.out, "status "), "status         failed") << r.out;
  EXPECT_EQ(line_starting(r.out, "error "), "error          failed_precondition (10): card declined") << r.out;
  EXPECT_NE(line_starting(r.out, "finished "), "finished       -") << r.out;
  const std::string capture = line_starting(r.out, "1 ");
  EXPECT_TRUE(has(capture, "capture") && has(capture, " error ") &&
              has(capture, "failed_precondition (10): card declined"))
      << r.out;
}

TYPED_TEST(WorkflowCliTest, ShowListsSignalsAndPendingTimersOfWaitingRuns) {
  CliRun e = this->keel("show", {"e-1"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(line_starting(e.out, "status "), "status         running") << e.out;
  EXPECT_EQ(line_starting(e.out, "finished "), "finished       -") << e.out;
  EXPECT_TRUE(has(e.out, "\nsignals received (1)\nLSN")) << e.out;
  EXPECT_TRUE(has(e.out, "  approve  \"ann\"\n")) << e.out;

  CliRun s = this->keel("show", {"s-1"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_TRUE(has(s.out, "\npending timers (1)\nPOSITION  NAME")) << s.out;
  EXPECT_TRUE(has(line_starting(s.out, "1 "), "1h00m")) << s.out;
}

TYPED_TEST(WorkflowCliTest, ShowJsonIsOneDocumentedObject) {
  CliRun r = this->keel("show", {"p-1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_EQ(r.out.rfind("{\"run\":\"p-1\",\"owner\":\"workflow/p-1\",\"workflow\":\"payment\",\"status\":\"failed\"", 0),
            0u)
      << r.out;
  for (const char* field : {"\"code_version\":\"1\"", "\"parent\":\"\"", "\"input\":250", "\"started\":{\"time\":",
                            "\"finished\":{\"time\":", "\"duration_ns\":", "\"pending_timers\":[]", "\"signals\":[]"}) {
    EXPECT_TRUE(has(r.out, field)) << field << " in " << r.out;
  }
  EXPECT_TRUE(has(r.out, "\"steps\":[{\"position\":\"0\",\"name\":\"authorize\",\"kind\":\"step\",\"ok\":true,"
                         "\"attempts\":1,"))
      << r.out;
  EXPECT_TRUE(has(r.out, "\"value\":250,\"error\":null,")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"position\":\"1\",\"name\":\"capture\",\"kind\":\"step\",\"ok\":false,")) << r.out;
  EXPECT_TRUE(has(r.out, "\"value\":null,\"error\":{\"code\":10,\"code_name\":\"failed_precondition\","
                         "\"message\":\"card declined\"},"))
      << r.out;

  CliRun e = this->keel("show", {"e-1", "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_TRUE(JsonCheck::valid(e.out)) << e.out;
  EXPECT_TRUE(has(e.out, "\"finished\":null,\"duration_ns\":null")) << e.out;
  EXPECT_TRUE(has(e.out, "\"signals\":[{\"name\":\"approve\",\"value\":\"ann\",\"lsn\":")) << e.out;

  CliRun s = this->keel("show", {"s-1", "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_TRUE(JsonCheck::valid(s.out)) << s.out;
  EXPECT_TRUE(has(s.out, "\"pending_timers\":[{\"position\":\"1\",\"name\":\"")) << s.out;
  EXPECT_TRUE(has(s.out, "\"duration_ns\":3600000000000,")) << s.out;
}

TYPED_TEST(WorkflowCliTest, ShowOfAnUnknownRunExitsWithStatus7) {
  CliRun r = this->keel("show", {"nope"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(has(r.err, "keel: no workflow run 'nope'")) << r.err;

  CliRun usage = this->keel("show");
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_TRUE(has(usage.err, "usage: keel workflow show RUN")) << usage.err;
}

// The LSNs of `owner`'s records, read through the journal API.
template <class B>
std::vector<Lsn> lsns_of(const std::string& path, const std::string& owner) {
  JournalOptions o;
  o.read_only = true;
  auto j = B::open(path, o);
  EXPECT_TRUE(j.is_ok()) << j.status();
  std::vector<Lsn> out;
  if (!j.is_ok()) return out;
  Status s = (*j)->scan_owner(owner, 1, [&](const Record& r) {
    out.push_back(r.lsn);
    return true;
  });
  EXPECT_TRUE(s.is_ok()) << s;
  return out;
}

TYPED_TEST(WorkflowCliTest, ADamagedRecordMakesItsRunDamagedAndExits6) {
  const std::vector<Lsn> o1 = lsns_of<TypeParam>(this->path_, "workflow/o-1");
  ASSERT_EQ(o1.size(), 5u) << "started, three steps, completed";
  ASSERT_TRUE(TypeParam::corrupt_payload(this->path_, o1[2]));  // its second step

  CliRun ls = this->keel("ls");
  EXPECT_EQ(ls.exit_code, 6);
  ASSERT_EQ(lines_of(ls.out).size(), 5u) << "every run is listed:\n" << ls.out;
  EXPECT_TRUE(has(line_starting(ls.out, "o-1 "), " damaged ")) << ls.out;
  EXPECT_TRUE(has(line_starting(ls.out, "p-1 "), " failed ")) << ls.out;
  ASSERT_EQ(lines_of(ls.err).size(), 1u) << ls.err;
  EXPECT_TRUE(has(ls.err, "keel: workflow/o-1 has damaged records")) << ls.err;

  CliRun json = this->keel("ls", {"--json", "--status", "damaged"});
  EXPECT_EQ(json.exit_code, 6);
  EXPECT_TRUE(JsonCheck::valid(json.out)) << json.out;
  EXPECT_TRUE(has(json.out, "{\"run\":\"o-1\",\"owner\":\"workflow/o-1\",\"workflow\":\"order\",\"status\":\"damaged\","
                            "\"event\":\"completed\",\"steps_done\":2,\"records\":4,\"damaged\":1,"))
      << json.out;
  EXPECT_FALSE(has(json.out, "p-1")) << json.out;

  CliRun show = this->keel("show", {"o-1"});
  EXPECT_EQ(show.exit_code, 6);
  EXPECT_EQ(line_starting(show.out, "status "), "status         damaged") << show.out;
  ASSERT_EQ(lines_of(show.err).size(), 1u) << show.err;
  EXPECT_TRUE(has(show.err, "keel: workflow/o-1 has 1 damaged record (keel journal show workflow/o-1 names them)"))
      << show.err;

  CliRun owners = run_keel({"journal", "ls", "-j", this->path_, "--kind", "workflow"});
  EXPECT_EQ(owners.exit_code, 6);
  EXPECT_TRUE(has(line_starting(owners.out, "workflow/o-1 "), " damaged ")) << owners.out;
  EXPECT_TRUE(has(line_starting(owners.out, "workflow/p-1 "), " failed ")) << owners.out;
}

TYPED_TEST(WorkflowCliTest, JournalAtShowsARunAsOfAnLsn) {
  const std::vector<Lsn> o1 = lsns_of<TypeParam>(this->path_, "workflow/o-1");
  ASSERT_EQ(o1.size(), 5u) << "started, three steps, completed";
  const std::string lsn = std::to_string(o1[2]);  // its second step's record
  CliRun r = run_keel({"journal", "at", "o-1", lsn, "-j", this->path_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out)[0], "workflow/o-1 as of lsn " + lsn) << r.out;
  EXPECT_EQ(line_starting(r.out, "status "), "status         running") << r.out;
  EXPECT_EQ(line_starting(r.out, "finished "), "finished       -") << r.out;
  EXPECT_TRUE(has(r.out, "\nsteps (2)\n")) << r.out;
  EXPECT_TRUE(has(line_starting(r.out, "1 "), "charge")) << r.out;
  EXPECT_TRUE(line_starting(r.out, "2 ").empty()) << "the third step was not done yet:\n" << r.out;
  EXPECT_FALSE(has(r.out, "default state")) << r.out;

  CliRun json = run_keel({"journal", "at", "workflow/o-1", lsn, "-j", this->path_, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_TRUE(JsonCheck::valid(json.out)) << json.out;
  EXPECT_EQ(json.out.rfind("{\"as_of_lsn\":" + lsn +
                               ",\"run\":\"o-1\",\"owner\":\"workflow/o-1\",\"workflow\":\"order\","
                               "\"status\":\"running\",\"event\":\"started\",\"steps_done\":2,\"records\":3,",
                           0),
            0u)
      << json.out;

  CliRun done = run_keel({"journal", "at", "o-1", std::to_string(o1.back()), "-j", this->path_});
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(line_starting(done.out, "status "), "status         completed") << done.out;
  EXPECT_TRUE(has(done.out, "\nsteps (3)\n")) << done.out;

  const std::vector<Lsn> s1 = lsns_of<TypeParam>(this->path_, "workflow/s-1");
  ASSERT_FALSE(s1.empty());
  ASSERT_LT(o1.front(), s1.front());
  CliRun before = run_keel({"journal", "at", "s-1", std::to_string(o1.front()), "-j", this->path_});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.out, "workflow/s-1 as of lsn " + std::to_string(o1.front()) + "\nno record of the run at or before lsn " +
                            std::to_string(o1.front()) + ": it had not started\n");
}

TYPED_TEST(WorkflowCliTest, JournalAtRefusesAnOwnerThatIsNeitherActorNorRun) {
  {
    auto j = TypeParam::open(this->path_, JournalOptions{});
    ASSERT_TRUE(j.is_ok()) << j.status();
    ASSERT_TRUE((*j)->append({NewRecord{"ledger/2026", RecordKind::kEvent, "opened"}}).is_ok());
  }
  const std::vector<Lsn> ledger = lsns_of<TypeParam>(this->path_, "ledger/2026");
  ASSERT_EQ(ledger.size(), 1u);
  CliRun r = run_keel({"journal", "at", "ledger/2026", std::to_string(ledger[0]), "-j", this->path_});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(has(r.err, "keel: at shows a durable actor or a workflow run, and ledger/2026 is neither")) << r.err;
}

TYPED_TEST(WorkflowCliTest, TheJournalComesFromKeelJournal) {
  CliRun missing = run_keel({"workflow", "ls"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(has(missing.err, "no journal")) << missing.err;
  CliRun nothing = run_keel({"workflow", "ls", "-j", this->dir_ + "/absent.db"});
  EXPECT_EQ(nothing.exit_code, 3);
  CliRun help = run_keel({"workflow", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(has(help.out, "show RUN")) << help.out;
}

}  // namespace
}  // namespace keel::testing
