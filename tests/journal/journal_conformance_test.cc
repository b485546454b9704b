// The Journal contract, checked against every backend (one typed suite; built
// once for SQLite and RocksDB, once for PostgreSQL: backends.h).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "backends.h"
#include "journal_test_util.h"
#include "keel/base/clock.h"

extern char** environ;

namespace keel::testing {
namespace {

template <class Backend>
class JournalTest : public ::testing::Test {
 protected:
  std::string path() const { return Backend::journal_path(dir_.path()); }
  std::unique_ptr<Journal> open(JournalOptions o = {}) {
    if (o.clock == nullptr) o.clock = &clock_;
    auto j = Backend::open(path(), o);
    EXPECT_TRUE(j.has_value()) << j.status();
    return j.has_value() ? std::move(*j) : nullptr;
  }
  std::unique_ptr<Journal> open_read_only() {
    JournalOptions o;
    o.read_only = true;
    return open(o);
  }

  TempDir dir_;
  ManualClock clock_;
};

TYPED_TEST_SUITE(JournalTest, Backends, BackendNames);

TYPED_TEST(JournalTest, AppendedBatchReadsBackByOwnerAndByLsn) {
  auto j = this->open();
  std::vector<NewRecord> batch;
  batch.push_back(rec("actor/a", RecordKind::kInbox, std::string("in\0box", 6)));
  batch.push_back(rec("actor/a", RecordKind::kEvent, "event"));
  batch.push_back(rec("actor/b", RecordKind::kOutbox, ""));
  auto range = j->append(std::move(batch));
  ASSERT_OK(range);
  EXPECT_EQ(range->first, 1u);
  EXPECT_EQ(range->last, 3u);

  std::vector<Record> a;
  ASSERT_OK(j->scan_owner("actor/a", 1, [&](const Record& r) {
    a.push_back(r);
    return true;
  }));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].lsn, 1u);
  EXPECT_EQ(a[0].seq, 1u);
  EXPECT_EQ(a[0].kind, RecordKind::kInbox);
  EXPECT_EQ(a[0].payload, std::string("in\0box", 6));
  EXPECT_EQ(a[0].time, this->clock_.wall_now());
  EXPECT_EQ(a[0].format_version, kJournalFormatVersion);
  EXPECT_FALSE(a[0].compacted);
  EXPECT_EQ(a[1].seq, 2u);
  EXPECT_EQ(a[1].payload, "event");

  auto all = all_records(*j);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].owner, "actor/b");
  EXPECT_EQ(all[2].seq, 1u);
  EXPECT_EQ(all[2].kind, RecordKind::kOutbox);
  EXPECT_EQ(all[2].payload, "");
}

TYPED_TEST(JournalTest, ScanOwnerStartsAtFromSeqAndStopsWhenTold) {
  auto j = this->open();
  for (int i = 0; i < 5; ++i) ASSERT_OK(j->append(one("o", "p" + std::to_string(i))));
  std::vector<std::uint64_t> seqs;
  ASSERT_OK(j->scan_owner("o", 3, [&](const Record& r) {
    seqs.push_back(r.seq);
    return r.seq < 4;
  }));
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{3, 4}));
  std::vector<Lsn> lsns;
  ASSERT_OK(j->scan_lsn(2, 4, [&](const Record& r) {
    lsns.push_back(r.lsn);
    return true;
  }));
  EXPECT_EQ(lsns, (std::vector<Lsn>{2, 3, 4}));
}

TYPED_TEST(JournalTest, LsnsAreGapFreeAcrossBatches) {
  auto j = this->open();
  Lsn next = 1;
  for (std::size_t n = 1; n <= 6; ++n) {
    std::vector<NewRecord> batch;
    for (std::size_t i = 0; i < n; ++i) batch.push_back(rec("o" + std::to_string(i % 2), RecordKind::kEvent, "x"));
    auto range = j->append(std::move(batch));
    ASSERT_OK(range);
    EXPECT_EQ(range->first, next);
    EXPECT_EQ(range->last, next + n - 1);
    next += n;
  }
  auto last = j->last_lsn();
  ASSERT_OK(last);
  EXPECT_EQ(*last, next - 1);
}

