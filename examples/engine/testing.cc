// examples/engine/testing.cc: the deterministic test kit, as a plain program.
//
// With SystemConfig::threads = 0 no worker thread runs: the test steps the
// system itself with run_one() (one turn of one actor, at most one message)
// or run_until_idle(). With a ManualClock, time moves only by advance(), so
// timers, TTLs and ask timeouts fire exactly when the test says. Tests then
// assert order and timing instead of sleeping. This program checks a few
// engine guarantees that way, the way a test would, and prints each one.
//
// Run:    build/examples/keel_example_testing
// Prints: "ok: <behaviour>" for each of 9 checks; exits 1 if one fails.
#include <keel/engine/engine.h>

#include <iostream>
#include <vector>

using namespace std::chrono_literals;

// Records the numbers it is told; a negative number makes it fail.
class Recorder : public keel::Actor {
 public:
  void add(int n) {
    if (n < 0) fail(keel::Status::invalid_argument("negative"));
    seen_.push_back(n);
  }
  std::vector<int> seen() const { return seen_; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Recorder::add>("add"), keel::handler<&Recorder::seen>("seen"));

 private:
  std::vector<int> seen_;
};

int main() {
  int failures = 0;
  auto check = [&](bool ok, const char* behaviour) {
    std::cout << (ok ? "ok: " : "FAILED: ") << behaviour << "\n";
    if (!ok) ++failures;
  };
  // [snippet setup]
  keel::ManualClock clock;
  keel::SystemConfig config;
  config.threads = 0;  // nothing runs until the test steps the system
  config.clock = &clock;
  keel::System system(config);
  keel::Result<keel::ActorRef<Recorder>> spawned = system.spawn<Recorder>();
  if (!spawned) return 1;
  keel::ActorRef<Recorder> rec = *spawned;

  keel::Future<std::vector<int>> first = rec.ask<&Recorder::seen>();
  const bool waited = !first.is_ready();
  check(waited && system.run_one() && first.is_ready(), "an ask is answered when its turn runs");
  // [/snippet setup]
  auto seen = [&] {  // what the current incarnation recorded; {-1} if it did not reply
    keel::Future<std::vector<int>> f =
        keel::ActorRef<Recorder>(rec.current()).ask<&Recorder::seen>();
    system.run_until_idle();
    return f.is_ready() ? f.get().value_or(std::vector<int>{-1}) : std::vector<int>{-1};
  };

  rec.tell<&Recorder::add>(1);
  rec.tell<&Recorder::add>(2);
  system.run_one();
  check(system.snapshot().actors.at(0).mailbox_depth == 1, "run_one() handles one message");
  rec.tell<&Recorder::add>(3);
  check(seen() == std::vector<int>{1, 2, 3}, "messages from one sender arrive in order");

  // [snippet clock]
  system.send_after<&Recorder::add>(5s, rec, 4);
  clock.advance(4s);
  const std::size_t early = system.run_until_idle();  // not due: nothing to run
  clock.advance(1s);                                  // due: the timer sends add(4)
  check(early == 0 && system.run_until_idle() == 1, "a timer fires when the clock reaches it");
  // [/snippet clock]

  keel::AskOptions ask;
  ask.timeout = 1s;
  keel::Future<std::vector<int>> slow = rec.ask_with<&Recorder::seen>(ask);
  clock.advance(1s);
  check(slow.is_ready() && slow.get().status().code() == keel::StatusCode::kTimeout,
        "an ask times out on the manual clock, before its turn");
  system.run_until_idle();
  check(system.snapshot().late_replies == 1, "the reply that came later is counted as late");

  keel::SendOptions ttl;
  ttl.ttl = 1s;
  rec.tell_with<&Recorder::add>(ttl, 5);
  clock.advance(2s);
  system.run_until_idle();
  check(system.dead_letters().count(keel::DeadLetterReason::kExpired) == 1,
        "a message whose TTL passed is an expired dead letter");

  rec.tell<&Recorder::add>(-1);  // fails: the root strategy restarts the actor
  rec.tell<&Recorder::add>(6);   // queued for the failing incarnation
  system.run_until_idle();
  check(rec.current().generation() == 2 && seen().empty() &&
            system.dead_letters().count(keel::DeadLetterReason::kStale) == 1,
        "a restart turns queued messages into stale dead letters");

  const keel::Status down = system.shutdown(keel::ShutdownMode::kDrain);
  check(down.is_ok(), "shutdown(kDrain) steps the remaining work itself");
  return failures == 0 ? 0 : 1;
}
