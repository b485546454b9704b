// Supervision: strategy kinds and directives, restart intensity, backoff,
// incarnations and the root strategy. Deterministic: no worker threads
// (the test steps the system) and a ManualClock for windows and delays.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {

// GoogleTest printers, found by argument-dependent lookup.
void PrintTo(ActorStatus status, std::ostream* os) { *os << actor_status_name(status); }
void PrintTo(SupervisionKind kind, std::ostream* os) {
  switch (kind) {
    case SupervisionKind::kOneForOne: *os << "kOneForOne"; return;
    case SupervisionKind::kOneForAll: *os << "kOneForAll"; return;
    case SupervisionKind::kRestForOne: *os << "kRestForOne"; return;
  }
}

namespace {

using namespace std::chrono_literals;
using testing::await;

// What the hooks of every incarnation did, in order. Deterministic mode runs
// everything on the test thread, so no lock is needed.
struct Journal {
  std::vector<std::string> events;
};

// A child with state (a number) and hooks that write "<name>@<generation> <hook>".
class Worker : public Actor {
 public:
  Worker(std::string name, Journal* journal) : name_(std::move(name)), journal_(journal) {}

  void add(int n) { value_ += n; }
  int get() const { return value_; }
  void crash(StatusCode code) { fail(Status(code, name_ + " crashed")); }
  void explode() { throw std::runtime_error(name_ + " exploded"); }

  static constexpr auto kHandlers =
      handlers(handler<&Worker::add>("add"), handler<&Worker::get>("get"),
               handler<&Worker::crash>("crash"), handler<&Worker::explode>("explode"));

 protected:
  Status on_start() override {
    note("start");
    return Status::ok();
  }
  Status on_stop() override {
    note("stop");
    return Status::ok();
  }
  Status on_restart(const Status& cause) override {
    note("restart(" + std::string(status_code_name(cause.code())) + ")");
    return Actor::on_restart(cause);
  }

 private:
  void note(const std::string& what) {
    journal_->events.push_back(name_ + "@" + std::to_string(self().generation()) + " " + what);
  }

  std::string name_;
  Journal* journal_;
  int value_ = 0;
};

// Spawns `count` Workers named w0, w1, ... in its on_start (also registered
// under those names when `register_children`) and supervises them with
// `strategy`.
class Supervisor : public Actor {
 public:
  Supervisor(SupervisorStrategy strategy, int count, Journal* journal, bool register_children)
      : strategy_(std::move(strategy)),
        count_(count),
        journal_(journal),
        register_children_(register_children) {}

  std::vector<AnyRef> kids() const { return children(); }
  void crash(StatusCode code) { fail(Status(code, "supervisor crashed")); }

  static constexpr auto kHandlers =
      handlers(handler<&Supervisor::kids>("kids"), handler<&Supervisor::crash>("crash"));

 protected:
  Status on_start() override {
    journal_->events.push_back("sup@" + std::to_string(self().generation()) + " start");
    for (int i = 0; i < count_; ++i) {
      const std::string name = "w" + std::to_string(i);
      SpawnOptions options;
      if (register_children_) options.name = name;
      auto child = spawn_with<Worker>(options, name, journal_);
      if (!child) return child.status();
    }
    return Status::ok();
  }
  Status on_stop() override {
    journal_->events.push_back("sup@" + std::to_string(self().generation()) + " stop");
    return Status::ok();
  }
  SupervisorStrategy supervisor_strategy() const override { return strategy_; }

 private:
  SupervisorStrategy strategy_;
  int count_;
  Journal* journal_;
  bool register_children_;
};

// A top-level actor whose only child is a Supervisor; its own strategy
// records each error it decides on and answers `directive`.
class Grandparent : public Actor {
 public:
  Grandparent(SupervisorStrategy child_strategy, Directive directive, Journal* journal)
      : child_strategy_(std::move(child_strategy)), directive_(directive), journal_(journal) {}