TYPED_TEST(JournalTest, ConcurrentAppendersGetGapFreeLsnsAndSequences) {
  auto j = this->open();
  constexpr int kThreads = 8;
  constexpr int kBatches = 500;
  std::atomic<int> failures{0};  // relaxed: read after join
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<NewRecord> batch;
        batch.push_back(rec("own/" + std::to_string(t), RecordKind::kEvent, std::to_string(b)));
        if (b % 3 == 0) batch.push_back(rec("shared", RecordKind::kOutbox, std::to_string(t)));
        auto r = j->append(std::move(batch));
        if (!r.has_value() || r->last - r->first + 1 != (b % 3 == 0 ? 2u : 1u)) {
          failures.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(std::memory_order_relaxed), 0);

  const std::uint64_t per_thread = kBatches + (kBatches + 2) / 3;
  const std::uint64_t total = kThreads * per_thread;
  Lsn expected = 1;
  std::map<std::string, std::uint64_t> seq;
  std::map<std::string, std::vector<std::string>> payloads;
  ASSERT_OK(j->scan_lsn(1, ~Lsn{0}, [&](const Record& r) {
    EXPECT_EQ(r.lsn, expected++);
    EXPECT_EQ(r.seq, ++seq[r.owner]) << "owner " << r.owner;
    payloads[r.owner].push_back(r.payload);
    return true;
  }));
  EXPECT_EQ(expected - 1, total);
  for (int t = 0; t < kThreads; ++t) {
    auto& p = payloads["own/" + std::to_string(t)];
    ASSERT_EQ(p.size(), static_cast<std::size_t>(kBatches));
    for (int b = 0; b < kBatches; ++b) EXPECT_EQ(p[b], std::to_string(b));  // per-thread order
  }
  EXPECT_TRUE(problems(*j).empty());
  auto stats = j->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->records, total);
  EXPECT_EQ(stats->batches, static_cast<std::uint64_t>(kThreads * kBatches));
}

TYPED_TEST(JournalTest, BatchIsAllOrNothing) {
  auto j = this->open();
  ASSERT_OK(j->append(one("o", "first")));
  std::vector<NewRecord> batch;
  batch.push_back(rec("o", RecordKind::kEvent, "ok"));
  batch.push_back(rec("o", RecordKind::kEvent, std::string(200, 'x')));
  JournalOptions small;
  small.max_record_bytes = 100;
  j.reset();
  j = this->open(small);
  EXPECT_CODE(j->append(std::move(batch)), StatusCode::kInvalidArgument);
  auto records = all_records(*j);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].payload, "first");
  // The next batch continues the LSN and sequence where the last commit ended.
  auto r = j->append(one("o", "second"));
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 2u);
}

TYPED_TEST(JournalTest, QueuedBatchesAreCommittedAsOneGroup) {
  auto j = this->open();
  // The first batch's callback holds the writer until every other batch is
  // queued, so they must all be taken together: 2 commits for 101 batches.
  constexpr int kQueued = 100;
  CountDown holding(1);
  CountDown queued(1);
  CountDown done(kQueued + 1);
  j->append_async(one("first", "x"), [&](Result<LsnRange> r) {
    EXPECT_TRUE(r.has_value()) << r.status();
    holding.count_down();
    EXPECT_TRUE(queued.wait());
    done.count_down();
  });
  ASSERT_TRUE(holding.wait());
  for (int i = 0; i < kQueued; ++i) {
    j->append_async(one("o" + std::to_string(i % 7), "y"), [&](Result<LsnRange> r) {
      EXPECT_TRUE(r.has_value()) << r.status();
      done.count_down();
    });
  }
  queued.count_down();
  ASSERT_TRUE(done.wait());
  auto stats = j->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->batches, static_cast<std::uint64_t>(kQueued + 1));
  EXPECT_EQ(stats->commits, 2u);
  EXPECT_EQ(stats->last_lsn, static_cast<Lsn>(kQueued + 1));
}

TYPED_TEST(JournalTest, ConcurrentAppendersShareCommits) {
  auto j = this->open();
  constexpr int kThreads = 16;
  constexpr int kBatches = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) EXPECT_TRUE(j->append(one("t" + std::to_string(t), "x")).has_value());
    });
  }
  for (auto& t : threads) t.join();
  auto stats = j->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->batches, static_cast<std::uint64_t>(kThreads * kBatches));
  EXPECT_LT(stats->commits, stats->batches);
}

