// keel/workflow/graph.h: graphs of actor nodes, run as durable workflows.
//
// A node is an actor whose `process` handler takes the node's input (a T)
// and replies with its output (a T). Edges say which node runs next:
// plain and conditional edges, routers (the next node chosen from the
// output), parallel branches and the joins that merge them, and loops that
// must carry a bound. A graph run is a workflow run: each node visit is a
// journaled step named after the node, holding `{input, output}`, so a
// restarted run replays finished nodes without asking their actors again and
// resumes at its first unfinished node.
//
//   keel::GraphBuilder<std::string> g;
//   g.node("classify", classify_ref).node("refund", refund_ref).node("answer", answer_ref);
//   g.route("classify", {"refund", "answer"},
//           [](const std::string& kind) { return kind == "refund" ? "refund" : "answer"; });
//   KEEL_ASSIGN_OR_RETURN(keel::Graph<std::string> graph, g.build());
//   KEEL_RETURN_IF_ERROR(keel::define_graph(workflows, "support", graph));
//   auto run = engine->start<std::string>("support", "ticket-7", std::string("my card was charged twice"));
//
// The step records are in docs/workflow.md ("Graphs").
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "keel/base/status.h"
#include "keel/engine/actor.h"
#include "keel/engine/actor_ref.h"
#include "keel/engine/future.h"
#include "keel/wire/value.h"
#include "keel/workflow/context.h"
#include "keel/workflow/task.h"
#include "keel/workflow/workflow.h"

namespace keel {

// What a router returns to end the run at the routing node.
inline constexpr std::string_view kGraphEnd = "";

// The journaled value of a node visit (a step named after the node).
template <class T>
struct NodeVisit {
  T input{};
  T output{};
  static constexpr auto kFields =
      keel::fields(keel::field<&NodeVisit::input>("input"), keel::field<&NodeVisit::output>("output"));
};

// A node made from a function: spawn it and pass its ref to node().
//   auto upper = system.spawn<keel::FunctionNode<std::string>>(to_upper).value();
// The function runs in the actor's turns; it may return T or Result<T>.
template <class T>
class FunctionNode : public Actor {
 public:
  explicit FunctionNode(std::function<Result<T>(const T&)> fn) : fn_(std::move(fn)) {}
  Result<T> process(const T& input) { return fn_(input); }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&FunctionNode::process>("process"));

 private:
  std::function<Result<T>(const T&)> fn_;
};

namespace detail {

// The shape of a graph without its value type: what build() checks.
struct GraphShape {
  struct Edge {
    std::string to;
    int max_visits = 0;  // a loop edge's bound; 0 for other edges
  };
  struct Node {
    std::string name;
    bool declared = false;            // by node(); otherwise only named by an edge
    std::vector<Edge> edges;          // edge, edge_if and loop, in declaration order
    std::vector<std::string> routes;  // route targets
    std::vector<std::string> fork;    // parallel targets
    int join = -1;                    // index of the join this node feeds
  };
  struct Join {
    std::vector<std::string> sources;
    std::string target;
  };

  std::string entry;        // the first declared node
  std::vector<Node> nodes;  // in order of first mention
  std::vector<Join> joins;
  std::vector<std::string> errors;  // found while building (first one is reported)

