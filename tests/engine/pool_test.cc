// Pool<T>: round-robin tell/ask, broadcast, membership (members leave when
// they stop) and wait_for_size.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "keel/engine/engine.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::await;
using testing::kWait;
using testing::system_config;

class Member : public Actor {
 public:
  ActorId who() {
    ++handled_;
    return id();
  }
  void work() { ++handled_; }
  int handled() const { return handled_; }
  void note(int v) { seen_ += v; }
  int seen() const { return seen_; }
  void crash() { fail(Status::internal("member crashed")); }

  static constexpr auto kHandlers =
      handlers(handler<&Member::who>("who"), handler<&Member::work>("work"),
               handler<&Member::handled>("handled"), handler<&Member::note>("note"),
               handler<&Member::seen>("seen"), handler<&Member::crash>("crash"));

 private:
  int handled_ = 0;
  int seen_ = 0;
};

// on_start fails for the `fail_at`-th instance started (counting from 1).
class FlakyMember : public Actor {
 public:
  FlakyMember(std::atomic<int>* started, int fail_at) : started_(started), fail_at_(fail_at) {}
  void ping() {}
  static constexpr auto kHandlers = handlers(handler<&FlakyMember::ping>("ping"));

 protected:
  Status on_start() override {
    if (started_->fetch_add(1) + 1 == fail_at_) return Status::unavailable("no capacity");
    return Status::ok();
  }

 private:
  std::atomic<int>* started_;
  int fail_at_;
};

std::set<ActorId> ids_of(const std::vector<ActorRef<Member>>& members) {
  std::set<ActorId> out;
  for (const auto& m : members) out.insert(m.id());
  return out;
}

TEST(PoolTest, SpawnAddsTheRequestedNumberOfMembers) {
  System sys(system_config(2));
  Pool<Member> pool(sys);

  EXPECT_EQ(pool.spawn(4), Status::ok());

  EXPECT_EQ(pool.size(), 4u);
  EXPECT_EQ(ids_of(pool.members()).size(), 4u);
}

TEST(PoolTest, SpawnStopsAtTheFirstErrorAndKeepsEarlierMembers) {
  System sys(system_config(2));
  Pool<FlakyMember> pool(sys);
  std::atomic<int> started{0};

  EXPECT_EQ(pool.spawn(5, &started, 3).code(), StatusCode::kUnavailable);

  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(started.load(), 3);
}

TEST(PoolTest, RoundRobinAskGivesEachMemberTheSameShare) {
  constexpr int kMembers = 4;
  constexpr int kEach = 25;
  System sys(system_config(2));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(kMembers), Status::ok());

  std::vector<Future<ActorId>> replies;
  for (int i = 0; i < kMembers * kEach; ++i) replies.push_back(pool.ask<&Member::who>());

  std::map<ActorId, int> per_member;
  for (auto& f : replies) {
    auto r = await(std::move(f));
    ASSERT_TRUE(r.is_ok()) << r.status();
    ++per_member[*r];
  }
  ASSERT_EQ(per_member.size(), static_cast<std::size_t>(kMembers));
  for (const auto& [id, n] : per_member) EXPECT_EQ(n, kEach) << "member " << id;
  EXPECT_EQ(ids_of(pool.members()).size(), per_member.size());
}

TEST(PoolTest, RoundRobinTellGivesEachMemberTheSameShare) {
  constexpr int kMembers = 3;
  constexpr int kEach = 40;
  System sys(system_config(2));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(kMembers), Status::ok());

  for (int i = 0; i < kMembers * kEach; ++i) ASSERT_EQ(pool.tell<&Member::work>(), Status::ok());

  // Each member's mailbox is FIFO per sender, so the ask comes after the tells.
  auto counts = pool.broadcast_ask<&Member::handled>();
  ASSERT_EQ(counts.size(), static_cast<std::size_t>(kMembers));
  for (auto& f : counts) EXPECT_EQ(await(std::move(f)).value_or(-1), kEach);
}

TEST(PoolTest, BroadcastReachesEveryMember) {
  System sys(system_config(2));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(4), Status::ok());

  pool.broadcast<&Member::note>(5);
  pool.broadcast<&Member::note>(2);

  for (auto& m : pool.members()) EXPECT_EQ(await(m.ask<&Member::seen>()).value_or(-1), 7);
}

TEST(PoolTest, BroadcastAskReturnsOneFuturePerMember) {
  System sys(system_config(2));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(4), Status::ok());

  auto replies = pool.broadcast_ask<&Member::who>();

  ASSERT_EQ(replies.size(), 4u);
  std::set<ActorId> answered;
  for (auto& f : replies) {
    auto r = await(std::move(f));
    ASSERT_TRUE(r.is_ok()) << r.status();
    answered.insert(*r);
  }
  EXPECT_EQ(answered, ids_of(pool.members()));
}