TYPED_TEST(JournalTest, GroupsRespectMaxGroupRecords) {
  JournalOptions o;
  o.max_group_records = 3;
  auto j = this->open(o);
  CountDown holding(1);
  CountDown queued(1);
  CountDown done(10);
  j->append_async(one("first", "x"), [&](Result<LsnRange>) {
    holding.count_down();
    EXPECT_TRUE(queued.wait());
    done.count_down();
  });
  ASSERT_TRUE(holding.wait());
  for (int i = 0; i < 9; ++i) {
    j->append_async(one("o", "y"), [&](Result<LsnRange> r) {
      EXPECT_TRUE(r.has_value());
      done.count_down();
    });
  }
  queued.count_down();
  ASSERT_TRUE(done.wait());
  auto stats = j->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->commits, 4u);  // 1, then 3 + 3 + 3
}

TYPED_TEST(JournalTest, LatestReturnsTheNewestRecordOfAKind) {
  auto j = this->open();
  ASSERT_OK(j->append(one("a", "snap1", RecordKind::kSnapshot)));
  ASSERT_OK(j->append(one("a", "e1")));
  ASSERT_OK(j->append(one("b", "other", RecordKind::kSnapshot)));
  ASSERT_OK(j->append(one("a", "snap2", RecordKind::kSnapshot)));
  ASSERT_OK(j->append(one("a", "e2")));
  auto snap = j->latest("a", RecordKind::kSnapshot);
  ASSERT_OK(snap);
  ASSERT_TRUE(snap->has_value());
  EXPECT_EQ((*snap)->payload, "snap2");
  EXPECT_EQ((*snap)->seq, 3u);
  EXPECT_EQ((*snap)->lsn, 4u);
  auto none = j->latest("a", RecordKind::kTimer);
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  auto unknown = j->latest("nobody", RecordKind::kSnapshot);
  ASSERT_OK(unknown);
  EXPECT_FALSE(unknown->has_value());
}

TYPED_TEST(JournalTest, LatestSnapshotSurvivesReopenAndCompaction) {
  {
    auto j = this->open();
    ASSERT_OK(j->append(one("a", "snap1", RecordKind::kSnapshot)));
    ASSERT_OK(j->append(one("a", "e1")));
    ASSERT_OK(j->append(one("a", "snap2", RecordKind::kSnapshot)));
    ASSERT_OK(j->compact("a", 3));
  }
  auto j = this->open();
  auto snap = j->latest("a", RecordKind::kSnapshot);
  ASSERT_OK(snap);
  ASSERT_TRUE(snap->has_value());
  EXPECT_EQ((*snap)->payload, "snap2");
  EXPECT_EQ((*snap)->lsn, 3u);
}

TYPED_TEST(JournalTest, LatestSnapshotOfAJournalWithoutTheIndex) {
  {
    auto j = this->open();
    ASSERT_OK(j->append(one("a", "snap1", RecordKind::kSnapshot)));
    ASSERT_OK(j->append(one("b", "snapb", RecordKind::kSnapshot)));
    ASSERT_OK(j->append(one("a", "snap2", RecordKind::kSnapshot)));
    ASSERT_OK(j->append(one("a", "e1")));
  }
  ASSERT_TRUE(TypeParam::drop_snapshot_index(this->path()));
  {  // a reader cannot add the index: it reads backwards instead
    auto reader = this->open_read_only();
    auto snap = reader->latest("a", RecordKind::kSnapshot);
    ASSERT_OK(snap);
    ASSERT_TRUE(snap->has_value());
    EXPECT_EQ((*snap)->payload, "snap2");
  }
  auto j = this->open();  // a writer's open adds it
  ASSERT_OK(j->append(one("b", "snapb2", RecordKind::kSnapshot)));
  for (auto [owner, payload] : {std::pair{"a", "snap2"}, std::pair{"b", "snapb2"}}) {
    auto snap = j->latest(owner, RecordKind::kSnapshot);
    ASSERT_OK(snap);
    ASSERT_TRUE(snap->has_value());
    EXPECT_EQ((*snap)->payload, payload);
  }
}