  std::vector<AnyRef> kids() const { return children(); }
  static constexpr auto kHandlers = handlers(handler<&Grandparent::kids>("kids"));

 protected:
  Status on_start() override {
    auto child = spawn<Supervisor>(child_strategy_, 2, journal_, false);
    return child ? Status::ok() : child.status();
  }
  SupervisorStrategy supervisor_strategy() const override {
    SupervisorStrategy s;
    Journal* journal = journal_;
    s.decider = [journal, d = directive_](const Status& e) {
      journal->events.push_back("grandparent decides on " + std::string(status_code_name(e.code())));
      return d;
    };
    return s;
  }

 private:
  SupervisorStrategy child_strategy_;
  Directive directive_;
  Journal* journal_;
};

SupervisorStrategy always(SupervisionKind kind, Directive directive) {
  SupervisorStrategy s;
  s.kind = kind;
  s.decider = [directive](const Status&) { return directive; };
  return s;
}

class Supervision : public ::testing::Test {
 protected:
  SystemConfig config() {
    SystemConfig c;
    c.threads = 0;
    c.clock = &clock_;
    c.root_strategy.decider = [this](const Status& e) {
      root_saw_.push_back(e);
      return root_directive_;
    };
    c.log = [this](std::string_view line) { log_.emplace_back(line); };
    return c;
  }

  // Runs everything runnable, then takes the result of `f`.
  template <class T>
  auto settle(Future<T> f) {
    sys_.run_until_idle();
    return await(std::move(f));
  }

  ActorRef<Supervisor> start_supervisor(SupervisorStrategy strategy, int count = 3,
                                        bool register_children = false) {
    auto sup = sys_.spawn<Supervisor>(std::move(strategy), count, &journal_, register_children);
    EXPECT_TRUE(sup.is_ok()) << sup.status();
    return sup.value_or(ActorRef<Supervisor>());
  }

  // The supervisor's current children, in spawn order.
  std::vector<ActorRef<Worker>> workers(const ActorRef<Supervisor>& sup) {
    std::vector<ActorRef<Worker>> out;
    auto kids = settle(ActorRef<Supervisor>(sup.current()).ask<&Supervisor::kids>());
    EXPECT_TRUE(kids.is_ok()) << kids.status();
    if (kids) {
      for (auto& k : *kids) out.emplace_back(k);
    }
    return out;
  }

  int value_of(const ActorRef<Worker>& w) {
    auto r = settle(ActorRef<Worker>(w.current()).ask<&Worker::get>());
    EXPECT_TRUE(r.is_ok()) << r.status();
    return r.value_or(-1);
  }

  std::optional<ActorSnapshot> snapshot_of(ActorId id) const {
    for (const auto& a : sys_.snapshot().actors) {
      if (a.id == id) return a;
    }
    return std::nullopt;
  }

  void add_to_all(const std::vector<ActorRef<Worker>>& ws, int n) {
    for (const auto& w : ws) w.tell<&Worker::add>(n);
    sys_.run_until_idle();
  }

  ManualClock clock_;
  std::vector<Status> root_saw_;  // errors the root strategy decided on
  Directive root_directive_ = Directive::kRestart;
  std::vector<std::string> log_;
  Journal journal_;
  System sys_{config()};
};

// ---- Restart ---------------------------------------------------------------

TEST_F(Supervision, OneForOneRestartRebuildsOnlyTheFailedChild) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kRestart));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  add_to_all(w, 5);

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  auto now = workers(sup);
  ASSERT_EQ(now.size(), 3u);
  EXPECT_EQ(now[0].generation(), 1u);
  EXPECT_EQ(now[1].generation(), 2u);
  EXPECT_EQ(now[2].generation(), 1u);
  EXPECT_EQ(value_of(now[0]), 5);
  EXPECT_EQ(value_of(now[1]), 0);
  EXPECT_EQ(value_of(now[2]), 5);
}

