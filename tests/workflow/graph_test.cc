// Graphs of actor nodes on both journal backends: chains, routers, parallel
// branches and joins, bounded loops, the checks of build(), and a restart
// that resumes at the first unfinished node.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "workflow_env_test.h"
#include "keel/workflow/graph.h"
#include "keel/workflow/testing.h"
#include "keel/workflow/workflow.h"

namespace keel {
namespace {

// Counts the asks each node's actor handled, across engine restarts.
class Calls {
 public:
  void hit(const std::string& node) {
    std::lock_guard<std::mutex> l(mu_);
    ++counts_[node];
  }
  int count(const std::string& node) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = counts_.find(node);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;
};

// A node that appends its tag to the input and counts its calls.
class Tagger : public Actor {
 public:
  Tagger(std::string tag, Calls* calls) : tag_(std::move(tag)), calls_(calls) {}
  std::string process(const std::string& input) {
    calls_->hit(tag_);
    return input + tag_;
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Tagger::process>("process"));

 private:
  std::string tag_;
  Calls* calls_;
};

template <class Backend>
class GraphTest : public WorkflowEnvTest<Backend> {
 protected:
  using WorkflowEnvTest<Backend>::dir_;
  using WorkflowEnvTest<Backend>::workflows_;
  using WorkflowEnvTest<Backend>::env_;

  void SetUp() override {
    this->open_env("graph");
  }

  // Adds node `name`: a Tagger appending `name`.
  void add(GraphBuilder<std::string>& g, const std::string& name) {
    auto ref = env_->system().template spawn<Tagger>(name, &calls_);
    ASSERT_TRUE(ref.is_ok()) << ref.status();
    g.node(name, *ref);
  }
  // Builds `g` as workflow "g" (the engine is reopened so that it knows
  // the definition) and runs it to its end with `input`.
  Result<std::string> run(const GraphBuilder<std::string>& g, const std::string& id, const std::string& input) {
    KEEL_RETURN_IF_ERROR(define_and_reopen(g));
    return result_of(id, input);
  }
  Status define_and_reopen(const GraphBuilder<std::string>& g) {
    KEEL_RETURN_IF_ERROR(define(g));
    return env_->restart();
  }
  // Starts run `id` of "g" and runs it to its end.
  Result<std::string> result_of(const std::string& id, const std::string& input) {
    KEEL_ASSIGN_OR_RETURN(auto handle, env_->engine().template start<std::string>("g", id, input));
    return env_->run_to_completion(handle);
  }
  Status define(const GraphBuilder<std::string>& g) {
    KEEL_ASSIGN_OR_RETURN(Graph<std::string> graph, g.build());
    return define_graph(workflows_, "g", graph);
  }

  Calls calls_;
};
TYPED_TEST_SUITE(GraphTest, testing::Backends, testing::BackendNames);

TYPED_TEST(GraphTest, AChainRunsEachNodeOnThePreviousOutput) {
  GraphBuilder<std::string> g;
  for (const char* n : {"a", "b", "c"}) this->add(g, n);
  g.edge("a", "b").edge("b", "c");
  Result<std::string> out = this->run(g, "r1", ">");
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, ">abc");
  Result<RunInfo> info = this->env_->engine().describe("r1");
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->steps, 3u);  // one journaled step per node
}

TYPED_TEST(GraphTest, ARouterChoosesTheNextNodeByTheOutput) {
  GraphBuilder<std::string> g;
  for (const char* n : {"classify", "refund", "answer"}) this->add(g, n);
  g.route("classify", {"refund", "answer"}, [](const std::string& out) {
    return out.find("money") != std::string::npos ? std::string("refund") : std::string("answer");
  });
  ASSERT_TRUE(this->define_and_reopen(g).is_ok());
  EXPECT_EQ(this->result_of("r1", "money:").value(), "money:classifyrefund");
  EXPECT_EQ(this->result_of("r2", "hello:").value(), "hello:classifyanswer");
  EXPECT_EQ(this->calls_.count("refund"), 1);
  EXPECT_EQ(this->calls_.count("answer"), 1);
}

TYPED_TEST(GraphTest, ConditionalEdgesAndABoundedLoop) {
  GraphBuilder<std::string> g;
  for (const char* n : {"draft", "review", "publish"}) this->add(g, n);
  g.edge("draft", "review");
  g.edge_if("review", "publish", [](const std::string& out) { return out.size() > 20; });
  g.loop("review", "draft", 3);  // draft again, at most three drafts in all
  Result<std::string> out = this->run(g, "r1", "");
  ASSERT_TRUE(out.is_ok()) << out.status();
  // Each round adds 11 characters: the second review passes 20 and publishes.
  EXPECT_EQ(*out, "draftreviewdraftreviewpublish");
  EXPECT_EQ(this->calls_.count("draft"), 2);
}

TYPED_TEST(GraphTest, ParallelBranchesRunAndTheJoinMergesThemInOrder) {
  GraphBuilder<std::string> g;
  for (const char* n : {"split", "x", "y1", "y2", "merge"}) this->add(g, n);
  g.parallel("split", {"x", "y1"}).edge("y1", "y2");
  g.join({"x", "y2"}, "merge", [](std::vector<std::string> outs) { return outs[0] + "|" + outs[1] + "|"; });
  Result<std::string> out = this->run(g, "r1", "");
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, "splitx|splity1y2|merge");
}

