// Does not compile under g++ < 13, by design: a lambda with by-value
// captures written inside the co_await of ctx.step (see
// tests/workflow/CMakeLists.txt, which expects the refusal's advice).
#include <string>

#include "keel/workflow/workflow.h"

namespace keel {

Task<Result<std::string>> charge(WorkflowContext& ctx, std::string order) {
  KEEL_CO_ASSIGN_OR_RETURN(std::string receipt, ctx.step("charge", [order] { return "paid " + order; }));
  co_return receipt;
}

}  // namespace keel
