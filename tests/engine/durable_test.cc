// Durable actors: state and unhandled messages survive a restart of the
// System on the same journal, effects are released only after their commit,
// failed messages are retried and then given up. Both journal backends.
#include "keel/engine/durable.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "keel/journal/format.h"
#include "support/durable_fixture.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::system_config;

struct Balance {
  std::int64_t cents = 0;
  std::int64_t deposits = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Balance::cents>("cents"),
                                               keel::field<&Balance::deposits>("deposits"));
};

class Account : public DurableActor<Balance> {
 public:
  void deposit(std::int64_t c) {
    state().cents += c;
    ++state().deposits;
  }
  std::int64_t balance() const { return state().cents; }
  std::int64_t deposits() const { return state().deposits; }
  // Moves `c` to the account under `to`, atomically with this handler's commit.
  Status transfer(std::string to, std::int64_t c) {
    if (state().cents < c) return Status::failed_precondition("insufficient funds");
    KEEL_ASSIGN_OR_RETURN(ActorRef<Account> dest, system().lookup<Account>(to));
    state().cents -= c;
    dest.tell<&Account::deposit>(c);
    return Status::ok();
  }
  // Changes the state, then fails: the change must not survive.
  void deposit_then_fail(std::int64_t c) {
    state().cents += c;
    throw std::runtime_error("failed after changing the state");
  }
  static constexpr auto kHandlers = keel::handlers(
      keel::handler<&Account::deposit>("deposit"), keel::handler<&Account::balance>("balance"),
      keel::handler<&Account::deposits>("deposits"), keel::handler<&Account::transfer>("transfer"),
      keel::handler<&Account::deposit_then_fail>("deposit_then_fail"));
};

struct Rings {
  std::int64_t rung = 0;
  std::uint64_t pending = 0;
  static constexpr auto kFields =
      keel::fields(keel::field<&Rings::rung>("rung"), keel::field<&Rings::pending>("pending"));
};

class Reminder : public DurableActor<Rings> {
 public:
  Status arm(std::int64_t seconds, std::int64_t amount) {
    KEEL_ASSIGN_OR_RETURN(state().pending,
                          schedule_durable<&Reminder::ring>(std::chrono::seconds(seconds), amount));
    return Status::ok();
  }
  bool disarm() { return cancel_durable(state().pending); }
  void ring(std::int64_t amount) { state().rung += amount; }
  std::int64_t rung() const { return state().rung; }
  void crash() { throw std::runtime_error("crash"); }
  static constexpr auto kHandlers = keel::handlers(
      keel::handler<&Reminder::arm>("arm"), keel::handler<&Reminder::disarm>("disarm"),
      keel::handler<&Reminder::ring>("ring"), keel::handler<&Reminder::rung>("rung"),
      keel::handler<&Reminder::crash>("crash"));
};

class DurableTest : public testing::DurableJournalTest {
 protected:
  std::size_t count(RecordKind kind, const std::string& owner) {
    std::size_t n = 0;
    Status s = journal_->scan_owner(owner, 1, [&](const Record& r) {
      n += r.kind == kind;
      return true;
    });
    EXPECT_TRUE(s.is_ok()) << s;
    return n;
  }
  // PROCESSED records that move the cursor, leaving out the marks (cursor
  // 0) of messages journaled with their handling.
  std::size_t cursors(const std::string& owner) {
    std::size_t n = 0;
    Status s = journal_->scan_owner(owner, 1, [&](const Record& r) {
      n += r.kind == RecordKind::kProcessed && wire::decode_value<std::uint64_t>(r.payload).value_or(0) != 0;
      return true;
    });
    EXPECT_TRUE(s.is_ok()) << s;
    return n;
  }
};

TEST_P(DurableTest, StateSurvivesARestartOfTheSystem) {
  {
    System system(config());
    auto acct = system.spawn_durable<Account>("acct-1").value();
    for (int i = 1; i <= 10; ++i) acct.tell<&Account::deposit>(i);
    EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 55);
  }
  reopen();
  System system(config());
  auto acct = system.spawn_durable<Account>("acct-1").value();
  EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 55);
  EXPECT_EQ(await(acct.ask<&Account::deposits>()).value(), 10);
}

