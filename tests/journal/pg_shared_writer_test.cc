// Several writers on one PostgreSQL journal, as a cluster's hosts write it
// (keel/journal/pg_journal.h, "A cluster's writer"): each writes only the
// shards handed to it, LSNs follow the order of commits across writers, a
// fenced shard fails only its own batches, and the counters and owner
// summaries count every writer's records. Against the test server of the
// CTest fixture keel_pg (pg_backend.h).
#include <algorithm>
#include <future>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backends.h"
#include "journal_test_util.h"
#include "keel/journal/pg_journal.h"
#include "pg_backend.h"

namespace keel::testing {
namespace {

class PgSharedWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto url = pg_test_url();
    ASSERT_TRUE(url.has_value()) << url.status();
  }
  std::string path() const { return PgBackend::journal_path(dir_.path()); }

  std::unique_ptr<Journal> open(const JournalOptions& o) {
    auto j = PgBackend::open(path(), o);
    EXPECT_TRUE(j.has_value()) << j.status();
    return j.has_value() ? std::move(*j) : nullptr;
  }
  // A cluster's writer, holding no shard yet.
  std::unique_ptr<Journal> open_writer() {
    JournalOptions o;
    o.pg_claim_all_shards = false;
    return open(o);
  }
  std::unique_ptr<Journal> open_read_only() {
    JournalOptions o;
    o.read_only = true;
    return open(o);
  }
  // Claims `shards` in the database and hands them to `j`.
  void give(Journal& j, const std::vector<std::uint32_t>& shards) {
    auto epochs = claim_pg_shards(path(), shards, "the test");
    ASSERT_OK(epochs);
    ASSERT_OK(hold_pg_shards(j, *epochs));
  }
  // Two writers, the first holding the lower half of the shards, the
  // second the upper.
  std::pair<std::unique_ptr<Journal>, std::unique_ptr<Journal>> two_writers_on_halves() {
    auto a = open_writer();
    auto b = open_writer();
    if (a) give(*a, range(0, kPgShards / 2));
    if (b) give(*b, range(kPgShards / 2, kPgShards));
    return {std::move(a), std::move(b)};
  }
  static std::vector<std::uint32_t> range(std::uint32_t from, std::uint32_t to) {
    std::vector<std::uint32_t> out(to - from);
    std::iota(out.begin(), out.end(), from);
    return out;
  }
  // An owner name in shard `shard`.
  static std::string owner_in(std::uint32_t shard, const std::string& stem = "actor/") {
    for (int i = 0;; ++i) {
      std::string o = stem + std::to_string(i);
      if (pg_shard_of(o) == shard) return o;
    }
  }

  TempDir dir_;
};

TEST_F(PgSharedWriterTest, AWriterHoldingNoShardRefusesEveryBatchAndWritesNothing) {
  auto j = open_writer();
  ASSERT_NE(j, nullptr);
  auto refused = j->append(one("actor/a", "1"));
  EXPECT_CODE(refused, StatusCode::kOwnershipLost);
  const std::string message(refused.status().message());
  EXPECT_NE(message.find("actor/a"), std::string::npos) << message;
  EXPECT_NE(message.find("shard " + std::to_string(pg_shard_of("actor/a"))), std::string::npos) << message;
  auto held = held_pg_shards(*j);
  ASSERT_OK(held);
  EXPECT_TRUE(held->empty());
  EXPECT_TRUE(all_records(*open_read_only()).empty());
}

