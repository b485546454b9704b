// bank_journal.h: journals written by the real engine for the `keel journal`
// tests, on both backends: durable accounts that take deposits, transfer
// money, arm a durable timer, and one with messages still unhandled.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "journal/backends.h"
#include "keel/engine/durable.h"
#include "keel/engine/engine.h"
#include "support/test_actors.h"
#include "tools/cli_process.h"

namespace keel::testing {

struct Balance {
  std::int64_t cents = 0;
  std::int64_t deposits = 0;
  static constexpr auto kFields =
      keel::fields(keel::field<&Balance::cents>("cents"), keel::field<&Balance::deposits>("deposits"));
};

class Account : public DurableActor<Balance> {
 public:
  void deposit(std::int64_t c) {
    state().cents += c;
    ++state().deposits;
  }
  std::int64_t balance() const { return state().cents; }
  Status transfer(std::string to, std::int64_t c) {
    if (state().cents < c) return Status::failed_precondition("insufficient funds");
    KEEL_ASSIGN_OR_RETURN(ActorRef<Account> dest, system().lookup<Account>(to));
    state().cents -= c;
    dest.tell<&Account::deposit>(c);
    return Status::ok();
  }
  // Arms a durable timer an hour away: a TIMER record, and a pending timer
  // in later snapshots.
  Status remind(std::int64_t amount) {
    return schedule_durable<&Account::deposit>(std::chrono::hours(1), amount).status();
  }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Account::deposit>("deposit"), keel::handler<&Account::balance>("balance"),
                     keel::handler<&Account::transfer>("transfer"), keel::handler<&Account::remind>("remind"));
};

// A temporary directory with a journal path of backend B in it.
template <class B>
class BankJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = B::journal_path(dir_);
  }
  void TearDown() override {
    writer_.reset();
    std::filesystem::remove_all(dir_);
  }

  void open_writer() {
    auto j = B::open(path_, JournalOptions{});
    ASSERT_TRUE(j.is_ok()) << j.status();
    writer_ = std::move(*j);
  }
  SystemConfig config(int threads) {
    SystemConfig c = system_config(threads);
    c.journal = writer_.get();
    return c;
  }

  // Writes the bank and closes the journal:
  //  - actor/alice (a snapshot every 3 messages): deposits 1..5, a transfer
  //    of 10 to bob, and a durable timer; every message handled;
  //  - actor/bob (a snapshot every message): the deposit and one ask;
  //  - actor/carol: two deposits accepted and never handled.
  void write_bank() {
    open_writer();
    {
      System system(config(2));
      DurableOptions every3;
      every3.snapshot_every = 3;
      auto alice = system.spawn_durable_with<Account>("alice", every3);
      auto bob = system.spawn_durable<Account>("bob");
      ASSERT_TRUE(alice.is_ok() && bob.is_ok());
      // One at a time (each ask completes after its commit), so the records
      // do not depend on timing: each deposit's INBOX record commits with
      // its handling, as an idle actor's message does.
      for (int i = 1; i <= 5; ++i) ASSERT_TRUE(await(alice->ask<&Account::deposit>(i)).is_ok());
      ASSERT_TRUE(await(alice->ask<&Account::transfer>(std::string("bob"), 10)).is_ok());
      ASSERT_TRUE(await(alice->ask<&Account::remind>(100)).is_ok());
      ASSERT_EQ(await(bob->ask<&Account::balance>()).value(), 10);
      ASSERT_TRUE(system.shutdown(ShutdownMode::kDrain).is_ok());
    }
    {
      System system(config(0));  // deterministic and never stepped: nothing is handled
      auto carol = system.spawn_durable<Account>("carol");
      ASSERT_TRUE(carol.is_ok());
      for (int i = 0; i < 2; ++i) ASSERT_TRUE(await(carol->tell_durable<&Account::deposit>(7)).is_ok());
    }
    records_ = read_records();
    writer_.reset();
  }

  // Every record, in LSN order, read through the journal API.
  std::vector<Record> read_records() {
    std::vector<Record> out;
    Status s = writer_->scan_lsn(1, UINT64_MAX, [&](const Record& r) {
      out.push_back(r);
      return true;
    });
    EXPECT_TRUE(s.is_ok()) << s;
    return out;
  }
  std::vector<Record> records_of(const std::string& owner) const {
    std::vector<Record> out;
    for (const Record& r : records_) {
      if (r.owner == owner) out.push_back(r);
    }
    return out;
  }
  std::size_t count(RecordKind kind) const {
    std::size_t n = 0;
    for (const Record& r : records_) n += r.kind == kind;
    return n;
  }

  // `keel journal <verb> --journal <path> args...`
  CliRun keel(const std::string& verb, std::vector<std::string> args = {}) {
    std::vector<std::string> all = {"journal", verb, "--journal", path_};
    all.insert(all.end(), args.begin(), args.end());
    return run_keel(all);
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Journal> writer_;
  std::vector<Record> records_;  // as written by write_bank()
};

// Expects a failure reported as exactly one line "keel: ..." containing
// `what`, with nothing on stdout.
inline void expect_one_line_error(const CliRun& r, const std::string& what) {
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("keel: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
}

}  // namespace keel::testing
