// examples/engine/pool.cc: a group of actors addressed as one.
//
// keel::Pool<T> sends tell/ask to one member in round-robin order, and
// broadcast/broadcast_ask to all of them. It watches its members: one that
// stops leaves the pool, one that is restarted stays (messages go to its
// current incarnation).
//
// Run:    build/examples/keel_example_pool
// Prints: which member served each request, the broadcast replies, and the
//         pool's size after a member stopped (8 lines).
#include <keel/engine/engine.h>

#include <iostream>
#include <string>
#include <vector>

// Resizes images (here: pretends to) and says which actor did the work.
class Resizer : public keel::Actor {
 public:
  explicit Resizer(int max_side) : max_side_(max_side) {}

  std::string resize(std::string image) {
    ++served_;
    return image + " at " + std::to_string(max_side_) + "px by actor " + std::to_string(id());
  }
  void set_max_side(int pixels) { max_side_ = pixels; }
  std::string status() const {
    return "actor " + std::to_string(id()) + ": " + std::to_string(served_) + " served, max side " +
           std::to_string(max_side_);
  }
  void retire() { stop(); }
  static constexpr auto kHandlers = keel::handlers(
      keel::handler<&Resizer::resize>("resize"),
      keel::handler<&Resizer::set_max_side>("set_max_side"),
      keel::handler<&Resizer::status>("status"), keel::handler<&Resizer::retire>("retire"));

 private:
  int max_side_;
  int served_ = 0;
};

int main() {
  keel::System system;
  // [snippet]
  keel::Pool<Resizer> pool(system);
  if (keel::Status s = pool.spawn(3, /*max_side=*/1024); !s.is_ok()) return 1;  // Resizer(1024) x3

  std::vector<keel::Future<std::string>> done;  // round-robin: one member each
  for (const char* image : {"a.png", "b.png", "c.png", "d.png"})
    done.push_back(pool.ask<&Resizer::resize>(std::string(image)));
  for (keel::Future<std::string>& f : done) {
    keel::Result<std::string> r = f.get();
    if (!r) return 1;
    std::cout << *r << "\n";
  }

  pool.broadcast<&Resizer::set_max_side>(512);  // every member, in order with what follows
  for (keel::Future<std::string>& f : pool.broadcast_ask<&Resizer::status>()) {
    keel::Result<std::string> r = f.get();
    if (!r) return 1;
    std::cout << *r << "\n";
  }
  // [/snippet]

  // A member that stops leaves the pool: the pool watches its members.
  keel::ActorRef<Resizer> first = pool.members().front();
  keel::Future<keel::Down> gone = system.watch(first);  // after the pool's own watch
  first.tell<&Resizer::retire>();
  if (!gone.get()) return 1;
  std::cout << "after actor " << first.id() << " retired, the pool has " << pool.size()
            << " members\n";
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
