// Workflow runs on cluster hosts: hosts on one PostgreSQL journal, each a
// System and a WorkflowEngine (recover_at_open = false) on its own writer
// of it, resume the runs of the shards they gain and release those of the
// shards they lose, so runs move with their shards and each step's effect
// happens once.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_test.h"
#include "journal_test_util.h"
#include "keel/base/clock.h"
#include "keel/base/thread_annotations.h"
#include "keel/cluster/cluster_host.h"
#include "keel/cluster/placement.h"
#include "keel/journal/pg_journal.h"
#include "keel/workflow/workflow.h"

namespace keel::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kWait = 60s;

// How often each step of each run had its effect, by "<run id>/<step>".
class Effects {
 public:
  void apply(const std::string& run, const std::string& step) {
    MutexLock lock(mu_);
    ++count_[run + "/" + step];
  }
  int count(const std::string& run, const std::string& step) const {
    MutexLock lock(mu_);
    auto it = count_.find(run + "/" + step);
    return it == count_.end() ? 0 : it->second;
  }

 private:
  mutable Mutex mu_;
  std::map<std::string, int> count_ KEEL_GUARDED_BY(mu_);
};

// The replies of the "pay" runs' charge steps: each step's Future stays
// pending until the test answers them all.
class Replies {
 public:
  // The reply to `run`'s charge (a ready one when asked again, so a step run
  // twice shows in the effects instead of hanging).
  Future<int> expect(const std::string& run) {
    MutexLock lock(mu_);
    auto [it, added] = pending_.try_emplace(run);
    if (!added) return Future<int>::ready(1);
    cv_.notify_all();
    return it->second.future();
  }
  bool wait_for_requests(std::size_t n) {
    MutexLock lock(mu_);
    return cv_.wait_for(lock, kWait, [&]() KEEL_REQUIRES(mu_) { return pending_.size() >= n; });
  }
  void answer_all() {
    std::vector<Promise<int>> answers;
    {
      MutexLock lock(mu_);
      for (auto& [run, promise] : pending_) {
        if (!promise.is_complete()) answers.push_back(std::move(promise));
      }
    }
    for (Promise<int>& p : answers) p.set_value(1);
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::map<std::string, Promise<int>> pending_ KEEL_GUARDED_BY(mu_);
};

const std::vector<std::string> kSteps = {"reserve", "charge", "ship"};

// A step function that applies `step`'s effect for `run` and returns 1.
std::function<int()> effect(Effects* effects, const std::string& run, const std::string& step) {
  return [effects, run, step] {
    effects->apply(run, step);
    return 1;
  };
}

// "order": reserve, sleep an hour, charge, ship; returns the steps run (3).
// "pay": charge, whose reply comes from `replies`, then ship; returns 2.
Workflows define_workflows(Effects* effects, Replies* replies) {
  Workflows w;
  Status defined = w.define<int, int>("order", [effects](WorkflowContext& ctx, int) -> Task<Result<int>> {
    const std::function<int()> reserve = effect(effects, ctx.run_id(), "reserve");
    const std::function<int()> charge = effect(effects, ctx.run_id(), "charge");
    const std::function<int()> ship = effect(effects, ctx.run_id(), "ship");
    KEEL_CO_ASSIGN_OR_RETURN(int a, ctx.step("reserve", reserve));
    KEEL_CO_RETURN_IF_ERROR(ctx.sleep(1h));  // keel-allow-sleep: durable timer
    KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.step("charge", charge));
    KEEL_CO_ASSIGN_OR_RETURN(int c, ctx.step("ship", ship));
    co_return a + b + c;
  });
  EXPECT_TRUE(defined.is_ok()) << defined;
  defined = w.define<int, int>("pay", [effects, replies](WorkflowContext& ctx, int) -> Task<Result<int>> {
    const std::string run = ctx.run_id();
    auto charge = [effects, replies, run] {
      effects->apply(run, "charge");
      return replies->expect(run);
    };
    const std::function<int()> ship = effect(effects, run, "ship");
    KEEL_CO_ASSIGN_OR_RETURN(int a, ctx.step("charge", charge));
    KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.step("ship", ship));
    co_return a + b;
  });
  EXPECT_TRUE(defined.is_ok()) << defined;
  return w;
}

