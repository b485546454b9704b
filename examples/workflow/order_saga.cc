// An order as a saga: reserve stock, charge the card, ship. Each step that
// changes the world registers an undo action; when a later step fails, the
// engine runs the undo actions newest first, each a journaled step, before
// the run is marked failed. Order "order-2" cannot be shipped.
//
// Run it twice on the same journal:
//   keel_example_order_saga /tmp/orders.db
// The first run prints what each step does, then the two outcomes:
//   order-1: shipped as parcel P-order-1
//   order-2: failed: failed_precondition: no courier for order-2
// The second run finds both runs finished in the journal (start is
// idempotent by run id): it prints the same outcomes and "steps run: 0".
#include <atomic>
#include <iostream>
#include <string>

#include "keel/engine/engine.h"
#include "keel/journal/journal.h"
#include "keel/workflow/workflow.h"

namespace {

int fail(const keel::Status& error) {  // prints why and exits 1
  std::cerr << error << "\n";
  return 1;
}

std::atomic<int> g_steps_run{0};  // step functions run by this process

keel::Status act(const std::string& what) {
  ++g_steps_run;
  std::cout << "  " << what << "\n";
  return keel::Status::ok();
}

// [snippet]
keel::Task<keel::Result<std::string>> order(keel::WorkflowContext& ctx, std::string id) {
  KEEL_CO_RETURN_IF_ERROR(ctx.step("reserve", [&] { return act("reserve stock for " + id); }));
  ctx.compensate("release", [id] { return act("release stock of " + id); });

  keel::StepOptions retried;  // a flaky payment service: three attempts
  retried.retry.max_attempts = 3;
  retried.retry.retry_on = {keel::StatusCode::kUnavailable};
  KEEL_CO_RETURN_IF_ERROR(ctx.step("charge", [&] { return act("charge card for " + id); }, retried));
  ctx.compensate("refund", [id] { return act("refund card for " + id); });

  KEEL_CO_ASSIGN_OR_RETURN(std::string parcel, ctx.step("ship", [&]() -> keel::Result<std::string> {
    if (id == "order-2") return keel::Status::failed_precondition("no courier for " + id);
    KEEL_RETURN_IF_ERROR(act("ship " + id));
    return "P-" + id;
  }));
  co_return "shipped as parcel " + parcel;
}
// [/snippet]

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return fail(keel::Status::invalid_argument("usage: order_saga <journal>"));
  auto journal = keel::open_journal(argv[1], {});
  if (!journal) return fail(journal.status());
  keel::System system;
  keel::Workflows workflows;
  if (auto s = workflows.define<std::string, std::string>("order", order); !s.is_ok()) return fail(s);
  keel::WorkflowEngineOptions options;
  options.system = &system;
  options.journal = journal->get();
  auto engine = keel::WorkflowEngine::open(workflows, options);
  if (!engine) return fail(engine.status());

  for (std::string id : {"order-1", "order-2"}) {
    auto run = (*engine)->start<std::string>("order", id, id);  // idempotent by id
    if (!run) return fail(run.status());
    keel::Result<std::string> out = run->result().get();
    std::cout << id << ": " << (out ? *out : "failed: " + out.status().to_string()) << "\n";
  }
  std::cout << "steps run: " << g_steps_run.load() << "\n";
  engine->reset();
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
