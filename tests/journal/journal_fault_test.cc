// Storage faults under both journals: a failed write or sync reaches the
// caller as kIoError, loses no acknowledged record, and the journal commits
// again once the fault clears.
#include <future>
#include <map>

#include "backends.h"
#include "fault_injection.h"
#include "journal_test_util.h"

namespace keel::testing {
namespace {

struct SqliteFaults {
  using Backend = SqliteBackend;
  static constexpr const char* kName = "sqlite";
  internal::BackendHooks hooks() const {
    internal::BackendHooks h;
    h.sqlite_vfs = vfs.name();
    return h;
  }
  void arm(Fault f) { vfs.arm(f); }
  int failures() const { return vfs.failures(); }
  FaultySqliteVfs vfs;
};

struct RocksFaults {
  using Backend = RocksBackend;
  static constexpr const char* kName = "rocksdb";
  internal::BackendHooks hooks() const {
    internal::BackendHooks h;
    h.rocks_env = env.env();
    return h;
  }
  void arm(Fault f) { env.arm(f); }
  int failures() const { return env.failures(); }
  FaultyRocksEnv env;
};

template <class Faults>
class JournalFaultTest : public ::testing::Test {
 protected:
  using Backend = typename Faults::Backend;
  std::string path() const { return Backend::journal_path(dir_.path()); }
  std::unique_ptr<Journal> open_faulty() {
    auto j = Backend::open(path(), JournalOptions{}, faults_.hooks());
    EXPECT_TRUE(j.has_value()) << j.status();
    return j.has_value() ? std::move(*j) : nullptr;
  }
  std::unique_ptr<Journal> open_plain() {
    auto j = Backend::open(path(), JournalOptions{});
    EXPECT_TRUE(j.has_value()) << j.status();
    return j.has_value() ? std::move(*j) : nullptr;
  }

  // Appends 3 records, fails the 4th with `fault`, clears it, appends again,
  // then reopens without the hooks and checks all 4 acknowledged records.
  void expect_fault_is_survived(Fault fault) {
    auto j = open_faulty();
    ASSERT_NE(j, nullptr);
    for (int i = 1; i <= 3; ++i) ASSERT_OK(j->append(one("a", "ok" + std::to_string(i))));

    faults_.arm(fault);
    auto failed = j->append(one("a", "lost"));
    faults_.arm(Fault::kNone);
    EXPECT_CODE(failed, StatusCode::kIoError);
    EXPECT_NE(failed.status().message().find("commit of lsn 4..4"), std::string::npos)
        << failed.status();
    EXPECT_GT(faults_.failures(), 0);
    auto last = j->last_lsn();
    ASSERT_OK(last);
    EXPECT_EQ(*last, 3u);  // nothing of the failed group is visible
    expect_summaries_match_a_scan(*j);

    auto again = j->append(one("a", "ok4"));
    ASSERT_OK(again);
    EXPECT_EQ(again->first, 4u);  // the failed group's LSN is reused: no gap
    expect_summaries_match_a_scan(*j);
    j.reset();

    auto reopened = open_plain();
    ASSERT_NE(reopened, nullptr);
    auto records = all_records(*reopened);
    ASSERT_EQ(records.size(), 4u);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(records[i].payload, "ok" + std::to_string(i + 1));
      EXPECT_EQ(records[i].seq, static_cast<std::uint64_t>(i + 1));
    }
    EXPECT_TRUE(problems(*reopened).empty());
    expect_summaries_match_a_scan(*reopened);
  }

  TempDir dir_;
  Faults faults_;
};

using FaultBackends = ::testing::Types<SqliteFaults, RocksFaults>;
class FaultNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return T::kName;
  }
};
TYPED_TEST_SUITE(JournalFaultTest, FaultBackends, FaultNames);

TYPED_TEST(JournalFaultTest, FailedWriteIsAnIoErrorAndLosesNoAcknowledgedRecord) {
  this->expect_fault_is_survived(Fault::kWriteIoError);
}

TYPED_TEST(JournalFaultTest, FullDiskIsAnIoErrorAndLosesNoAcknowledgedRecord) {
  this->expect_fault_is_survived(Fault::kWriteNoSpace);
}

TYPED_TEST(JournalFaultTest, FailedSyncIsAnIoErrorAndLosesNoAcknowledgedRecord) {
  this->expect_fault_is_survived(Fault::kSyncIoError);
}