TEST_P(DurableTest, AcceptedButUnhandledMessagesAreDeliveredAfterARestart) {
  {
    System system(config(/*threads=*/0));  // nothing is handled
    auto acct = system.spawn_durable<Account>("acct-2").value();
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(await(acct.tell_durable<&Account::deposit>(100)).is_ok());
    EXPECT_EQ(count(RecordKind::kInbox, actor_owner("acct-2")), 3u);
  }
  reopen();
  System system(config());
  auto acct = system.spawn_durable<Account>("acct-2").value();
  EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 300);
}

TEST_P(DurableTest, AReplyIsReleasedOnlyAfterItsCommit) {
  System system(config());
  auto acct = system.spawn_durable<Account>("acct-3").value();
  acct.tell<&Account::deposit>(7);
  ASSERT_EQ(await(acct.ask<&Account::balance>()).value(), 7);
  // Both handled messages (the deposit and the ask) committed their cursor.
  EXPECT_EQ(count(RecordKind::kSnapshot, actor_owner("acct-3")), 2u);
}

TEST_P(DurableTest, TransferMovesMoneyWithTheSendersCommit) {
  {
    System system(config());
    auto a = system.spawn_durable<Account>("a").value();
    auto b = system.spawn_durable<Account>("b").value();
    a.tell<&Account::deposit>(100);
    EXPECT_TRUE(await(a.ask<&Account::transfer>(std::string("b"), 30)).is_ok());
    EXPECT_EQ(await(a.ask<&Account::transfer>(std::string("b"), 500)).code(),
              StatusCode::kFailedPrecondition);
    // b's deposit was journaled in a's batch; wait for b to handle it.
    EXPECT_TRUE(await(b.tell_durable<&Account::deposits>()).is_ok());
    EXPECT_EQ(await(b.ask<&Account::balance>()).value(), 30);
  }
  reopen();
  System system(config());
  auto a = system.spawn_durable<Account>("a").value();
  auto b = system.spawn_durable<Account>("b").value();
  EXPECT_EQ(await(a.ask<&Account::balance>()).value(), 70);
  EXPECT_EQ(await(b.ask<&Account::balance>()).value(), 30);
}

TEST_P(DurableTest, AFailedHandlersChangesAreDiscardedAndItIsGivenUpAfterMaxAttempts) {
  System system(config());
  DurableOptions opts;
  opts.max_attempts = 2;
  auto acct = system.spawn_durable_with<Account>("acct-4", opts).value();
  acct.tell<&Account::deposit>(5);
  auto failing = acct.ask<&Account::deposit_then_fail>(1000);
  EXPECT_EQ(await(std::move(failing)).code(), StatusCode::kInternal);
  // The restarted actor is rebuilt from the journal, retries once more, then
  // gives the message up; later messages are handled as usual. Messages to a
  // durable actor address the actor, not an incarnation, so the first ref
  // still works after the restarts.
  EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 5);
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::kFailed), 1u);
  EXPECT_EQ(await(acct.ask<&Account::deposits>()).value(), 1);
}

TEST_P(DurableTest, SnapshotsEveryNMessagesReplayTheRestOnRecovery) {
  DurableOptions opts;
  opts.snapshot_every = 4;
  {
    System system(config());
    auto acct = system.spawn_durable_with<Account>("acct-5", opts).value();
    for (int i = 0; i < 10; ++i) acct.tell<&Account::deposit>(1);
    EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 10);
    // A SNAPSHOT after messages 4 and 8, a PROCESSED cursor for the other 9
    // of 11; but a cursor record that waited for an earlier commit of the
    // actor and went out in one write with a later one it supersedes is
    // dropped (a PROCESSED by any later cursor, a SNAPSHOT by a later one).
    // A message an idle actor journaled with its handling has a mark
    // instead of a cursor, which these counts leave out.
    const std::size_t snapshots = count(RecordKind::kSnapshot, actor_owner("acct-5"));
    EXPECT_GE(snapshots, 1u);
    EXPECT_LE(snapshots, 2u);
    EXPECT_LE(cursors(actor_owner("acct-5")), 9u);
  }
  reopen();
  System system(config());
  auto acct = system.spawn_durable_with<Account>("acct-5", opts).value();
  EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 10);
  EXPECT_EQ(await(acct.ask<&Account::deposits>()).value(), 10);
}

