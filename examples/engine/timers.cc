// examples/engine/timers.cc: messages sent later, once or periodically.
//
// An actor arms timers with send_after() and send_every(); each fire is an
// ordinary message, handled in the actor's turn. Those timers are owned by
// the actor: they are cancelled when it stops or restarts, so a stopped actor
// is never woken. A Heartbeat beats every 10ms. A Session expires after 100ms
// without activity: each touch() cancels the idle timer and arms a new one.
// A fire whose message was already queued cannot be cancelled
// (cancel_timer() returns false), so expire() checks that it is not stale.
//
// Run:    build/examples/keel_example_timers
// Prints: the beats counted, the session's touches and its expiry, and the
//         pending timers before and after the Heartbeat stopped (6 lines).
#include <keel/engine/engine.h>

#include <cstdint>
#include <iostream>

using namespace std::chrono_literals;

// Beats every 10ms from its start; tells a waiting asker when the count it
// asked for is reached.
class Heartbeat : public keel::Actor {
 public:
  void beat() {
    if (++beats_ == target_) waiting_.set_value(beats_);
  }
  // Completes with the beat count once `n` more beats were handled.
  keel::Future<int> wait_for_beats(int n) {
    target_ = beats_ + n;
    return (waiting_ = {}).future();
  }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Heartbeat::beat>("beat"),
                     keel::handler<&Heartbeat::wait_for_beats>("wait_for_beats"));

 protected:
  keel::Status on_start() override {
    send_every<&Heartbeat::beat>(10ms, self<Heartbeat>());  // cancelled when this actor stops
    return keel::Status::ok();
  }

 private:
  int beats_ = 0;
  int target_ = 0;
  keel::Promise<int> waiting_;
};

// [snippet idle]
// Stops itself after 100ms without a touch().
class Session : public keel::Actor {
 public:
  // Returns whether the previous idle timer was still pending.
  bool touch() {
    const bool cancelled = cancel_timer(idle_timer_);
    arm();
    return cancelled;
  }
  void expire(int touch) {
    if (touch == touches_) stop();  // else a newer touch() re-armed the timer
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Session::touch>("touch"),
                                                   keel::handler<&Session::expire>("expire"));

 protected:
  keel::Status on_start() override {
    arm();
    return keel::Status::ok();
  }

 private:
  void arm() { idle_timer_ = send_after<&Session::expire>(100ms, self<Session>(), ++touches_); }
  keel::TimerId idle_timer_ = 0;
  int touches_ = 0;
};
// [/snippet idle]

int main() {
  keel::System system;
  keel::Result<keel::ActorRef<Heartbeat>> heart = system.spawn<Heartbeat>();
  if (!heart) return 1;
  keel::Result<int> beats = heart->ask<&Heartbeat::wait_for_beats>(3).get();
  if (!beats) return 1;
  std::cout << "heartbeat: " << *beats << " beats, 10ms apart\n";

  keel::Result<keel::ActorRef<Session>> session = system.spawn<Session>();
  if (!session) return 1;
  keel::Future<keel::Down> ended = system.watch(*session);
  for (int i = 1; i <= 3; ++i) {
    keel::Result<bool> cancelled = session->ask<&Session::touch>().get();
    if (!cancelled) return 1;
    std::cout << "touch " << i << ": idle timer " << (*cancelled ? "cancelled" : "had fired")
              << ", armed again\n";
  }
  keel::Result<keel::Down> down = ended.get();  // 100ms after the last touch
  if (!down) return 1;
  std::cout << "session expired after 100ms idle, stop reason: " << down->reason << "\n";

  const std::uint64_t before = system.snapshot().pending_timers;  // the heartbeat's
  keel::Future<keel::Down> stopped = system.watch(*heart);
  system.stop(*heart);
  if (!stopped.get()) return 1;
  std::cout << "pending timers: " << before << " before the heartbeat stopped, "
            << system.snapshot().pending_timers << " after\n";
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
