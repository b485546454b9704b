// A journal written in the previous format (1) opens with this build: a
// read-only open reads it as it is, a writer's open upgrades its header and
// appends in the current format beside the old records, and every reader
// (scans by LSN and by owner, the latest snapshot, owners, stats, verify,
// truncate, remove_owner) gives the same results across both.
#include <map>
#include <string>
#include <vector>

#include "backends.h"
#include "journal_test_util.h"
#include "keel/base/clock.h"

namespace keel::testing {
namespace {

template <class Backend>
class JournalFormatTest : public ::testing::Test {
 protected:
  std::string path() const { return Backend::journal_path(dir_.path()); }
  std::unique_ptr<Journal> open(bool read_only = false) {
    JournalOptions o;
    o.clock = &clock_;
    o.read_only = read_only;
    auto j = Backend::open(path(), o);
    EXPECT_TRUE(j.has_value()) << j.status();
    return j.has_value() ? std::move(*j) : nullptr;
  }
  // Appends batches of several records of one owner (so that this format
  // writes one owner-index entry for several records) and of two owners
  // interleaved, snapshots among them.
  void append_mixed(Journal& j, const std::string& tag) {
    for (int i = 0; i < 3; ++i) {
      std::vector<NewRecord> batch;
      batch.push_back(rec("actor/a", RecordKind::kInbox, tag + "in" + std::to_string(i)));
      batch.push_back(rec("actor/b", RecordKind::kEvent, tag + "ev" + std::to_string(i)));
      batch.push_back(rec("actor/a", RecordKind::kSnapshot, tag + "snap" + std::to_string(i)));
      batch.push_back(rec("actor/a", RecordKind::kProcessed, tag + "mark" + std::to_string(i)));
      ASSERT_OK(j.append(std::move(batch)));
    }
  }

  TempDir dir_;
  ManualClock clock_;
};
TYPED_TEST_SUITE(JournalFormatTest, Backends, BackendNames);

// What a reader sees of a record, but the version and the checksum that
// covers it (both differ between a record and its format-1 rewrite).
std::string describe(const Record& r) {
  return std::to_string(r.lsn) + " " + r.owner + "#" + std::to_string(r.seq) + " " +
         std::to_string(static_cast<int>(r.kind)) + " " + r.payload;
}

std::vector<std::string> describe_all(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const Record& r : records) out.push_back(describe(r));
  return out;
}

std::vector<std::string> owner_records(Journal& j, const std::string& owner, std::uint64_t from_seq) {
  std::vector<Record> out;
  Status s = j.scan_owner(owner, from_seq, [&](const Record& r) {
    out.push_back(r);
    return true;
  });
  EXPECT_TRUE(s.is_ok()) << s;
  return describe_all(out);
}

std::vector<std::string> latest_of(Journal& j, const std::string& owner, RecordKind kind) {
  auto latest = j.latest(owner, kind);
  EXPECT_TRUE(latest.has_value()) << latest.status();
  return latest.has_value() && latest->has_value() ? std::vector<std::string>{describe(**latest)}
                                                   : std::vector<std::string>{};
}

TYPED_TEST(JournalFormatTest, APreviousFormatJournalReadsAsBeforeAndAWriterUpgradesIt) {
  std::vector<std::string> expected;
  {
    auto j = this->open();
    this->append_mixed(*j, "old-");
    expected = describe_all(all_records(*j));
  }
  ASSERT_TRUE(TypeParam::to_format1(this->path()));
  ASSERT_EQ(TypeParam::format_version(this->path()), 1);
  {
    auto reader = this->open(/*read_only=*/true);
    const std::vector<Record> records = all_records(*reader);
    EXPECT_EQ(describe_all(records), expected);
    for (const Record& r : records) EXPECT_EQ(r.format_version, 1) << r.lsn;
    EXPECT_EQ(owner_records(*reader, "actor/a", 4).size(), 6u);
    EXPECT_EQ(latest_of(*reader, "actor/a", RecordKind::kSnapshot),
              std::vector<std::string>{"11 actor/a#8 4 old-snap2"});
    EXPECT_TRUE(problems(*reader).empty());
    expect_summaries_match_a_scan(*reader);
    auto stats = reader->stats();
    ASSERT_OK(stats);
    EXPECT_EQ(stats->format_version, 1);
  }
  EXPECT_EQ(TypeParam::format_version(this->path()), 1) << "a read-only open writes nothing";

  auto j = this->open();
  EXPECT_EQ(TypeParam::format_version(this->path()), kJournalFormatVersion);
  EXPECT_EQ(j->stats()->format_version, kJournalFormatVersion);
  this->append_mixed(*j, "new-");
  const std::vector<Record> records = all_records(*j);
  ASSERT_EQ(records.size(), 24u);
  EXPECT_EQ(records[11].format_version, 1);
  EXPECT_EQ(records[12].format_version, kJournalFormatVersion);
  // actor/a's records 4..18: from the middle of the old ones into the new.
  const std::vector<std::string> a = owner_records(*j, "actor/a", 4);
  ASSERT_EQ(a.size(), 15u);
  EXPECT_EQ(a.front(), "5 actor/a#4 1 old-in1");
  EXPECT_EQ(a.back(), "24 actor/a#18 2 new-mark2");
  EXPECT_EQ(latest_of(*j, "actor/a", RecordKind::kInbox),
            std::vector<std::string>{"21 actor/a#16 1 new-in2"});
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);

  // A truncation through both formats, and the removal of a whole owner.
  auto truncated = j->truncate("actor/a", 11);
  ASSERT_OK(truncated);
  EXPECT_EQ(*truncated, 10u);
  EXPECT_EQ(owner_records(*j, "actor/a", 1).front(), "15 actor/a#11 4 new-snap0");
  auto removed = j->remove_owner("actor/b");
  ASSERT_OK(removed);
  EXPECT_EQ(*removed, 6u);
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);
  j.reset();

  auto reopened = this->open();
  EXPECT_EQ(owner_records(*reopened, "actor/a", 1).size(), 8u);
  EXPECT_TRUE(owner_records(*reopened, "actor/b", 1).empty());
  ASSERT_OK(reopened->append(one("actor/a", "after")));
  EXPECT_EQ(owner_records(*reopened, "actor/a", 18).back(), "25 actor/a#19 3 after");
  EXPECT_TRUE(problems(*reopened).empty());
  expect_summaries_match_a_scan(*reopened);
}

}  // namespace
}  // namespace keel::testing
