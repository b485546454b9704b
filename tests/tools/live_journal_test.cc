// `keel journal` beside a live process: while durable actors of this test
// keep appending, `tail -f` prints their records as they commit and `stats`
// and `ls` read the journal, and the writer is neither blocked nor harmed.
// Both embedded backends, or PostgreSQL (built with KEEL_JOURNAL_TEST_POSTGRES).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tools/bank_journal.h"

namespace keel::testing {
namespace {

template <class B>
class LiveJournalTest : public BankJournalTest<B> {};
TYPED_TEST_SUITE(LiveJournalTest, Backends, BackendNames);

TYPED_TEST(LiveJournalTest, TailFollowsAndStatsReadsWhileTheEngineWrites) {
  this->open_writer();
  System system(this->config(2));
  auto live = system.spawn_durable<Account>("live");
  ASSERT_TRUE(live.is_ok());
  ASSERT_TRUE(await(live->tell_durable<&Account::deposit>(1)).is_ok());  // the owner exists

  // The writer: deposits, each awaited, until told to stop.
  std::atomic<bool> stop{false};  // relaxed: a request, publishes nothing
  std::atomic<int> handled{1};    // relaxed: read after join
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      if (!await(live->ask<&Account::balance>()).is_ok()) failed.store(true, std::memory_order_relaxed);
      if (!await(live->tell_durable<&Account::deposit>(1)).is_ok()) failed.store(true, std::memory_order_relaxed);
      handled.fetch_add(1, std::memory_order_relaxed);
    }
  });

  constexpr int kFollowed = 12;
  CliProcess tail({"journal", "tail", "--journal", this->path_, "-f", "-n", "0", "--owner", "live", "--json",
                   "--limit", std::to_string(kFollowed), "--interval-ms", "5"});
  ASSERT_TRUE(tail.started());
  CliRun stats = this->keel("stats", {"--json"});
  CliRun ls = this->keel("ls");
  const bool followed = tail.read_until(
      [](const std::string& out) { return lines_of(out).size() >= static_cast<std::size_t>(kFollowed); },
      std::chrono::steady_clock::now() + kWait);
  const int tail_exit = tail.finish(std::chrono::steady_clock::now() + kWait);
  stop.store(true, std::memory_order_relaxed);
  writer.join();
  ASSERT_TRUE(followed) << tail.out() << tail.err();

  EXPECT_EQ(tail_exit, 0) << tail.err();
  const std::vector<std::string> lines = lines_of(tail.out());
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kFollowed));
  Lsn previous = 0;
  for (const std::string& line : lines) {
    EXPECT_TRUE(JsonCheck::valid(line)) << line;
    EXPECT_TRUE(has(line, "\"owner\":\"actor/live\"")) << line;
    const Lsn lsn = std::stoull(line.substr(std::string("{\"lsn\":").size()));
    EXPECT_GT(lsn, previous) << "in commit order";
    previous = lsn;
  }
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_TRUE(JsonCheck::valid(stats.out)) << stats.out;
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_TRUE(has(ls.out, "actor/live")) << ls.out;

  // The writer went on unharmed: every message it sent was handled.
  EXPECT_FALSE(failed.load(std::memory_order_relaxed));
  const int sent = handled.load(std::memory_order_relaxed);
  EXPECT_EQ(await(live->ask<&Account::balance>()).value(), sent);
}

TYPED_TEST(LiveJournalTest, TailStopsCleanlyOnSigterm) {
  this->write_bank();
  CliProcess tail({"journal", "tail", "--journal", this->path_, "-f", "-n", "1", "--interval-ms", "5"});
  ASSERT_TRUE(tail.started());
  ASSERT_TRUE(tail.read_until([](const std::string& out) { return !lines_of(out).empty(); },
                              std::chrono::steady_clock::now() + kWait));
  tail.terminate();
  EXPECT_EQ(tail.finish(std::chrono::steady_clock::now() + kWait), 0) << tail.err();
  EXPECT_EQ(tail.err(), "");
}

}  // namespace
}  // namespace keel::testing
