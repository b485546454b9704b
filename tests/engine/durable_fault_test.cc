// Storage faults under durable actors, on both journals: a failed write,
// full disk or failed sync makes the acceptance of a message fail with
// kIoError (nothing accepted, nothing lost) or, when it hits a handler's
// commit, fails the actor, which is rebuilt from the journal and handles the
// message again once the fault clears. Nothing acknowledged is lost across a
// reopen. The faults come from the journal tests' injectors
// (tests/journal/fault_injection.h), through the journal's test-only open
// functions with backend hooks (journal/src/journal_internal.h).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

#include "fault_injection.h"
#include "journal_internal.h"
#include "journal_test_util.h"
#include "keel/engine/durable.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::Fault;
using testing::system_config;

struct Funds {
  std::int64_t cents = 0;
  std::int64_t deposits = 0;
  static constexpr auto kFields =
      keel::fields(keel::field<&Funds::cents>("cents"), keel::field<&Funds::deposits>("deposits"));
};

// Latches a test uses to hold a Vault inside a handler, and to learn of (and
// hold) its restart.
struct Gates {
  testing::CountDown entered{1};  // deposit_at_gate() started
  testing::CountDown open{1};     // deposit_at_gate() may go on
  testing::CountDown entered2{1};
  testing::CountDown open2{1};
  testing::CountDown restarted{1};
  testing::CountDown may_resume{1};
  std::atomic<int> restarts{0};
  Status cause;            // of the first restart; written before `restarted`
};

class Vault : public DurableActor<Funds> {
 public:
  explicit Vault(Gates* gates) : gates_(gates) {}
  void deposit(std::int64_t c) {
    state().cents += c;
    ++state().deposits;
  }
  // Deposits once the test opens the gate (only the first run waits: the
  // gate stays open for a redelivery after a restart).
  void deposit_at_gate(std::int64_t c) {
    gates_->entered.count_down();
    EXPECT_TRUE(gates_->open.wait());
    deposit(c);
  }
  // Moves `c` to the vault under `to`, once the test opens the gate.
  void transfer_at_gate(std::string to, std::int64_t c) {
    gates_->entered.count_down();
    EXPECT_TRUE(gates_->open.wait());
    auto dest = system().lookup<Vault>(to);
    ASSERT_TRUE(dest.is_ok()) << dest.status();
    state().cents -= c;
    dest->tell<&Vault::deposit>(c);
  }
  // Deposits once the test opens the second gate.
  void deposit_at_gate2(std::int64_t c) {
    gates_->entered2.count_down();
    EXPECT_TRUE(gates_->open2.wait());
    deposit(c);
  }
  std::int64_t balance() const { return state().cents; }
  std::int64_t deposits() const { return state().deposits; }
  static constexpr auto kHandlers = keel::handlers(
      keel::handler<&Vault::deposit>("deposit"), keel::handler<&Vault::deposit_at_gate>("deposit_at_gate"),
      keel::handler<&Vault::transfer_at_gate>("transfer_at_gate"),
      keel::handler<&Vault::deposit_at_gate2>("deposit_at_gate2"),
      keel::handler<&Vault::balance>("balance"), keel::handler<&Vault::deposits>("deposits"));

 protected:
  Status on_restart(const Status& cause) override {
    if (gates_->restarts.fetch_add(1) == 0) {
      gates_->cause = cause;
      gates_->restarted.count_down();
    }
    EXPECT_TRUE(gates_->may_resume.wait());
    return Status::ok();
  }

 private:
  Gates* gates_;
};

struct Param {
  const char* backend;
  Fault fault;
  const char* fault_name;
};
void PrintTo(const Param& p, std::ostream* os) { *os << p.backend << "/" << p.fault_name; }

class DurableFaultTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-durable-fault-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + (sqlite() ? "/journal.db" : "/journal");
    if (sqlite()) vfs_ = std::make_unique<testing::FaultySqliteVfs>();
    if (!sqlite()) env_ = std::make_unique<testing::FaultyRocksEnv>();
    open(/*faulty=*/true);
  }
  void TearDown() override {
    journal_.reset();
    env_.reset();
    vfs_.reset();
    std::filesystem::remove_all(dir_);
  }
  bool sqlite() const { return std::string(GetParam().backend) == "sqlite"; }
  void open(bool faulty) {
    journal_.reset();
    internal::BackendHooks hooks;
    if (faulty && sqlite()) hooks.sqlite_vfs = vfs_->name();
    if (faulty && !sqlite()) hooks.rocks_env = env_->env();
    auto j = sqlite() ? internal::open_sqlite_journal(path_, JournalOptions{}, hooks)
                      : internal::open_rocks_journal(path_, JournalOptions{}, hooks);
    ASSERT_TRUE(j.is_ok()) << j.status();
    journal_ = std::move(*j);
  }
  void arm(Fault f) {
    if (vfs_) vfs_->arm(f);
    if (env_) env_->arm(f);
  }
  int failures() const { return vfs_ ? vfs_->failures() : env_->failures(); }
  SystemConfig config() {
    SystemConfig c = system_config(2);
    c.journal = journal_.get();
    c.log = [this](std::string_view line) {
      MutexLock l(log_mu_);
      log_ += std::string(line) + "\n";
    };
    return c;
  }
  // The engine's reports so far (printed when a wait fails).
  std::string log() {
    MutexLock l(log_mu_);
    return log_;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<testing::FaultySqliteVfs> vfs_;
  std::unique_ptr<testing::FaultyRocksEnv> env_;
  std::unique_ptr<Journal> journal_;
  Mutex log_mu_;
  std::string log_ KEEL_GUARDED_BY(log_mu_);
};

TEST_P(DurableFaultTest, AFailedAcceptanceIsAnIoErrorAndTheActorWorksOnceTheFaultClears) {
  Gates gates;
  gates.open.count_down();
  gates.may_resume.count_down();
  {
    System system(config());
    auto v = system.spawn_durable<Vault>("vault-1", &gates).value();
    ASSERT_TRUE(await(v.tell_durable<&Vault::deposit>(10)).is_ok());
    // Replies are released after their commit: the deposit is committed.
    ASSERT_EQ(await(v.ask<&Vault::balance>()).value(), 10);
    arm(GetParam().fault);
    EXPECT_EQ(await(v.tell_durable<&Vault::deposit>(1000)).code(), StatusCode::kIoError);
    EXPECT_EQ(gates.restarts.load(), 0);  // the actor never saw the refused message
    // An ask to the idle actor is journaled with its handling: the handler
    // runs, its commit fails, the asker gets the error and the actor is
    // rebuilt from the journal.
    EXPECT_EQ(await(v.ask<&Vault::balance>()).status().code(), StatusCode::kIoError);
    arm(Fault::kNone);
    EXPECT_GT(failures(), 0);
    Status after = await(v.tell_durable<&Vault::deposit>(5));
    ASSERT_TRUE(after.is_ok()) << after << "; engine log:\n" << log();
    EXPECT_EQ(await(v.ask<&Vault::balance>()).value(), 15);
  }
  open(/*faulty=*/false);
  System system(config());
  auto v = system.spawn_durable<Vault>("vault-1", &gates).value();
  EXPECT_EQ(await(v.ask<&Vault::balance>()).value(), 15);
  EXPECT_EQ(await(v.ask<&Vault::deposits>()).value(), 2);
  Status s = journal_->verify([](const JournalProblem& p) { ADD_FAILURE() << p.status; });
  EXPECT_TRUE(s.is_ok()) << s;
}

TEST_P(DurableFaultTest, AMessageWhoseCommitFailedIsHandledAgainAfterTheRebuild) {
  Gates gates;
  {
    System system(config());
    auto v = system.spawn_durable<Vault>("vault-2", &gates).value();
    ASSERT_TRUE(await(v.tell_durable<&Vault::deposit>(10)).is_ok());
    ASSERT_EQ(await(v.ask<&Vault::balance>()).value(), 10);  // committed
    // An accepted deposit whose handler runs while the disk fails: the
    // handler's commit fails. (One message only: a second failed commit
    // would leave the RocksDB journal unreadable until its next append.)
    ASSERT_TRUE(await(v.tell_durable<&Vault::deposit_at_gate>(100)).is_ok());  // acknowledged
    ASSERT_TRUE(gates.entered.wait());
    arm(GetParam().fault);
    gates.open.count_down();
    ASSERT_TRUE(gates.restarted.wait())
        << "the failed commit did not fail the actor; " << failures() << " injected failures, "
        << system.snapshot().actors.size() << " live actors, "
        << (system.snapshot().actors.empty() ? 0 : system.snapshot().actors[0].restarts)
        << " restarts, engine log:\n" << log();
    EXPECT_EQ(gates.cause.code(), StatusCode::kIoError) << gates.cause;
    arm(Fault::kNone);
    gates.may_resume.count_down();
    // The rebuilt actor handles the deposit again, this time committed.
    EXPECT_EQ(await(v.ask<&Vault::balance>()).value(), 110);
    EXPECT_EQ(await(v.ask<&Vault::deposits>()).value(), 2);
  }
  open(/*faulty=*/false);
  System system(config());
  auto v = system.spawn_durable<Vault>("vault-2", &gates).value();
  EXPECT_EQ(await(v.ask<&Vault::balance>()).value(), 110);
  EXPECT_EQ(await(v.ask<&Vault::deposits>()).value(), 2);
  Status s = journal_->verify([](const JournalProblem& p) { ADD_FAILURE() << p.status; });
  EXPECT_TRUE(s.is_ok()) << s;
}

