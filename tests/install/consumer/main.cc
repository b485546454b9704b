// Uses the installed Keel headers and libraries: if this builds, links, runs
// an actor and a durable actor (on a SQLite journal in a temp directory,
// removed at exit) and returns 0, find_package(Keel) and the Keel:: targets
// work for a consumer. Returns 1 on any failure.
#include <keel/base/clock.h>
#include <keel/base/status.h>
#include <keel/engine/durable.h>
#include <keel/engine/engine.h>
#include <keel/journal/journal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>

class Greeter : public keel::Actor {
 public:
  int greet(int n) { return n + 1; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Greeter::greet>("greet"));
};

struct Tally {
  std::int64_t total = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Tally::total>("total"));
};

class Adder : public keel::DurableActor<Tally> {
 public:
  std::int64_t add(std::int64_t n) { return state().total += n; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Adder::add>("add"));
};

// Spawns an Adder on a SQLite journal at `path` and asks it twice: 40, then 42.
bool run_durable(const std::string& path) {
  keel::Result<std::unique_ptr<keel::Journal>> journal =
      keel::open_sqlite_journal(path, keel::JournalOptions{});
  if (!journal) {
    std::cerr << "open journal: " << journal.status() << "\n";
    return false;
  }
  keel::SystemConfig config;
  config.journal = journal->get();
  keel::System system(config);
  keel::Result<keel::ActorRef<Adder>> adder = system.spawn_durable<Adder>("adder");
  if (!adder) {
    std::cerr << "spawn_durable: " << adder.status() << "\n";
    return false;
  }
  keel::Result<std::int64_t> first = adder->ask<&Adder::add>(std::int64_t{40}).get();
  keel::Result<std::int64_t> second = adder->ask<&Adder::add>(std::int64_t{2}).get();
  std::cout << "durable actor replied " << (second ? *second : -1) << "\n";
  return first && *first == 40 && second && *second == 42 &&
         system.shutdown(keel::ShutdownMode::kDrain).is_ok();
}

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
  if (!system.shutdown(keel::ShutdownMode::kDrain).is_ok()) return 1;

  char dir[] = "/tmp/keel-consumer-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  const bool durable_ok = run_durable(std::string(dir) + "/journal.db");
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return durable_ok ? 0 : 1;
}