TEST_F(PgSharedWriterTest, TwoWritersOnHalvesOfTheShardsInterleaveWithGapFreeLsnsInCommitOrder) {
  auto [a, b] = two_writers_on_halves();
  ASSERT_TRUE(a && b);
  const std::vector<std::string> a_owners = {owner_in(1), owner_in(2), owner_in(3)};
  const std::vector<std::string> b_owners = {owner_in(kPgShards - 1), owner_in(kPgShards - 2)};
  constexpr int kBatches = 150;  // past two checkpoints of each writer
  auto write = [](Journal* j, std::vector<std::string> owners) {
    std::vector<LsnRange> ranges;
    for (int i = 0; i < kBatches; ++i) {
      std::vector<NewRecord> batch;
      batch.push_back(rec(owners[i % owners.size()], RecordKind::kEvent, "e" + std::to_string(i)));
      if (i % 3 == 0) batch.push_back(rec(owners[(i + 1) % owners.size()], RecordKind::kInbox, "m"));
      auto r = j->append(std::move(batch));
      if (!r.has_value()) {
        ADD_FAILURE() << r.status();
        break;
      }
      ranges.push_back(*r);
    }
    return ranges;
  };
  auto fa = std::async(std::launch::async, write, a.get(), a_owners);
  auto fb = std::async(std::launch::async, write, b.get(), b_owners);
  std::vector<LsnRange> ranges = fa.get();
  for (const LsnRange& r : fb.get()) ranges.push_back(r);
  // Every acknowledged range is distinct, and together they cover 1..N.
  std::sort(ranges.begin(), ranges.end(), [](const LsnRange& x, const LsnRange& y) { return x.first < y.first; });
  Lsn next = 1;
  for (const LsnRange& r : ranges) {
    ASSERT_EQ(r.first, next) << "LSNs overlap or leave a gap";
    next = r.last + 1;
  }
  a.reset();
  b.reset();
  auto reader = open_read_only();
  ASSERT_NE(reader, nullptr);
  const std::vector<Record> records = all_records(*reader);
  ASSERT_EQ(records.size(), next - 1);
  // Each owner's sequence is gap-free; the checksums hold (records were
  // numbered again by their writer where another had gone first).
  std::map<std::string, std::uint64_t> last_seq;
  for (const Record& r : records) {
    EXPECT_EQ(r.seq, ++last_seq[r.owner]) << r.owner << " at lsn " << r.lsn;
  }
  EXPECT_TRUE(problems(*reader).empty());
  // The counters and summaries, checkpointed by both, count every record.
  auto stats = reader->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->records, records.size());
  EXPECT_EQ(stats->owners, a_owners.size() + b_owners.size());
  expect_summaries_match_a_scan(*reader);
  auto owners = reader->owners();
  ASSERT_OK(owners);
  ASSERT_EQ(owners->size(), last_seq.size());
  for (const OwnerInfo& o : *owners) EXPECT_EQ(o.last_seq, last_seq[o.owner]) << o.owner;
}

TEST_F(PgSharedWriterTest, AShardClaimedByAnotherWriterFailsOnlyItsOwnBatches) {
  auto a = open_writer();
  ASSERT_NE(a, nullptr);
  give(*a, range(0, kPgShards));
  const std::string moving = owner_in(5);
  const std::string staying = owner_in(6);
  ASSERT_OK(a->append(one(moving, "a1")));
  ASSERT_OK(a->append(one(staying, "a2")));
  // Another host takes shard 5 over.
  auto b = open_writer();
  ASSERT_NE(b, nullptr);
  give(*b, {5});
  // Batches of both shards, submitted together (one commit group when the
  // writer takes them at once): the fenced one fails, the other is written.
  std::promise<Result<LsnRange>> moved_done, stayed_done;
  a->append_async(one(moving, "stale"), [&](Result<LsnRange> r) { moved_done.set_value(std::move(r)); });
  a->append_async(one(staying, "a3"), [&](Result<LsnRange> r) { stayed_done.set_value(std::move(r)); });
  EXPECT_CODE(moved_done.get_future().get(), StatusCode::kOwnershipLost);
  ASSERT_OK(stayed_done.get_future().get());
  ASSERT_OK(a->append(one(staying, "a4")));
  EXPECT_CODE(a->append(one(moving, "stale again")), StatusCode::kOwnershipLost);
  auto held = held_pg_shards(*a);
  ASSERT_OK(held);
  EXPECT_EQ(held->size(), kPgShards - 1);
  EXPECT_TRUE(std::none_of(held->begin(), held->end(), [](const PgShardEpoch& e) { return e.shard == 5; }));
  // The new holder goes on with the owner's sequence.
  auto r = b->append(one(moving, "b1"));
  ASSERT_OK(r);
  std::vector<std::uint64_t> seqs;
  std::vector<std::string> payloads;
  ASSERT_OK(open_read_only()->scan_owner(moving, 1, [&](const Record& rec) {
    seqs.push_back(rec.seq);
    payloads.push_back(rec.payload);
    return true;
  }));
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(payloads, (std::vector<std::string>{"a1", "b1"}));
}