TEST_F(Supervision, OneForAllRestartRebuildsEveryChild) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForAll, Directive::kRestart));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  add_to_all(w, 5);

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  auto now = workers(sup);
  ASSERT_EQ(now.size(), 3u);
  for (std::size_t i = 0; i < now.size(); ++i) {
    EXPECT_EQ(now[i].id(), w[i].id()) << "child " << i;
    EXPECT_EQ(now[i].generation(), 2u) << "child " << i;
    EXPECT_EQ(value_of(now[i]), 0) << "child " << i;
  }
}

TEST_F(Supervision, RestForOneRestartRebuildsTheFailedChildAndLaterSiblingsOnly) {
  auto sup = start_supervisor(always(SupervisionKind::kRestForOne, Directive::kRestart));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  add_to_all(w, 5);

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  auto now = workers(sup);
  ASSERT_EQ(now.size(), 3u);
  EXPECT_EQ(now[0].generation(), 1u);
  EXPECT_EQ(value_of(now[0]), 5);
  EXPECT_EQ(now[1].generation(), 2u);
  EXPECT_EQ(value_of(now[1]), 0);
  EXPECT_EQ(now[2].generation(), 2u);
  EXPECT_EQ(value_of(now[2]), 0);
}

TEST_F(Supervision, RestartRunsOnStopOfTheOldInstanceThenOnRestartWithTheCause) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kRestart));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  journal_.events.clear();

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  // on_restart's default implementation calls on_start.
  EXPECT_EQ(journal_.events,
            (std::vector<std::string>{"w1@1 stop", "w1@2 restart(corruption)", "w1@2 start"}));
}

TEST_F(Supervision, AnExceptionOtherThanFailureRestartsWithAnInternalCause) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kRestart), 1);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 1u);
  journal_.events.clear();

  w[0].tell<&Worker::explode>();
  sys_.run_until_idle();

  EXPECT_EQ(journal_.events,
            (std::vector<std::string>{"w0@1 stop", "w0@2 restart(internal)", "w0@2 start"}));
}

TEST_F(Supervision, SnapshotCountsRestartsAndFailuresOfTheRestartedChildOnly) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kRestart), 2);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 2u);

  w[0].tell<&Worker::crash>(StatusCode::kIoError);
  sys_.run_until_idle();
  ActorRef<Worker>(w[0].current()).tell<&Worker::crash>(StatusCode::kIoError);
  sys_.run_until_idle();

  auto failed = snapshot_of(w[0].id());
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->restarts, 2u);
  EXPECT_EQ(failed->failures, 2u);
  EXPECT_EQ(failed->generation, 3u);
  EXPECT_EQ(failed->status, ActorStatus::kRunning);
  EXPECT_EQ(failed->parent, sup.id());
  auto sibling = snapshot_of(w[1].id());
  ASSERT_TRUE(sibling.has_value());
  EXPECT_EQ(sibling->restarts, 0u);
  EXPECT_EQ(sibling->failures, 0u);
  auto parent = snapshot_of(sup.id());
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(parent->restarts, 0u);
  EXPECT_EQ(parent->failures, 0u);
}

// ---- Incarnations ------------------------------------------------------------

TEST_F(Supervision, MessagesThroughARefToTheOldIncarnationAreStaleDeadLetters) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kRestart), 1);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 1u);
  ActorRef<Worker> old = w[0];
  old.tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();
  ASSERT_EQ(old.current().generation(), 2u);
  const auto stale_before = sys_.dead_letters().count(DeadLetterReason::kStale);

  EXPECT_EQ(old.try_tell<&Worker::add>(SendOptions{}, 1).code(), StatusCode::kNotFound);
  auto reply = settle(old.ask<&Worker::get>());

  EXPECT_EQ(reply.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sys_.dead_letters().count(DeadLetterReason::kStale), stale_before + 2);
  auto history = sys_.dead_letters().history();
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().reason, DeadLetterReason::kStale);
  EXPECT_EQ(history.back().target, old.id());
  EXPECT_EQ(history.back().target_generation, 1u);
  EXPECT_EQ(history.back().method, "get");
  // The new incarnation did not see the stale add.
  EXPECT_EQ(value_of(ActorRef<Worker>(old.current())), 0);
}

