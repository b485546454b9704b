// A support desk as a graph of actor nodes: "classify" reads a ticket, a
// router sends it to "refund" or "answer", and both end at "close". Each
// node visit is a journaled step of the run, holding the node's input and
// output, so a restarted run replays finished nodes without asking them
// again.
//
// Run it twice on the same journal:
//   keel_example_graph_router /tmp/desk.db
// The first run prints each node as it runs, then the two outcomes:
//   ticket-1: [refund] I was charged twice -> refunded -> closed
//   ticket-2: [question] how do I export? -> answered -> closed
// The second run finds both runs finished in the journal (start is
// idempotent by run id): it prints the same outcomes and "nodes run: 0".
#include <atomic>
#include <iostream>
#include <string>

#include "keel/engine/engine.h"
#include "keel/journal/journal.h"
#include "keel/workflow/graph.h"
#include "keel/workflow/workflow.h"

namespace {

int fail(const keel::Status& error) {  // prints why and exits 1
  std::cerr << error << "\n";
  return 1;
}

std::atomic<int> g_nodes_run{0};  // node asks handled by this process

// [snippet node]
// A node: an actor whose `process` handler maps the node's input to its output.
class Desk : public keel::Actor {
 public:
  explicit Desk(std::string suffix) : suffix_(std::move(suffix)) {}
  std::string process(const std::string& ticket) {
    ++g_nodes_run;
    std::cout << "  " << suffix_ << ": " << ticket << "\n";
    return ticket + suffix_;
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Desk::process>("process"));

 private:
  std::string suffix_;
};
// [/snippet node]

// [snippet graph]
keel::Result<keel::Graph<std::string>> support_desk(keel::System& system) {
  auto classify = system.spawn<keel::FunctionNode<std::string>>([](const std::string& text) {
    ++g_nodes_run;
    bool money = text.find("charged") != std::string::npos;
    return keel::Result<std::string>((money ? "[refund] " : "[question] ") + text);
  });
  KEEL_ASSIGN_OR_RETURN(auto refund, system.spawn<Desk>(" -> refunded"));
  KEEL_ASSIGN_OR_RETURN(auto answer, system.spawn<Desk>(" -> answered"));
  KEEL_ASSIGN_OR_RETURN(auto close, system.spawn<Desk>(" -> closed"));
  if (!classify) return classify.status();

  keel::GraphBuilder<std::string> g;
  g.node("classify", *classify).node("refund", refund).node("answer", answer).node("close", close);
  g.route("classify", {"refund", "answer"}, [](const std::string& ticket) {
    return ticket.starts_with("[refund]") ? "refund" : "answer";
  });
  g.edge("refund", "close").edge("answer", "close");
  return g.build();  // kInvalidArgument names an unknown or unreachable node, an unbounded cycle, ...
}
// [/snippet graph]

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return fail(keel::Status::invalid_argument("usage: graph_router <journal>"));
  auto journal = keel::open_journal(argv[1], {});
  if (!journal) return fail(journal.status());
  keel::System system;
  auto graph = support_desk(system);
  if (!graph) return fail(graph.status());
  keel::Workflows workflows;
  if (auto s = keel::define_graph(workflows, "support", *graph); !s.is_ok()) return fail(s);
  keel::WorkflowEngineOptions options;
  options.system = &system;
  options.journal = journal->get();
  auto engine = keel::WorkflowEngine::open(workflows, options);
  if (!engine) return fail(engine.status());

  const std::pair<std::string, std::string> tickets[] = {{"ticket-1", "I was charged twice"},
                                                         {"ticket-2", "how do I export?"}};
  for (const auto& [id, text] : tickets) {
    auto run = (*engine)->start<std::string>("support", id, text);  // idempotent by id
    if (!run) return fail(run.status());
    keel::Result<std::string> out = run->result().get();
    std::cout << id << ": " << (out ? *out : "failed: " + out.status().to_string()) << "\n";
  }
  std::cout << "nodes run: " << g_nodes_run.load() << "\n";
  engine->reset();
  return system.shutdown(keel::ShutdownMode::kDrain).is_ok() ? 0 : 1;
}
