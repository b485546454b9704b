// A workflow that waits for a person: an expense run submits a claim, then
// waits for the signal "approve" that someone sends later, maybe after the
// program was restarted. The wait costs no thread, and the signal is
// journaled, so neither the run nor the answer is lost in between.
//
// Run it twice on the same journal:
//   keel_example_signal_wait /tmp/expense.db   # starts the run; it waits
//   keel_example_signal_wait /tmp/expense.db   # recovers it and approves
// The first run prints "expense-42: waiting at 'approve'"; the second
// "expense-42: approved by alice, 120 paid".
#include <keel/engine/engine.h>
#include <keel/journal/journal.h>

#include <iostream>

// [snippet]
#include <keel/workflow/workflow.h>

#include <cstdint>
#include <string>

struct Claim {
  std::string who;
  std::int64_t amount = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Claim::who>("who"),
                                               keel::field<&Claim::amount>("amount"));
};

keel::Task<keel::Result<std::string>> expense(keel::WorkflowContext& ctx, Claim claim) {
  KEEL_CO_ASSIGN_OR_RETURN(std::string ticket, ctx.step("submit", [&] {
    return "ticket for " + claim.who;  // an outside call would go here
  }));
  // Suspends the run (no thread) until "approve" is signalled; a signal
  // sent earlier waits in the run's inbox.
  KEEL_CO_ASSIGN_OR_RETURN(std::string approver, ctx.signal<std::string>("approve"));
  KEEL_CO_ASSIGN_OR_RETURN(std::int64_t paid, ctx.step("pay", [&] { return claim.amount; }));
  co_return "approved by " + approver + ", " + std::to_string(paid) + " paid";
}
// [/snippet]

namespace {

int fail(const keel::Status& error) {  // prints why and exits 1
  std::cerr << error << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return fail(keel::Status::invalid_argument("usage: signal_wait <journal>"));
  auto journal = keel::open_journal(argv[1], {});
  if (!journal) return fail(journal.status());
  keel::System system;
  keel::Workflows workflows;
  if (auto s = workflows.define<Claim, std::string>("expense", expense); !s.is_ok()) return fail(s);
  keel::WorkflowEngineOptions options;
  options.system = &system;
  options.journal = journal->get();
  auto engine = keel::WorkflowEngine::open(workflows, options);  // resumes runs
  if (!engine) return fail(engine.status());

  const bool existed = (*engine)->describe("expense-42").is_ok();
  // Idempotent: a later run of the program finds the recovered run.
  auto run = (*engine)->start<std::string>("expense", "expense-42", Claim{"bob", 120});
  if (!run) return fail(run.status());
  if (!existed) {  // a fresh run: let it reach its wait, and leave it there
    (*engine)->wait_idle(std::chrono::seconds(10));
    std::cout << "expense-42: waiting at '" << (*engine)->describe("expense-42")->current_step << "'\n";
  } else {
    if ((*engine)->describe("expense-42")->status == keel::RunStatus::kRunning) {
      keel::Status sent = (*engine)->signal("expense-42", "approve", std::string("alice")).get();
      if (!sent.is_ok()) return fail(sent);
    }
    keel::Result<std::string> out = run->result().get();
    if (!out) return fail(out.status());
    std::cout << "expense-42: " << *out << "\n";
  }
  engine->reset();
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