TEST_F(Supervision, LookupByNameGivesTheNewIncarnationAfterARestart) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kRestart), 2,
                              /*register_children=*/true);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 2u);
  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  auto found = sys_.lookup<Worker>("w1");
  ASSERT_TRUE(found.is_ok()) << found.status();
  EXPECT_EQ(found->id(), w[1].id());
  EXPECT_EQ(found->generation(), 2u);
  EXPECT_EQ(settle(found->ask<&Worker::get>()).value_or(-1), 0);
}

TEST_F(Supervision, ParentsChildrenGiveTheNewIncarnationAfterARestart) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kRestart), 2);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 2u);
  w[0].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  auto now = workers(sup);
  ASSERT_EQ(now.size(), 2u);
  EXPECT_TRUE(now[0] == w[0].current());
  EXPECT_EQ(now[0].generation(), 2u);
  EXPECT_FALSE(now[0] == w[0]);
  EXPECT_TRUE(now[1] == w[1]);
}

// ---- Resume --------------------------------------------------------------------

class SupervisionByKind : public Supervision,
                          public ::testing::WithParamInterface<SupervisionKind> {};

std::string kind_name(const ::testing::TestParamInfo<SupervisionKind>& info) {
  switch (info.param) {
    case SupervisionKind::kOneForOne: return "OneForOne";
    case SupervisionKind::kOneForAll: return "OneForAll";
    case SupervisionKind::kRestForOne: return "RestForOne";
  }
  return "Unknown";
}

TEST_P(SupervisionByKind, ResumeKeepsTheFailedChildsInstanceAndStateAndTouchesNoSibling) {
  auto sup = start_supervisor(always(GetParam(), Directive::kResume));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  add_to_all(w, 5);

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  w[1].tell<&Worker::add>(1);  // handled after the resume, by the same instance
  sys_.run_until_idle();

  EXPECT_EQ(value_of(w[0]), 5);
  EXPECT_EQ(value_of(w[1]), 6);
  EXPECT_EQ(value_of(w[2]), 5);
  for (std::size_t i = 0; i < w.size(); ++i) {
    EXPECT_TRUE(w[i].current() == w[i]) << "child " << i << " got a new incarnation";
  }
  auto failed = snapshot_of(w[1].id());
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failures, 1u);
  EXPECT_EQ(failed->restarts, 0u);
  EXPECT_EQ(failed->status, ActorStatus::kRunning);
}

// ---- Escalate ----------------------------------------------------------------------

TEST_P(SupervisionByKind, EscalateFailsTheParentWithTheChildsError) {
  root_directive_ = Directive::kStop;
  auto sup = start_supervisor(always(GetParam(), Directive::kEscalate));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  auto sup_down = sys_.watch(sup);

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  ASSERT_EQ(root_saw_.size(), 1u);
  EXPECT_EQ(root_saw_[0].code(), StatusCode::kCorruption);
  auto down = await(std::move(sup_down));
  ASSERT_TRUE(down.is_ok()) << down.status();
  EXPECT_EQ(down->reason.code(), StatusCode::kCorruption);
  // Stopping the parent stopped every child.
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_TRUE(w[i].is_stopped()) << "child " << i;
}

INSTANTIATE_TEST_SUITE_P(AllKinds, SupervisionByKind,
                         ::testing::Values(SupervisionKind::kOneForOne, SupervisionKind::kOneForAll,
                                           SupervisionKind::kRestForOne),
                         kind_name);