TEST(PoolTest, WaitForSizeTimesOutWhileThePoolIsTooSmall) {
  System sys(system_config(2));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(1), Status::ok());

  EXPECT_EQ(pool.wait_for_size(2, 10ms).code(), StatusCode::kTimeout);
}

TEST(PoolTest, WaitForSizeReturnsOnceAnotherThreadAddsMembers) {
  System sys(system_config(2));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.wait_for_size(3, 1ms).code(), StatusCode::kTimeout);

  Status spawned;
  std::thread adder([&] { spawned = pool.spawn(3); });
  const Status waited = pool.wait_for_size(3, kWait);
  adder.join();

  EXPECT_EQ(waited, Status::ok());
  EXPECT_EQ(spawned, Status::ok());
  EXPECT_EQ(pool.size(), 3u);
}

TEST(PoolTest, AStoppedMemberLeavesThePool) {
  System sys(system_config(0));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(3), Status::ok());
  const auto members = pool.members();

  sys.stop(members[1]);
  sys.run_until_idle();  // the stop and the pool's watch complete here

  ASSERT_TRUE(members[1].is_stopped());
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(ids_of(pool.members()), (std::set<ActorId>{members[0].id(), members[2].id()}));
  // Requests now go to the remaining members only.
  std::vector<Future<ActorId>> replies;
  for (int i = 0; i < 4; ++i) replies.push_back(pool.ask<&Member::who>());
  sys.run_until_idle();
  std::map<ActorId, int> per_member;
  for (auto& f : replies) ++per_member[await(std::move(f)).value_or(kNoActor)];
  EXPECT_EQ(per_member, (std::map<ActorId, int>{{members[0].id(), 2}, {members[2].id(), 2}}));
}

TEST(PoolTest, AStoppedMemberLeavesThePoolWithWorkerThreads) {
  System sys(system_config(2));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(3), Status::ok());
  const auto members = pool.members();
  auto down = sys.watch(members[0]);

  sys.stop(members[0]);
  ASSERT_TRUE(await(std::move(down)).is_ok());

  // The pool watched the member before this test did, so its watch has run.
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.wait_for_size(2, kWait), Status::ok());
}

TEST(PoolTest, ARestartedMemberStaysAndGetsMessagesAtItsNewIncarnation) {
  SystemConfig config = system_config(0);
  config.log = [](std::string_view) {};
  System sys(std::move(config));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(1), Status::ok());
  const auto before = pool.members();
  ASSERT_EQ(before.size(), 1u);

  before[0].tell<&Member::crash>();  // the default root strategy restarts it
  sys.run_until_idle();

  ASSERT_EQ(pool.size(), 1u);
  const auto after = pool.members();
  EXPECT_EQ(after[0].id(), before[0].id());
  EXPECT_EQ(after[0].generation(), 2u);
  auto r = pool.ask<&Member::who>();
  sys.run_until_idle();
  EXPECT_EQ(await(std::move(r)).value_or(kNoActor), before[0].id());
}

TEST(PoolTest, AskOnAnEmptyPoolIsUnavailable) {
  System sys(system_config(0));
  Pool<Member> pool(sys);
  EXPECT_EQ(await(pool.ask<&Member::who>()).status().code(), StatusCode::kUnavailable);
}

TEST(PoolTest, TellOnAnEmptyPoolIsUnavailable) {
  System sys(system_config(0));
  Pool<Member> pool(sys);
  EXPECT_EQ(pool.tell<&Member::work>().code(), StatusCode::kUnavailable);
}

TEST(PoolTest, RemoveTakesAMemberOutWithoutStoppingIt) {
  System sys(system_config(0));
  Pool<Member> pool(sys);
  ASSERT_EQ(pool.spawn(2), Status::ok());
  const auto members = pool.members();

  EXPECT_TRUE(pool.remove(members[0]));
  EXPECT_FALSE(pool.remove(members[0]));

  EXPECT_EQ(pool.size(), 1u);
  EXPECT_FALSE(members[0].is_stopped());
  EXPECT_EQ(ids_of(pool.members()), std::set<ActorId>{members[1].id()});
}

TEST(PoolTest, AddingAMemberTwiceKeepsOneEntry) {
  System sys(system_config(0));
  Pool<Member> pool(sys);
  auto m = sys.spawn<Member>();
  ASSERT_TRUE(m.is_ok());

  pool.add(*m);
  pool.add(*m);

  EXPECT_EQ(pool.size(), 1u);
}

}  // namespace
}  // namespace keel
