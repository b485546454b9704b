// examples/durable/counter.cc: the first durable actor.
//
// A durable actor derives from keel::DurableActor<State>, where State lists
// its fields in kFields so that the journal can store it. Every message it
// accepts and every state change it makes is committed to the journal before
// anyone sees the effect, so the count survives the process: each run
// increments it once and prints it.
//
// README.md and docs/durable.md quote this file between the snippet markers.
//
// Run:    build/examples/keel_example_counter [journal]   (default /tmp/keel-counter.db)
// Prints: count = 1, then count = 2 on the next run on the same journal, ...
// [snippet]
#include <keel/engine/durable.h>
#include <keel/engine/engine.h>
#include <keel/journal/journal.h>

#include <cstdint>
#include <iostream>
#include <string>

int fail(const keel::Status& error) {  // prints why and exits 1
  std::cerr << error << "\n";
  return 1;
}

// [snippet actor]
struct Count {
  std::int64_t value = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Count::value>("value"));
};

class Counter : public keel::DurableActor<Count> {
 public:
  std::int64_t increment() { return ++state().value; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Counter::increment>("increment"));
};
// [/snippet actor]

int run(const std::string& path) {
  // [snippet spawn]
  keel::Result<std::unique_ptr<keel::Journal>> journal = keel::open_journal(path, {});
  if (!journal) return fail(journal.status());
  keel::SystemConfig config;
  config.journal = journal->get();  // outlives the system, declared before it
  keel::System system(config);
  auto counter = system.spawn_durable<Counter>("counter");  // recovers the count
  if (!counter) return fail(counter.status());
  keel::Result<std::int64_t> count = counter->ask<&Counter::increment>().get();
  if (!count) return fail(count.status());
  std::cout << "count = " << *count << "\n";  // the increment is committed
  // [/snippet spawn]
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}

int main(int argc, char** argv) { return run(argc > 1 ? argv[1] : "/tmp/keel-counter.db"); }
// [/snippet]