TYPED_TEST(JournalTest, CorruptLatestSnapshotIsReportedWithItsLsn) {
  {
    auto j = this->open();
    ASSERT_OK(j->append(one("a", "snap1", RecordKind::kSnapshot)));
    ASSERT_OK(j->append(one("a", "snap2", RecordKind::kSnapshot)));
  }
  ASSERT_TRUE(TypeParam::corrupt_payload(this->path(), 2));
  auto j = this->open();
  auto snap = j->latest("a", RecordKind::kSnapshot);
  ASSERT_FALSE(snap.has_value());
  EXPECT_EQ(snap.status().code(), StatusCode::kCorruption);
  EXPECT_NE(snap.status().message().find("lsn 2"), std::string::npos) << snap.status();
}

TYPED_TEST(JournalTest, OwnersListsEachOwnerWithItsLastRecord) {
  auto j = this->open();
  ASSERT_OK(j->append(one("b", "1")));
  ASSERT_OK(j->append(one("a", "1")));
  this->clock_.advance(std::chrono::seconds(3));
  ASSERT_OK(j->append(one("b", "2")));
  auto owners = j->owners();
  ASSERT_OK(owners);
  ASSERT_EQ(owners->size(), 2u);
  EXPECT_EQ((*owners)[0].owner, "a");
  EXPECT_EQ((*owners)[0].last_seq, 1u);
  EXPECT_EQ((*owners)[0].last_lsn, 2u);
  EXPECT_EQ((*owners)[0].records, 1u);
  EXPECT_EQ((*owners)[1].owner, "b");
  EXPECT_EQ((*owners)[1].last_seq, 2u);
  EXPECT_EQ((*owners)[1].last_lsn, 3u);
  EXPECT_EQ((*owners)[1].records, 2u);
  EXPECT_EQ((*owners)[1].last_time, this->clock_.wall_now());
  auto stats = j->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->owners, 2u);
  EXPECT_EQ(stats->backend, TypeParam::kBackend);
  EXPECT_EQ(stats->first_lsn, 1u);
  EXPECT_EQ(stats->last_lsn, 3u);
  EXPECT_GT(stats->size_bytes, 0u);
}

// Appends records of several kinds for several owners, in batches that mix
// owners, with the clock moving between them.
void append_mixed(Journal& j, ManualClock& clock, int batches) {
  const RecordKind kinds[] = {RecordKind::kInbox, RecordKind::kProcessed, RecordKind::kEvent,
                              RecordKind::kSnapshot, RecordKind::kOutbox, RecordKind::kTimer,
                              RecordKind::kStep, RecordKind::kRun};
  int n = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<NewRecord> batch;
    for (int i = 0; i <= b % 4; ++i, ++n) {
      batch.push_back(rec("owner/" + std::to_string(n % 5 + b / 3), kinds[(n * 3) % 8], "p" + std::to_string(n)));
    }
    ASSERT_OK(j.append(std::move(batch)));
    clock.advance(std::chrono::milliseconds(7));
  }
}

TYPED_TEST(JournalTest, EmptyJournalHasZeroCountsAndNoOwners) {
  auto j = this->open();
  auto stats = j->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->records, 0u);
  EXPECT_EQ(stats->records_by_kind, (std::array<std::uint64_t, kRecordKindSlots>{}));
  EXPECT_EQ(stats->owners, 0u);
  EXPECT_EQ(stats->first_time, std::nullopt);
  EXPECT_EQ(stats->last_time, std::nullopt);
  expect_summaries_match_a_scan(*j);
}

TYPED_TEST(JournalTest, CountersAndOwnerSummariesMatchAFullScanAfterAppends) {
  auto j = this->open();
  ASSERT_OK(j->append(one("a", "1", RecordKind::kSnapshot)));
  auto stats = j->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->records_by_kind[static_cast<std::size_t>(RecordKind::kSnapshot)], 1u);
  auto owners = j->owners();
  ASSERT_OK(owners);
  ASSERT_EQ(owners->size(), 1u);
  EXPECT_EQ((*owners)[0].last_kind, RecordKind::kSnapshot);
  append_mixed(*j, this->clock_, 40);
  expect_summaries_match_a_scan(*j);
  auto reader = this->open_read_only();
  ASSERT_NE(reader, nullptr);
  expect_summaries_match_a_scan(*reader);
}