  Node& mention(const std::string& name);
  const Node* find(std::string_view name) const;
};

// Errors: kInvalidArgument naming the first problem found.
Status validate_graph(const GraphShape& shape);

template <class T>
struct GraphSpec {
  struct NodeCode {
    std::function<Future<T>(const T&)> call;
    StepOptions options;
    std::vector<std::function<bool(const T&)>> conditions;  // one per edge; null: always
    std::function<std::string(const T&)> route;
  };
  GraphShape shape;
  std::map<std::string, NodeCode, std::less<>> code;
  std::vector<std::function<T(std::vector<T>)>> merges;  // one per join
};

// Where a walk stopped: the last node visited and its output.
template <class T>
struct Reached {
  std::string node;
  T output{};
};

Status graph_error(std::string_view run_id, std::string message);

// The journaled step that asks node `name` to process `input`. Not a
// coroutine, so the step's lambda is built outside any co_await (see
// kCoAwaitDestroysAggregateTemporariesTwice) and is passed as it is.
template <class T>
OpAwaitable<NodeVisit<T>> visit_node(WorkflowContext& ctx, const std::string& name,
                                     const typename GraphSpec<T>::NodeCode& code, const T& input) {
  return StepBuilder::step(ctx, name, [call = code.call, input]() {
    return call(input).then([input](Result<T> out) -> Result<NodeVisit<T>> {
      if (!out) return out.status();
      return NodeVisit<T>{input, std::move(*out)};
    });
  }, code.options);
}

// Walks from `from` with `input`. A branch walk (in_branch) stops at a node
// that feeds a join; the top-level walk stops where no edge applies.
template <class T>
Task<Result<Reached<T>>> walk_graph(const GraphSpec<T>& spec, WorkflowContext& ctx, std::string from, T input,
                                    std::map<std::string, int> visits, bool in_branch) {
  for (;;) {
    const GraphShape::Node& node = *spec.shape.find(from);
    const typename GraphSpec<T>::NodeCode& code = spec.code.find(from)->second;
    ++visits[from];
    KEEL_CO_ASSIGN_OR_RETURN(NodeVisit<T> visit, visit_node<T>(ctx, from, code, input));
    T output = std::move(visit.output);

    if (node.join >= 0) {
      if (in_branch) co_return Reached<T>{from, std::move(output)};
      co_return graph_error(ctx.run_id(), "node '" + from + "' feeds a join outside parallel branches");
    }
    std::string next;
    if (!node.fork.empty()) {
      std::vector<Branch<Reached<T>>> branches;
      for (const std::string& target : node.fork) {
        branches.push_back([&spec, target, output, visits](WorkflowContext& c) {
          return walk_graph<T>(spec, c, target, output, visits, true);
        });
      }
      KEEL_CO_ASSIGN_OR_RETURN(std::vector<Reached<T>> ends, ctx.all(std::move(branches)));
      const GraphShape::Join& join = spec.shape.joins[spec.shape.find(ends.front().node)->join];
      std::vector<T> outputs;
      for (const std::string& source : join.sources) {
        std::size_t hits = 0;
        for (Reached<T>& end : ends) {
          if (end.node == source) {
            ++hits;
            outputs.push_back(std::move(end.output));
          }
        }
        if (hits != 1) {
          co_return graph_error(ctx.run_id(), "the join into '" + join.target + "' got " + std::to_string(hits) +
                                                  " outputs of '" + source + "' from the branches of '" + from +
                                                  "' (it needs one)");
        }
      }
      input = spec.merges[spec.shape.find(ends.front().node)->join](std::move(outputs));
      from = join.target;
      continue;
    }
    if (code.route) {
      next = code.route(output);
      if (!next.empty() && std::find(node.routes.begin(), node.routes.end(), next) == node.routes.end()) {
        co_return graph_error(ctx.run_id(),
                              "node '" + from + "' routed to '" + next + "', which is not one of its route targets");
      }
    } else {
      for (std::size_t i = 0; i < node.edges.size(); ++i) {
        const GraphShape::Edge& edge = node.edges[i];
        if (edge.max_visits > 0 && visits[edge.to] >= edge.max_visits) continue;
        if (code.conditions[i] && !code.conditions[i](output)) continue;
        next = edge.to;
        break;
      }
    }
    if (next.empty()) {
      if (in_branch) {
        co_return graph_error(ctx.run_id(), "a parallel branch ended at '" + from + "' before reaching a join");
      }
      co_return Reached<T>{from, std::move(output)};
    }
    from = std::move(next);
    input = std::move(output);
  }
}

template <class T>
Task<Result<T>> run_graph(std::shared_ptr<const GraphSpec<T>> spec, WorkflowContext& ctx, T input) {
  KEEL_CO_ASSIGN_OR_RETURN(Reached<T> end,
                           walk_graph<T>(*spec, ctx, spec->shape.entry, std::move(input), {}, false));
  co_return std::move(end.output);
}

}  // namespace detail

// A validated graph: an immutable value, cheap to copy. Made by GraphBuilder.
template <class T>
class Graph {
 public:
  // The node that runs first (the first one declared).
  const std::string& entry() const { return spec_->shape.entry; }

 private:
  template <class U>
  friend class GraphBuilder;
  template <class U>
  friend Status define_graph(Workflows& workflows, const std::string& name, const Graph<U>& graph);
  explicit Graph(std::shared_ptr<const detail::GraphSpec<T>> spec) : spec_(std::move(spec)) {}
  std::shared_ptr<const detail::GraphSpec<T>> spec_;
};

// Declares nodes and edges, in any order; build() checks them. T is the
// value passed between nodes: wire-encodable (keel/wire/value.h), default-
// constructible and copyable (wire::Value for untyped graphs). Each node
// has one kind of way out: edges (edge, edge_if, loop), a route, a parallel
// fork, or a join; a node with none ends the run with its output. Not
// thread-safe.
template <class T>
class GraphBuilder {
 public:
  using Condition = std::function<bool(const T&)>;

