// Does not compile under g++ < 13, by design: an aggregate temporary with a
// destructor written inside the co_await of ctx.call (see
// tests/workflow/CMakeLists.txt, which expects the refusal's advice).
#include <string>
#include <vector>

#include "keel/engine/actor.h"
#include "keel/workflow/workflow.h"

namespace keel {

struct Order {
  std::string id;
  std::vector<int> items;
};

class Shop : public Actor {
 public:
  std::string charge(const Order& order) { return "paid " + order.id; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Shop::charge>("charge"));
};

Task<Result<std::string>> charge(WorkflowContext& ctx, ActorRef<Shop> shop, std::string id) {
  KEEL_CO_ASSIGN_OR_RETURN(std::string receipt, ctx.call<&Shop::charge>(shop, Order{id, {1, 2}}));
  co_return receipt;
}

}  // namespace keel