// A commit that fails must not be overtaken by a later commit of the same
// actor: the later one's cursor would mark the failed message handled (and
// its snapshot would hold the failed handler's changes) while the failed
// message's sends were never journaled.
TEST_P(DurableFaultTest, ACommitAfterAFailedOneDoesNotLoseTheFailedMessagesSends) {
  Gates gates;
  gates.may_resume.count_down();
  {
    System system(config());
    auto a = system.spawn_durable<Vault>("a", &gates).value();
    auto b = system.spawn_durable<Vault>("b", &gates).value();
    ASSERT_TRUE(await(a.tell_durable<&Vault::deposit>(100)).is_ok());
    ASSERT_EQ(await(a.ask<&Vault::balance>()).value(), 100);  // committed
    ASSERT_TRUE(await(a.tell_durable<&Vault::transfer_at_gate>(std::string("b"), 30)).is_ok());
    ASSERT_TRUE(gates.entered.wait());
    ASSERT_TRUE(await(a.tell_durable<&Vault::deposit_at_gate2>(1)).is_ok());
    // The transfer's commit (its debit and b's credit) fails...
    arm(GetParam().fault);
    gates.open.count_down();
    ASSERT_TRUE(gates.entered2.wait());  // the transfer's commit was submitted
    // ...the fault clears once it has been written (a fence queued behind it)...
    testing::CountDown fenced(1);
    journal_->append_async(testing::one("test/fence", "fence"), [&](Result<LsnRange>) {
      arm(Fault::kNone);
      fenced.count_down();
    });
    ASSERT_TRUE(fenced.wait());
    // (A RocksDB journal reopens at the append after a failed one; until
    // then it cannot be read, so the rebuild would fail.)
    ASSERT_TRUE(journal_->append(testing::one("test/fence", "reopened")).is_ok());
    // ...and the deposit handled after the transfer commits.
    gates.open2.count_down();
    ASSERT_TRUE(gates.restarted.wait()) << "the failed commit did not fail the actor; log:\n" << log();
    EXPECT_EQ(gates.cause.code(), StatusCode::kIoError) << gates.cause;
    const std::int64_t in_a = await(a.ask<&Vault::balance>()).value();
    const std::int64_t in_b = await(b.ask<&Vault::balance>()).value();
    EXPECT_EQ(in_a + in_b, 101) << "a " << in_a << ", b " << in_b;
    EXPECT_EQ(in_b, 30);
  }
  open(/*faulty=*/false);
  System system(config());
  auto a = system.spawn_durable<Vault>("a", &gates).value();
  auto b = system.spawn_durable<Vault>("b", &gates).value();
  const std::int64_t in_a = await(a.ask<&Vault::balance>()).value();
  const std::int64_t in_b = await(b.ask<&Vault::balance>()).value();
  EXPECT_EQ(in_a + in_b, 101) << "a " << in_a << ", b " << in_b;
}

INSTANTIATE_TEST_SUITE_P(
    Faults, DurableFaultTest,
    ::testing::Values(Param{"sqlite", Fault::kWriteIoError, "write_eio"},
                      Param{"sqlite", Fault::kWriteNoSpace, "enospc"},
                      Param{"sqlite", Fault::kSyncIoError, "sync_eio"},
                      Param{"rocksdb", Fault::kWriteIoError, "write_eio"},
                      Param{"rocksdb", Fault::kWriteNoSpace, "enospc"},
                      Param{"rocksdb", Fault::kSyncIoError, "sync_eio"}),
    [](const auto& info) { return std::string(info.param.backend) + "_" + info.param.fault_name; });

}  // namespace
}  // namespace keel
