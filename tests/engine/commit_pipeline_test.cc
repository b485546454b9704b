// CommitPipeline: one owner's commits land in order with the LSNs they
// report; commits that wait for a write go together, where a superseded
// cursor is dropped; after a failed write later commits fail unwritten
// until wait_idle, and a lost ownership stays lost. On a real SQLite
// journal.
#include "keel/engine/detail/commit_pipeline.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "keel/journal/journal.h"
#include "keel/wire/value.h"
#include "support/fencing_journal.h"

namespace keel::detail {
namespace {

constexpr std::chrono::seconds kWait(20);

// Holds asynchronous appends while held, so that later commits queue
// behind a write in flight; release() sends the held ones on.
class HeldJournal : public testing::FencingJournal {
 public:
  using FencingJournal::FencingJournal;
  void hold() {
    std::lock_guard<std::mutex> l(mu_);
    held_ = true;
  }
  void release() {
    std::deque<Held> out;
    {
      std::lock_guard<std::mutex> l(mu_);
      held_ = false;
      out.swap(queue_);
    }
    for (Held& h : out) FencingJournal::append_async(std::move(h.batch), h.chain, std::move(h.done));
  }
  using Journal::append_async;
  void append_async(std::vector<NewRecord> batch, AppendChain* chain,
                    UniqueFunction<void(Result<LsnRange>)> done) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (held_) {
        queue_.push_back(Held{std::move(batch), chain, std::move(done)});
        return;
      }
    }
    FencingJournal::append_async(std::move(batch), chain, std::move(done));
  }
  // Batches held so far.
  std::size_t held() {
    std::lock_guard<std::mutex> l(mu_);
    return queue_.size();
  }

 private:
  struct Held {
    std::vector<NewRecord> batch;
    AppendChain* chain;
    UniqueFunction<void(Result<LsnRange>)> done;
  };
  std::mutex mu_;
  bool held_ = false;
  std::deque<Held> queue_;
};

class CommitPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-pipeline-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto j = open_sqlite_journal(dir_ + "/journal.db", JournalOptions{});
    ASSERT_TRUE(j.is_ok()) << j.status();
    journal_ = std::make_unique<HeldJournal>(std::move(*j));
    pipeline_ = CommitPipeline::create(*journal_, kOwner);
  }
  void TearDown() override {
    pipeline_.reset();
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }

  static NewRecord record(RecordKind kind, std::string payload) { return NewRecord{kOwner, kind, std::move(payload)}; }
  static Commit processed(std::uint64_t cursor, int events) {
    Commit c;
    c.cursor_kind = CursorKind::kProcessed;
    c.cursor = record(RecordKind::kProcessed, wire::encode_value(cursor));
    for (int i = 0; i < events; ++i) c.records.push_back(record(RecordKind::kEvent, "e" + std::to_string(cursor)));
    return c;
  }
  static Commit snapshot(std::string state) {
    Commit c;
    c.cursor_kind = CursorKind::kSnapshot;
    c.cursor = record(RecordKind::kSnapshot, std::move(state));
    return c;
  }
  // Submits `c`; the future holds what its callback got.
  std::future<Result<CommitLsns>> submit(Commit c) {
    auto p = std::make_shared<std::promise<Result<CommitLsns>>>();
    std::future<Result<CommitLsns>> f = p->get_future();
    pipeline_->submit(std::move(c), [p](Result<CommitLsns> r) { p->set_value(std::move(r)); });
    return f;
  }
  static Result<CommitLsns> get(std::future<Result<CommitLsns>>& f) {
    if (f.wait_for(kWait) != std::future_status::ready) return Status::timeout("test wait expired");
    return f.get();
  }
  std::vector<Record> records() {
    std::vector<Record> out;
    EXPECT_TRUE(journal_->scan_owner(kOwner, 1, [&](const Record& r) {
      out.push_back(r);
      return true;
    }).is_ok());
    return out;
  }

  static constexpr const char* kOwner = "actor/p";
  std::string dir_;
  std::unique_ptr<HeldJournal> journal_;
  std::shared_ptr<CommitPipeline> pipeline_;
};