TEST_P(DurableTest, SpawningALiveKeyFailsAndNeedsAJournal) {
  System system(config());
  ASSERT_TRUE(system.spawn_durable<Account>("acct-6").is_ok());
  EXPECT_EQ(system.spawn_durable<Account>("acct-6").status().code(), StatusCode::kAlreadyExists);
  System bare(system_config(1));
  EXPECT_EQ(bare.spawn_durable<Account>("acct-7").status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(DurableTest, ACorruptInboxRecordFailsTheSpawnNamingItsLsn) {
  {
    System system(config(/*threads=*/0));
    auto acct = system.spawn_durable<Account>("acct-8").value();
    EXPECT_TRUE(await(acct.tell_durable<&Account::deposit>(1)).is_ok());
  }
  // An INBOX record whose envelope is not an envelope.
  std::vector<NewRecord> bad;
  bad.push_back(NewRecord{actor_owner("acct-8"), RecordKind::kInbox, "not an envelope"});
  auto lsn = journal_->append(std::move(bad));
  ASSERT_TRUE(lsn.is_ok());
  System system(config());
  auto r = system.spawn_durable<Account>("acct-8");
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("lsn " + std::to_string(lsn->first)), std::string::npos)
      << r.status();
  // Told to, recovery skips the damaged record, says so, and goes on.
  std::vector<std::string> lines;
  SystemConfig c = config();
  c.log = [&](std::string_view line) { lines.emplace_back(line); };
  System told(c);
  DurableOptions opts;
  opts.skip_corrupt = true;
  auto acct = told.spawn_durable_with<Account>("acct-8", opts);
  ASSERT_TRUE(acct.is_ok()) << acct.status();
  EXPECT_EQ(await(acct->ask<&Account::balance>()).value(), 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("lsn " + std::to_string(lsn->first)), std::string::npos) << lines[0];
}

TEST_P(DurableTest, AGroupRecoversItsMembersBeforeAnyRuns) {
  DurableOptions opts;
  opts.snapshot_every = 3;  // recovery replays handlers and reads snapshots
  {
    System system(config());
    DurableGroup group(system);
    std::vector<ActorRef<Account>> accts;
    for (int i = 0; i < 5; ++i) accts.push_back(group.add_with<Account>("g-" + std::to_string(i), opts).value());
    ASSERT_TRUE(group.start().is_ok());
    for (int i = 0; i < 5; ++i) {
      for (int k = 0; k <= i * 4; ++k) accts[static_cast<std::size_t>(i)].tell<&Account::deposit>(10);
    }
    for (auto& a : accts) EXPECT_TRUE(await(a.ask<&Account::deposits>()).is_ok());
  }
  {
    System system(config(/*threads=*/0));  // accepted, not handled: a transfer from g-0 to g-4
    auto a = system.spawn_durable_with<Account>("g-0", opts).value();
    EXPECT_TRUE(await(a.tell_durable<&Account::transfer>(std::string("g-4"), 5)).is_ok());
    EXPECT_TRUE(system.shutdown(ShutdownMode::kStop).is_ok());  // no drain: it stays unhandled
  }
  reopen();
  System system(config());
  DurableGroup group(system);
  std::vector<ActorRef<Account>> accts;
  for (int i = 0; i < 5; ++i) accts.push_back(group.add_with<Account>("g-" + std::to_string(i), opts).value());
  // Held until start(), then handled after the recovered messages.
  accts[4].tell<&Account::deposit>(1000);
  EXPECT_EQ(system.lookup<Account>("g-1").status().code(), StatusCode::kNotFound);  // not started
  EXPECT_EQ(system.spawn_durable<Account>("g-1").status().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(group.start().is_ok());
  // g-0's redelivered transfer found g-4, a member, though g-4 was added later.
  EXPECT_EQ(await(accts[0].ask<&Account::balance>()).value(), 5);
  EXPECT_EQ(await(accts[4].tell_durable<&Account::deposits>()).code(), StatusCode::kOk);
  EXPECT_EQ(await(accts[4].ask<&Account::balance>()).value(), 17 * 10 + 5 + 1000);
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(await(accts[static_cast<std::size_t>(i)].ask<&Account::balance>()).value(), (i * 4 + 1) * 10);
  }
  EXPECT_TRUE(system.lookup<Account>("g-1").is_ok());
}

TEST_P(DurableTest, AGroupWhoseJournalIsDamagedStartsNone) {
  {
    System system(config());
    auto a = system.spawn_durable<Account>("d-1").value();
    auto b = system.spawn_durable<Account>("d-2").value();
    EXPECT_TRUE(await(a.tell_durable<&Account::deposit>(1)).is_ok());
    EXPECT_TRUE(await(b.tell_durable<&Account::deposit>(2)).is_ok());
    EXPECT_TRUE(await(b.ask<&Account::balance>()).is_ok());
  }
  std::vector<NewRecord> bad;
  bad.push_back(NewRecord{actor_owner("d-2"), RecordKind::kInbox, "not an envelope"});
  auto lsn = journal_->append(std::move(bad));
  ASSERT_TRUE(lsn.is_ok());
  System system(config());
  {
    DurableGroup group(system);
    auto a = group.add<Account>("d-1").value();
    ASSERT_TRUE(group.add<Account>("d-2").is_ok());
    Status st = group.start();
    EXPECT_EQ(st.code(), StatusCode::kCorruption);
    EXPECT_NE(st.message().find("lsn " + std::to_string(lsn->first)), std::string::npos) << st;
    EXPECT_EQ(await(a.ask<&Account::balance>()).status().code(), StatusCode::kNotFound);  // stopped
  }
  // Nothing was lost: alone, and told to skip the damage, both recover.
  auto a = system.spawn_durable<Account>("d-1").value();
  EXPECT_EQ(await(a.ask<&Account::balance>()).value(), 1);
  DurableOptions skip;
  skip.skip_corrupt = true;
  DurableGroup group(system);
  auto b = group.add_with<Account>("d-2", skip).value();
  ASSERT_TRUE(group.start().is_ok());
  EXPECT_EQ(await(b.ask<&Account::balance>()).value(), 2);
}

TEST_P(DurableTest, AGroupNotStartedExplicitlyStartsWhenDestroyed) {
  System system(config());
  ActorRef<Account> a;
  {
    DurableGroup group(system);
    a = group.add<Account>("late").value();
    a.tell<&Account::deposit>(3);
  }
  EXPECT_EQ(await(a.ask<&Account::balance>()).value(), 3);
}

TEST_P(DurableTest, AMessageIdIsAppliedOnceAcrossRetriesAndRestarts) {
  for (std::uint32_t every : {1u, 10u}) {  // from the snapshot, and rebuilt by replay
    SCOPED_TRACE("snapshot_every " + std::to_string(every));
    const std::string key = "idem-" + std::to_string(every);
    DurableOptions opts;
    opts.snapshot_every = every;
    SendOptions first{.id = {7, 1}};
    AskOptions again{.id = {7, 1}};
    {
      System system(config());
      auto acct = system.spawn_durable_with<Account>(key, opts).value();
      EXPECT_TRUE(await(acct.tell_durable_with<&Account::deposit>(first, 100)).is_ok());
      // A retry with the same id is accepted (journaled) but not applied.
      EXPECT_TRUE(await(acct.tell_durable_with<&Account::deposit>(first, 100)).is_ok());
      EXPECT_EQ(await(acct.ask_with<&Account::deposit>(again, 100)).code(), StatusCode::kAlreadyExists);
      acct.tell<&Account::deposit>(1);  // no id: always applied
      acct.tell<&Account::deposit>(1);
      EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 102);
    }
    reopen();
    System system(config());
    auto acct = system.spawn_durable_with<Account>(key, opts).value();
    EXPECT_EQ(await(acct.ask_with<&Account::deposit>(again, 100)).code(), StatusCode::kAlreadyExists);
    EXPECT_TRUE(await(acct.ask_with<&Account::deposit>(AskOptions{.id = {7, 2}}, 5)).is_ok());
    EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 107);
    EXPECT_EQ(await(acct.ask<&Account::deposits>()).value(), 4);
  }
}