TEST_F(Supervision, EscalatedParentIsRestartedByTheRootAndRecreatesItsChildren) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kEscalate));
  auto old = workers(sup);
  ASSERT_EQ(old.size(), 3u);
  add_to_all(old, 5);
  journal_.events.clear();

  old[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  ASSERT_EQ(root_saw_.size(), 1u);
  EXPECT_EQ(root_saw_[0].code(), StatusCode::kCorruption);
  EXPECT_EQ(sup.current().generation(), 2u);
  for (std::size_t i = 0; i < old.size(); ++i) EXPECT_TRUE(old[i].is_stopped()) << "child " << i;
  auto fresh = workers(sup);
  ASSERT_EQ(fresh.size(), 3u);
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    EXPECT_NE(fresh[i].id(), old[i].id()) << "child " << i << " was not recreated";
    EXPECT_EQ(value_of(fresh[i]), 0);
  }
  // The old children stopped before the old parent; the new parent's
  // on_restart (-> on_start) spawned new ones.
  EXPECT_EQ(journal_.events,
            (std::vector<std::string>{"w0@1 stop", "w1@1 stop", "w2@1 stop", "sup@1 stop", "sup@2 start",
                                      "w0@1 start", "w1@1 start", "w2@1 start"}));
}

TEST_F(Supervision, ResumingAnEscalatedParentAlsoResumesTheFailedChild) {
  root_directive_ = Directive::kResume;
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kEscalate));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  add_to_all(w, 5);

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  w[1].tell<&Worker::add>(1);  // handled once the child is resumed
  sys_.run_until_idle();

  ASSERT_EQ(root_saw_.size(), 1u);
  EXPECT_EQ(sup.current().generation(), 1u);
  // Resume keeps every instance: the child whose failure was escalated runs
  // on with its state instead of staying suspended under a running parent.
  auto failed = snapshot_of(w[1].id());
  ASSERT_TRUE(failed.has_value());
  ASSERT_EQ(failed->status, ActorStatus::kRunning);
  EXPECT_EQ(failed->restarts, 0u);
  EXPECT_TRUE(w[1].current() == w[1]);
  EXPECT_EQ(value_of(w[1]), 6);
  EXPECT_EQ(value_of(w[0]), 5);
}

TEST_F(Supervision, EscalationReachesTheGrandparentsStrategyWhichRestartsTheParent) {
  auto top = sys_.spawn<Grandparent>(always(SupervisionKind::kOneForOne, Directive::kEscalate),
                                     Directive::kRestart, &journal_);
  ASSERT_TRUE(top.is_ok()) << top.status();
  auto mids = settle(top->ask<&Grandparent::kids>());
  ASSERT_TRUE(mids.is_ok());
  ASSERT_EQ(mids->size(), 1u);
  ActorRef<Supervisor> mid((*mids)[0]);
  auto old = workers(mid);
  ASSERT_EQ(old.size(), 2u);
  journal_.events.clear();

  old[0].tell<&Worker::crash>(StatusCode::kIoError);
  sys_.run_until_idle();

  EXPECT_TRUE(root_saw_.empty());
  ASSERT_FALSE(journal_.events.empty());
  EXPECT_EQ(journal_.events[0], "grandparent decides on io_error");
  EXPECT_EQ(top->current().generation(), 1u);
  EXPECT_EQ(mid.current().generation(), 2u);
  auto fresh = workers(mid);
  ASSERT_EQ(fresh.size(), 2u);
  EXPECT_NE(fresh[0].id(), old[0].id());
  EXPECT_TRUE(old[0].is_stopped());
  EXPECT_TRUE(old[1].is_stopped());
}

