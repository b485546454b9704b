// Uses the installed Keel headers and libraries: if this builds, links, runs
// an actor and returns 0, find_package(Keel) and the Keel:: targets work for a
// consumer. Returns 1 on any failure.
#include <keel/base/clock.h>
#include <keel/base/status.h>
#include <keel/engine/engine.h>

#include <chrono>
#include <iostream>

class Greeter : public keel::Actor {
 public:
  int greet(int n) { return n + 1; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Greeter::greet>("greet"));
};

int main() {
  keel::Status status = keel::Status::not_found("actor 7");
  std::cout << "status: " << status << "\n";

  keel::ManualClock clock;
  const keel::TimePoint start = clock.now();
  clock.advance(std::chrono::seconds(5));
  const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(clock.now() - start);
  std::cout << "manual clock advanced " << elapsed.count() << "s\n";
  if (status.code() != keel::StatusCode::kNotFound || elapsed.count() != 5) return 1;

  keel::System system;
  keel::Result<keel::ActorRef<Greeter>> greeter = system.spawn<Greeter>();
  if (!greeter) return 1;
  keel::Future<int> reply = greeter->ask<&Greeter::greet>(41);
  if (!reply.wait_for(std::chrono::seconds(20))) return 1;
  keel::Result<int> value = reply.get();
  std::cout << "actor replied " << (value ? *value : -1) << "\n";
  if (!value || *value != 42) return 1;
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
