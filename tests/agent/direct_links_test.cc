// DirectLinks (client/src/direct_links.h): which worker a client calls a
// key on directly, when it asks its agent again, and when a call of the
// key must still go through the agent.
#include "direct_links.h"

#include <gtest/gtest.h>

namespace keel::internal {
namespace {

using Time = DirectLinks::Time;
constexpr std::size_t kAgent = 0, kOtherAgent = 1;

Time at(int ms) { return Time{} + std::chrono::hours(1) + std::chrono::milliseconds(ms); }

// `links` knows that `key` lives on the worker at `port`, learned from
// kAgent, over a link it returns (open, with a connection object).
std::size_t learn_open(DirectLinks& links, const std::string& key, std::uint16_t port, Time now) {
  links.asked(key, kAgent, 7, now);
  EXPECT_EQ(links.answered(7), key);
  std::size_t i = links.learn(key, AgentEndpoint{"127.0.0.1", port}, now);
  if (i == DirectLinks::kNone) return links.usable(key, kAgent);
  return i;
}

TEST(DirectLinks, AKeyIsCalledDirectlyOnlyOnceItsLinkIsOpen) {
  DirectLinks links;
  EXPECT_TRUE(links.should_ask("k", kAgent, at(0)));
  links.asked("k", kAgent, 7, at(0));
  EXPECT_FALSE(links.should_ask("k", kAgent, at(0)));  // one question at a time
  EXPECT_EQ(links.answered(8), std::nullopt);
  ASSERT_EQ(links.answered(7), "k");
  const std::size_t i = links.learn("k", AgentEndpoint{"127.0.0.1", 4000}, at(1));
  ASSERT_EQ(i, 0u);
  EXPECT_EQ(links.usable("k", kAgent), DirectLinks::kNone);  // not connected yet
  links.opened(i);
  EXPECT_EQ(links.usable("k", kAgent), DirectLinks::kNone);  // no connection object yet
}

TEST(DirectLinks, AQuestionNeverAnsweredIsAskedAgainAfterItsTimeout) {
  DirectLinks links;
  links.asked("k", kAgent, 7, at(0));  // its agent's connection was lost with it
  EXPECT_FALSE(links.should_ask("k", kAgent, at(9'999)));
  EXPECT_TRUE(links.should_ask("k", kAgent, at(10'000)));
  links.asked("k", kAgent, 8, at(10'000));
  EXPECT_EQ(links.answered(7), std::nullopt);  // a late answer to the first is dropped
  EXPECT_EQ(links.answered(8), "k");
}

TEST(DirectLinks, KeysOfOneWorkerShareItsLink) {
  DirectLinks links;
  links.asked("a", kAgent, 1, at(0));
  links.answered(1);
  EXPECT_EQ(links.learn("a", AgentEndpoint{"127.0.0.1", 4000}, at(0)), 0u);
  links.asked("b", kAgent, 2, at(0));
  links.answered(2);
  EXPECT_EQ(links.learn("b", AgentEndpoint{"127.0.0.1", 4000}, at(0)), DirectLinks::kNone);  // the same link
  EXPECT_EQ(links.size(), 1u);
}

TEST(DirectLinks, AKeyWithoutAWorkerIsAskedAgainAfterASecond) {
  DirectLinks links;
  links.asked("k", kAgent, 7, at(0));
  links.answered(7);
  EXPECT_EQ(links.learn("k", std::nullopt, at(0)), DirectLinks::kNone);
  EXPECT_FALSE(links.should_ask("k", kAgent, at(999)));
  EXPECT_TRUE(links.should_ask("k", kAgent, at(1000)));
  // Another agent (the shard map moved the key) is asked at once.
  EXPECT_TRUE(links.should_ask("k", kOtherAgent, at(1)));
}

TEST(DirectLinks, CallsInFlightThroughTheAgentHoldTheKeyBack) {
  // A real connection object (to a port nobody listens on: it is never used).
  wire::TransportOptions o;
  o.secret = "direct-links-test";
  auto transport = wire::TcpTransport::create(o);
  ASSERT_TRUE(transport.is_ok()) << transport.status();
  wire::ReconnectOptions once;
  once.enabled = false;
  DirectLinks links;
  links.sent_through_agent("k");
  links.sent_through_agent("k");
  links.asked("k", kAgent, 7, at(0));
  links.answered(7);
  ASSERT_EQ(links.learn("k", AgentEndpoint{"127.0.0.1", 1}, at(0)), 0u);
  links.set_conn(0, (*transport)->connect("127.0.0.1", 1, wire::ConnectionCallbacks{}, once));
  links.opened(0);
  EXPECT_EQ(links.usable("k", kAgent), DirectLinks::kNone);  // two calls in flight through the agent
  links.ended_through_agent("k");
  EXPECT_EQ(links.usable("k", kAgent), DirectLinks::kNone);  // one
  links.ended_through_agent("k");
  EXPECT_EQ(links.usable("k", kAgent), 0u);
  links.ended_through_agent("k");  // one too many is ignored
  EXPECT_EQ(links.usable("k", kAgent), 0u);
  EXPECT_EQ(links.usable("k", kOtherAgent), DirectLinks::kNone);  // learned from another agent
  links.lost(0, at(1));
  EXPECT_EQ(links.usable("k", kAgent), DirectLinks::kNone);
  for (auto& c : links.take_all()) c.reset();
}

TEST(DirectLinks, ALostLinkDropsItsRoutesAndItsKeysAreAskedAgainAtOnce) {
  DirectLinks links;
  const std::size_t i = learn_open(links, "k", 4000, at(0));
  ASSERT_NE(i, DirectLinks::kNone);
  EXPECT_FALSE(links.should_ask("k", kAgent, at(1)));
  links.opened(i);
  links.lost(i, at(1));
  EXPECT_EQ(links.usable("k", kAgent), DirectLinks::kNone);
  EXPECT_TRUE(links.should_ask("k", kAgent, at(1)));
  // The worker back on the same port gets a new link: a lost one is never used again.
  links.asked("k", kAgent, 9, at(2));
  links.answered(9);
  EXPECT_EQ(links.learn("k", AgentEndpoint{"127.0.0.1", 4000}, at(2)), 1u);
}

TEST(DirectLinks, AnAgentWhoseWorkersCannotBeReachedIsNotAskedAgain) {
  DirectLinks links;
  for (int attempt = 0; attempt < DirectLinks::kMaxFailedConnects; ++attempt) {
    const Time now = at(attempt * 1000);
    ASSERT_TRUE(links.should_ask("k", kAgent, now)) << attempt;
    links.asked("k", kAgent, 7, now);
    links.answered(7);
    const std::size_t i = links.learn("k", AgentEndpoint{"127.0.0.1", 4000}, now);
    ASSERT_NE(i, DirectLinks::kNone);
    links.lost(i, now);  // the connect failed: asked again after a second only
    EXPECT_FALSE(links.should_ask("k", kAgent, now + std::chrono::milliseconds(999)));
  }
  EXPECT_FALSE(links.should_ask("k", kAgent, at(3'600'000)));
  EXPECT_FALSE(links.should_ask("other", kAgent, at(3'600'000)));
  EXPECT_TRUE(links.should_ask("k", kOtherAgent, at(3'600'000)));
  EXPECT_EQ(links.size(), static_cast<std::size_t>(DirectLinks::kMaxFailedConnects));
}

TEST(DirectLinks, AForgottenRouteIsAskedForAgainAfterASecond) {
  DirectLinks links;
  learn_open(links, "k", 4000, at(0));
  links.forget("k", at(10));
  EXPECT_EQ(links.usable("k", kAgent), DirectLinks::kNone);
  EXPECT_FALSE(links.should_ask("k", kAgent, at(500)));
  EXPECT_TRUE(links.should_ask("k", kAgent, at(1010)));
}

TEST(DirectLinks, IdleRoutesAreDroppedPastTheLimitAndBusyOnesKept) {
  DirectLinks links;
  links.sent_through_agent("busy");
  for (std::size_t i = 0; i < DirectLinks::kMaxRoutes; ++i) {
    links.asked("k" + std::to_string(i), kAgent, i + 1, at(0));
    links.answered(i + 1);
    links.learn("k" + std::to_string(i), std::nullopt, at(0));
  }
  // The next question trims: the idle keys are asked anew, the busy one
  // still counts its call in flight.
  links.asked("new", kAgent, 1 << 30, at(1));
  EXPECT_TRUE(links.should_ask("k0", kAgent, at(2)));
  links.ended_through_agent("busy");
  EXPECT_TRUE(links.should_ask("busy", kAgent, at(2)));
}

}  // namespace
}  // namespace keel::internal
