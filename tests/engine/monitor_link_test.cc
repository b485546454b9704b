// Death notifications: monitors (Actor::monitor, System::watch) and links
// (Actor::link, trap_exit). Deterministic unless the test says otherwise.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::system_config;

using Signal = std::pair<ActorId, StatusCode>;  // who stopped, and why
using Signals = std::vector<Signal>;

// An actor that can monitor, link, trap exits, fail and stop on request, and
// reports the Down and ExitSignal notifications it received.
class Peer : public Actor {
 public:
  void watch(AnyRef other) { monitor(other); }
  void unwatch(AnyRef other) { demonitor(other); }
  void link_to(AnyRef other) { link(other); }
  void unlink_from(AnyRef other) { unlink(other); }
  void trap(bool on) { set_trap_exit(on); }
  void crash(StatusCode code) { fail(Status(code, "peer crashed")); }
  void quit() { stop(); }
  int ping() { return 1; }
  Signals downs() const { return downs_; }
  Signals exits() const { return exits_; }

  static constexpr auto kHandlers = handlers(
      handler<&Peer::watch>("watch"), handler<&Peer::unwatch>("unwatch"),
      handler<&Peer::link_to>("link_to"), handler<&Peer::unlink_from>("unlink_from"),
      handler<&Peer::trap>("trap"), handler<&Peer::crash>("crash"), handler<&Peer::quit>("quit"),
      handler<&Peer::ping>("ping"), handler<&Peer::downs>("downs"), handler<&Peer::exits>("exits"));

 protected:
  void on_down(const Down& down) override { downs_.emplace_back(down.actor.id(), down.reason.code()); }
  void on_exit(const ExitSignal& exit) override { exits_.emplace_back(exit.from.id(), exit.reason.code()); }

 private:
  Signals downs_;
  Signals exits_;
};

class MonitorLink : public ::testing::Test {
 protected:
  SystemConfig config() {
    SystemConfig c = system_config(0);
    c.root_strategy.decider = [this](const Status& e) {
      root_saw_.push_back(e.code());
      return root_directive_;
    };
    c.log = [](std::string_view) {};
    return c;
  }

  ActorRef<Peer> peer() {
    auto r = sys_.spawn<Peer>();
    EXPECT_TRUE(r.is_ok()) << r.status();
    return r.value_or(ActorRef<Peer>());
  }

  template <class T>
  auto settle(Future<T> f) {
    sys_.run_until_idle();
    return await(std::move(f));
  }

  Signals downs_of(const ActorRef<Peer>& p) {
    auto r = settle(p.ask<&Peer::downs>());
    EXPECT_TRUE(r.is_ok()) << r.status();
    return r.value_or(Signals{});
  }
  Signals exits_of(const ActorRef<Peer>& p) {
    auto r = settle(p.ask<&Peer::exits>());
    EXPECT_TRUE(r.is_ok()) << r.status();
    return r.value_or(Signals{});
  }
  std::uint64_t failures_of(const ActorRef<Peer>& p) const {
    for (const auto& a : sys_.snapshot().actors) {
      if (a.id == p.id()) return a.failures;
    }
    ADD_FAILURE() << "actor " << p.id() << " is not in the snapshot";
    return 0;
  }

  std::vector<StatusCode> root_saw_;
  Directive root_directive_ = Directive::kStop;
  System sys_{config()};
};

// ---- Monitors ------------------------------------------------------------------

TEST_F(MonitorLink, MonitorDeliversDownWithOkWhenTheTargetStopsNormally) {
  auto watcher = peer();
  auto target = peer();
  watcher.tell<&Peer::watch>(AnyRef(target));
  sys_.run_until_idle();

  target.tell<&Peer::quit>();
  sys_.run_until_idle();

  EXPECT_EQ(downs_of(watcher), (Signals{{target.id(), StatusCode::kOk}}));
}

TEST_F(MonitorLink, MonitorDeliversTheErrorWhenAFailureEndsInAStop) {
  root_directive_ = Directive::kStop;
  auto watcher = peer();
  auto target = peer();
  watcher.tell<&Peer::watch>(AnyRef(target));
  sys_.run_until_idle();

  target.tell<&Peer::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  EXPECT_EQ(downs_of(watcher), (Signals{{target.id(), StatusCode::kCorruption}}));
}