TEST_F(Supervision, AGrandparentResumingTheEscalatedParentAlsoResumesTheFailedChild) {
  auto top = sys_.spawn<Grandparent>(always(SupervisionKind::kOneForOne, Directive::kEscalate),
                                     Directive::kResume, &journal_);
  ASSERT_TRUE(top.is_ok()) << top.status();
  auto mids = settle(top->ask<&Grandparent::kids>());
  ASSERT_TRUE(mids.is_ok());
  ASSERT_EQ(mids->size(), 1u);
  ActorRef<Supervisor> mid((*mids)[0]);
  auto w = workers(mid);
  ASSERT_EQ(w.size(), 2u);
  add_to_all(w, 5);

  w[0].tell<&Worker::crash>(StatusCode::kIoError);
  sys_.run_until_idle();

  EXPECT_TRUE(mid.current() == mid);
  auto failed = snapshot_of(w[0].id());
  ASSERT_TRUE(failed.has_value());
  ASSERT_EQ(failed->status, ActorStatus::kRunning);
  EXPECT_TRUE(w[0].current() == w[0]);
  EXPECT_EQ(value_of(w[0]), 5);
}

// ---- Stop ------------------------------------------------------------------------

TEST_F(Supervision, OneForOneStopStopsOnlyTheFailedChild) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForOne, Directive::kStop));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  add_to_all(w, 5);
  auto down = sys_.watch(w[1]);

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->reason.code(), StatusCode::kCorruption);
  EXPECT_FALSE(w[0].is_stopped());
  EXPECT_FALSE(w[2].is_stopped());
  EXPECT_EQ(value_of(w[0]), 5);
  EXPECT_EQ(value_of(w[2]), 5);
  auto now = workers(sup);
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].id(), w[0].id());
  EXPECT_EQ(now[1].id(), w[2].id());
}

TEST_F(Supervision, OneForAllStopStopsEveryChildAndKeepsTheParent) {
  auto sup = start_supervisor(always(SupervisionKind::kOneForAll, Directive::kStop));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  std::vector<Future<Down>> downs;
  for (auto& x : w) downs.push_back(sys_.watch(x));

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  std::vector<StatusCode> reasons;
  for (auto& f : downs) {
    auto d = await(std::move(f));
    ASSERT_TRUE(d.is_ok());
    reasons.push_back(d->reason.code());
  }
  // The failed child stops with its error, its siblings normally.
  EXPECT_EQ(reasons, (std::vector<StatusCode>{StatusCode::kOk, StatusCode::kCorruption, StatusCode::kOk}));
  EXPECT_FALSE(sup.is_stopped());
  EXPECT_TRUE(workers(sup).empty());
  EXPECT_TRUE(root_saw_.empty());
}

TEST_F(Supervision, RestForOneStopStopsTheFailedChildAndLaterSiblingsOnly) {
  auto sup = start_supervisor(always(SupervisionKind::kRestForOne, Directive::kStop));
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 3u);
  add_to_all(w, 5);

  w[1].tell<&Worker::crash>(StatusCode::kCorruption);
  sys_.run_until_idle();

  EXPECT_FALSE(w[0].is_stopped());
  EXPECT_EQ(value_of(w[0]), 5);
  EXPECT_TRUE(w[1].is_stopped());
  EXPECT_TRUE(w[2].is_stopped());
  auto now = workers(sup);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].id(), w[0].id());
}

// ---- Intensity ---------------------------------------------------------------------

TEST_F(Supervision, MoreThanMaxRestartsWithinTheWindowEscalates) {
  root_directive_ = Directive::kStop;
  SupervisorStrategy s = always(SupervisionKind::kOneForOne, Directive::kRestart);
  s.max_restarts = 2;
  s.within = 10s;
  auto sup = start_supervisor(s, 1);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 1u);
  auto sup_down = sys_.watch(sup);

  for (int i = 0; i < 2; ++i) {
    ActorRef<Worker>(w[0].current()).tell<&Worker::crash>(StatusCode::kIoError);
    sys_.run_until_idle();
    clock_.advance(1s);
  }
  auto before = snapshot_of(w[0].id());
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->restarts, 2u);
  EXPECT_TRUE(root_saw_.empty());

  // The third failure 2s into the window is one more than allowed.
  ActorRef<Worker>(w[0].current()).tell<&Worker::crash>(StatusCode::kIoError);
  sys_.run_until_idle();

  ASSERT_EQ(root_saw_.size(), 1u);
  EXPECT_EQ(root_saw_[0].code(), StatusCode::kIoError);
  auto down = await(std::move(sup_down));
  ASSERT_TRUE(down.is_ok());
  EXPECT_EQ(down->reason.code(), StatusCode::kIoError);
  EXPECT_TRUE(w[0].is_stopped());
}

