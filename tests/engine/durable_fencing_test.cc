// Fenced commits: once the journal refuses a durable actor's commit with
// kOwnershipLost (another writer owns it now), the actor stops at once
// without a restart, its waiting askers fail with that code, and nothing of
// the refused batch is released. Both journal backends.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "keel/engine/durable.h"
#include "support/durable_fixture.h"
#include "support/fencing_journal.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;

struct Tally {
  std::int64_t total = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Tally::total>("total"));
};

class Counter : public DurableActor<Tally> {
 public:
  std::int64_t add(std::int64_t n) { return state().total += n; }
  std::int64_t total() const { return state().total; }
  // Adds `n` here and tells the counter under `to` to add it too, with this
  // handler's commit.
  Status forward(std::string to, std::int64_t n) {
    KEEL_ASSIGN_OR_RETURN(ActorRef<Counter> dest, system().lookup<Counter>(to));
    state().total += n;
    dest.tell<&Counter::add>(n);
    return Status::ok();
  }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Counter::add>("add"), keel::handler<&Counter::total>("total"),
                     keel::handler<&Counter::forward>("forward"));
};

class DurableFencingTest : public testing::FencedDurableTest {
 protected:
  std::size_t records_of(const std::string& owner) {
    std::size_t n = 0;
    EXPECT_TRUE(journal_->scan_owner(owner, 1, [&](const Record&) {
      ++n;
      return true;
    }).is_ok());
    return n;
  }
};

TEST_P(DurableFencingTest, AFencedCommitStopsTheActorAndFailsItsAskerWithOwnershipLost) {
  System system(fenced_config());
  auto c = system.spawn_durable<Counter>("c").value();
  ASSERT_EQ(await(c.ask<&Counter::add>(5)).value(), 5);
  Future<Down> down = system.watch(c);
  const std::size_t before = records_of("actor/c");
  fencing_->fence("actor/c");

  auto refused = await(c.ask<&Counter::add>(7));
  EXPECT_EQ(refused.status().code(), StatusCode::kOwnershipLost) << refused.status();
  auto gone = await(std::move(down));
  ASSERT_TRUE(gone.is_ok());
  EXPECT_EQ(gone->reason.code(), StatusCode::kOwnershipLost) << gone->reason;
  EXPECT_EQ(records_of("actor/c"), before);
  EXPECT_GE(fencing_->refused(), 1);
  // Stopped, not restarted: nothing more is handled.
  EXPECT_EQ(await(c.ask<&Counter::total>()).status().code(), StatusCode::kNotFound);
}

TEST_P(DurableFencingTest, TheSendsOfARefusedCommitAreNotReleased) {
  System system(fenced_config());
  auto src = system.spawn_durable<Counter>("src").value();
  auto dst = system.spawn_durable<Counter>("dst").value();
  ASSERT_TRUE(await(src.ask<&Counter::forward>(std::string("dst"), 1)).is_ok());
  ASSERT_TRUE(await(dst.tell_durable<&Counter::total>()).is_ok());
  ASSERT_EQ(await(dst.ask<&Counter::total>()).value(), 1);
  Future<Down> down = system.watch(src);
  const std::size_t dst_records = records_of("actor/dst");
  fencing_->fence("actor/src");

  EXPECT_EQ(await(src.ask<&Counter::forward>(std::string("dst"), 10)).code(), StatusCode::kOwnershipLost);
  ASSERT_TRUE(await(std::move(down)).is_ok());
  // dst never saw the second forward: its INBOX record was in the refused batch.
  EXPECT_EQ(records_of("actor/dst"), dst_records);
  EXPECT_EQ(await(dst.ask<&Counter::total>()).value(), 1);
}

TEST_P(DurableFencingTest, AFencedAcceptanceFailsTheSenderAndStopsTheActor) {
  System system(fenced_config());
  auto c = system.spawn_durable<Counter>("acc").value();
  ASSERT_EQ(await(c.ask<&Counter::add>(1)).value(), 1);
  Future<Down> down = system.watch(c);
  fencing_->fence("actor/acc");

  // tell_durable journals the message on its own first: that append is refused.
  Status accepted = await(c.tell_durable<&Counter::add>(2));
  EXPECT_EQ(accepted.code(), StatusCode::kOwnershipLost) << accepted;
  auto gone = await(std::move(down));
  ASSERT_TRUE(gone.is_ok());
  EXPECT_EQ(gone->reason.code(), StatusCode::kOwnershipLost);
}

TEST_P(DurableFencingTest, TheJournalStillHoldsWhatWasCommittedBeforeTheFence) {
  {
    System system(fenced_config());
    auto c = system.spawn_durable<Counter>("kept").value();
    ASSERT_EQ(await(c.ask<&Counter::add>(3)).value(), 3);
    fencing_->fence("actor/kept");
    EXPECT_EQ(await(c.ask<&Counter::add>(4)).status().code(), StatusCode::kOwnershipLost);
  }
  // The new owner (here: a system on the unfenced journal) takes it over
  // from what is durable.
  System system(config());
  auto c = system.spawn_durable<Counter>("kept").value();
  EXPECT_EQ(await(c.ask<&Counter::total>()).value(), 3);
}

// A copy of an idempotent message that arrives while the commit of its
// first copy is in flight is not answered "applied already" before that
// commit is durable: the commit fails here, and the copy fails with it, so
// its sender sends it again; the third copy is applied, once.
TEST_P(DurableFencingTest, ACopyOfAMessageIsNotAnsweredAppliedBeforeTheFirstCopysCommitIsDurable) {
  System system(fenced_config());
  auto c = system.spawn_durable<Counter>("c").value();
  ASSERT_EQ(await(c.ask<&Counter::add>(1)).value(), 1);
  AskOptions once;
  once.id = MessageId{7, 7};
  fencing_->hold("actor/c");
  Future<std::int64_t> first = c.ask_with<&Counter::add>(once, 5);
  ASSERT_TRUE(fencing_->wait_held(1));
  Future<std::int64_t> copy = c.ask_with<&Counter::add>(once, 5);
  EXPECT_TRUE(fencing_->wait_held(2)) << "the copy's answer waits behind the first copy's commit";
  fencing_->fail_held(Status::io_error("the disk went away"));
  EXPECT_EQ(await(std::move(first)).status().code(), StatusCode::kIoError);
  Result<std::int64_t> copied = await(std::move(copy));
  ASSERT_FALSE(copied.has_value());
  EXPECT_NE(copied.status().code(), StatusCode::kAlreadyExists) << copied.status();
  // Rebuilt from the journal, the actor applies the message once.
  Result<std::int64_t> third = await(c.ask_with<&Counter::add>(once, 5));
  ASSERT_TRUE(third.has_value()) << third.status();
  EXPECT_EQ(*third, 6);
  EXPECT_EQ(await(c.ask_with<&Counter::add>(once, 5)).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(await(c.ask<&Counter::total>()).value(), 6);
}

INSTANTIATE_TEST_SUITE_P(Backends, DurableFencingTest, KEEL_DURABLE_BACKENDS,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace keel
