// Graph checks (keel/workflow/graph.h): everything build() rejects.
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "keel/workflow/graph.h"

namespace keel::detail {
namespace {

Status invalid(const std::string& message) { return Status::invalid_argument("graph: " + message); }

// The nodes run after `n`: its edges (loop edges only with `loops`), route
// targets, parallel targets and its join's target.
std::vector<std::string> successors(const GraphShape& shape, const GraphShape::Node& n, bool loops) {
  std::vector<std::string> out;
  for (const GraphShape::Edge& e : n.edges) {
    if (loops || e.max_visits == 0) out.push_back(e.to);
  }
  out.insert(out.end(), n.routes.begin(), n.routes.end());
  out.insert(out.end(), n.fork.begin(), n.fork.end());
  if (n.join >= 0) out.push_back(shape.joins[n.join].target);
  return out;
}

// The first cycle of unbounded edges, as "a -> b -> a", or "".
std::string find_cycle(const GraphShape& shape) {
  enum Mark { kNew, kOnPath, kDone };
  std::map<std::string, Mark> marks;
  std::vector<std::string> path;
  std::function<std::string(const std::string&)> visit = [&](const std::string& name) -> std::string {
    marks[name] = kOnPath;
    path.push_back(name);
    for (const std::string& next : successors(shape, *shape.find(name), false)) {
      if (marks[next] == kOnPath) {
        std::string cycle;
        for (auto it = std::find(path.begin(), path.end(), next); it != path.end(); ++it) cycle += *it + " -> ";
        return cycle + next;
      }
      if (marks[next] == kNew) {
        std::string cycle = visit(next);
        if (!cycle.empty()) return cycle;
      }
    }
    path.pop_back();
    marks[name] = kDone;
    return "";
  };
  for (const GraphShape::Node& n : shape.nodes) {
    if (marks[n.name] != kNew) continue;
    std::string cycle = visit(n.name);
    if (!cycle.empty()) return cycle;
  }
  return "";
}

// Every node reachable from `start` (itself included), walking the edges;
// the walk does not go past a node for which `stop` returns true.
template <class Stop>
std::set<std::string> reachable(const GraphShape& shape, const std::string& start, Stop stop) {
  std::set<std::string> seen{start};
  std::vector<std::string> frontier{start};
  while (!frontier.empty()) {
    const GraphShape::Node& n = *shape.find(frontier.back());
    frontier.pop_back();
    if (stop(n)) continue;
    for (const std::string& next : successors(shape, n, true)) {
      if (seen.insert(next).second) frontier.push_back(next);
    }
  }
  return seen;
}

// The join sources a branch starting at `start` can reach (it stops there).
std::set<std::string> join_sources_from(const GraphShape& shape, const std::string& start) {
  std::set<std::string> sources;
  reachable(shape, start, [&](const GraphShape::Node& n) {
    if (n.join < 0) return false;
    sources.insert(n.name);
    return true;
  });
  return sources;
}

}  // namespace

GraphShape::Node& GraphShape::mention(const std::string& name) {
  for (Node& n : nodes) {
    if (n.name == name) return n;
  }
  nodes.push_back(Node{});
  nodes.back().name = name;
  return nodes.back();
}

const GraphShape::Node* GraphShape::find(std::string_view name) const {
  for (const Node& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

Status graph_error(std::string_view run_id, std::string message) {
  return Status::failed_precondition("graph run '" + std::string(run_id) + "': " + message);
}

Status validate_graph(const GraphShape& shape) {
  if (!shape.errors.empty()) return invalid(shape.errors.front());
  if (shape.entry.empty()) return invalid("it has no nodes");
  for (const GraphShape::Node& n : shape.nodes) {
    if (n.declared) continue;
    std::string user;  // a node that names it
    for (const GraphShape::Node& m : shape.nodes) {
      for (const std::string& next : successors(shape, m, true)) {
        if (next == n.name && user.empty()) user = m.name;
      }
    }
    if (user.empty()) return invalid("node '" + n.name + "' has edges but is not declared: unknown node");
    return invalid("'" + user + "' leads to an unknown node '" + n.name + "'");
  }
  if (std::string cycle = find_cycle(shape); !cycle.empty()) {
    return invalid("cycle without a bound: " + cycle + " (make one of its edges a loop with max_visits)");
  }
  const std::set<std::string> reached = reachable(shape, shape.entry, [](const GraphShape::Node&) { return false; });
  for (const GraphShape::Node& n : shape.nodes) {
    if (!reached.count(n.name)) return invalid("node '" + n.name + "' is unreachable from '" + shape.entry + "'");
  }
  std::vector<bool> fed(shape.joins.size(), false);
  for (const GraphShape::Node& n : shape.nodes) {
    if (n.fork.empty()) continue;
    int join = -1;
    for (const std::string& target : n.fork) {
      std::set<std::string> sources = join_sources_from(shape, target);
      if (sources.empty()) {
        return invalid("node '" + target + "' has no way to end: it is a parallel branch of '" + n.name +
                       "' that reaches no join");
      }
      for (const std::string& source : sources) {
        const int j = shape.find(source)->join;
        if (join >= 0 && j != join) {
          return invalid("the parallel branches of '" + n.name + "' reach two joins (into '" +
                         shape.joins[join].target + "' and '" + shape.joins[j].target + "')");
        }
        join = j;
      }
    }
    if (shape.joins[join].sources.size() != n.fork.size()) {
      return invalid("the join into '" + shape.joins[join].target + "' waits for " +
                     std::to_string(shape.joins[join].sources.size()) + " branches but '" + n.name + "' starts " +
                     std::to_string(n.fork.size()));
    }
    fed[join] = true;
  }
  for (std::size_t j = 0; j < shape.joins.size(); ++j) {
    if (!fed[j]) return invalid("the join into '" + shape.joins[j].target + "' is fed by no parallel fork");
  }
  return Status::ok();
}

}  // namespace keel::detail