TEST_F(MonitorLink, MonitorSurvivesARestartOfTheTargetAndFiresWhenItStops) {
  root_directive_ = Directive::kRestart;
  auto watcher = peer();
  auto target = peer();
  watcher.tell<&Peer::watch>(AnyRef(target));
  sys_.run_until_idle();

  target.tell<&Peer::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();
  ASSERT_EQ(target.current().generation(), 2u);
  EXPECT_TRUE(downs_of(watcher).empty());

  ActorRef<Peer>(target.current()).tell<&Peer::quit>();
  sys_.run_until_idle();
  EXPECT_EQ(downs_of(watcher), (Signals{{target.id(), StatusCode::kOk}}));
}

TEST_F(MonitorLink, MonitorOfAnAlreadyStoppedActorDeliversNotFound) {
  auto watcher = peer();
  auto target = peer();
  sys_.stop(target);
  sys_.run_until_idle();
  ASSERT_TRUE(target.is_stopped());

  watcher.tell<&Peer::watch>(AnyRef(target));
  sys_.run_until_idle();

  EXPECT_EQ(downs_of(watcher), (Signals{{target.id(), StatusCode::kNotFound}}));
}

TEST_F(MonitorLink, DemonitorSuppressesTheNotification) {
  auto watcher = peer();
  auto target = peer();
  watcher.tell<&Peer::watch>(AnyRef(target));
  sys_.run_until_idle();
  watcher.tell<&Peer::unwatch>(AnyRef(target));
  sys_.run_until_idle();

  target.tell<&Peer::quit>();
  sys_.run_until_idle();

  ASSERT_TRUE(target.is_stopped());
  EXPECT_TRUE(downs_of(watcher).empty());
}

// ---- System::watch ----------------------------------------------------------------

TEST(SystemWatch, CompletesWithOkWhenTheActorStopsNormally) {
  System sys(system_config(2));
  auto a = sys.spawn<Peer>();
  ASSERT_TRUE(a.is_ok());
  auto down = sys.watch(*a);

  sys.stop(*a);

  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_EQ(d->reason.code(), StatusCode::kOk);
  EXPECT_EQ(d->actor.id(), a->id());
}

TEST(SystemWatch, CompletesWithTheErrorOfAFailureThatEndsInAStop) {
  SystemConfig config = system_config(2);
  config.root_strategy.decider = [](const Status&) { return Directive::kStop; };
  config.log = [](std::string_view) {};
  System sys(std::move(config));
  auto a = sys.spawn<Peer>();
  ASSERT_TRUE(a.is_ok());
  auto down = sys.watch(*a);

  a->tell<&Peer::crash>(StatusCode::kIoError);

  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_EQ(d->reason.code(), StatusCode::kIoError);
}

TEST(SystemWatch, OfAStoppedActorCompletesWithNotFound) {
  System sys(system_config(2));
  auto a = sys.spawn<Peer>();
  ASSERT_TRUE(a.is_ok());
  auto stopped = sys.watch(*a);
  sys.stop(*a);
  ASSERT_TRUE(await(std::move(stopped)).is_ok());
  ASSERT_TRUE(a->is_stopped());

  auto d = await(sys.watch(*a));

  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_EQ(d->reason.code(), StatusCode::kNotFound);
  EXPECT_EQ(d->actor.id(), a->id());
}

TEST(SystemWatch, OfAnEmptyRefCompletesWithNotFound) {
  System sys(system_config(0));
  auto d = await(sys.watch(AnyRef()));
  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_EQ(d->reason.code(), StatusCode::kNotFound);
}

// ---- Links -----------------------------------------------------------------------

TEST_F(MonitorLink, AbnormalStopOfALinkedActorFailsTheOtherWithThatError) {
  root_directive_ = Directive::kStop;
  auto a = peer();
  auto b = peer();
  a.tell<&Peer::link_to>(AnyRef(b));
  sys_.run_until_idle();
  auto a_down = sys_.watch(a);

  b.tell<&Peer::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  // b failed and was stopped by the root; a then failed with b's error and
  // the root stopped it too.
  EXPECT_EQ(root_saw_, (std::vector<StatusCode>{StatusCode::kCorruption, StatusCode::kCorruption}));
  auto d = await(std::move(a_down));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->reason.code(), StatusCode::kCorruption);
}