// One host: a ClusterHost, and a System and a WorkflowEngine on its journal.
// Its engine resumes the runs of the shards the host gains and releases
// those of the shards it loses, before the journal lets them go.
class WorkflowHost {
 public:
  WorkflowHost(ShardChanges* changes, const std::string& url, const std::string& id, MembershipOptions membership,
               ManualClock* clock, const Workflows& workflows, std::chrono::milliseconds rebalance_every = 50ms,
               bool listen = true)
      : changes_(changes), host_(join_host(url, id, std::move(membership), rebalance_every, listen)) {
    if (host_ == nullptr) return;
    SystemConfig config;
    config.journal = &host_->journal();
    config.clock = clock;
    system_ = std::make_unique<System>(config);
    WorkflowEngineOptions eo;
    eo.system = system_.get();
    eo.journal = &host_->journal();
    eo.recover_at_open = false;
    eo.admin_endpoint = false;
    eo.finished_run_retention = Duration::zero();
    eo.log = [](std::string_view) {};
    Result<std::unique_ptr<WorkflowEngine>> engine = WorkflowEngine::open(workflows, std::move(eo));
    EXPECT_TRUE(engine.has_value()) << engine.status();
    if (!engine.has_value()) return;
    engine_ = std::move(*engine);
    ClusterHost::Callbacks cb;
    cb.gained = [this](const std::vector<PgShardEpoch>& gained) {
      std::vector<std::uint32_t> shards;
      for (const PgShardEpoch& e : gained) shards.push_back(e.shard);
      Status resumed = engine_->resume_shards(shards);
      EXPECT_TRUE(resumed.is_ok()) << resumed;
      {
        MutexLock lock(mu_);
        hosted_.insert(shards.begin(), shards.end());
      }
      changes_->changed();
    };
    cb.losing = [this](const std::vector<std::uint32_t>& shards, bool) {
      std::function<void()> hook;
      {
        MutexLock lock(mu_);
        hook = while_releasing_;
      }
      Status released;
      std::thread release([&] { released = engine_->release_shards(shards); });
      if (hook) hook();
      release.join();
      EXPECT_TRUE(released.is_ok()) << released;
      {
        MutexLock lock(mu_);
        for (std::uint32_t s : shards) hosted_.erase(s);
      }
      changes_->changed();
    };
    Status started = host_->start(std::move(cb));
    EXPECT_TRUE(started.is_ok()) << started;
  }
  // No callback runs once the keeper stopped; the engine goes before the
  // System and the journal it uses, without writing anything.
  ~WorkflowHost() {
    if (host_ != nullptr) host_->stop();
    engine_.reset();
    if (system_ != nullptr) system_->shutdown(ShutdownMode::kStop).ignore();
    system_.reset();
    host_.reset();
  }

  bool ok() const { return engine_ != nullptr; }
  // Runs `hook` on the keeper's thread each time shards go, while the
  // engine releases them.
  void while_releasing(std::function<void()> hook) {
    MutexLock lock(mu_);
    while_releasing_ = std::move(hook);
  }
  ClusterHost& host() { return *host_; }
  WorkflowEngine& engine() { return *engine_; }
  // The shards whose runs the engine hosts (resumed, and not released).
  std::set<std::uint32_t> shards() const {
    MutexLock lock(mu_);
    return hosted_;
  }
  bool hosts(const std::string& run_id) const {
    MutexLock lock(mu_);
    return hosted_.count(pg_shard_of("workflow/" + run_id)) != 0;
  }

 private:
  ShardChanges* const changes_;
  std::unique_ptr<ClusterHost> host_;
  std::unique_ptr<System> system_;
  std::unique_ptr<WorkflowEngine> engine_;
  mutable Mutex mu_;
  std::set<std::uint32_t> hosted_ KEEL_GUARDED_BY(mu_);
  std::function<void()> while_releasing_ KEEL_GUARDED_BY(mu_);
};

