// examples/engine/mailboxes.cc: bounded mailboxes, overflow policies, TTLs.
//
// A mailbox with a capacity holds at most that many user messages; the
// policy says what a send does when it is full. A message sent with a TTL
// that is not handled in time becomes a dead letter. Control messages (stop,
// supervision, monitors) are never refused. Every refused or dropped message
// is a dead letter, and an ask for it fails.
//
// The program uses the deterministic mode (threads = 0) so that nothing is
// handled until it calls run_until_idle(): the mailboxes fill up predictably.
//
// Run:    build/examples/keel_example_mailboxes
// Prints: one line per policy (what three sends to a mailbox of two returned
//         and what was handled), the TTL and stop cases, the dead letters (13 lines).
#include <keel/engine/engine.h>

#include <iostream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

class Sink : public keel::Actor {
 public:
  void put(int n) { seen_.push_back(n); }
  std::vector<int> seen() const { return seen_; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Sink::put>("put"), keel::handler<&Sink::seen>("seen"));

 private:
  std::vector<int> seen_;
};

// Sends put(1), put(2), put(3) to a fresh Sink with room for two, then lets
// it run; prints each send's Status and what the Sink handled.
bool fill(keel::System& system, const char* label, keel::OverflowPolicy policy) {
  // [snippet bounded]
  keel::SpawnOptions options;
  options.mailbox.capacity = 2;
  options.mailbox.policy = policy;
  options.mailbox.block_timeout = 10ms;  // kBlock only: real time
  keel::Result<keel::ActorRef<Sink>> sink = system.spawn_with<Sink>(options);
  if (!sink) return false;
  std::cout << label << ":";
  for (int n = 1; n <= 3; ++n)
    std::cout << " " << keel::status_code_name(sink->try_tell<&Sink::put>({}, n).code());
  // [/snippet bounded]
  system.run_until_idle();  // handles what was queued
  keel::Future<std::vector<int>> seen = sink->ask<&Sink::seen>();
  system.run_until_idle();
  if (!seen.is_ready()) return false;
  keel::Result<std::vector<int>> handled = seen.get();
  if (!handled) return false;
  std::cout << "; handled";
  for (int n : *handled) std::cout << " " << n;
  std::cout << "\n";
  return true;
}

int main() {
  keel::ManualClock clock;
  keel::SystemConfig config;
  config.threads = 0;
  config.clock = &clock;
  keel::System system(config);

  if (!fill(system, "kFail      ", keel::OverflowPolicy::kFail)) return 1;
  if (!fill(system, "kDropNewest", keel::OverflowPolicy::kDropNewest)) return 1;
  if (!fill(system, "kDropOldest", keel::OverflowPolicy::kDropOldest)) return 1;
  if (!fill(system, "kBlock     ", keel::OverflowPolicy::kBlock)) return 1;  // waits 10ms

  keel::Result<keel::ActorRef<Sink>> sink = system.spawn<Sink>();
  if (!sink) return 1;
  keel::SendOptions ttl;
  ttl.ttl = 1s;  // on the system clock
  sink->tell_with<&Sink::put>(ttl, 4);
  clock.advance(2s);
  system.run_until_idle();
  std::cout << "a message with a 1s TTL handled 2s later: expired dead letters "
            << system.dead_letters().count(keel::DeadLetterReason::kExpired) << "\n";

  sink->tell<&Sink::put>(5);
  sink->tell<&Sink::put>(6);
  system.stop(*sink);  // a control message: handled before the queued user messages
  system.run_until_idle();
  std::cout << "stop overtakes queued messages: stopped dead letters "
            << system.dead_letters().count(keel::DeadLetterReason::kStopped) << "\n";

  for (const keel::DeadLetter& d : system.dead_letters().history())
    std::cout << "dead letter: " << keel::dead_letter_reason_name(d.reason) << " '" << d.method
              << "' (" << d.detail << ")\n";
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