TEST_P(DurableTest, TheOldestMessageIdsAreForgottenPastTheWindow) {
  DurableOptions opts;
  opts.dedupe_window = 2;
  System system(config());
  auto acct = system.spawn_durable_with<Account>("window", opts).value();
  for (std::uint64_t id : {1, 2, 3}) {
    EXPECT_TRUE(await(acct.ask_with<&Account::deposit>(AskOptions{.id = {0, id}}, 1)).is_ok());
  }
  EXPECT_EQ(await(acct.ask_with<&Account::deposit>(AskOptions{.id = {0, 3}}, 1)).code(),
            StatusCode::kAlreadyExists);
  EXPECT_TRUE(await(acct.ask_with<&Account::deposit>(AskOptions{.id = {0, 1}}, 1)).is_ok());  // forgotten
  EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), 4);
}

TEST_P(DurableTest, DrainHandlesTheMessagesThatCommitsRelease) {
  System system(config());
  auto a = system.spawn_durable<Account>("a").value();
  auto b = system.spawn_durable<Account>("b").value();
  a.tell<&Account::deposit>(100);
  a.tell<&Account::transfer>(std::string("b"), 40);
  // The transfer's commit releases b's deposit after a's turn has ended: a
  // drain that waited only for idle actors would stop b before it ran.
  ASSERT_TRUE(system.shutdown(ShutdownMode::kDrain).is_ok());
  EXPECT_EQ(system.dead_letters().total(), 0u);
  EXPECT_EQ(count(RecordKind::kSnapshot, actor_owner("b")), 1u);
}