class WorkflowHostTest : public ClusterTest {
 protected:
  // Waits until the engines of `hosts` host the runs of the shards
  // placement gives them among `ids`, and of no other.
  bool placed(const std::vector<WorkflowHost*>& hosts, const std::vector<std::string>& ids) {
    return placed_on(changes_, hosts, ids);
  }

  static std::vector<std::string> runs(int n) { return numbered("order-", n); }

  // Each step of `run` had its effect exactly once.
  void expect_steps_once(const std::string& run) {
    for (const std::string& step : kSteps) EXPECT_EQ(effects_.count(run, step), 1) << run << "/" << step;
  }

  ManualClock clock_;
  Effects effects_;
  Replies replies_;
  Workflows workflows_ = define_workflows(&effects_, &replies_);
  ShardChanges changes_;
};

TEST_F(WorkflowHostTest, RunsMoveToAJoiningHostAndFireTheirTimersThere) {
  WorkflowHost a(&changes_, url_, "host-a", options(), &clock_, workflows_);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  std::map<std::string, Future<int>> on_a;
  for (const std::string& id : runs(16)) {
    Result<RunHandle<int>> run = a.engine().start<int>("order", id, 0);
    ASSERT_TRUE(run.has_value()) << id << ": " << run.status();
    on_a.emplace(id, run->result());
  }
  ASSERT_TRUE(a.engine().wait_idle(kWait));  // every run reserved, and asleep
  for (const std::string& id : runs(16)) ASSERT_EQ(effects_.count(id, "reserve"), 1) << id;

  WorkflowHost b(&changes_, url_, "host-b", options(), &clock_, workflows_);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(placed({&a, &b}, {"host-a", "host-b"}));
  ASSERT_TRUE(b.engine().wait_idle(kWait));  // the moved runs replayed up to their sleep
  int moved = 0;
  for (const std::string& id : runs(16)) {
    if (!b.hosts(id)) continue;
    ++moved;
    // Released by host-a: its caller learns that the run moved.
    Future<int>& f = on_a.at(id);
    ASSERT_TRUE(f.wait_for(kWait)) << id;
    EXPECT_EQ(f.get().status().code(), StatusCode::kOwnershipLost) << id;
    EXPECT_EQ(a.engine().describe(id).status().code(), StatusCode::kNotFound) << id;
    Result<RunInfo> info = b.engine().describe(id);
    ASSERT_TRUE(info.has_value()) << id << ": " << info.status();
    EXPECT_EQ(info->status, RunStatus::kRunning) << id;
    EXPECT_EQ(info->current_step, "sleep") << id;
  }
  EXPECT_GT(moved, 0) << "placement gave the joining host none of 16 runs";

  clock_.advance(2h);  // the sleeps end, on both hosts
  for (const std::string& id : runs(16)) {
    Future<int> f = b.hosts(id) ? b.engine().handle<int>(id).result() : std::move(on_a.at(id));
    ASSERT_TRUE(f.wait_for(kWait)) << id;
    Result<int> out = f.get();
    ASSERT_TRUE(out.has_value()) << id << ": " << out.status();
    EXPECT_EQ(*out, 3) << id;
    expect_steps_once(id);
  }
  // No run is listed on both hosts.
  std::set<std::string> listed_a;
  for (const RunInfo& r : a.engine().list()) listed_a.insert(r.id);
  for (const RunInfo& r : b.engine().list()) EXPECT_EQ(listed_a.count(r.id), 0u) << r.id << " is on both hosts";
}

