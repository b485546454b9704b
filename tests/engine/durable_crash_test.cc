// Crash safety of durable actors: a child process runs 16 durable accounts
// that move money between each other while a driver sends them transfer
// requests; the parent SIGKILLs the child at a random point (after a random
// number of accepted requests, read from a pipe: no sleeps), restarts it on
// the same journal, and checks after every cycle that
//   - the accounts still hold exactly 16 * 1000 (no credit lost or doubled),
//     and every successful debit has exactly one credit;
//   - each account handled exactly a prefix of the requests sent to it, once
//     each and in order, and that prefix holds every accepted request
//     (tell_durable completed) and is at least what a committed ask showed;
//   - Journal::verify() reports no problem.
// Both embedded journal backends; built with KEEL_DURABLE_TEST_POSTGRES
// (engine_pg_durable_crash_test), the PostgreSQL journal in a schema of its
// own on the test server (support/durable_fixture.h). Some accounts snapshot only every 2nd or 5th
// message, so recovery also replays handlers.
//
// The seed is printed (KEEL_CRASH_SEED=<seed> replays a run); a failure
// names the seed and the cycle. The child is this binary re-executed through
// /proc/self/exe (RocksDB's threads make fork without exec unsafe), selected
// by the KEEL_DURABLE_CRASH_CHILD environment variable.
//
// The regular tests run 50 kill cycles per backend. The long run (500 per
// backend, or KEEL_CRASH_CYCLES) is the CTest entry labelled `crash`; it
// skips unless KEEL_LONG_CRASH=1 is set, so the default ctest run stays short:
//   KEEL_LONG_CRASH=1 ctest --test-dir build -L crash --output-on-failure
// or directly:
//   KEEL_LONG_CRASH=1 build/tests/engine/engine_durable_crash_test --gtest_filter='*LongRun*'
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <latch>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "keel/engine/durable.h"
#include "support/child_process.h"
#include "support/durable_fixture.h"
#include "support/test_actors.h"


namespace keel {
namespace {

using testing::Child;
using testing::spawn_self;

constexpr int kAccounts = 16;
constexpr std::int64_t kInitial = 1000;

// ---- The workload ------------------------------------------------------------

// An account's state. It starts at kInitial without any message, so a fresh
// journal and a recovered one need no initial deposits.
struct Ledger {
  std::int64_t balance = kInitial;
  std::uint64_t handled = 0;       // transfer requests handled (as the debit side)
  std::uint64_t last_req = 0;      // the highest request id handled
  std::uint64_t req_sum = 0;       // sum of the handled request ids
  std::uint64_t out_of_order = 0;  // requests handled at or below last_req (never, if once and in order)
  std::uint64_t debits = 0;        // requests that moved money
  std::uint64_t debit_sum = 0;     // sum of their ids
  std::uint64_t rejected = 0;      // requests refused for lack of funds
  std::uint64_t credits = 0;       // credits received
  std::uint64_t credit_sum = 0;    // sum of their request ids
  static constexpr auto kFields = keel::fields(
      keel::field<&Ledger::balance>("balance"), keel::field<&Ledger::handled>("handled"),
      keel::field<&Ledger::last_req>("last_req"), keel::field<&Ledger::req_sum>("req_sum"),
      keel::field<&Ledger::out_of_order>("out_of_order"), keel::field<&Ledger::debits>("debits"),
      keel::field<&Ledger::debit_sum>("debit_sum"), keel::field<&Ledger::rejected>("rejected"),
      keel::field<&Ledger::credits>("credits"), keel::field<&Ledger::credit_sum>("credit_sum"));
};

class Account;

// The accounts' refs, filled by the child's main thread while it spawns
// (recovers) them. A recovered transfer may run on a worker before its
// destination is spawned, so handlers wait until all are.
struct Directory {
  std::array<ActorRef<Account>, kAccounts> refs;
  std::latch ready{1};
  std::thread::id spawner;
};

class Account : public DurableActor<Ledger> {
 public:
  explicit Account(Directory* dir) : dir_(dir) {}