TYPED_TEST(JournalTest, CountersAndOwnerSummariesStayExactUnderConcurrentAppends) {
  auto j = this->open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&j, t] {
      for (int i = 0; i < 100; ++i) {
        EXPECT_TRUE(j->append(one("owner/" + std::to_string((t + i) % 6), "x",
                                  i % 2 == 0 ? RecordKind::kInbox : RecordKind::kProcessed))
                        .has_value());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  expect_summaries_match_a_scan(*j);
}

TYPED_TEST(JournalTest, CountersAreUnchangedByCompactionAndSurviveReopen) {
  {
    auto j = this->open();
    append_mixed(*j, this->clock_, 30);
    auto before = j->stats();
    ASSERT_OK(before);
    auto compacted = j->compact("owner/1", 5);
    ASSERT_OK(compacted);
    EXPECT_GT(*compacted, 0u);
    auto after = j->stats();
    ASSERT_OK(after);
    EXPECT_EQ(after->records_by_kind, before->records_by_kind);
    expect_summaries_match_a_scan(*j);
  }
  auto reader = this->open_read_only();
  ASSERT_NE(reader, nullptr);
  expect_summaries_match_a_scan(*reader);
  reader.reset();
  auto j = this->open();
  expect_summaries_match_a_scan(*j);
  append_mixed(*j, this->clock_, 5);
  expect_summaries_match_a_scan(*j);
}

TYPED_TEST(JournalTest, JournalWithoutSummariesIsCountedByReadingAndUpgradedByAWriter) {
  {
    auto j = this->open();
    append_mixed(*j, this->clock_, 20);
  }
  ASSERT_TRUE(TypeParam::drop_summaries(this->path()));
  ASSERT_FALSE(TypeParam::has_summaries(this->path()));
  {
    auto reader = this->open_read_only();
    ASSERT_NE(reader, nullptr);
    expect_summaries_match_a_scan(*reader);
  }
  EXPECT_FALSE(TypeParam::has_summaries(this->path())) << "a read-only open writes nothing";
  {
    auto j = this->open();
    ASSERT_NE(j, nullptr);
    expect_summaries_match_a_scan(*j);
    append_mixed(*j, this->clock_, 6);
    expect_summaries_match_a_scan(*j);
  }
  EXPECT_TRUE(TypeParam::has_summaries(this->path()));
  auto reader = this->open_read_only();
  ASSERT_NE(reader, nullptr);
  expect_summaries_match_a_scan(*reader);
}

TYPED_TEST(JournalTest, CheckpointBehindTheRecordsIsCompletedFromTheRecordsAfterIt) {
  auto j = this->open();
  append_mixed(*j, this->clock_, 20);
  for (int i = 0; i < 3; ++i) ASSERT_OK(j->append(one("late/" + std::to_string(i), "x", RecordKind::kStep)));
  auto last = j->last_lsn();
  ASSERT_OK(last);
  EXPECT_LT(TypeParam::counters_as_of(this->path()), *last) << "checkpoints are not written in every commit";
  expect_summaries_match_a_scan(*j);
  {
    auto reader = this->open_read_only();
    ASSERT_NE(reader, nullptr);
    expect_summaries_match_a_scan(*reader);
  }
  j.reset();
  EXPECT_EQ(TypeParam::counters_as_of(this->path()), *last) << "a clean close writes one";
}

TYPED_TEST(JournalTest, PreviousFormatCountersBehindTheRecordsAreNotTrustedAndAreRecountedByAWriter) {
  {
    auto j = this->open();
    append_mixed(*j, this->clock_, 20);
  }
  // Format 1 wrote the counters in every commit: lagging ones were left by
  // a writer that did not know them, and their counts are not to be used.
  ASSERT_TRUE(TypeParam::to_format1(this->path()));
  ASSERT_TRUE(TypeParam::rewind_counters(this->path()));
  {
    auto reader = this->open_read_only();
    ASSERT_NE(reader, nullptr);
    expect_summaries_match_a_scan(*reader);
  }
  auto j = this->open();
  expect_summaries_match_a_scan(*j);
  append_mixed(*j, this->clock_, 3);
  expect_summaries_match_a_scan(*j);
}

TYPED_TEST(JournalTest, CompactionDropsPayloadsAndKeepsHeaders) {
  auto j = this->open();
  for (int i = 1; i <= 5; ++i) ASSERT_OK(j->append(one("a", "a" + std::to_string(i))));
  ASSERT_OK(j->append(one("b", "b1")));
  auto n = j->compact("a", 4);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 3u);
  std::vector<Record> a;
  ASSERT_OK(j->scan_owner("a", 1, [&](const Record& r) {
    a.push_back(r);
    return true;
  }));
  ASSERT_EQ(a.size(), 5u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(a[i].compacted);
    EXPECT_EQ(a[i].payload, "");
    EXPECT_EQ(a[i].seq, static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(a[i].lsn, static_cast<Lsn>(i + 1));
  }
  EXPECT_FALSE(a[3].compacted);
  EXPECT_EQ(a[3].payload, "a4");
  EXPECT_EQ(all_records(*j).size(), 6u);
  EXPECT_TRUE(problems(*j).empty());
  auto again = j->compact("a", 4);
  ASSERT_OK(again);
  EXPECT_EQ(*again, 0u);
}

TYPED_TEST(JournalTest, ReopenKeepsRecordsAndContinuesLsnsAndSequences) {
  {
    auto j = this->open();
    ASSERT_OK(j->append(one("a", "1")));
    ASSERT_OK(j->append(one("b", "1")));
    ASSERT_OK(j->append(one("a", "2")));
  }
  auto j = this->open();
  auto r = j->append(one("a", "3"));
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 4u);
  auto records = all_records(*j);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3].seq, 3u);
  EXPECT_EQ(records[1].owner, "b");
  EXPECT_TRUE(problems(*j).empty());
}