TEST_F(WorkflowHostTest, StepsRunningWhenTheirShardIsHandedOverRunOnce) {
  WorkflowHost a(&changes_, url_, "host-a", options(), &clock_, workflows_);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  for (const std::string& id : runs(16)) ASSERT_TRUE(a.engine().start<int>("pay", id, 0).has_value()) << id;
  ASSERT_TRUE(replies_.wait_for_requests(16));  // every charge is running
  // The replies come while host-a releases the shards that go: a charge
  // answered before its run stops journals its outcome on host-a, whose
  // next holder replays it; the release waits for the others.
  a.while_releasing([this] { replies_.answer_all(); });

  WorkflowHost b(&changes_, url_, "host-b", options(), &clock_, workflows_);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(placed({&a, &b}, {"host-a", "host-b"}));
  int moved = 0;
  for (const std::string& id : runs(16)) {
    WorkflowHost& holder = b.hosts(id) ? b : a;
    moved += &holder == &b;
    Future<int> f = holder.engine().handle<int>(id).result();
    ASSERT_TRUE(f.wait_for(kWait)) << id;
    Result<int> out = f.get();
    ASSERT_TRUE(out.has_value()) << id << ": " << out.status();
    EXPECT_EQ(*out, 2) << id;
    EXPECT_EQ(effects_.count(id, "charge"), 1) << id;
    EXPECT_EQ(effects_.count(id, "ship"), 1) << id;
  }
  EXPECT_GT(moved, 0) << "placement gave the joining host none of 16 runs";
}

TEST_F(WorkflowHostTest, AStepThatOutlastsTheReleaseIsNotJournaledAndRunsAgainWhereTheRunGoes) {
  WorkflowHost a(&changes_, url_, "host-a", options(), &clock_, workflows_);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  const std::string id = "pay-0";
  const std::uint32_t shard = pg_shard_of("workflow/" + id);
  Result<RunHandle<int>> run = a.engine().start<int>("pay", id, 0);
  ASSERT_TRUE(run.has_value()) << run.status();
  Future<int> first = run->result();
  ASSERT_TRUE(replies_.wait_for_requests(1));  // the charge is running

  // Its reply comes only after the release gave up on it.
  Status released = a.engine().release_shards({shard}, 1ms);
  EXPECT_EQ(released.code(), StatusCode::kTimeout) << released;
  ASSERT_TRUE(first.wait_for(kWait));
  EXPECT_EQ(first.get().status().code(), StatusCode::kOwnershipLost);
  EXPECT_EQ(a.engine().describe(id).status().code(), StatusCode::kNotFound);
  replies_.answer_all();
  ASSERT_TRUE(a.engine().wait_idle(kWait));
  std::size_t steps = 0;
  ASSERT_TRUE(a.host().journal().scan_owner("workflow/" + id, 1, [&](const Record& r) {
    steps += r.kind == RecordKind::kStep;
    return true;
  }).is_ok());
  EXPECT_EQ(steps, 0u) << "the late charge was journaled";

  // Hosted again (here, as the journal still holds the shard), the run
  // charges again.
  Status resumed = a.engine().resume_shards({shard});
  ASSERT_TRUE(resumed.is_ok()) << resumed;
  Future<int> second = a.engine().handle<int>(id).result();
  ASSERT_TRUE(second.wait_for(kWait));
  Result<int> out = second.get();
  ASSERT_TRUE(out.has_value()) << out.status();
  EXPECT_EQ(*out, 2);
  EXPECT_EQ(effects_.count(id, "charge"), 2);
  EXPECT_EQ(effects_.count(id, "ship"), 1);
}

