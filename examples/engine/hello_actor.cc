// examples/engine/hello_actor.cc: the first actor.
//
// An actor is a class deriving from keel::Actor whose handlers are member
// functions listed in kHandlers. It handles one message at a time, so its
// state needs no lock. tell() sends a message and returns at once; ask()
// returns a Future of the handler's result. shutdown(kDrain) lets queued
// messages finish, stops every actor and joins the worker threads.
//
// The README quotes this file between the snippet markers.
//
// Run:    build/examples/keel_example_hello_actor
// Prints: counter = 42
// [snippet]
#include <keel/engine/engine.h>

#include <iostream>

class Counter : public keel::Actor {
 public:
  void add(int n) { value_ += n; }
  int get() const { return value_; }

  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Counter::add>("add"), keel::handler<&Counter::get>("get"));

 private:
  int value_ = 0;
};

int main() {
  keel::System system;  // one worker thread per core
  keel::Result<keel::ActorRef<Counter>> counter = system.spawn<Counter>();
  if (!counter) return 1;
  counter->tell<&Counter::add>(40);  // fire and forget
  counter->tell<&Counter::add>(2);   // same sender, same receiver: handled in order
  keel::Result<int> value = counter->ask<&Counter::get>().get();  // blocks for the reply
  if (!value) return 1;
  std::cout << "counter = " << *value << "\n";
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
// [/snippet]