TEST_F(MonitorLink, LinksWorkInBothDirections) {
  root_directive_ = Directive::kStop;
  auto a = peer();
  auto b = peer();
  a.tell<&Peer::link_to>(AnyRef(b));
  sys_.run_until_idle();
  auto b_down = sys_.watch(b);

  a.tell<&Peer::crash>(StatusCode::kIoError);
  sys_.run_until_idle();

  auto d = await(std::move(b_down));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->reason.code(), StatusCode::kIoError);
}

TEST_F(MonitorLink, NormalStopOfALinkedActorLeavesTheOtherRunning) {
  auto a = peer();
  auto b = peer();
  a.tell<&Peer::link_to>(AnyRef(b));
  sys_.run_until_idle();

  b.tell<&Peer::quit>();
  sys_.run_until_idle();

  ASSERT_TRUE(b.is_stopped());
  EXPECT_FALSE(a.is_stopped());
  EXPECT_EQ(failures_of(a), 0u);
  EXPECT_EQ(settle(a.ask<&Peer::ping>()).value_or(0), 1);
  EXPECT_TRUE(root_saw_.empty());
}

TEST_F(MonitorLink, RestartOfALinkedActorIsNotAStopAndLeavesTheOtherRunning) {
  root_directive_ = Directive::kRestart;
  auto a = peer();
  auto b = peer();
  a.tell<&Peer::link_to>(AnyRef(b));
  sys_.run_until_idle();

  b.tell<&Peer::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  ASSERT_EQ(b.current().generation(), 2u);
  EXPECT_EQ(failures_of(a), 0u);
  EXPECT_EQ(a.current().generation(), 1u);
}

TEST_F(MonitorLink, TrappingExitsDeliversOnExitAndKeepsTheActorRunning) {
  root_directive_ = Directive::kStop;
  auto a = peer();
  auto b = peer();
  a.tell<&Peer::trap>(true);
  a.tell<&Peer::link_to>(AnyRef(b));
  sys_.run_until_idle();

  b.tell<&Peer::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  EXPECT_EQ(exits_of(a), (Signals{{b.id(), StatusCode::kCorruption}}));
  EXPECT_FALSE(a.is_stopped());
  EXPECT_EQ(failures_of(a), 0u);
  EXPECT_EQ(root_saw_, std::vector<StatusCode>{StatusCode::kCorruption});  // b's failure only
}

TEST_F(MonitorLink, TrappingExitsAlsoReportsANormalStop) {
  auto a = peer();
  auto b = peer();
  a.tell<&Peer::trap>(true);
  a.tell<&Peer::link_to>(AnyRef(b));
  sys_.run_until_idle();

  b.tell<&Peer::quit>();
  sys_.run_until_idle();

  EXPECT_EQ(exits_of(a), (Signals{{b.id(), StatusCode::kOk}}));
}

TEST_F(MonitorLink, UnlinkStopsThePropagation) {
  root_directive_ = Directive::kStop;
  auto a = peer();
  auto b = peer();
  a.tell<&Peer::link_to>(AnyRef(b));
  sys_.run_until_idle();
  a.tell<&Peer::unlink_from>(AnyRef(b));
  sys_.run_until_idle();

  b.tell<&Peer::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  ASSERT_TRUE(b.is_stopped());
  EXPECT_FALSE(a.is_stopped());
  EXPECT_EQ(failures_of(a), 0u);
}

TEST_F(MonitorLink, LinkingToAStoppedActorSignalsNotFound) {
  auto a = peer();
  auto b = peer();
  sys_.stop(b);
  sys_.run_until_idle();
  ASSERT_TRUE(b.is_stopped());

  a.tell<&Peer::trap>(true);
  a.tell<&Peer::link_to>(AnyRef(b));
  sys_.run_until_idle();

  EXPECT_EQ(exits_of(a), (Signals{{b.id(), StatusCode::kNotFound}}));
}

}  // namespace
}  // namespace keel