TYPED_TEST(JournalTest, ReadOnlyHandleSeesTheWritersRecords) {
  auto writer = this->open();
  ASSERT_OK(writer->append(one("a", "1")));
  auto reader = this->open_read_only();
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(all_records(*reader).size(), 1u);
  ASSERT_OK(writer->append(one("a", "2")));
  auto last = reader->last_lsn();
  ASSERT_OK(last);
  EXPECT_EQ(*last, 2u);
  auto records = all_records(*reader);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].payload, "2");
  EXPECT_CODE(reader->append(one("a", "3")), StatusCode::kFailedPrecondition);
  EXPECT_CODE(reader->compact("a", 2), StatusCode::kFailedPrecondition);
}

TYPED_TEST(JournalTest, SecondWriterIsRejectedOrFencesTheFirst) {
  auto writer = this->open();
  ASSERT_OK(writer->append(one("a", "1")));
  auto second = TypeParam::open(this->path(), JournalOptions{});
  if constexpr (TypeParam::kSecondWriterFences) {
    // A shared journal: the second writer takes it over, and the first one's
    // next commit writes nothing.
    ASSERT_OK(second);
    EXPECT_CODE(writer->append(one("a", "stale")), StatusCode::kOwnershipLost);
    ASSERT_OK((*second)->append(one("a", "2")));
    auto records = all_records(**second);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].payload, "2");
  } else {
    EXPECT_CODE(second, StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find(this->path()), std::string::npos) << second.status();
  }
  // A read-only open beside it takes no lock.
  EXPECT_NE(this->open_read_only(), nullptr);
}

TYPED_TEST(JournalTest, CorruptPayloadIsReportedWithItsLsn) {
  {
    auto j = this->open();
    for (int i = 1; i <= 3; ++i) ASSERT_OK(j->append(one("a", "payload" + std::to_string(i))));
  }
  ASSERT_TRUE(TypeParam::corrupt_payload(this->path(), 2));
  auto j = this->open();
  std::vector<Lsn> seen;
  Status s = j->scan_lsn(1, 3, [&](const Record& r) {
    seen.push_back(r.lsn);
    return true;
  });
  EXPECT_CODE(s, StatusCode::kCorruption);
  EXPECT_NE(s.message().find("lsn 2, owner a: checksum mismatch"), std::string::npos) << s;
  EXPECT_EQ(seen, std::vector<Lsn>{1});  // the scan stops at the damaged record
  EXPECT_CODE(j->scan_owner("a", 1, [](const Record&) { return true; }), StatusCode::kCorruption);
  auto found = problems(*j);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].lsn, 2u);
  EXPECT_EQ(found[0].owner, "a");
  EXPECT_CODE(found[0].status, StatusCode::kCorruption);
  // Compaction refuses to paper over a damaged record with a fresh checksum.
  EXPECT_CODE(j->compact("a", 3), StatusCode::kCorruption);
}