TEST_F(Supervision, RestartsSpreadBeyondTheWindowDoNotEscalate) {
  root_directive_ = Directive::kStop;
  SupervisorStrategy s = always(SupervisionKind::kOneForOne, Directive::kRestart);
  s.max_restarts = 2;
  s.within = 10s;
  auto sup = start_supervisor(s, 1);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 1u);

  // Never more than two restarts in any 10s: at 0s, 6s, 12s, 18s, 24s.
  for (int i = 0; i < 5; ++i) {
    ActorRef<Worker>(w[0].current()).tell<&Worker::crash>(StatusCode::kIoError);
    sys_.run_until_idle();
    clock_.advance(6s);
  }

  EXPECT_TRUE(root_saw_.empty());
  EXPECT_FALSE(sup.is_stopped());
  auto snap = snapshot_of(w[0].id());
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->restarts, 5u);
  EXPECT_EQ(snap->status, ActorStatus::kRunning);
}

// ---- Backoff ---------------------------------------------------------------------

TEST_F(Supervision, BackoffDelaysTheRestartUntilTheClockAdvancesByTheDelay) {
  SupervisorStrategy s = always(SupervisionKind::kOneForOne, Directive::kRestart);
  s.backoff.initial = 100ms;
  auto sup = start_supervisor(s, 1);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 1u);

  w[0].tell<&Worker::crash>(StatusCode::kUnavailable);
  sys_.run_until_idle();
  ASSERT_TRUE(snapshot_of(w[0].id()).has_value());
  EXPECT_EQ(snapshot_of(w[0].id())->status, ActorStatus::kSuspended);

  clock_.advance(99ms);
  sys_.run_until_idle();
  EXPECT_EQ(snapshot_of(w[0].id())->status, ActorStatus::kSuspended);
  EXPECT_EQ(snapshot_of(w[0].id())->restarts, 0u);

  clock_.advance(1ms);
  sys_.run_until_idle();
  EXPECT_EQ(snapshot_of(w[0].id())->status, ActorStatus::kRunning);
  EXPECT_EQ(snapshot_of(w[0].id())->restarts, 1u);
  EXPECT_EQ(w[0].current().generation(), 2u);
}

TEST_F(Supervision, BackoffDoublesTheDelayForTheSecondRestart) {
  SupervisorStrategy s = always(SupervisionKind::kOneForOne, Directive::kRestart);
  s.backoff.initial = 100ms;
  auto sup = start_supervisor(s, 1);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 1u);
  w[0].tell<&Worker::crash>(StatusCode::kUnavailable);
  sys_.run_until_idle();
  clock_.advance(100ms);
  sys_.run_until_idle();
  ASSERT_EQ(w[0].current().generation(), 2u);

  ActorRef<Worker>(w[0].current()).tell<&Worker::crash>(StatusCode::kUnavailable);
  sys_.run_until_idle();
  clock_.advance(199ms);
  sys_.run_until_idle();
  EXPECT_EQ(snapshot_of(w[0].id())->status, ActorStatus::kSuspended);
  EXPECT_EQ(w[0].current().generation(), 2u);

  clock_.advance(1ms);
  sys_.run_until_idle();
  EXPECT_EQ(snapshot_of(w[0].id())->status, ActorStatus::kRunning);
  EXPECT_EQ(w[0].current().generation(), 3u);
  EXPECT_EQ(snapshot_of(w[0].id())->restarts, 2u);
}

