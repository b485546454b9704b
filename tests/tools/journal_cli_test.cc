// `keel journal` run as a subprocess on journals written by the real engine,
// on both embedded backends, or on PostgreSQL (built with
// KEEL_JOURNAL_TEST_POSTGRES): what each command prints, in both output forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "keel/journal/format.h"
#include "keel/journal/pg_journal.h"
#include "keel/wire/envelope.h"
#include "tools/bank_journal.h"

namespace keel::testing {
namespace {

template <class B>
class JournalCliTest : public BankJournalTest<B> {
 protected:
  void SetUp() override {
    BankJournalTest<B>::SetUp();
    this->write_bank();
  }
  // Opens the writer, and dave takes one ask in each of four systems,
  // journaled with its handling (an INBOX record, a mark and a snapshot).
  void write_dave_in_four_systems() {
    this->open_writer();
    for (int i = 0; i < 4; ++i) {
      System system(this->config(2));
      auto dave = system.spawn_durable<Account>("dave");
      ASSERT_TRUE(dave.is_ok());
      ASSERT_TRUE(await(dave->ask<&Account::deposit>(1)).is_ok());
      ASSERT_TRUE(system.shutdown(ShutdownMode::kDrain).is_ok());
    }
  }
};
TYPED_TEST_SUITE(JournalCliTest, Backends, BackendNames);

std::string field(const char* name, std::uint64_t value) {
  return "\"" + std::string(name) + "\":" + std::to_string(value);
}

TYPED_TEST(JournalCliTest, StatsCountsRecordsByKind) {
  CliRun r = this->keel("stats", {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_EQ(lines_of(r.out).size(), 1u);
  EXPECT_TRUE(has(r.out, std::string("\"backend\":\"") + TypeParam::kName + "\"")) << r.out;
  EXPECT_TRUE(has(r.out, field("records", this->records_.size()))) << r.out;
  EXPECT_TRUE(has(r.out, field("last_lsn", this->records_.size()))) << r.out;
  EXPECT_TRUE(has(r.out, field("owners", 3))) << r.out;
  EXPECT_TRUE(has(r.out, field("inbox", this->count(RecordKind::kInbox)))) << r.out;
  EXPECT_TRUE(has(r.out, field("snapshot", this->count(RecordKind::kSnapshot)))) << r.out;
  EXPECT_TRUE(has(r.out, field("processed", this->count(RecordKind::kProcessed)))) << r.out;
  EXPECT_TRUE(has(r.out, field("timer", 1))) << r.out;
  EXPECT_TRUE(has(r.out, "\"damaged\":null")) << "the kept counts read no record:\n" << r.out;

  // --deep counts by reading every record: the same counts, and the damaged.
  CliRun deep = this->keel("stats", {"--deep", "--json"});
  ASSERT_EQ(deep.exit_code, 0) << deep.err;
  EXPECT_TRUE(has(deep.out, field("damaged", 0))) << deep.out;
  EXPECT_EQ(deep.out.substr(0, deep.out.find("\"damaged\"")), r.out.substr(0, r.out.find("\"damaged\"")));

  CliRun human = this->keel("stats");
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_TRUE(has(human.out, "records         " + std::to_string(this->records_.size()))) << human.out;
  EXPECT_FALSE(has(human.out, "\x1b[")) << "no colours when stdout is not a terminal";
}

TYPED_TEST(JournalCliTest, LsShowsWhichActorsHaveUnhandledMessages) {
  CliRun r = this->keel("ls", {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_TRUE(has(r.out, "{\"owner\":\"actor/alice\",\"kind\":\"actor\",\"status\":\"idle\",\"pending\":0")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"owner\":\"actor/bob\",\"kind\":\"actor\",\"status\":\"idle\",\"pending\":0")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"owner\":\"actor/carol\",\"kind\":\"actor\",\"status\":\"pending 2\",\"pending\":2"))
      << r.out;

  CliRun pending = this->keel("ls", {"--status", "pending"});
  ASSERT_EQ(pending.exit_code, 0) << pending.err;
  ASSERT_EQ(lines_of(pending.out).size(), 2u) << pending.out;
  EXPECT_EQ(lines_of(pending.out)[0].rfind("OWNER", 0), 0u);
  EXPECT_TRUE(has(lines_of(pending.out)[1], "actor/carol")) << pending.out;

  CliRun workflows = this->keel("ls", {"--kind", "workflow", "--json"});
  ASSERT_EQ(workflows.exit_code, 0) << workflows.err;
  EXPECT_EQ(workflows.out, "{\"owners\":[]}\n");
}

TYPED_TEST(JournalCliTest, LsCountsABacklogLongerThanItsFirstLook) {
  this->open_writer();
  {
    System system(this->config(0));  // never stepped: nothing is handled
    auto dave = system.spawn_durable<Account>("dave");
    ASSERT_TRUE(dave.is_ok());
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(await(dave->tell_durable<&Account::deposit>(i)).is_ok());
  }
  this->writer_.reset();
  CliRun r = this->keel("ls", {"--json", "--status", "pending"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "{\"owner\":\"actor/dave\",\"kind\":\"actor\",\"status\":\"pending 30\",\"pending\":30"))
      << r.out;
}

TYPED_TEST(JournalCliTest, ShowListsEveryRecordOfTheOwnerWithDecodedPayloads) {
  const std::vector<Record> alice = this->records_of("actor/alice");
  CliRun r = this->keel("show", {"alice", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_EQ(r.out.rfind("{\"owner\":\"actor/alice\",\"records\":[", 0), 0u) << r.out;
  for (const Record& rec : alice) {
    EXPECT_TRUE(has(r.out, "{\"lsn\":" + std::to_string(rec.lsn) + ",\"owner\":\"actor/alice\",\"seq\":" +
                               std::to_string(rec.seq) + ",\"kind\":\"" +
                               std::string(record_kind_name(rec.kind)) + "\""))
        << "lsn " << rec.lsn << " missing:\n" << r.out;
  }
  EXPECT_EQ(lines_of(r.out).size(), alice.size() + 2) << r.out;  // the opening line, records, "]}"
  EXPECT_TRUE(has(r.out, "\"method\":\"deposit\",\"encoding\":\"self_describing\",\"payload_format\":\"value\","
                         "\"payload\":[5]"))
      << r.out;
  EXPECT_TRUE(has(r.out, "\"method\":\"transfer\"")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"cents\":6,\"deposits\":3}")) << "the first snapshot's state:\n" << r.out;

  CliRun human = this->keel("show", {"actor/alice"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  const std::vector<std::string> rows = lines_of(human.out);
  ASSERT_EQ(rows.size(), alice.size() + 2) << human.out;  // owner, column header, one row per record
  EXPECT_EQ(rows[0], "actor/alice");
  EXPECT_TRUE(has(rows[1], "SEQ") && has(rows[1], "PAYLOAD")) << rows[1];
  EXPECT_TRUE(has(rows[2], "inbox") && has(rows[2], "deposit([1])")) << rows[2];
  EXPECT_TRUE(has(human.out, "snapshot   cursor ")) << human.out;
  // Every row puts its kind in the same column.
  const std::size_t column = rows[2].find("inbox");
  for (std::size_t i = 2; i < rows.size(); ++i) {
    EXPECT_NE(rows[i].find_first_not_of(' ', column), std::string::npos);
    EXPECT_EQ(rows[i][column - 1], ' ') << rows[i];
    EXPECT_NE(rows[i][column], ' ') << rows[i];
  }
}

TYPED_TEST(JournalCliTest, ExportWritesOneJsonLinePerRecordInLsnOrder) {
  CliRun r = this->keel("export");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), this->records_.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_TRUE(JsonCheck::valid(lines[i])) << lines[i];
    EXPECT_EQ(lines[i].rfind("{\"lsn\":" + std::to_string(i + 1) + ",", 0), 0u) << lines[i];
  }

  CliRun range = this->keel("export", {"--owner", "alice", "--from", "3", "--to", "12"});
  ASSERT_EQ(range.exit_code, 0) << range.err;
  std::size_t expected = 0;
  for (const Record& rec : this->records_of("actor/alice")) expected += rec.lsn >= 3 && rec.lsn <= 12;
  const std::vector<std::string> some = lines_of(range.out);
  EXPECT_EQ(some.size(), expected) << range.out;
  for (const std::string& line : some) EXPECT_TRUE(has(line, "\"owner\":\"actor/alice\"")) << line;
}

TYPED_TEST(JournalCliTest, VerifyPassesAJournalTheEngineWrote) {
  CliRun r = this->keel("verify");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "ok: " + std::to_string(this->records_.size()) + " records, 3 owners")) << r.out;
  CliRun json = this->keel("verify", {"--json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_TRUE(JsonCheck::valid(json.out)) << json.out;
  EXPECT_EQ(json.out.rfind("{\"problems\":[],\"ok\":true,", 0), 0u) << json.out;
}

TYPED_TEST(JournalCliTest, AJournalOfThePreviousFormatReadsAsItDid) {
  CliRun ls_before = this->keel("ls", {"--json"});
  ASSERT_EQ(ls_before.exit_code, 0) << ls_before.err;
  ASSERT_TRUE(TypeParam::to_format1(this->path_));
  CliRun ls = this->keel("ls", {"--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out, ls_before.out);
  CliRun stats = this->keel("stats", {"--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_TRUE(has(stats.out, field("format_version", 1))) << stats.out;
  EXPECT_TRUE(has(stats.out, field("records", this->records_.size()))) << stats.out;
  EXPECT_TRUE(has(stats.out, field("owners", 3))) << stats.out;
  CliRun verify = this->keel("verify");
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TYPED_TEST(JournalCliTest, AtShowsTheNewestSnapshotAndListsTheMessagesAfterIt) {
  const std::vector<Record> alice = this->records_of("actor/alice");
  CliRun r = this->keel("at", {"alice", std::to_string(alice.back().lsn), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  // Six messages make two snapshots; the sixth, the transfer, left 15 - 10.
  EXPECT_TRUE(has(r.out, "\"state\":{\"cents\":5,\"deposits\":5}")) << r.out;
  const std::size_t applied = r.out.find("\"applied_after_snapshot\":[");
  const std::size_t pending = r.out.find("\"pending\":[");
  ASSERT_NE(applied, std::string::npos);
  ASSERT_NE(pending, std::string::npos);
  EXPECT_TRUE(has(r.out.substr(applied, pending - applied), "\"method\":\"remind\"")) << r.out;
  EXPECT_TRUE(has(r.out, "\"pending\":[]}")) << r.out;

  // As of alice's first record nothing is handled and there is no snapshot.
  CliRun first = this->keel("at", {"actor/alice", std::to_string(alice.front().lsn)});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(has(first.out, "no snapshot at or before lsn")) << first.out;
  EXPECT_TRUE(has(first.out, "listed, not replayed")) << first.out;
  const std::size_t not_handled = first.out.find("accepted but not handled");
  ASSERT_NE(not_handled, std::string::npos) << first.out;
  EXPECT_TRUE(has(first.out.substr(not_handled), "deposit([1])")) << first.out;
}

TYPED_TEST(JournalCliTest, AtSaysASnapshotCoversTheMessagesMarkedHandledBeforeIt) {
  // dave takes one ask in each of four systems, journaled with its handling
  // (an INBOX record, a mark, a snapshot), as keel_example_counter's counter
  // does in each run: the cursor in every snapshot stays 0.
  ASSERT_NO_FATAL_FAILURE(this->write_dave_in_four_systems());
  this->records_ = this->read_records();
  this->writer_.reset();
  const std::vector<Record> dave = this->records_of("actor/dave");
  ASSERT_EQ(dave.size(), 12u) << "an INBOX record, a mark and a snapshot per message";
  std::string inbox;
  for (std::size_t i = 0; i < dave.size(); i += 3) inbox += (i == 0 ? "" : ",") + std::to_string(dave[i].lsn);

  CliRun r = this->keel("at", {"dave", std::to_string(dave.back().lsn)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "which covers the 4 messages marked handled with their handling, the last at lsn " +
                             std::to_string(dave[9].lsn) + ":\n  {\"cents\":4,\"deposits\":4}\n"))
      << r.out;
  EXPECT_FALSE(has(r.out, "up to lsn 0")) << r.out;
  CliRun first = this->keel("at", {"dave", std::to_string(dave[2].lsn)});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(has(first.out, "which covers the message at lsn " + std::to_string(dave[0].lsn) +
                                 ", marked handled with its handling:\n  {\"cents\":1,\"deposits\":1}\n"))
      << first.out;

  CliRun json = this->keel("at", {"dave", std::to_string(dave.back().lsn), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_TRUE(JsonCheck::valid(json.out)) << json.out;
  EXPECT_TRUE(has(json.out, "\"snapshot_cursor\":0,\"snapshot_marked\":[" + inbox + "],")) << json.out;
}

TYPED_TEST(JournalCliTest, AtRefusesAnLsnBeforeWhatCompactionKept) {
  // dave takes one ask in each of four systems (an INBOX record, a mark and
  // a snapshot each); then his records before the fourth ask are removed,
  // as a durable actor's compaction removes them.
  ASSERT_NO_FATAL_FAILURE(this->write_dave_in_four_systems());
  const std::vector<Record> dave = [&] {
    this->records_ = this->read_records();
    return this->records_of("actor/dave");
  }();
  ASSERT_EQ(dave.size(), 12u);
  ASSERT_EQ(this->writer_->truncate("actor/dave", dave[9].seq).value(), 9u);
  this->writer_.reset();

  for (const Record& gone : {dave[2], dave[9]}) {  // removed; kept, but before the first kept snapshot
    CliRun r = this->keel("at", {"dave", std::to_string(gone.lsn)});
    EXPECT_EQ(r.exit_code, 7) << r.out;
    EXPECT_EQ(r.err, "keel: the state of actor/dave as of lsn " + std::to_string(gone.lsn) +
                         " is not in the journal: its records before seq " + std::to_string(dave[9].seq) +
                         " (lsn " + std::to_string(dave[9].lsn) +
                         ") were removed by compaction (docs/durable.md, \"Compaction\"), and its state is "
                         "known from its first kept snapshot on, at lsn " +
                         std::to_string(dave[11].lsn) + "\n");
    EXPECT_FALSE(has(r.out, "default state")) << r.out;
  }
  CliRun last = this->keel("at", {"dave", std::to_string(dave[11].lsn)});
  ASSERT_EQ(last.exit_code, 0) << last.err;
  EXPECT_TRUE(has(last.out, "{\"cents\":4,\"deposits\":4}")) << last.out;
}

TYPED_TEST(JournalCliTest, TailPrintsTheNewestRecords) {
  CliRun r = this->keel("tail", {"-n", "3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  const std::size_t last = this->records_.size();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i].rfind("{\"lsn\":" + std::to_string(last - 2 + i) + ",", 0), 0u) << lines[i];
  }
  CliRun owner = this->keel("tail", {"--owner", "bob", "-n", "2"});
  ASSERT_EQ(owner.exit_code, 0) << owner.err;
  ASSERT_EQ(lines_of(owner.out).size(), 2u) << owner.out;
  for (const std::string& line : lines_of(owner.out)) EXPECT_TRUE(has(line, "actor/bob#")) << line;
}

TYPED_TEST(JournalCliTest, CompactDropsPayloadsSupersededBySnapshots) {
  CliRun r = this->keel("compact", {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_TRUE(has(r.out, "{\"owner\":\"actor/alice\",")) << r.out;
  this->open_writer();
  std::vector<Record> after = this->read_records();
  ASSERT_EQ(after.size(), this->records_.size()) << "headers stay";
  std::size_t compacted = 0;
  for (const Record& rec : after) compacted += rec.compacted;
  EXPECT_GT(compacted, 0u);
  EXPECT_TRUE(has(r.out, field("compacted", compacted) + "}\n")) << r.out;
  this->writer_.reset();
  CliRun verify = this->keel("verify");
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  CliRun show = this->keel("show", {"alice"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_TRUE(has(show.out, "(compacted)")) << show.out;
}

TYPED_TEST(JournalCliTest, CompactRefusesWhileALiveProcessOwnsTheJournal) {
  this->open_writer();
  CliRun r = this->keel("compact");
  EXPECT_EQ(r.exit_code, 8);
  expect_one_line_error(r, "owned by a live process");
  std::vector<Record> after = this->read_records();
  for (const Record& rec : after) EXPECT_FALSE(rec.compacted) << "lsn " << rec.lsn;
}

struct RunStatus {
  std::string status;
  std::int64_t step = 0;
  static constexpr auto kFields =
      keel::fields(keel::field<&RunStatus::status>("status"), keel::field<&RunStatus::step>("step"));
};

// The workflow layer's RUN records name what happened in an `event` field.
struct RunEvent {
  std::string event;
  static constexpr auto kFields = keel::fields(keel::field<&RunEvent::event>("event"));
};

TYPED_TEST(JournalCliTest, LsShowsTheStatusOfAWorkflowRunsNewestRunRecord) {
  this->open_writer();
  std::vector<NewRecord> batch;
  batch.push_back({"workflow/r-1", RecordKind::kRun, wire::encode_value(RunStatus{"running", 0})});
  batch.push_back({"workflow/r-1", RecordKind::kStep, wire::encode_value(std::string("charged"))});
  batch.push_back({"workflow/r-1", RecordKind::kRun, wire::encode_value(RunStatus{"completed", 1})});
  batch.push_back({"workflow/r-2", RecordKind::kRun, wire::encode_value(RunStatus{"running", 0})});
  batch.push_back({"workflow/r-3", RecordKind::kRun, wire::encode_value(RunEvent{"started"})});
  batch.push_back({"workflow/r-3", RecordKind::kRun, wire::encode_value(RunEvent{"failed"})});
  batch.push_back({"workflow/r-3", RecordKind::kInbox, wire::encode_value(RunEvent{"a signal"})});
  ASSERT_TRUE(this->writer_->append(std::move(batch)).is_ok());
  this->writer_.reset();
  CliRun r = this->keel("ls", {"--kind", "workflow", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_TRUE(has(r.out, "{\"owner\":\"workflow/r-1\",\"kind\":\"workflow\",\"status\":\"completed\"")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"owner\":\"workflow/r-2\",\"kind\":\"workflow\",\"status\":\"running\"")) << r.out;
  EXPECT_TRUE(has(r.out, "{\"owner\":\"workflow/r-3\",\"kind\":\"workflow\",\"status\":\"failed\"")) << r.out;
  EXPECT_FALSE(has(r.out, "actor/")) << r.out;
  // A workflow's INBOX record is a value, not an envelope.
  CliRun show = this->keel("show", {"r-3", "--json"});
  EXPECT_TRUE(has(show.out, "\"kind\":\"inbox\"") &&
              has(show.out, "\"payload_format\":\"value\",\"payload\":{\"event\":\"a signal\"}"))
      << show.out;
  CliRun running = this->keel("ls", {"--status", "running"});
  ASSERT_EQ(lines_of(running.out).size(), 2u) << running.out;
  EXPECT_TRUE(has(running.out, "workflow/r-2")) << running.out;
}

TYPED_TEST(JournalCliTest, ShowRendersMessagesSentByKeyAndHowFarTheirDeliveryGot) {
  this->open_writer();
  wire::Envelope e;
  const auto id = outbox_message_id("actor/carol", 1);
  e.id = wire::Id128{id[0], id[1]};
  e.idempotent = true;
  e.sender.key = "carol";
  e.target.key = "log-7";
  e.method = "apply";
  e.payload = wire::encode_args(std::int64_t{42});
  e.payload_encoding = wire::PayloadEncoding::kSelfDescribing;
  std::vector<NewRecord> batch;
  batch.push_back({"actor/carol", RecordKind::kOutbox, wire::encode_envelope(e).value()});
  batch.push_back({"actor/carol", RecordKind::kDelivered, wire::encode_value(std::uint64_t{1})});
  ASSERT_TRUE(this->writer_->append(std::move(batch)).is_ok());
  this->writer_.reset();
  CliRun r = this->keel("show", {"carol"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "outbox") && has(r.out, "apply([42])")) << r.out;
  EXPECT_TRUE(has(r.out, "delivered") && has(r.out, "outbox delivered through 1")) << r.out;
  CliRun v = this->keel("verify");
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

TYPED_TEST(JournalCliTest, VerifyNamesACursorThatPointsPastTheActorsInbox) {
  this->open_writer();
  const Lsn past = this->records_.size() + 100;
  std::vector<NewRecord> batch;
  batch.push_back({"actor/bob", RecordKind::kProcessed, wire::encode_value(static_cast<std::uint64_t>(past))});
  Result<LsnRange> written = this->writer_->append(std::move(batch));
  ASSERT_TRUE(written.is_ok());
  this->writer_.reset();
  CliRun r = this->keel("verify");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.out, "problem: lsn " + std::to_string(written->first) +
                             ", owner actor/bob: dangling reference: processed cursor " + std::to_string(past)))
      << r.out;
  EXPECT_EQ(lines_of(r.out).size(), 1u) << r.out;
  EXPECT_EQ(r.err, "keel: 1 problem found in " + redacted_journal_path(this->path_) + "\n");
}

#ifdef KEEL_JOURNAL_TEST_POSTGRES
// On PostgreSQL a plain writable open would take the journal over, fencing
// its writer; compact and vacuum open it exclusively, so the writer keeps it.
using PgJournalCliTest = JournalCliTest<PgBackend>;

TEST_F(PgJournalCliTest, CompactAndVacuumLeaveALiveWriterItsJournal) {
  open_writer();
  for (const std::string verb : {"compact", "vacuum"}) {
    CliRun r = keel(verb);
    EXPECT_EQ(r.exit_code, 8) << verb << ": " << r.err;
    EXPECT_TRUE(has(r.err, "a live writer holds it")) << verb << ": " << r.err;
  }
  std::vector<NewRecord> batch;
  batch.push_back({"actor/bob", RecordKind::kEvent, "after"});
  Result<LsnRange> after = writer_->append(std::move(batch));
  EXPECT_TRUE(after.is_ok()) << after.status();
}
#endif

}  // namespace
}  // namespace keel::testing