TEST_F(WorkflowHostTest, ADeadHostsRunsResumeOnTheOtherOnceItsLeaseEnds) {
  auto a = std::make_unique<WorkflowHost>(&changes_, url_, "host-a", options(), &clock_, workflows_);
  WorkflowHost b(&changes_, url_, "host-b", options(), &clock_, workflows_);
  ASSERT_TRUE(a->ok() && b.ok());
  ASSERT_TRUE(placed({a.get(), &b}, {"host-a", "host-b"}));
  int on_a = 0;
  for (const std::string& id : runs(16)) {
    WorkflowHost& holder = a->hosts(id) ? *a : b;
    on_a += &holder == a.get();
    ASSERT_TRUE(holder.engine().start<int>("order", id, 0).has_value()) << id;
  }
  EXPECT_GT(on_a, 0) << "placement gave host-a none of 16 runs";
  ASSERT_TRUE(a->engine().wait_idle(kWait));
  ASSERT_TRUE(b.engine().wait_idle(kWait));
  // host-a stops without handing anything over; its lease runs out.
  a.reset();
  expire("host-a");
  ASSERT_TRUE(placed({&b}, {"host-b"}));
  ASSERT_TRUE(b.engine().wait_idle(kWait));  // host-a's runs replayed up to their sleep
  clock_.advance(2h);
  for (const std::string& id : runs(16)) {
    Future<int> f = b.engine().handle<int>(id).result();
    ASSERT_TRUE(f.wait_for(kWait)) << id;
    Result<int> out = f.get();
    ASSERT_TRUE(out.has_value()) << id << ": " << out.status();
    EXPECT_EQ(*out, 3) << id;
    expect_steps_once(id);
  }
}

TEST_F(WorkflowHostTest, AStaleHostsRunStopsAtItsFirstRefusedCommit) {
  // host-a's keeper looks again only after a minute and hears nothing: it
  // does not notice that the database ended its lease, as a paused process
  // would not.
  WorkflowHost a(&changes_, url_, "host-a", options(), &clock_, workflows_, 60s, /*listen=*/false);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  Result<RunHandle<int>> run = a.engine().start<int>("order", "order-0", 0);
  ASSERT_TRUE(run.has_value()) << run.status();
  Future<int> on_a = run->result();
  ASSERT_TRUE(a.engine().wait_idle(kWait));  // reserved, and asleep
  expire("host-a");
  WorkflowHost b(&changes_, url_, "host-b", options(), &clock_, workflows_);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(placed({&b}, {"host-b"}));
  ASSERT_TRUE(b.engine().wait_idle(kWait));

  clock_.advance(2h);  // both hosts' timers fire
  ASSERT_TRUE(on_a.wait_for(kWait));
  EXPECT_EQ(on_a.get().status().code(), StatusCode::kOwnershipLost);
  Future<int> on_b = b.engine().handle<int>("order-0").result();
  ASSERT_TRUE(on_b.wait_for(kWait));
  Result<int> out = on_b.get();
  ASSERT_TRUE(out.has_value()) << out.status();
  EXPECT_EQ(*out, 3);
  EXPECT_EQ(effects_.count("order-0", "reserve"), 1);
  EXPECT_EQ(effects_.count("order-0", "ship"), 1);
  // The stale host may run the step after the sleep before its first
  // commit is refused: at least once, as after a crash.
  EXPECT_GE(effects_.count("order-0", "charge"), 1);
  EXPECT_LE(effects_.count("order-0", "charge"), 2);
  Result<RunInfo> info = a.engine().describe("order-0");
  ASSERT_TRUE(info.has_value()) << info.status();  // until host-a's keeper calls losing
  EXPECT_EQ(info->error.code(), StatusCode::kOwnershipLost);
}