  // Request `req`: move `amount` to account `to` if the funds are there.
  void transfer(std::uint64_t req, std::uint32_t to, std::int64_t amount) {
    Ledger& s = state();
    if (req <= s.last_req) ++s.out_of_order;
    s.last_req = req;
    ++s.handled;
    s.req_sum += req;
    if (s.balance < amount) {
      ++s.rejected;
      return;
    }
    s.balance -= amount;
    ++s.debits;
    s.debit_sum += req;
    // A replay during spawn (snapshot_every > 1) runs on the spawning thread
    // before the directory is complete; its sends are discarded anyway.
    if (std::this_thread::get_id() == dir_->spawner) return;
    dir_->ready.wait();
    dir_->refs[to].tell<&Account::credit>(req, amount);
  }
  void credit(std::uint64_t req, std::int64_t amount) {
    state().balance += amount;
    ++state().credits;
    state().credit_sum += req;
  }
  Ledger view() const { return state(); }

  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Account::transfer>("transfer"),
                     keel::handler<&Account::credit>("credit"), keel::handler<&Account::view>("view"));

 private:
  Directory* dir_;
};

DurableOptions account_options(int i) {
  DurableOptions o;
  o.snapshot_every = i % 3 == 0 ? 1 : (i % 3 == 1 ? 2 : 5);
  return o;
}

// ---- Child -> parent reports: one write each (under PIPE_BUF: atomic) --------

struct Report {
  enum Kind : std::uint32_t {
    kAccount = 1,  // acct's recovered ledger
    kRecovered,    // after the accounts: id = verify problems, amount = drain rounds (0: never stable)
    kSent,         // request id: acct -> to, amount (written before tell_durable)
    kAcked,        // request id was accepted
    kAsked,        // an ask of acct returned ledger
    kError,        // text
  };
  std::uint32_t kind = 0;
  std::uint32_t acct = 0;
  std::uint32_t to = 0;
  std::uint32_t pad = 0;
  std::uint64_t id = 0;
  std::int64_t amount = 0;
  Ledger ledger;
  char text[160] = {};
};
static_assert(sizeof(Report) < PIPE_BUF);

[[noreturn]] void child_fail(int fd, const std::string& what) {
  Report r;
  r.kind = Report::kError;
  std::snprintf(r.text, sizeof r.text, "%s", what.c_str());
  (void)!write(fd, &r, sizeof r);
  _exit(20);
}

void child_send(int fd, const Report& r) {
  if (write(fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) _exit(21);
}

template <class F>
auto child_await(int fd, F f, const char* what) {
  if (!f.wait_for(std::chrono::seconds(60))) child_fail(fd, std::string(what) + ": no answer in 60s");
  auto r = f.get();
  if (!r.is_ok()) child_fail(fd, std::string(what) + ": " + detail::to_status(r).to_string());
  return r;
}

// The child: recovers the accounts, drains what they had accepted, reports
// their ledgers and the journal's problems, then (unless report_only)
// drives transfers until it is killed.
void run_child(const char* spec) {
  char backend[16] = {};
  char path[4096] = {};
  int fd = -1;
  unsigned seed = 0;
  unsigned long long first_id = 0;
  int window = 1;
  int report_only = 0;
  if (std::sscanf(spec, "%15s %4095s %u %llu %d %d %d", backend, path, &seed, &first_id, &window,
                  &report_only, &fd) != 7) {
    _exit(10);
  }
  auto j = testing::open_durable_journal(backend, path);
  if (!j.is_ok()) child_fail(fd, "open: " + j.status().to_string());
  std::unique_ptr<Journal> journal = std::move(*j);
  {
    SystemConfig config = testing::system_config(2);
    config.journal = journal.get();
    config.log = [](std::string_view) {};  // restarts are expected noise here
    System system(config);
    Directory dir;
    dir.spawner = std::this_thread::get_id();
    for (int i = 0; i < kAccounts; ++i) {
      auto a = system.spawn_durable_with<Account>("acct-" + std::to_string(i), account_options(i), &dir);
      if (!a.is_ok()) child_fail(fd, "spawn acct-" + std::to_string(i) + ": " + a.status().to_string());
      dir.refs[i] = *a;
    }
    dir.ready.count_down();

    // Drain: a round of asks is handled after everything queued before it,
    // and the credits that queue released are queued before its replies
    // (output commit). Rounds until two agree: nothing is left in flight.
    std::array<Ledger, kAccounts> prev{};
    std::array<Ledger, kAccounts> now{};
    int rounds = 0;
    for (int round = 1; round <= 20 && rounds == 0; ++round) {
      for (int i = 0; i < kAccounts; ++i) now[i] = *child_await(fd, dir.refs[i].ask<&Account::view>(), "drain ask");
      if (round > 1 && std::memcmp(&now, &prev, sizeof now) == 0) rounds = round;
      prev = now;
    }
    for (int i = 0; i < kAccounts; ++i) {
      Report r;
      r.kind = Report::kAccount;
      r.acct = static_cast<std::uint32_t>(i);
      r.ledger = now[i];
      child_send(fd, r);
    }
    std::uint64_t problems = 0;
    Status v = journal->verify([&](const JournalProblem& p) {
      ++problems;
      std::fprintf(stderr, "crash child: journal problem: %s\n", p.status.to_string().c_str());
    });
    if (!v.is_ok()) child_fail(fd, "verify: " + v.to_string());
    Report done;
    done.kind = Report::kRecovered;
    done.id = problems;
    done.amount = rounds;
    child_send(fd, done);
    if (report_only != 0) {
      Status s = system.shutdown(ShutdownMode::kDrain);
      if (!s.is_ok()) child_fail(fd, "shutdown: " + s.to_string());
      return;
    }

    // The driver: random transfers, up to `window` unacknowledged at a time,
    // and now and then an ask (whose reply is released only once committed).
    std::mt19937_64 rng(seed);
    std::deque<std::pair<std::uint64_t, Future<void>>> pending;
    for (std::uint64_t id = first_id;; ++id) {
      Report s;
      s.kind = Report::kSent;
      s.id = id;
      s.acct = static_cast<std::uint32_t>(rng() % kAccounts);
      s.to = static_cast<std::uint32_t>((s.acct + 1 + rng() % (kAccounts - 1)) % kAccounts);
      s.amount = 1 + static_cast<std::int64_t>(rng() % 400);
      child_send(fd, s);
      pending.emplace_back(id, dir.refs[s.acct].tell_durable<&Account::transfer>(id, s.to, s.amount));
      while (static_cast<int>(pending.size()) >= window) {
        child_await(fd, std::move(pending.front().second), "tell_durable").ignore();
        Report a;
        a.kind = Report::kAcked;
        a.id = pending.front().first;
        child_send(fd, a);
        pending.pop_front();
      }
      if (rng() % 6 == 0) {
        Report q;
        q.kind = Report::kAsked;
        q.acct = static_cast<std::uint32_t>(rng() % kAccounts);
        q.ledger = *child_await(fd, dir.refs[q.acct].ask<&Account::view>(), "ask");
        child_send(fd, q);
      }
    }
  }
}

class ChildEnvironment : public ::testing::Environment {
 public:
  // Runs after main() started (all static initializers done), before any test.
  void SetUp() override {
    const char* spec = std::getenv("KEEL_DURABLE_CRASH_CHILD");
    if (spec == nullptr) return;
    run_child(spec);
    _exit(0);
  }
};
[[maybe_unused]] ::testing::Environment* const kChildEnv =
    ::testing::AddGlobalTestEnvironment(new ChildEnvironment);

// ---- The parent --------------------------------------------------------------

enum class ReadResult { kOk, kEof, kTimeout };

// Reads one report, waiting at most 60 s (a generous deadline: the child
// answers in milliseconds).
ReadResult read_report(int fd, Report* r) {
  auto* p = reinterpret_cast<char*>(r);
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (got < sizeof *r) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ReadResult::kTimeout;
    pollfd pfd{fd, POLLIN, 0};
    const int n = poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return ReadResult::kTimeout;
    const ssize_t k = read(fd, p + got, sizeof *r - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return ReadResult::kEof;
    got += static_cast<std::size_t>(k);
  }
  return ReadResult::kOk;
}

// The child runs this binary again (tests/support/child_process.h), with its
// arguments in KEEL_DURABLE_CRASH_CHILD and the pipe's write end last.
Child spawn_child(const std::string& backend, const std::string& path, unsigned seed,
                  std::uint64_t first_id, int window, bool report_only) {
  return spawn_self("KEEL_DURABLE_CRASH_CHILD", backend + " " + path + " " + std::to_string(seed) + " " +
                                                    std::to_string(first_id) + " " + std::to_string(window) +
                                                    " " + (report_only ? "1" : "0"));
}

// What the parent knows of one account.
struct Expected {
  // Confirmed by the last recovery.
  std::uint64_t handled = 0;
  std::uint64_t last_req = 0;
  std::uint64_t req_sum = 0;
  // Since then: requests sent to it (in order), how many of them were
  // accepted, and the most a committed ask showed handled.
  std::vector<std::uint64_t> sent;
  std::size_t acked = 0;
  std::uint64_t asked_handled = 0;
};

class DurableCrash {
 public:
  DurableCrash(std::string backend, int cycles) : backend_(std::move(backend)), cycles_(cycles) {}

  void run() {
    const char* fixed = std::getenv("KEEL_CRASH_SEED");
    const unsigned seed = fixed != nullptr ? static_cast<unsigned>(std::strtoul(fixed, nullptr, 10))
                                           : std::random_device{}();
    std::printf("KEEL_CRASH_SEED=%u (%s, %d cycles)\n", seed, backend_.c_str(), cycles_);
    std::fflush(stdout);
    std::mt19937 rng(seed);
    char tmpl[] = "/tmp/keel-durable-crash-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string path = testing::durable_journal_path(backend_, dir_);
    ASSERT_FALSE(path.empty()) << "no PostgreSQL test server: KEEL_PG_URL_FILE names no URL (CTest's fixture "
                                  "keel_pg starts one with scripts/pg_test_server.sh)";
    std::uint64_t next_id = 1;
    const auto start = std::chrono::steady_clock::now();
    int cycle = 0;
    for (; cycle <= cycles_ && !::testing::Test::HasFailure(); ++cycle) {
      SCOPED_TRACE("KEEL_CRASH_SEED=" + std::to_string(seed) + ", " + backend_ + ", cycle " +
                   std::to_string(cycle));
      const bool last = cycle == cycles_;  // only recovers and checks
      static constexpr int kWindows[] = {1, 2, 4, 8, 16};
      const int window = kWindows[rng() % 5];
      const int kill_after = static_cast<int>(rng() % 48);
      const unsigned child_seed = static_cast<unsigned>(rng());
      Child c = spawn_child(backend_, path, child_seed, next_id, window, last);
      ASSERT_GE(c.pid, 0) << "posix_spawn failed";
      run_cycle(c, kill_after, last);
      close(c.fd);
      next_id = max_id_ + 1;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %d kill cycles, %llu requests sent, %llu accepted, %.1f s\n", backend_.c_str(),
                std::min(cycle, cycles_), static_cast<unsigned long long>(sent_total_),
                static_cast<unsigned long long>(acked_total_), secs);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

 private:
  // Reads the child's recovery report and checks it, then (unless `last`)
  // lets it acknowledge `kill_after` requests and kills it.
  void run_cycle(const Child& c, int kill_after, bool last) {
    std::array<Ledger, kAccounts> got{};
    Report r;
    for (int seen = 0; seen < kAccounts + 1;) {
      if (!read_or_fail(c, &r)) return;
      if (r.kind == Report::kAccount && r.acct < kAccounts) {
        got[r.acct] = r.ledger;
        ++seen;
      } else if (r.kind == Report::kRecovered && seen == kAccounts) {
        EXPECT_EQ(r.id, 0u) << "Journal::verify() found problems (see the child's stderr)";
        EXPECT_GT(r.amount, 0) << "the accounts did not settle after 20 rounds of asks";
        ++seen;
      } else {
        ADD_FAILURE() << "unexpected report " << r.kind << " during recovery";
        kill_child(c);
        return;
      }
    }
    check_recovered(got);
    if (last) {
      int status = 0;
      ASSERT_EQ(waitpid(c.pid, &status, 0), c.pid);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "final child status " << status;
      return;
    }
    for (int acked = 0; acked < kill_after;) {
      if (!read_or_fail(c, &r)) return;
      acked += note(r);
    }
    kill_child(c);
    // Reports already in the pipe were made before the kill.
    while (read_report(c.fd, &r) == ReadResult::kOk) note(r);
  }

  bool read_or_fail(const Child& c, Report* r) {
    const ReadResult res = read_report(c.fd, r);
    if (res == ReadResult::kOk && r->kind != Report::kError) return true;
    if (res == ReadResult::kOk) {
      ADD_FAILURE() << "child failed: " << r->text;
    } else if (res == ReadResult::kTimeout) {
      ADD_FAILURE() << "child sent nothing for 60 s";
    }
    kill(c.pid, SIGKILL);
    int status = 0;
    waitpid(c.pid, &status, 0);
    if (res == ReadResult::kEof) {
      ADD_FAILURE() << "child died unasked: "
                    << (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                            : "exit " + std::to_string(WEXITSTATUS(status)));
    }
    return false;
  }

  void kill_child(const Child& c) {
    ASSERT_EQ(kill(c.pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(c.pid, &status, 0), c.pid);
    EXPECT_TRUE(WIFSIGNALED(status)) << "the child exited by itself: " << status;
  }

  // Returns 1 for an acknowledgement.
  int note(const Report& r) {
    switch (r.kind) {
      case Report::kSent:
        exp_[r.acct].sent.push_back(r.id);
        owner_of_[r.id] = r.acct;
        max_id_ = std::max(max_id_, r.id);
        ++sent_total_;
        return 0;
      case Report::kAcked: {
        auto it = owner_of_.find(r.id);
        if (it == owner_of_.end()) {
          ADD_FAILURE() << "ack of unsent request " << r.id;
          return 1;
        }
        Expected& e = exp_[it->second];
        // Acks come in send order, so per account they are a prefix.
        EXPECT_LT(e.acked, e.sent.size());
        if (e.acked < e.sent.size()) {
          EXPECT_EQ(e.sent[e.acked], r.id) << "acks out of order";
        }
        ++e.acked;
        ++acked_total_;
        return 1;
      }
      case Report::kAsked:
        exp_[r.acct].asked_handled = std::max(exp_[r.acct].asked_handled, r.ledger.handled);
        return 0;
      default:
        ADD_FAILURE() << "unexpected report " << r.kind << " while driving";
        return 0;
    }
  }

  void check_recovered(const std::array<Ledger, kAccounts>& got) {
    std::int64_t total = 0;
    std::uint64_t debits = 0, credits = 0, debit_sum = 0, credit_sum = 0;
    for (int i = 0; i < kAccounts; ++i) {
      SCOPED_TRACE("acct-" + std::to_string(i));
      const Ledger& l = got[i];
      Expected& e = exp_[i];
      total += l.balance;
      debits += l.debits;
      credits += l.credits;
      debit_sum += l.debit_sum;
      credit_sum += l.credit_sum;
      EXPECT_GE(l.balance, 0);
      EXPECT_EQ(l.out_of_order, 0u) << "a request was handled twice or out of order";
      EXPECT_EQ(l.handled, l.debits + l.rejected);
      // The handled requests are a prefix of those sent to this account
      // since the last check, holding every accepted one.
      ASSERT_GE(l.handled, e.handled) << "handled requests were lost";
      const std::uint64_t k = l.handled - e.handled;
      EXPECT_GE(k, e.acked) << "an accepted request was not handled (" << e.acked << " accepted, "
                            << k << " handled)";
      ASSERT_LE(k, e.sent.size()) << "more requests handled than were sent";
      EXPECT_GE(l.handled, e.asked_handled) << "a committed ask's state was lost";
      std::uint64_t sum = e.req_sum;
      for (std::uint64_t n = 0; n < k; ++n) sum += e.sent[n];
      EXPECT_EQ(l.req_sum, sum) << "handled requests are not the first " << k << " sent";
      EXPECT_EQ(l.last_req, k > 0 ? e.sent[k - 1] : e.last_req);
      e.handled = l.handled;
      e.last_req = l.last_req;
      e.req_sum = l.req_sum;
      e.sent.clear();
      e.acked = 0;
      e.asked_handled = 0;
    }
    EXPECT_EQ(total, kAccounts * kInitial) << "money was created or destroyed";
    EXPECT_EQ(debits, credits) << "a debit without exactly one credit";
    EXPECT_EQ(debit_sum, credit_sum);
  }

  std::string backend_;
  int cycles_;
  std::string dir_;
  std::array<Expected, kAccounts> exp_{};
  std::map<std::uint64_t, std::uint32_t> owner_of_;
  std::uint64_t max_id_ = 0;
  std::uint64_t sent_total_ = 0;
  std::uint64_t acked_total_ = 0;
};

class DurableCrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DurableCrashTest, KilledSystemLosesNoAcceptedTransferAndAppliesEachOnce) {
  DurableCrash(GetParam(), 50).run();
}

// The long run: the CTest entry labelled `crash` (see the file comment).
TEST_P(DurableCrashTest, LongRunOfKillCycles) {
  const char* on = std::getenv("KEEL_LONG_CRASH");
  if (on == nullptr || std::string(on) != "1") GTEST_SKIP() << "set KEEL_LONG_CRASH=1 to run";
  const char* n = std::getenv("KEEL_CRASH_CYCLES");
  DurableCrash(GetParam(), n != nullptr ? std::atoi(n) : 500).run();
}

INSTANTIATE_TEST_SUITE_P(Backends, DurableCrashTest, KEEL_DURABLE_BACKENDS,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace keel
