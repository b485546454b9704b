// AgentMetrics (agent/src/agent_metrics.h): how the agent adds up its
// workers' reports per slot, and what it renders. No processes: the
// reports are made up here.
#include "agent_metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace keel::internal {
namespace {

wire::WorkerStats stats(std::uint64_t handled, std::uint64_t depth, std::uint64_t commits, std::uint64_t records,
                        std::uint64_t fast_commits) {
  wire::WorkerStats s{handled, depth, commits, records, {}};
  s.commit_seconds.bounds = latency_buckets_seconds();
  s.commit_seconds.counts.assign(s.commit_seconds.bounds.size() + 1, 0);
  s.commit_seconds.counts[0] = fast_commits;  // all at or under 50 us
  s.commit_seconds.sum = 0.25 * static_cast<double>(fast_commits) * 1e-4;
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(AgentMetrics, RendersTheAgentsStateAndCountsFramesByKind) {
  AgentMetrics m(1);
  m.count_frame(ClientFrame::kCall);
  m.count_frame(ClientFrame::kCall);
  m.count_frame(ClientFrame::kSpawn);
  const std::string text = m.render(AgentState{3, 1, 7});
  EXPECT_EQ(text.rfind("# HELP keel_agent_messages_total ", 0), 0u) << text;
  EXPECT_TRUE(has_line(text, "keel_agent_messages_total{kind=\"spawn\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "keel_agent_messages_total{kind=\"call\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "keel_agent_messages_total{kind=\"cancel\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "keel_agent_worker_restarts_total 3")) << text;
  EXPECT_TRUE(has_line(text, "keel_agent_workers_up 1")) << text;
  EXPECT_TRUE(has_line(text, "keel_agent_clients 7")) << text;
}

TEST(AgentMetrics, ASlotWithoutReportsRendersZeros) {
  AgentMetrics m(2);
  const std::string text = m.render(AgentState{});
  for (const char* w : {"0", "1"}) {
    const std::string l = std::string("{worker=\"") + w + "\"";
    EXPECT_TRUE(has_line(text, "keel_worker_messages_handled_total" + l + "} 0")) << text;
    EXPECT_TRUE(has_line(text, "keel_worker_inbox_depth" + l + "} 0")) << text;
    EXPECT_TRUE(has_line(text, "keel_worker_commit_seconds_bucket" + l + ",le=\"+Inf\"} 0")) << text;
    EXPECT_TRUE(has_line(text, "keel_worker_commit_seconds_count" + l + "} 0")) << text;
  }
}

TEST(AgentMetrics, TheLatestReportReplacesTheLastOfTheSameProcess) {
  AgentMetrics m(1);
  m.worker_stats(0, stats(5, 2, 1, 3, 1));
  m.worker_stats(0, stats(9, 1, 2, 5, 2));
  const std::string text = m.render(AgentState{});
  EXPECT_TRUE(has_line(text, "keel_worker_messages_handled_total{worker=\"0\"} 9")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_inbox_depth{worker=\"0\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_commits_total{worker=\"0\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_commit_records_total{worker=\"0\"} 5")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_commit_seconds_count{worker=\"0\"} 2")) << text;
}

TEST(AgentMetrics, AGoneProcessesFiguresStayInItsSlotsCounters) {
  AgentMetrics m(2);
  m.worker_stats(0, stats(5, 2, 1, 3, 1));
  m.worker_stats(1, stats(100, 0, 0, 0, 0));
  m.worker_gone(0);
  std::string text = m.render(AgentState{});
  EXPECT_TRUE(has_line(text, "keel_worker_messages_handled_total{worker=\"0\"} 5")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_inbox_depth{worker=\"0\"} 0")) << text;  // no process: nothing queued
  m.worker_stats(0, stats(4, 6, 2, 2, 2));  // the next process counts from zero
  text = m.render(AgentState{});
  EXPECT_TRUE(has_line(text, "keel_worker_messages_handled_total{worker=\"0\"} 9")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_inbox_depth{worker=\"0\"} 6")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_commits_total{worker=\"0\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_commit_records_total{worker=\"0\"} 5")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_commit_seconds_bucket{worker=\"0\",le=\"5e-05\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_commit_seconds_count{worker=\"0\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_messages_handled_total{worker=\"1\"} 100")) << text;
}

TEST(AgentMetrics, AWorkerWithOtherBucketsIsLeftOutOfTheHistogramOnly) {
  AgentMetrics m(2);
  wire::WorkerStats odd{7, 0, 1, 1, HistogramSnapshot{{0.5}, {1, 0}, 0.25}};
  m.worker_stats(1, odd);
  const std::string text = m.render(AgentState{});
  EXPECT_TRUE(has_line(text, "keel_worker_messages_handled_total{worker=\"1\"} 7")) << text;
  EXPECT_TRUE(has_line(text, "keel_worker_commit_seconds_count{worker=\"0\"} 0")) << text;
  EXPECT_EQ(text.find("keel_worker_commit_seconds_count{worker=\"1\"}"), std::string::npos) << text;
}

}  // namespace
}  // namespace keel::internal