TEST_F(PgSharedWriterTest, AShardHandedBackReadsItsOwnersSequencesAgain) {
  auto a = open_writer();
  auto b = open_writer();
  ASSERT_TRUE(a && b);
  const std::string owner = owner_in(9);
  give(*a, {9});
  for (int i = 0; i < 3; ++i) ASSERT_OK(a->append(one(owner, "a")));
  ASSERT_OK(drop_pg_shards(*a, {9}));
  EXPECT_CODE(a->append(one(owner, "dropped")), StatusCode::kOwnershipLost);
  give(*b, {9});
  ASSERT_OK(b->append(one(owner, "b")));  // seq 4
  give(*a, {9});                           // and back: B is fenced on it
  auto r = a->append(one(owner, "a again"));
  ASSERT_OK(r);
  EXPECT_CODE(b->append(one(owner, "stale")), StatusCode::kOwnershipLost);
  std::vector<std::uint64_t> seqs;
  ASSERT_OK(open_read_only()->scan_owner(owner, 1, [&](const Record& rec) {
    seqs.push_back(rec.seq);
    return true;
  }));
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
}

TEST_F(PgSharedWriterTest, RemovalsBesideAnotherWriterKeepTheCountersRight) {
  auto [a, b] = two_writers_on_halves();
  ASSERT_TRUE(a && b);
  const std::string mine = owner_in(4);
  const std::string theirs = owner_in(kPgShards - 3);
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK(a->append(one(mine, "a" + std::to_string(i))));
    ASSERT_OK(b->append(one(theirs, "b" + std::to_string(i))));
  }
  auto removed = a->truncate(mine, 8);
  ASSERT_OK(removed);
  EXPECT_EQ(*removed, 7u);
  ASSERT_OK(b->append(one(theirs, "b10")));  // the newest record is not `mine`'s
  ASSERT_OK(a->remove_owner(mine));
  ASSERT_OK(b->append(one(theirs, "b11")));
  a.reset();
  b.reset();
  auto reader = open_read_only();
  ASSERT_NE(reader, nullptr);
  auto stats = reader->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->records, 12u);
  EXPECT_EQ(stats->owners, 1u);
  EXPECT_TRUE(problems(*reader).empty());
}

TEST_F(PgSharedWriterTest, HandingShardsOverChecksItsArguments) {
  auto writer = open_writer();
  ASSERT_NE(writer, nullptr);
  EXPECT_CODE(hold_pg_shards(*writer, {PgShardEpoch{kPgShards, 1}}), StatusCode::kInvalidArgument);
  EXPECT_CODE(hold_pg_shards(*writer, {PgShardEpoch{0, 0}}), StatusCode::kInvalidArgument);
  EXPECT_CODE(drop_pg_shards(*writer, {kPgShards}), StatusCode::kInvalidArgument);
  auto reader = open_read_only();
  ASSERT_NE(reader, nullptr);
  EXPECT_CODE(hold_pg_shards(*reader, {PgShardEpoch{0, 1}}), StatusCode::kFailedPrecondition);
  writer.reset();
  // A journal's one writer claimed every shard at open: nothing to hand it.
  auto whole = PgBackend::open(path(), JournalOptions{});
  ASSERT_OK(whole);
  EXPECT_CODE(hold_pg_shards(**whole, {PgShardEpoch{0, 1}}), StatusCode::kInvalidArgument);
  // Another backend is not a PostgreSQL journal.
  TempDir other;
  auto sqlite = SqliteBackend::open(SqliteBackend::journal_path(other.path()), JournalOptions{});
  ASSERT_OK(sqlite);
  EXPECT_CODE(hold_pg_shards(**sqlite, {PgShardEpoch{0, 1}}), StatusCode::kInvalidArgument);
}

TEST_F(PgSharedWriterTest, TheShardCountIsTheJournalsForEveryHandle) {
  auto writer = open_writer();
  ASSERT_NE(writer, nullptr);
  auto reader = open_read_only();
  ASSERT_NE(reader, nullptr);
  for (Journal* j : {writer.get(), reader.get()}) {
    Result<std::uint32_t> count = pg_shard_count(*j);
    ASSERT_OK(count);
    EXPECT_EQ(*count, kPgShards);
  }
  TempDir other;
  auto sqlite = SqliteBackend::open(SqliteBackend::journal_path(other.path()), JournalOptions{});
  ASSERT_OK(sqlite);
  EXPECT_CODE(pg_shard_count(**sqlite).status(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keel::testing