  // Adds node `name`, run by asking `ref` A::process(const T&) (A's
  // kHandlers must list it). The first node added is the entry. The step
  // options (retries) apply to each visit.
  template <class A>
  GraphBuilder& node(const std::string& name, ActorRef<A> ref, StepOptions options = {}) {
    using R = decltype(ref.template ask<&A::process>(std::declval<const T&>()));
    static_assert(std::is_same_v<R, Future<T>>, "A::process must take a T and reply with a T");
    detail::GraphShape::Node& n = spec_.shape.mention(name);
    if (name.empty()) spec_.shape.errors.push_back("a node needs a name");
    if (n.declared) spec_.shape.errors.push_back("node '" + name + "' is declared twice");
    n.declared = true;
    if (spec_.shape.entry.empty()) spec_.shape.entry = name;
    auto& code = spec_.code[name];
    code.call = [ref](const T& input) { return ref.template ask<&A::process>(input); };
    code.options = std::move(options);
    return *this;
  }
  // After `from`, run `to`.
  GraphBuilder& edge(const std::string& from, const std::string& to) { return add_edge(from, to, 0, nullptr); }
  // After `from`, run `to` if `condition(from's output)`. A node's edges are
  // tried in declaration order; the first that applies is taken, and when
  // none does, the run ends with the node's output.
  GraphBuilder& edge_if(const std::string& from, const std::string& to, Condition condition) {
    return add_edge(from, to, 0, std::move(condition));
  }
  // An edge that may close a cycle: taken (if `condition` holds, when given)
  // while `to` has been visited fewer than `max_visits` times (>= 1) in this
  // run (in this branch, inside parallel branches).
  GraphBuilder& loop(const std::string& from, const std::string& to, int max_visits, Condition condition = nullptr) {
    if (max_visits < 1) {
      spec_.shape.errors.push_back("loop '" + from + "' -> '" + to + "' needs max_visits >= 1");
    }
    return add_edge(from, to, max_visits, std::move(condition));
  }
  // After `from`, run the node named by `choose(from's output)`, which must
  // be one of `targets`, or kGraphEnd to end the run there.
  GraphBuilder& route(const std::string& from, std::vector<std::string> targets,
                      std::function<std::string(const T&)> choose) {
    detail::GraphShape::Node& n = way_out(from, "a route");
    n.routes = std::move(targets);
    spec_.code[from].route = std::move(choose);
    return *this;
  }
  // After `from`, run each of `targets` with from's output, side by side;
  // each branch goes on until it reaches a node that feeds a join.
  GraphBuilder& parallel(const std::string& from, std::vector<std::string> targets) {
    way_out(from, "a parallel fork").fork = std::move(targets);
    return *this;
  }
  // Waits for one output of each of `sources` (the ends of parallel
  // branches) and runs `to` with merge(outputs in `sources` order).
  GraphBuilder& join(std::vector<std::string> sources, const std::string& to,
                     std::function<T(std::vector<T>)> merge) {
    const int index = static_cast<int>(spec_.shape.joins.size());
    for (const std::string& source : sources) {
      detail::GraphShape::Node& n = way_out(source, "a join");
      if (n.join >= 0) spec_.shape.errors.push_back("node '" + source + "' feeds two joins");
      n.join = index;
    }
    spec_.shape.mention(to);
    spec_.shape.joins.push_back({std::move(sources), to});
    spec_.merges.push_back(std::move(merge));
    return *this;
  }

  // Checks the graph. Errors: kInvalidArgument naming the first problem: an
  // empty graph, a node declared twice, an unknown node, a node with two
  // kinds of way out, an unreachable node, a cycle without a bound (no loop
  // edge on it), a parallel branch with no way to end (it reaches no join),
  // a join no parallel fork feeds.
  Result<Graph<T>> build() const {
    KEEL_RETURN_IF_ERROR(detail::validate_graph(spec_.shape));
    return Graph<T>(std::make_shared<const detail::GraphSpec<T>>(spec_));
  }

 private:
  GraphBuilder& add_edge(const std::string& from, const std::string& to, int max_visits, Condition condition) {
    way_out(from, "edges").edges.push_back({to, max_visits});
    spec_.shape.mention(to);
    spec_.code[from].conditions.push_back(std::move(condition));
    return *this;
  }
  // `from`'s node, checking that it has no other kind of way out.
  detail::GraphShape::Node& way_out(const std::string& from, std::string_view kind) {
    detail::GraphShape::Node& n = spec_.shape.mention(from);
    const bool edges = !n.edges.empty(), route = !n.routes.empty(), fork = !n.fork.empty(), join = n.join >= 0;
    const bool same = (kind == "edges" && edges) || (kind == "a route" && route) ||
                      (kind == "a parallel fork" && fork) || (kind == "a join" && join);
    if (!same && (edges || route || fork || join)) {
      spec_.shape.errors.push_back("node '" + from + "' has " + std::string(kind) +
                                    " and another kind of way out (edges, a route, a parallel fork or a join)");
    }
    return n;
  }

  detail::GraphSpec<T> spec_;
};

// Registers `graph` as the workflow `name`, with input and output T: a run
// starts at the entry node with the run's input, and its result is the
// output of the node where it ends. Start it like any workflow
// (WorkflowEngine::start<T>(name, run_id, input), idempotent by run id).
// Errors: as Workflows::define.
template <class T>
Status define_graph(Workflows& workflows, const std::string& name, const Graph<T>& graph) {
  std::shared_ptr<const detail::GraphSpec<T>> spec = graph.spec_;
  return workflows.define<T, T>(name, [spec](WorkflowContext& ctx, T input) {
    return detail::run_graph<T>(spec, ctx, std::move(input));
  });
}

}  // namespace keel