TYPED_TEST(GraphTest, BuildNamesEachProblem) {
  Calls calls;
  auto ref = this->env_->system().template spawn<Tagger>(std::string("t"), &calls);
  ASSERT_TRUE(ref.is_ok());
  auto error_of = [&](const std::vector<std::string>& nodes, auto declare) {
    GraphBuilder<std::string> g;
    for (const std::string& n : nodes) g.node(n, *ref);
    declare(g);
    Result<Graph<std::string>> built = g.build();
    EXPECT_EQ(built.status().code(), StatusCode::kInvalidArgument);
    return std::string(built.status().message());
  };
  EXPECT_EQ(error_of({}, [](auto&) {}), "graph: it has no nodes");
  EXPECT_EQ(error_of({"a", "a"}, [](auto&) {}), "graph: node 'a' is declared twice");
  EXPECT_EQ(error_of({"a"}, [](auto& g) { g.edge("a", "b"); }), "graph: 'a' leads to an unknown node 'b'");
  EXPECT_EQ(error_of({"a", "b", "c"}, [](auto& g) { g.edge("a", "b"); }),
            "graph: node 'c' is unreachable from 'a'");
  EXPECT_EQ(error_of({"a", "b", "c"}, [](auto& g) { g.edge("a", "b").edge("b", "c").edge("c", "b"); }),
            "graph: cycle without a bound: b -> c -> b (make one of its edges a loop with max_visits)");
  EXPECT_EQ(error_of({"a", "b", "c", "d"},
                     [](auto& g) {
                       g.parallel("a", {"b", "c"}).edge("b", "d");
                       g.join({"b", "c"}, "d", [](std::vector<std::string> v) { return v[0]; });
                       g.edge("c", "d");
                     }),
            "graph: node 'b' has a join and another kind of way out (edges, a route, a parallel fork or a join)");
  EXPECT_EQ(error_of({"a", "b", "c", "d"},
                     [](auto& g) {
                       g.parallel("a", {"b", "c"});
                       g.join({"b"}, "d", [](std::vector<std::string> v) { return v[0]; });
                       g.edge("c", "d");
                     }),
            "graph: node 'c' has no way to end: it is a parallel branch of 'a' that reaches no join");
  EXPECT_EQ(error_of({"a", "b"}, [](auto& g) { g.loop("a", "b", 0); }),
            "graph: loop 'a' -> 'b' needs max_visits >= 1");
  // A bounded cycle is fine.
  GraphBuilder<std::string> ok;
  ok.node("a", *ref).node("b", *ref).edge("a", "b").loop("b", "a", 2);
  EXPECT_TRUE(ok.build().is_ok());
}

TYPED_TEST(GraphTest, ARestartResumesAtTheFirstUnfinishedNode) {
  GraphBuilder<std::string> g;
  for (const char* n : {"a", "b", "c", "d"}) this->add(g, n);
  g.edge("a", "b").edge("b", "c").edge("c", "d");
  ASSERT_TRUE(this->define(g).is_ok());
  WorkflowTestEnv& env = *this->env_;
  ASSERT_TRUE(env.crash_after_steps(2).is_ok());  // a and b journaled, then the process dies
  auto run = env.engine().template start<std::string>("g", "r1", std::string(">"));
  ASSERT_TRUE(run.is_ok());
  EXPECT_EQ(env.run_to_completion(*run).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(this->calls_.count("a"), 1);
  EXPECT_EQ(this->calls_.count("b"), 1);
  ASSERT_TRUE(env.restart().is_ok());
  Result<std::string> out = env.run_to_completion(env.engine().template handle<std::string>("r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_EQ(*out, ">abcd");
  EXPECT_EQ(this->calls_.count("a"), 1);  // replayed from the journal, not asked again
  EXPECT_EQ(this->calls_.count("b"), 1);
  EXPECT_EQ(this->calls_.count("c"), 1);
  EXPECT_EQ(this->calls_.count("d"), 1);
}

TYPED_TEST(GraphTest, AFunctionNodeRoutesToTheEndOrOn) {
  auto shout = this->env_->system().template spawn<FunctionNode<std::string>>(
      [](const std::string& s) -> Result<std::string> { return s + "!"; });
  ASSERT_TRUE(shout.is_ok());
  GraphBuilder<std::string> g;
  g.node("shout", *shout);
  this->add(g, "more");
  g.route("shout", {"more"}, [](const std::string& s) { return s.size() < 3 ? "more" : std::string(kGraphEnd); });
  ASSERT_TRUE(this->define_and_reopen(g).is_ok());
  EXPECT_EQ(this->result_of("r1", "a").value(), "a!more");
  EXPECT_EQ(this->result_of("r2", "abc").value(), "abc!");  // routed to the end

  GraphBuilder<std::string> cyclic = g;
  cyclic.edge("more", "shout");  // a cycle through a route has no bound
  EXPECT_EQ(cyclic.build().status().message(),
            "graph: cycle without a bound: shout -> more -> shout (make one of its edges a loop with max_visits)");
}

}  // namespace
}  // namespace keel
