// examples/durable/bank.cc: a bank whose accounts survive kill -9.
//
// Eight accounts are durable actors on a SQLite journal. The account a
// transfer debits tells the other one to deposit the money, and that deposit
// is journaled in the same commit as the debit: the money is never lost and
// never counted twice. Runs random transfers, a window of them in flight at a
// time, then prints each balance and the total, always 8000. Kill it at any
// moment and run it again on the same journal: it recovers and goes on.
//
//   build/examples/keel_example_bank /tmp/bank.db 200000 &  sleep 1; kill -9 $!
//   build/examples/keel_example_bank /tmp/bank.db
//
// Run:    build/examples/keel_example_bank [journal] [transfers]  (defaults
//         /tmp/keel-bank.db, 20000)
// Prints: "recovered 8 accounts in <journal>, total 8000, N transfers handled
//         so far" (or "opened 8 new accounts ..."), progress every 2000
//         transfers, each balance and the total. Exits 1 on an error, or if
//         the total is not 8000.
#include <keel/engine/durable.h>
#include <keel/engine/engine.h>
#include <keel/journal/journal.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

constexpr int kAccounts = 8;
constexpr std::int64_t kInitial = 1000;
constexpr int kWindow = 50;  // transfers in flight at once

// [snippet state]
struct Ledger {
  std::int64_t balance = 0;
  std::int64_t transfers = 0;  // transfers out of this account
  bool opened = false;
  static constexpr auto kFields = keel::fields(keel::field<&Ledger::balance>("balance"),
                                               keel::field<&Ledger::transfers>("transfers"),
                                               keel::field<&Ledger::opened>("opened"));
};
// [/snippet state]

class Account : public keel::DurableActor<Ledger> {
 public:
  bool open(std::int64_t initial) {  // funds a new account; returns whether it was open
    const bool was_open = std::exchange(state().opened, true);
    if (!was_open) state().balance = initial;
    return was_open;
  }
  void deposit(std::int64_t amount) { state().balance += amount; }
  // [snippet transfer]
  // Moves `amount` to the account `to`. The deposit is journaled in the same
  // commit as the debit, and released to `to` only once that commit is durable.
  keel::Status transfer(std::string to, std::int64_t amount) {
    if (state().balance < amount) return keel::Status::failed_precondition("insufficient funds");
    keel::Result<keel::ActorRef<Account>> dest = system().lookup<Account>(to);
    if (!dest) return dest.status();
    state().balance -= amount;
    ++state().transfers;
    dest->tell<&Account::deposit>(amount);
    return keel::Status::ok();
  }
  // [/snippet transfer]
  Ledger ledger() const { return state(); }

  static constexpr auto kHandlers = keel::handlers(
      keel::handler<&Account::open>("open"), keel::handler<&Account::deposit>("deposit"),
      keel::handler<&Account::transfer>("transfer"), keel::handler<&Account::ledger>("ledger"));
};

int fail(const keel::Status& error) {
  std::cerr << "bank: " << error << "\n";
  return 1;
}

std::string key(int i) { return "account-" + std::to_string(i); }

// Sums the ledgers. Exact when no transfer is queued anywhere and every
// deposit already sent is queued at its account (each ask waits behind it).
keel::Result<Ledger> sum(const std::vector<keel::ActorRef<Account>>& accounts, bool print) {
  Ledger total;
  for (int i = 0; i < kAccounts; ++i) {
    keel::Result<Ledger> l = accounts[i].ask<&Account::ledger>().get();
    if (!l) return l.status();
    if (print) std::cout << "  " << key(i) << ": " << l->balance << "\n";
    total.balance += l->balance;
    total.transfers += l->transfers;
  }
  return total;
}

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "/tmp/keel-bank.db";
  const int transfers = argc > 2 ? std::atoi(argv[2]) : 20000;
  keel::Result<std::unique_ptr<keel::Journal>> journal = keel::open_journal(path, {});
  if (!journal) return fail(journal.status());
  keel::SystemConfig config;
  config.journal = journal->get();
  keel::System system(config);

  // [snippet recover]
  // One group: every account is recovered before any handles its backlog,
  // so a recovered transfer always finds its destination.
  keel::DurableGroup group(system);
  std::vector<keel::ActorRef<Account>> accounts;
  for (int i = 0; i < kAccounts; ++i) {
    auto account = group.add<Account>(key(i));
    if (!account) return fail(account.status());
    accounts.push_back(*account);
  }
  if (keel::Status started = group.start(); !started.is_ok()) return fail(started);
  int recovered = 0;  // each open() waits behind its account's recovered backlog
  for (keel::ActorRef<Account>& account : accounts) {
    keel::Result<bool> was_open = account.ask<&Account::open>(kInitial).get();
    if (!was_open) return fail(was_open.status());
    recovered += *was_open;
  }
  // [/snippet recover]
  keel::Result<Ledger> before = sum(accounts, /*print=*/false);
  if (!before) return fail(before.status());
  std::cout << (recovered > 0 ? "recovered " + std::to_string(recovered) : "opened 8 new")
            << " accounts in " << path << ", total " << before->balance << ", " << before->transfers
            << " transfers handled so far" << std::endl;  // killable: flush

  std::mt19937 random(std::random_device{}());
  int moved = 0, refused = 0;
  for (int sent = 0; sent < transfers;) {
    std::vector<keel::Future<void>> window;  // pipelined: the commits group
    for (; window.size() < kWindow && sent < transfers; ++sent) {
      const int from = static_cast<int>(random() % kAccounts);
      const int to = (from + 1 + static_cast<int>(random() % (kAccounts - 1))) % kAccounts;
      window.push_back(
          accounts[from].ask<&Account::transfer>(key(to), std::int64_t(1 + random() % 200)));
    }
    for (keel::Future<void>& reply : window) {
      keel::Status s = reply.get();
      if (!s.is_ok() && s.code() != keel::StatusCode::kFailedPrecondition) return fail(s);
      ++(s.is_ok() ? moved : refused);  // kFailedPrecondition: insufficient funds
    }
    if (sent % 2000 == 0 || sent == transfers) {
      std::cout << "transfers " << sent << "/" << transfers << ": " << moved << " moved, "
                << refused << " refused for lack of funds" << std::endl;
    }
  }

  keel::Result<Ledger> after = sum(accounts, /*print=*/true);
  if (!after) return fail(after.status());
  std::cout << "total " << after->balance << ", " << after->transfers
            << " transfers handled so far\n";
  if (before->balance != kAccounts * kInitial || after->balance != kAccounts * kInitial)
    return fail(keel::Status::internal("money was lost or made"));
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