TYPED_TEST(JournalFaultTest, GroupWhoseSyncFailedDoesNotReappearAfterReopen) {
  auto j = this->open_faulty();
  ASSERT_NE(j, nullptr);
  ASSERT_OK(j->append(one("a", "ok1")));
  this->faults_.arm(Fault::kSyncIoError);
  EXPECT_CODE(j->append(one("a", "lost")), StatusCode::kIoError);
  this->faults_.arm(Fault::kNone);
  j.reset();  // closed with the failed group written but never synced
  auto reopened = this->open_plain();
  ASSERT_NE(reopened, nullptr);
  auto records = all_records(*reopened);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].payload, "ok1");
  auto r = reopened->append(one("a", "ok2"));
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 2u);
  EXPECT_TRUE(problems(*reopened).empty());
  expect_summaries_match_a_scan(*reopened);
}

TYPED_TEST(JournalFaultTest, ABatchBehindAFailedOneOnItsChainIsNotWritten) {
  auto j = this->open_faulty();
  ASSERT_NE(j, nullptr);
  AppendChain chain;
  // The first batch on the chain fails; from its callback (so in a later
  // group, with the fault gone) one more batch goes on the chain and one
  // without it.
  CountDown done(3);
  Status first, behind, beside;
  this->faults_.arm(Fault::kWriteIoError);
  j->append_async(one("a", "lost"), &chain, [&](Result<LsnRange> r) {
    first = r.status();
    this->faults_.arm(Fault::kNone);
    j->append_async(one("a", "behind"), &chain, [&](Result<LsnRange> r2) {
      behind = r2.status();
      done.count_down();
    });
    j->append_async(one("b", "beside"), [&](Result<LsnRange> r2) {
      beside = r2.status();
      done.count_down();
    });
    done.count_down();
  });
  ASSERT_TRUE(done.wait());
  EXPECT_CODE(first, StatusCode::kIoError);
  EXPECT_CODE(behind, StatusCode::kIoError);
  EXPECT_NE(behind.message().find("not written"), std::string_view::npos) << behind;
  EXPECT_TRUE(beside.is_ok()) << beside;
  EXPECT_CODE(chain.failure(), StatusCode::kIoError);
  auto records = all_records(*j);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].payload, "beside");

  // Cleared, the chain writes again; "a" starts at seq 1, as nothing of it landed.
  chain.clear();
  std::promise<Result<LsnRange>> again;
  j->append_async(one("a", "again"), &chain, [&](Result<LsnRange> r) { again.set_value(std::move(r)); });
  ASSERT_OK(again.get_future().get());
  records = all_records(*j);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].payload, "again");
  EXPECT_EQ(records[1].seq, 1u);
  expect_summaries_match_a_scan(*j);
}

TYPED_TEST(JournalFaultTest, FailedCommitFailsEveryBatchOfItsGroup) {
  auto j = this->open_faulty();
  ASSERT_NE(j, nullptr);
  // The first batch's callback arms the fault and holds the writer until
  // the others are queued: they form the next group, which fails as a whole.
  constexpr int kQueued = 10;
  CountDown holding(1), queued(1), done(kQueued + 1);
  j->append_async(one("a", "ok1"), [&](Result<LsnRange> r) {
    EXPECT_TRUE(r.has_value()) << r.status();
    this->faults_.arm(Fault::kWriteIoError);
    holding.count_down();
    EXPECT_TRUE(queued.wait());
    done.count_down();
  });
  ASSERT_TRUE(holding.wait());
  std::vector<Status> results(kQueued);
  for (int i = 0; i < kQueued; ++i) {
    j->append_async(one(i % 2 == 0 ? "a" : "b", "lost"), [&, i](Result<LsnRange> r) {
      results[i] = r.status();
      done.count_down();
    });
  }
  queued.count_down();
  ASSERT_TRUE(done.wait());
  this->faults_.arm(Fault::kNone);
  for (const Status& s : results) EXPECT_CODE(s, StatusCode::kIoError);
  auto stats = j->stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->commits, 2u);
  EXPECT_EQ(stats->last_lsn, 1u);
  expect_summaries_match_a_scan(*j);  // "b" came only with the failed group

  // Sequences roll back with the LSNs: "a" continues at seq 2, "b" at 1.
  auto r = j->append({rec("a", RecordKind::kEvent, "ok2"), rec("b", RecordKind::kEvent, "ok3")});
  ASSERT_OK(r);
  EXPECT_EQ(r->first, 2u);
  auto records = all_records(*j);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].seq, 2u);
  EXPECT_EQ(records[2].owner, "b");
  EXPECT_EQ(records[2].seq, 1u);
  EXPECT_TRUE(problems(*j).empty());
  expect_summaries_match_a_scan(*j);
  j.reset();
  auto reopened = this->open_plain();
  ASSERT_NE(reopened, nullptr);
  expect_summaries_match_a_scan(*reopened);
}

}  // namespace
}  // namespace keel::testing