TYPED_TEST(JournalTest, ASkippingScanReportsACorruptRecordAndGoesOn) {
  {
    auto j = this->open();
    for (int i = 1; i <= 3; ++i) ASSERT_OK(j->append(one("a", "payload" + std::to_string(i))));
  }
  ASSERT_TRUE(TypeParam::corrupt_payload(this->path(), 2));
  auto j = this->open();
  std::vector<Lsn> seen;
  std::vector<JournalProblem> bad;
  ASSERT_OK(j->scan_owner_skipping(
      "a", 1,
      [&](const Record& r) {
        seen.push_back(r.lsn);
        return true;
      },
      [&](const JournalProblem& p) { bad.push_back(p); }));
  EXPECT_EQ(seen, (std::vector<Lsn>{1, 3}));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].lsn, 2u);
  EXPECT_EQ(bad[0].owner, "a");
  EXPECT_CODE(bad[0].status, StatusCode::kCorruption);
}

TYPED_TEST(JournalTest, ASkippingLsnScanReportsACorruptRecordAndGoesOnToTheEnd) {
  {
    auto j = this->open();
    for (int i = 1; i <= 4; ++i) ASSERT_OK(j->append(one(i % 2 == 0 ? "b" : "a", "payload" + std::to_string(i))));
  }
  ASSERT_TRUE(TypeParam::corrupt_payload(this->path(), 2));
  auto j = this->open_read_only();
  std::vector<Lsn> seen;
  std::vector<JournalProblem> bad;
  ASSERT_OK(j->scan_lsn_skipping(
      1, 4,
      [&](const Record& r) {
        seen.push_back(r.lsn);
        return true;
      },
      [&](const JournalProblem& p) { bad.push_back(p); }));
  EXPECT_EQ(seen, (std::vector<Lsn>{1, 3, 4}));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].lsn, 2u);
  EXPECT_EQ(bad[0].owner, "b");
  EXPECT_CODE(bad[0].status, StatusCode::kCorruption);
  EXPECT_NE(bad[0].status.message().find("lsn 2, owner b: checksum mismatch"), std::string::npos) << bad[0].status;
}

TYPED_TEST(JournalTest, ForeignDatabaseIsNotAJournal) {
  ASSERT_TRUE(TypeParam::make_foreign(this->path()));
  auto j = TypeParam::open(this->path(), JournalOptions{});
  EXPECT_CODE(j, StatusCode::kCorruption);
  EXPECT_NE(j.status().message().find("not a Keel journal"), std::string::npos) << j.status();
}

TYPED_TEST(JournalTest, NewerFormatVersionIsRefused) {
  { this->open(); }
  ASSERT_TRUE(TypeParam::set_format_version(this->path(), kJournalFormatVersion + 1));
  EXPECT_CODE(TypeParam::open(this->path(), JournalOptions{}), StatusCode::kFailedPrecondition);
  JournalOptions ro;
  ro.read_only = true;
  EXPECT_CODE(TypeParam::open(this->path(), ro), StatusCode::kFailedPrecondition);
}

TYPED_TEST(JournalTest, InvalidAppendsAreRejectedAndWriteNothing) {
  JournalOptions o;
  o.max_record_bytes = 10;
  auto j = this->open(o);
  EXPECT_CODE(j->append({}), StatusCode::kInvalidArgument);
  EXPECT_CODE(j->append(one("", "x")), StatusCode::kInvalidArgument);
  EXPECT_CODE(j->append(one(std::string("a\0b", 3), "x")), StatusCode::kInvalidArgument);
  EXPECT_CODE(j->append(one("a", std::string(11, 'x'))), StatusCode::kInvalidArgument);
  EXPECT_CODE(j->append(one("a", "x", static_cast<RecordKind>(99))), StatusCode::kInvalidArgument);
  Status async_status;
  j->append_async({}, [&](Result<LsnRange> r) { async_status = r.status(); });
  EXPECT_CODE(async_status, StatusCode::kInvalidArgument);  // reported before append_async returns
  EXPECT_CODE(j->compact("", 1), StatusCode::kInvalidArgument);
  auto last = j->last_lsn();
  ASSERT_OK(last);
  EXPECT_EQ(*last, kNoLsn);
}

