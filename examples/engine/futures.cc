// examples/engine/futures.cc: replies, from outside and from inside actors.
//
// ask() returns a keel::Future. Outside actors, a thread may wait for it
// (get, wait_for) or attach a continuation with then(), which runs on the
// thread that completes the future. Inside an actor a handler must not block:
// continue_with() runs the continuation as a message in the actor's own turn,
// so it may use the actor's state. A handler may itself return a Future: the
// asker's reply is sent when that future completes.
//
// Run:    build/examples/keel_example_futures
// Prints: the cart's running total after each item, the error for an item
//         without a price, and the total in euros computed by then() (4 lines).
#include <keel/engine/engine.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <utility>

using namespace std::chrono_literals;

class PriceList : public keel::Actor {
 public:
  keel::Result<int> price(const std::string& item) const {  // in cents
    auto it = prices_.find(item);
    if (it == prices_.end()) return keel::Status::not_found("no price for " + item);
    return it->second;
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&PriceList::price>("price"));

 private:
  std::map<std::string, int> prices_{{"tea", 350}, {"coffee", 450}};
};

class Cart : public keel::Actor {
 public:
  explicit Cart(keel::ActorRef<PriceList> prices) : prices_(std::move(prices)) {}

  // [snippet continue_with]
  // Adds `item` once its price is known; replies with the new total.
  keel::Future<int> add(std::string item) {
    keel::Promise<int> reply;
    keel::Future<int> total = reply.future();
    continue_with(prices_.ask<&PriceList::price>(item),
                  [this, reply = std::move(reply)](keel::Result<int> price) mutable {
                    if (!price) {
                      reply.set_error(price.error());
                      return;
                    }
                    total_ += *price;  // in this actor's turn: no lock needed
                    reply.set_value(total_);
                  });
    return total;  // completed later, by the continuation
  }
  // [/snippet continue_with]
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Cart::add>("add"));

 private:
  keel::ActorRef<PriceList> prices_;
  int total_ = 0;
};

int main() {
  keel::System system;
  keel::Result<keel::ActorRef<PriceList>> prices = system.spawn<PriceList>();
  if (!prices) return 1;
  keel::Result<keel::ActorRef<Cart>> cart = system.spawn<Cart>(*prices);
  if (!cart) return 1;

  for (const char* item : {"tea", "coffee", "caviar"}) {
    keel::Future<int> total = cart->ask<&Cart::add>(std::string(item));
    if (!total.wait_for(5s)) return 1;  // a generous deadline, in real time
    keel::Result<int> r = total.get();
    std::cout << item << " -> ";
    if (r) std::cout << "total " << *r << " cents\n";
    if (!r) std::cout << r.error() << "\n";
  }

  // [snippet then]
  keel::Future<std::string> euros =
      cart->ask<&Cart::add>(std::string("tea")).then([](keel::Result<int> total) {
        if (!total) return keel::Result<std::string>(total.error());
        char text[32];
        std::snprintf(text, sizeof text, "%d.%02d EUR", *total / 100, *total % 100);
        return keel::Result<std::string>(std::string(text));
      });
  keel::Result<std::string> shown = euros.get();
  // [/snippet then]
  if (!shown) return 1;
  std::cout << "one more tea -> " << *shown << "\n";
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