TEST_F(CommitPipelineTest, CommitsLandInOrderAtTheLsnsTheyReport) {
  auto a = submit(processed(1, 2));
  auto b = submit(processed(2, 1));
  Result<CommitLsns> ra = get(a), rb = get(b);
  ASSERT_TRUE(ra.is_ok() && rb.is_ok()) << ra.status() << rb.status();
  std::vector<Record> all = records();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].kind, RecordKind::kProcessed);
  EXPECT_EQ(all[1].lsn, ra->records);
  EXPECT_EQ(all[1].payload, "e1");
  EXPECT_EQ(all[4].lsn, rb->records);
  EXPECT_EQ(all[4].payload, "e2");
  EXPECT_EQ(ra->inbox, kNoLsn);
}

TEST_F(CommitPipelineTest, AnInboxRecordAndItsMarkComeFirst) {
  Commit c = processed(0, 1);
  c.cursor_kind = CursorKind::kNone;
  c.cursor.reset();
  c.inbox = record(RecordKind::kInbox, "envelope");
  auto f = submit(std::move(c));
  Result<CommitLsns> r = get(f);
  ASSERT_TRUE(r.is_ok()) << r.status();
  std::vector<Record> all = records();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].kind, RecordKind::kInbox);
  EXPECT_EQ(all[0].lsn, r->inbox);
  EXPECT_EQ(all[1].kind, RecordKind::kProcessed);  // the mark
  EXPECT_EQ(wire::decode_value<std::uint64_t>(all[1].payload).value(), 0u);
  EXPECT_EQ(all[2].lsn, r->records);
}

TEST_F(CommitPipelineTest, TwoWritesGoToTheJournalAtOnce) {
  journal_->hold();
  auto a = submit(processed(1, 1));
  auto b = submit(processed(2, 1));  // beside a, not behind it
  auto c = submit(processed(3, 1));  // waits for one of them
  EXPECT_EQ(journal_->held(), 2u);
  journal_->release();
  ASSERT_TRUE(get(a).is_ok() && get(b).is_ok() && get(c).is_ok());
  EXPECT_EQ(records().size(), 6u);
}

TEST_F(CommitPipelineTest, CommitsWaitingForAWriteGoTogetherWithoutTheSupersededCursor) {
  journal_->hold();
  auto a = submit(processed(1, 1));  // in flight, held
  auto b = submit(processed(2, 1));  // in flight, held
  auto c = submit(processed(3, 1));  // waiting
  auto d = submit(processed(4, 1));  // waiting: supersedes c's cursor
  journal_->release();
  Result<CommitLsns> ra = get(a), rb = get(b), rc = get(c), rd = get(d);
  ASSERT_TRUE(ra.is_ok() && rb.is_ok() && rc.is_ok() && rd.is_ok());
  std::vector<Record> all = records();
  std::vector<std::string> payloads;
  for (const Record& r : all) {
    payloads.push_back(r.kind == RecordKind::kProcessed
                           ? "P" + std::to_string(wire::decode_value<std::uint64_t>(r.payload).value())
                           : r.payload);
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"P1", "e1", "P2", "e2", "e3", "P4", "e4"}));
  EXPECT_EQ(all[4].lsn, rc->records);
  EXPECT_EQ(all[6].lsn, rd->records);
}

TEST_F(CommitPipelineTest, ALaterProcessedCursorKeepsTheSnapshotItBuildsOn) {
  journal_->hold();
  auto a0 = submit(processed(0, 0));
  auto a = submit(processed(1, 0));
  auto b = submit(snapshot("s1"));
  auto c = submit(processed(2, 0));  // replays from b's snapshot: b stays
  journal_->release();
  ASSERT_TRUE(get(a0).is_ok() && get(a).is_ok() && get(b).is_ok() && get(c).is_ok());
  std::vector<RecordKind> kinds;
  for (const Record& r : records()) kinds.push_back(r.kind);
  EXPECT_EQ(kinds, (std::vector<RecordKind>{RecordKind::kProcessed, RecordKind::kProcessed, RecordKind::kSnapshot,
                                            RecordKind::kProcessed}));
}