TEST_P(DurableTest, DefaultCompactionKeepsTheJournalBoundedAndRecoveryGivesTheSameState) {
  const DurableOptions opts;  // the defaults
  ASSERT_GT(opts.compact_every, 0u);
  ASSERT_EQ(opts.snapshot_every, 1u);
  // Rounds of `per_round` deposits, then an ask that waits for their
  // commits: at most per_round + 1 messages are handled but not durable
  // when a compaction runs.
  const std::int64_t per_round = opts.compact_every;
  const std::int64_t rounds = 20;
  {
    System system(config());
    auto acct = system.spawn_durable<Account>("acct-9").value();
    for (std::int64_t round = 1; round <= rounds; ++round) {
      for (std::int64_t i = 0; i < per_round; ++i) acct.tell<&Account::deposit>(1);
      ASSERT_EQ(await(acct.ask<&Account::balance>()).value(), per_round * round);
    }
  }
  // Each message leaves two records of the owner (INBOX, SNAPSHOT). What is
  // kept: the messages since the cursor the last compaction used, that is
  // at most compact_every snapshots plus the messages not yet durable then.
  const std::uint64_t bound = 2 * (opts.compact_every + (per_round + 1) + 1);
  const std::uint64_t handled = static_cast<std::uint64_t>(rounds * (per_round + 1));
  std::uint64_t stored = 0;
  ASSERT_TRUE(journal_->scan_owner(actor_owner("acct-9"), 1, [&](const Record&) { return ++stored, true; }).is_ok());
  EXPECT_LE(stored, bound) << "of " << 2 * handled << " records written";
  auto owners = journal_->owners();
  ASSERT_TRUE(owners.is_ok()) << owners.status();
  ASSERT_EQ(owners->size(), 1u);
  EXPECT_EQ((*owners)[0].records, stored);
  EXPECT_GT((*owners)[0].first_seq, 1u);
  auto stats = journal_->stats();
  ASSERT_TRUE(stats.is_ok()) << stats.status();
  EXPECT_EQ(stats->records, stored);
  std::vector<JournalProblem> problems;
  ASSERT_TRUE(journal_->verify([&](const JournalProblem& p) { problems.push_back(p); }).is_ok());
  EXPECT_TRUE(problems.empty()) << problems.front().status;
  reopen();
  System system(config());
  auto acct = system.spawn_durable<Account>("acct-9").value();
  EXPECT_EQ(await(acct.ask<&Account::balance>()).value(), per_round * rounds);
  EXPECT_EQ(await(acct.ask<&Account::deposits>()).value(), per_round * rounds);
}

TEST_P(DurableTest, CompactionOffKeepsEveryRecord) {
  DurableOptions opts;
  opts.compact_every = 0;
  {
    System system(config());
    auto acct = system.spawn_durable_with<Account>("acct-9", opts).value();
    for (int i = 0; i < 300; ++i) acct.tell<&Account::deposit>(1);
    ASSERT_EQ(await(acct.ask<&Account::balance>()).value(), 300);
  }
  EXPECT_EQ(count(RecordKind::kInbox, actor_owner("acct-9")), 301u);
  auto owners = journal_->owners();
  ASSERT_TRUE(owners.is_ok()) << owners.status();
  ASSERT_EQ(owners->size(), 1u);
  EXPECT_EQ((*owners)[0].first_seq, 1u);
}

TEST_P(DurableTest, ADurableTimerFiresAtItsTimeAfterARestart) {
  ManualClock clock;
  SystemConfig c = config(1);
  c.clock = &clock;
  {
    System system(c);
    auto r = system.spawn_durable<Reminder>("r1").value();
    ASSERT_TRUE(await(r.ask<&Reminder::arm>(10, 5)).is_ok());
    EXPECT_EQ(count(RecordKind::kTimer, actor_owner("r1")), 1u);
  }
  reopen();
  c.journal = journal_.get();
  System system(c);
  auto r = system.spawn_durable<Reminder>("r1").value();
  clock.advance(std::chrono::seconds(9));
  EXPECT_EQ(await(r.ask<&Reminder::rung>()).value(), 0);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(await(r.ask<&Reminder::rung>()).value(), 5);
  clock.advance(std::chrono::seconds(100));
  EXPECT_EQ(await(r.ask<&Reminder::rung>()).value(), 5);  // once
}