TEST_F(WorkflowHostTest, AStartOnAStaleHostIsRefusedByTheJournalAndLeavesNothing) {
  WorkflowHost a(&changes_, url_, "host-a", options(), &clock_, workflows_, 60s, /*listen=*/false);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(placed({&a}, {"host-a"}));
  expire("host-a");
  WorkflowHost b(&changes_, url_, "host-b", options(), &clock_, workflows_);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(placed({&b}, {"host-b"}));

  // host-a's engine still hosts every shard, so the start is taken; the
  // journal refuses its first records.
  Result<RunHandle<int>> run = a.engine().start<int>("order", "order-0", 0);
  ASSERT_TRUE(run.has_value()) << run.status();
  Future<int> out = run->result();
  ASSERT_TRUE(out.wait_for(kWait));
  EXPECT_EQ(out.get().status().code(), StatusCode::kOwnershipLost);
  EXPECT_EQ(a.engine().describe("order-0").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(a.engine().list().empty());
  Result<std::vector<OwnerInfo>> owners = b.host().journal().owners();
  ASSERT_TRUE(owners.has_value()) << owners.status();
  for (const OwnerInfo& o : *owners) EXPECT_NE(o.owner, "workflow/order-0") << "the refused start left records";
  // Its first step may have run before the refusal, as before a crash.
  EXPECT_LE(effects_.count("order-0", "reserve"), 1);
}

TEST_F(WorkflowHostTest, AStartOfARunWhoseShardIsHeldElsewhereFailsAndLeavesNothing) {
  WorkflowHost a(&changes_, url_, "host-a", options(), &clock_, workflows_);
  WorkflowHost b(&changes_, url_, "host-b", options(), &clock_, workflows_);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(placed({&a, &b}, {"host-a", "host-b"}));
  std::string id;
  for (const std::string& candidate : runs(64)) {
    if (b.hosts(candidate)) {
      id = candidate;
      break;
    }
  }
  ASSERT_FALSE(id.empty()) << "placement gave host-b none of 64 runs";

  Result<RunHandle<int>> refused = a.engine().start<int>("order", id, 0);
  EXPECT_EQ(refused.status().code(), StatusCode::kOwnershipLost) << refused.status();
  EXPECT_EQ(a.engine().describe(id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(a.engine().list().empty());
  Result<std::vector<OwnerInfo>> owners = a.host().journal().owners();
  ASSERT_TRUE(owners.has_value()) << owners.status();
  for (const OwnerInfo& o : *owners) EXPECT_NE(o.owner, "workflow/" + id) << "the refused start left records";
  EXPECT_EQ(effects_.count(id, "reserve"), 0);

  // The host that holds its shard starts it.
  ASSERT_TRUE(b.engine().start<int>("order", id, 0).has_value());
  ASSERT_TRUE(b.engine().wait_idle(kWait));
  EXPECT_EQ(effects_.count(id, "reserve"), 1);
}

TEST_F(WorkflowHostTest, ShardCallsCheckTheEngineAndTheShards) {
  // An engine that hosts every run has no shards to move.
  JournalOptions jo;
  Result<std::unique_ptr<Journal>> journal = open_pg_journal(url_, jo);
  ASSERT_TRUE(journal.has_value()) << journal.status();
  SystemConfig config;
  config.journal = journal->get();
  config.clock = &clock_;
  System system(config);
  WorkflowEngineOptions eo;
  eo.system = &system;
  eo.journal = journal->get();
  eo.admin_endpoint = false;
  eo.log = [](std::string_view) {};
  Result<std::unique_ptr<WorkflowEngine>> all = WorkflowEngine::open(workflows_, eo);
  ASSERT_TRUE(all.has_value()) << all.status();
  EXPECT_EQ((*all)->resume_shards({0}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*all)->release_shards({0}).code(), StatusCode::kFailedPrecondition);
  all->reset();

  // One that hosts shards: none before resume_shards, and only real ones.
  eo.recover_at_open = false;
  Result<std::unique_ptr<WorkflowEngine>> sharded = WorkflowEngine::open(workflows_, eo);
  ASSERT_TRUE(sharded.has_value()) << sharded.status();
  EXPECT_EQ((*sharded)->start<int>("order", "o-1", 0).status().code(), StatusCode::kOwnershipLost);
  EXPECT_EQ((*sharded)->resume_shards({kPgShards}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*sharded)->release_shards({kPgShards}).code(), StatusCode::kInvalidArgument);
  sharded->reset();

  // Shards are a PostgreSQL journal's.
  TempDir dir;
  Result<std::unique_ptr<Journal>> sqlite = open_journal(dir.path() + "/wf.db", jo);
  ASSERT_TRUE(sqlite.has_value()) << sqlite.status();
  eo.journal = sqlite->get();
  EXPECT_EQ(WorkflowEngine::open(workflows_, eo).status().code(), StatusCode::kInvalidArgument);
  system.shutdown(ShutdownMode::kStop).ignore();
}

}  // namespace
}  // namespace keel::testing