TEST_F(Supervision, BackoffIsCappedAtItsMaximum) {
  SupervisorStrategy s = always(SupervisionKind::kOneForOne, Directive::kRestart);
  s.backoff.initial = 100ms;
  s.backoff.max = 150ms;
  auto sup = start_supervisor(s, 1);
  auto w = workers(sup);
  ASSERT_EQ(w.size(), 1u);
  w[0].tell<&Worker::crash>(StatusCode::kUnavailable);
  sys_.run_until_idle();
  clock_.advance(100ms);
  sys_.run_until_idle();
  ASSERT_EQ(w[0].current().generation(), 2u);

  // The second delay would be 200ms; the cap makes it 150ms.
  ActorRef<Worker>(w[0].current()).tell<&Worker::crash>(StatusCode::kUnavailable);
  sys_.run_until_idle();
  clock_.advance(149ms);
  sys_.run_until_idle();
  EXPECT_EQ(w[0].current().generation(), 2u);
  clock_.advance(1ms);
  sys_.run_until_idle();
  EXPECT_EQ(w[0].current().generation(), 3u);
}

// ---- Root strategy (top-level actors) ------------------------------------------------

TEST(RootSupervision, DefaultRootStrategyRestartsAFailingTopLevelActor) {
  Journal journal;  // outlives the System, whose destructor runs on_stop
  System sys(testing::system_config(0));
  auto w = sys.spawn<Worker>("top", &journal);
  ASSERT_TRUE(w.is_ok());
  w->tell<&Worker::add>(3);
  w->tell<&Worker::crash>(StatusCode::kCorruption);
  sys.run_until_idle();

  EXPECT_FALSE(w->is_stopped());
  EXPECT_EQ(w->current().generation(), 2u);
  auto v = ActorRef<Worker>(w->current()).ask<&Worker::get>();
  sys.run_until_idle();
  EXPECT_EQ(await(std::move(v)).value_or(-1), 0);
  EXPECT_EQ(journal.events, (std::vector<std::string>{"top@1 start", "top@1 stop",
                                                      "top@2 restart(corruption)", "top@2 start"}));
}

TEST(RootSupervision, RootEscalateStopsTheTopLevelActorWithItsError) {
  std::vector<std::string> log;
  SystemConfig config = testing::system_config(0);
  config.root_strategy.decider = [](const Status&) { return Directive::kEscalate; };
  config.log = [&log](std::string_view line) { log.emplace_back(line); };
  Journal journal;
  System sys(std::move(config));
  auto w = sys.spawn<Worker>("top", &journal);
  ASSERT_TRUE(w.is_ok());
  auto down = sys.watch(*w);

  w->tell<&Worker::crash>(StatusCode::kCorruption);
  sys.run_until_idle();

  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->reason.code(), StatusCode::kCorruption);
  EXPECT_EQ(log.size(), 1u);
}

TEST(RootSupervision, RootIntensityExceededStopsTheTopLevelActor) {
  ManualClock clock;
  std::vector<std::string> log;
  SystemConfig config = testing::system_config(0, &clock);
  config.root_strategy.max_restarts = 1;
  config.root_strategy.within = 10s;
  config.log = [&log](std::string_view line) { log.emplace_back(line); };
  Journal journal;
  System sys(std::move(config));
  auto w = sys.spawn<Worker>("top", &journal);
  ASSERT_TRUE(w.is_ok());
  auto down = sys.watch(*w);

  w->tell<&Worker::crash>(StatusCode::kIoError);
  sys.run_until_idle();
  ASSERT_EQ(w->current().generation(), 2u);
  clock.advance(1s);
  ActorRef<Worker>(w->current()).tell<&Worker::crash>(StatusCode::kIoError);
  sys.run_until_idle();

  auto d = await(std::move(down));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->reason.code(), StatusCode::kIoError);
  EXPECT_EQ(log.size(), 1u);
}

}  // namespace
}  // namespace keel