TEST_P(DurableTest, AnOverdueDurableTimerFiresRightAfterRecovery) {
  ManualClock clock;
  SystemConfig c = config(1);
  c.clock = &clock;
  {
    System system(c);
    auto r = system.spawn_durable<Reminder>("r2").value();
    ASSERT_TRUE(await(r.ask<&Reminder::arm>(10, 3)).is_ok());
  }
  clock.advance(std::chrono::seconds(60));  // the process was down past the timer
  reopen();
  c.journal = journal_.get();
  System system(c);
  auto r = system.spawn_durable<Reminder>("r2").value();
  // The timer fires during recovery; its message is accepted before the ask.
  EXPECT_EQ(await(r.ask<&Reminder::rung>()).value(), 3);
}

TEST_P(DurableTest, ACancelledDurableTimerDoesNotFire) {
  ManualClock clock;
  SystemConfig c = config(1);
  c.clock = &clock;
  System system(c);
  auto r = system.spawn_durable<Reminder>("r3").value();
  ASSERT_TRUE(await(r.ask<&Reminder::arm>(10, 3)).is_ok());
  EXPECT_TRUE(await(r.ask<&Reminder::disarm>()).value());
  clock.advance(std::chrono::seconds(11));
  EXPECT_EQ(await(r.ask<&Reminder::rung>()).value(), 0);
}

TEST_P(DurableTest, ADurableTimerRearmedByARestartStillFiresOnce) {
  ManualClock clock;
  SystemConfig c = config(1);
  c.clock = &clock;
  System system(c);
  auto r = system.spawn_durable<Reminder>("r4").value();
  ASSERT_TRUE(await(r.ask<&Reminder::arm>(10, 4)).is_ok());
  // A supervisor restart rebuilds the actor and arms its pending timer again
  // beside the one armed before: both fire, one message is handled.
  EXPECT_EQ(await(r.ask<&Reminder::crash>()).code(), StatusCode::kInternal);
  EXPECT_EQ(await(r.ask<&Reminder::rung>()).value(), 0);
  clock.advance(std::chrono::seconds(10));
  EXPECT_EQ(await(r.ask<&Reminder::rung>()).value(), 4);
}

class Auditor : public DurableActor<Balance> {
 public:
  // Asks another account for its balance and records it in its own turn.
  void audit(std::string account) {
    auto other = system().lookup<Account>(account);
    if (!other) return;
    continue_with(other->ask<&Account::balance>(), [this](Result<std::int64_t> r) {
      if (r) state().cents = *r;
    });
  }
  // Replies through a future the handler returns.
  Future<std::int64_t> later() { return Future<std::int64_t>::ready(state().cents); }
  std::int64_t seen() const { return state().cents; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Auditor::audit>("audit"),
                                                   keel::handler<&Auditor::later>("later"),
                                                   keel::handler<&Auditor::seen>("seen"));
};

TEST_P(DurableTest, ContinuationsRunInADurableActorsTurn) {
  System system(config());
  auto acct = system.spawn_durable<Account>("acct-10").value();
  auto auditor = system.spawn_durable<Auditor>("auditor").value();
  acct.tell<&Account::deposit>(12);
  ASSERT_EQ(await(acct.ask<&Account::balance>()).value(), 12);
  auditor.tell<&Auditor::audit>(std::string("acct-10"));
  // The continuation is not journaled, but it runs: poll through asks.
  for (int i = 0; i < 1000 && await(auditor.ask<&Auditor::seen>()).value() != 12; ++i) {
  }
  EXPECT_EQ(await(auditor.ask<&Auditor::seen>()).value(), 12);
  EXPECT_EQ(system.dead_letters().total(), 0u);
}

TEST_P(DurableTest, AReplyThroughAReturnedFutureWaitsForTheCommit) {
  System system(config());
  auto auditor = system.spawn_durable<Auditor>("auditor-2").value();
  ASSERT_TRUE(await(auditor.ask<&Auditor::later>()).is_ok());
  // The handled ask's snapshot is in the journal once its reply arrived.
  EXPECT_EQ(count(RecordKind::kSnapshot, actor_owner("auditor-2")), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, DurableTest, KEEL_DURABLE_BACKENDS,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace keel
