// examples/engine/supervision.cc: how a parent treats a failing child.
//
// A Bank supervises one Account. The Account fails when a handler throws
// (here through fail()); the Bank's strategy decides what happens next: a bad
// input is resumed (the state stays, the message is lost), a corrupt ledger
// restarts the Account (a fresh instance, a new generation, after a backoff).
// After more than 2 restarts in 10s the Bank gives up and fails itself, and
// the root strategy in SystemConfig stops it. An error *returned* by a
// handler is only a reply: the actor goes on as if nothing happened.
//
// Run:    build/examples/keel_example_supervision
// Prints: each request and its reply, the two restarts, the dead letter sent
//         through a stale ref, and why the Bank stopped (13 lines).
#include <keel/engine/engine.h>

#include <iostream>
#include <string>
#include <utility>

using namespace std::chrono_literals;

class Bank;

// A balance kept in memory. deposit() of a non-positive amount and audit()
// fail the actor; withdraw() of too much only replies with an error.
class Account : public keel::Actor {
 public:
  explicit Account(keel::ActorRef<Bank> bank) : bank_(std::move(bank)) {}

  // [snippet handlers]
  int deposit(int amount) {
    if (amount <= 0) fail(keel::Status::invalid_argument("deposit must be positive"));
    return balance_ += amount;
  }
  keel::Result<int> withdraw(int amount) {  // an error reply, not a failure
    if (amount > balance_) return keel::Status::failed_precondition("insufficient funds");
    return balance_ -= amount;
  }
  int balance() const { return balance_; }
  void audit() { fail(keel::Status::corruption("ledger checksum mismatch")); }
  static constexpr auto kHandlers = keel::handlers(
      keel::handler<&Account::deposit>("deposit"), keel::handler<&Account::withdraw>("withdraw"),
      keel::handler<&Account::balance>("balance"), keel::handler<&Account::audit>("audit"));
  // [/snippet handlers]

 protected:
  // Runs on the new instance; the state was rebuilt by the constructor.
  keel::Status on_restart(const keel::Status& cause) override;

 private:
  keel::ActorRef<Bank> bank_;
  int balance_ = 0;  // in memory: a restart starts again from zero
};

// Supervises one Account and hands its restart reports to next_restart().
class Bank : public keel::Actor {
 public:
  keel::ActorRef<Account> account() const { return keel::ActorRef<Account>(children().at(0)); }
  keel::Future<std::string> next_restart() { return (restart_ = {}).future(); }
  void restarted(std::string report) { restart_.set_value(std::move(report)); }
  static constexpr auto kHandlers = keel::handlers(
      keel::handler<&Bank::account>("account"), keel::handler<&Bank::next_restart>("next_restart"),
      keel::handler<&Bank::restarted>("restarted"));

 protected:
  keel::Status on_start() override { return spawn<Account>(self<Bank>()).status(); }
  // [snippet strategy]
  keel::SupervisorStrategy supervisor_strategy() const override {
    keel::SupervisorStrategy s;
    s.kind = keel::SupervisionKind::kOneForOne;
    s.decider = [](const keel::Status& error) {
      return error.code() == keel::StatusCode::kInvalidArgument ? keel::Directive::kResume
                                                                : keel::Directive::kRestart;
    };
    s.max_restarts = 2;  // a 3rd restart within 10s is refused: the Bank fails
    s.within = 10s;
    s.backoff = {.initial = 10ms, .max = 1s, .multiplier = 2.0};  // 10ms, then 20ms
    return s;
  }
  // [/snippet strategy]

 private:
  keel::Promise<std::string> restart_;
};

keel::Status Account::on_restart(const keel::Status& cause) {
  bank_.tell<&Bank::restarted>("account restarted as generation " +
                               std::to_string(self().generation()) + " after " + cause.to_string());
  return keel::Status::ok();
}

// Prints "request -> reply", the reply being a value or an error.
template <class T>
void show(const char* request, const keel::Result<T>& reply) {
  std::cout << request << " -> ";
  if (reply) std::cout << *reply << "\n";
  if (!reply) std::cout << reply.error() << "\n";
}
void show(const char* request, const keel::Status& reply) {
  std::cout << request << " -> " << reply << "\n";
}

int main() {
  keel::SystemConfig config;
  config.root_strategy.decider = [](const keel::Status&) { return keel::Directive::kStop; };
  keel::System system(config);
  // [snippet dead_letters]
  system.dead_letters().subscribe([](const keel::DeadLetter& d) {
    std::cout << "dead letter: " << keel::dead_letter_reason_name(d.reason) << " '" << d.method
              << "' (" << d.detail << ")\n";
  });
  // [/snippet dead_letters]

  keel::Result<keel::ActorRef<Bank>> bank = system.spawn<Bank>();
  if (!bank) return 1;
  keel::Future<keel::Down> bank_down = system.watch(*bank);
  keel::Result<keel::ActorRef<Account>> account = bank->ask<&Bank::account>().get();
  if (!account) return 1;

  show("deposit 10", account->ask<&Account::deposit>(10).get());
  show("withdraw 50", account->ask<&Account::withdraw>(50).get());
  show("deposit -5", account->ask<&Account::deposit>(-5).get());  // resumed
  show("balance", account->ask<&Account::balance>().get());       // state kept

  keel::Future<std::string> report = bank->ask<&Bank::next_restart>();
  show("audit", account->ask<&Account::audit>().get());
  show("next restart", report.get());
  show("balance through the old ref", account->ask<&Account::balance>().get());
  account = keel::ActorRef<Account>(account->current());  // the new generation
  show("balance through the current ref", account->ask<&Account::balance>().get());

  report = bank->ask<&Bank::next_restart>();
  show("audit", account->ask<&Account::audit>().get());
  show("next restart", report.get());  // after a longer backoff (20ms)
  account = keel::ActorRef<Account>(account->current());
  show("audit", account->ask<&Account::audit>().get());  // a third restart within 10s: too many
  keel::Result<keel::Down> down = bank_down.get();
  if (!down) return 1;
  std::cout << "bank stopped: " << down->reason << "\n";
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