TYPED_TEST(JournalTest, MissingJournalIsNotFoundWithoutCreate) {
  JournalOptions o;
  o.create_if_missing = false;
  EXPECT_CODE(TypeParam::open(this->path(), o), StatusCode::kNotFound);
  JournalOptions ro;
  ro.read_only = true;
  EXPECT_CODE(TypeParam::open(this->path(), ro), StatusCode::kNotFound);
}

TYPED_TEST(JournalTest, OpenJournalDetectsTheBackend) {
  { this->open(); }
  auto j = open_journal(this->path(), JournalOptions{});
  ASSERT_OK(j);
  auto stats = (*j)->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->backend, TypeParam::kBackend);
}

// --- A writer in another process -------------------------------------------
//
// The child is this test binary again (fork + exec, so it starts with no
// inherited threads), told what to do through KEEL_JOURNAL_CHILD. It appends
// one batch at a time, reports each LSN on a pipe, and waits for the parent's
// go-ahead before the next, so the parent reads while the writer is live.

constexpr int kChildBatches = 5;

int run_child_if_asked() {
  const char* spec = std::getenv("KEEL_JOURNAL_CHILD");
  if (spec == nullptr) return 0;
  char backend[32] = {};
  char path[4096] = {};
  int to_parent = -1, from_parent = -1;
  if (std::sscanf(spec, "%31s %4095s %d %d", backend, path, &to_parent, &from_parent) != 4) _exit(10);
  auto j = open_backend_named(backend, path, JournalOptions{});
  if (!j.has_value()) _exit(11);
  for (int i = 0; i < kChildBatches; ++i) {
    auto r = (*j)->append(one("child", "batch" + std::to_string(i)));
    if (!r.has_value()) _exit(12);
    Lsn lsn = r->last;
    if (write(to_parent, &lsn, sizeof lsn) != sizeof lsn) _exit(13);
    char go;
    if (read(from_parent, &go, 1) != 1) _exit(14);
  }
  j->reset();
  _exit(0);
}
// Runs before main() in the child; a no-op in the test process itself.
[[maybe_unused]] const int kChildRan = run_child_if_asked();

TYPED_TEST(JournalTest, ReadOnlyHandleFollowsAWriterInAnotherProcess) {
  int up[2], down[2];
  ASSERT_EQ(pipe(up), 0);
  ASSERT_EQ(pipe(down), 0);
  std::string spec = std::string(TypeParam::kName) + " " + this->path() + " " +
                     std::to_string(up[1]) + " " + std::to_string(down[0]);
  std::string env_entry = "KEEL_JOURNAL_CHILD=" + spec;
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(env_entry.data());
  env.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  char* argv[] = {exe.data(), nullptr};
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, env.data()), 0);
  close(up[1]);
  close(down[0]);

  std::unique_ptr<Journal> reader;
  for (int i = 0; i < kChildBatches; ++i) {
    Lsn lsn = 0;
    ASSERT_EQ(read(up[0], &lsn, sizeof lsn), static_cast<ssize_t>(sizeof lsn)) << "child died";
    if (!reader) reader = this->open_read_only();
    ASSERT_NE(reader, nullptr);
    auto last = reader->last_lsn();
    ASSERT_OK(last);
    EXPECT_EQ(*last, lsn);
    std::vector<std::string> payloads;
    ASSERT_OK(reader->scan_owner("child", 1, [&](const Record& r) {
      payloads.push_back(r.payload);
      return true;
    }));
    ASSERT_EQ(payloads.size(), static_cast<std::size_t>(i + 1));
    EXPECT_EQ(payloads.back(), "batch" + std::to_string(i));
    ASSERT_EQ(write(down[1], "g", 1), 1);
  }
  close(up[0]);
  close(down[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}

}  // namespace
}  // namespace keel::testing