TEST_F(CommitPipelineTest, ALaterSnapshotSupersedesEarlierCursorsOfAllKinds) {
  journal_->hold();
  auto a0 = submit(processed(0, 0));
  auto a = submit(processed(1, 0));
  auto b = submit(snapshot("s1"));
  auto c = submit(processed(2, 0));
  auto d = submit(snapshot("s2"));
  journal_->release();
  ASSERT_TRUE(get(a0).is_ok() && get(a).is_ok() && get(b).is_ok() && get(c).is_ok() && get(d).is_ok());
  std::vector<Record> all = records();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].kind, RecordKind::kProcessed);
  EXPECT_EQ(all[2].kind, RecordKind::kSnapshot);
  EXPECT_EQ(all[2].payload, "s2");
}

TEST_F(CommitPipelineTest, AfterAFailedWriteLaterCommitsFailUnwrittenUntilWaitIdle) {
  journal_->fence(kOwner, Status::io_error("disk full"));
  auto a = submit(processed(1, 1));
  EXPECT_EQ(get(a).status().code(), StatusCode::kIoError);
  journal_->unfence(kOwner);
  auto b = submit(processed(2, 1));
  Result<CommitLsns> rb = get(b);
  EXPECT_EQ(rb.status().code(), StatusCode::kIoError);
  EXPECT_NE(rb.status().message().find("not written"), std::string_view::npos) << rb.status();
  EXPECT_TRUE(records().empty());
  pipeline_->wait_idle();
  EXPECT_TRUE(pipeline_->failure().is_ok());
  auto c = submit(processed(3, 1));
  EXPECT_TRUE(get(c).is_ok());
  EXPECT_EQ(records().size(), 2u);
}

TEST_F(CommitPipelineTest, WithOnFailureContinueAFailedWriteFailsOnlyItsOwnCommits) {
  auto accepts = CommitPipeline::create(*journal_, kOwner, OnFailure::kContinue);
  auto submit_to = [&](Commit c) {
    auto p = std::make_shared<std::promise<Result<CommitLsns>>>();
    std::future<Result<CommitLsns>> f = p->get_future();
    accepts->submit(std::move(c), [p](Result<CommitLsns> r) { p->set_value(std::move(r)); });
    return f;
  };
  journal_->fence(kOwner, Status::io_error("disk full"));
  auto a = submit_to(processed(1, 1));
  EXPECT_EQ(get(a).status().code(), StatusCode::kIoError);
  journal_->unfence(kOwner);
  auto b = submit_to(processed(2, 1));  // written: nothing sticks
  Result<CommitLsns> rb = get(b);
  ASSERT_TRUE(rb.is_ok()) << rb.status();
  EXPECT_TRUE(accepts->failure().is_ok());
  std::vector<Record> all = records();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].lsn, rb->records);
}

TEST_F(CommitPipelineTest, ALostOwnershipStaysLostAfterWaitIdle) {
  journal_->hold();
  journal_->fence(kOwner);
  auto a = submit(processed(1, 1));
  auto b = submit(processed(2, 1));  // waiting behind the refused write
  journal_->release();
  EXPECT_EQ(get(a).status().code(), StatusCode::kOwnershipLost);
  EXPECT_EQ(get(b).status().code(), StatusCode::kOwnershipLost);
  pipeline_->wait_idle();
  journal_->unfence(kOwner);
  auto c = submit(processed(3, 1));
  EXPECT_EQ(get(c).status().code(), StatusCode::kOwnershipLost);
  EXPECT_EQ(pipeline_->failure().code(), StatusCode::kOwnershipLost);
  EXPECT_TRUE(records().empty());
}

}  // namespace
}  // namespace keel::detail
