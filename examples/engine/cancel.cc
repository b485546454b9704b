// examples/engine/cancel.cc: cancelling an ask.
//
// An asker that no longer wants a reply cancels its future, which completes
// with kCancelled at once. A message whose handler has not started is then
// not handled: it becomes a dead letter with reason "cancelled". Work that
// has started sees the cancel, through is_cancelled() in the handler or a
// CancelToken kept for later turns, and stops early. The system runs in
// deterministic mode (threads = 0), so every run prints the same.
//
// Run:    build/examples/keel_example_cancel
// Prints: the cancelled square's status and its dead letter, then where the
//         cancelled sum stopped and its status (4 lines).
#include <keel/engine/engine.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <utility>

// A long sum, done a chunk per turn so the actor stays responsive.
struct SumJob {
  std::int64_t next = 1;
  std::int64_t last = 0;
  std::int64_t total = 0;
  keel::CancelToken token;  // the asker's cancel, read in later turns
  keel::Promise<std::int64_t> reply;
};

class Calculator : public keel::Actor {
 public:
  std::int64_t square(std::int64_t x) { return x * x; }

  // [snippet token]
  // Sums 1..last; replies when done, or stops once the asker cancelled.
  keel::Future<std::int64_t> sum(std::int64_t last) {
    SumJob job;
    job.last = last;
    job.token = cancel_token();
    keel::Future<std::int64_t> out = job.reply.future();
    self<Calculator>().tell<&Calculator::chunk>(std::move(job));
    return out;
  }
  void chunk(SumJob job) {
    if (job.token.is_cancelled()) {  // nobody waits for the sum any more
      std::cout << "sum stopped after " << job.next - 1 << " of " << job.last << "\n";
      return;
    }
    const std::int64_t end = std::min(job.last, job.next + 999);
    for (; job.next <= end; ++job.next) job.total += job.next;
    if (job.next > job.last) {
      job.reply.set_value(job.total);
      return;
    }
    self<Calculator>().tell<&Calculator::chunk>(std::move(job));
  }
  // [/snippet token]

  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Calculator::square>("square"), keel::handler<&Calculator::sum>("sum"),
                     keel::handler<&Calculator::chunk>("chunk"));
};

int main() {
  keel::SystemConfig config;
  config.threads = 0;  // nothing runs until the system is stepped
  keel::System system(config);
  system.dead_letters().subscribe([](const keel::DeadLetter& d) {
    std::cout << "dead letter: " << keel::dead_letter_reason_name(d.reason) << " '" << d.method << "'\n";
  });
  keel::Result<keel::ActorRef<Calculator>> calc = system.spawn<Calculator>();
  if (!calc) return 1;

  // [snippet cancel]
  keel::Future<std::int64_t> square = calc->ask<&Calculator::square>(12);
  square.cancel();  // before its turn: the handler will not run
  std::cout << "square: " << square.get().status().to_string() << "\n";
  system.run_until_idle();  // its turn: a dead letter instead
  // [/snippet cancel]

  keel::Future<std::int64_t> total = calc->ask<&Calculator::sum>(1'000'000);
  for (int turn = 0; turn < 4; ++turn) system.run_one();  // the handler, then 3 chunks
  if (!total.cancel()) return 1;
  system.run_until_idle();  // the next chunk sees the cancel
  std::cout << "sum: " << total.get().status().to_string() << "\n";
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
