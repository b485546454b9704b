// Promise/Future: completion, waiting, continuations and broken promises.
#include "keel/engine/future.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::kWait;

TEST(Future, GetReturnsTheValueSetByThePromise) {
  Promise<int> p;
  Future<int> f = p.future();
  EXPECT_TRUE(p.set_value(42));
  Result<int> r = f.get();
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, 42);
}

TEST(Future, GetReturnsTheErrorSetByThePromise) {
  Promise<int> p;
  Future<int> f = p.future();
  EXPECT_TRUE(p.set_error(Status::unavailable("peer gone")));
  Result<int> r = f.get();
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "peer gone");
}

TEST(Future, GetOfAVoidFutureReturnsItsStatus) {
  Promise<void> ok;
  Future<void> fok = ok.future();
  EXPECT_TRUE(ok.set_value());
  EXPECT_TRUE(fok.get().is_ok());

  Promise<void> bad;
  Future<void> fbad = bad.future();
  EXPECT_TRUE(bad.set_error(Status::io_error("disk")));
  EXPECT_EQ(fbad.get().code(), StatusCode::kIoError);
}

TEST(Future, GetLeavesTheFutureEmpty) {
  Future<int> f = Future<int>::ready(1);
  EXPECT_TRUE(f.valid());
  EXPECT_EQ(f.get().value(), 1);
  EXPECT_FALSE(f.valid());
}

TEST(Future, GetBlocksUntilAnotherThreadCompletesThePromise) {
  Promise<std::string> p;
  Future<std::string> f = p.future();
  std::thread t([p = std::move(p)]() mutable { p.set_value(std::string("done")); });
  Result<std::string> r = await(std::move(f));
  t.join();
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, "done");
}

TEST(Future, WaitForReturnsFalseWhileTheFutureIsNotComplete) {
  Promise<int> p;
  Future<int> f = p.future();
  EXPECT_FALSE(f.wait_for(std::chrono::milliseconds(1)));
  EXPECT_FALSE(f.is_ready());
  EXPECT_FALSE(f.wait_until(std::chrono::steady_clock::now()));
}

TEST(Future, WaitForReturnsTrueOnceCompletedFromAnotherThread) {
  Promise<int> p;
  Future<int> f = p.future();
  std::thread t([&] { p.set_value(7); });
  EXPECT_TRUE(f.wait_for(kWait));
  EXPECT_TRUE(f.is_ready());
  t.join();
  EXPECT_EQ(f.get().value(), 7);
}

TEST(Future, ReadyCreatesACompletedFuture) {
  Future<int> v = Future<int>::ready(5);
  EXPECT_TRUE(v.is_ready());
  EXPECT_EQ(v.get().value(), 5);

  Future<int> e = Future<int>::ready(Status::not_found("nothing"));
  EXPECT_TRUE(e.is_ready());
  EXPECT_EQ(e.get().status().code(), StatusCode::kNotFound);

  Future<void> u = Future<void>::ready(Unit{});
  EXPECT_TRUE(u.is_ready());
  EXPECT_TRUE(u.get().is_ok());
}

TEST(Promise, OnlyTheFirstCompletionCounts) {
  Promise<int> p;
  Future<int> f = p.future();
  EXPECT_FALSE(p.is_complete());
  EXPECT_TRUE(p.set_value(1));
  EXPECT_TRUE(p.is_complete());
  EXPECT_FALSE(p.set_value(2));
  EXPECT_FALSE(p.set_error(Status::internal("late")));
  EXPECT_EQ(f.get().value(), 1);
}

TEST(Promise, DestroyedWithoutAReplyCompletesTheFutureWithCancelled) {
  Future<int> f;
  {
    Promise<int> p;
    f = p.future();
  }
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().status().code(), StatusCode::kCancelled);
}

TEST(Promise, MoveAssignedOverBreaksTheOverwrittenPromise) {
  Promise<int> first;
  Future<int> f1 = first.future();
  Promise<int> second;
  Future<int> f2 = second.future();
  first = std::move(second);
  ASSERT_TRUE(f1.is_ready());
  EXPECT_EQ(f1.get().status().code(), StatusCode::kCancelled);
  EXPECT_TRUE(first.set_value(3));
  EXPECT_EQ(f2.get().value(), 3);
}

TEST(Promise, CompletedPromiseIsNotBrokenByItsDestruction) {
  Future<int> f;
  {
    Promise<int> p;
    f = p.future();
    p.set_value(9);
  }
  EXPECT_EQ(f.get().value(), 9);
}

TEST(Then, ValueContinuationYieldsAFutureOfItsValue) {
  Promise<int> p;
  Future<std::string> f = p.future().then([](Result<int> r) { return std::to_string(*r * 2); });
  EXPECT_FALSE(f.is_ready());
  p.set_value(21);
  EXPECT_EQ(f.get().value(), "42");
}

TEST(Then, VoidContinuationYieldsAnOkVoidFuture) {
  Promise<int> p;
  int seen = 0;
  Future<void> f = p.future().then([&](Result<int> r) { seen = *r; });
  p.set_value(4);
  EXPECT_EQ(seen, 4);
  EXPECT_TRUE(f.get().is_ok());
}

TEST(Then, StatusContinuationErrorFailsTheNextFuture) {
  Promise<int> p;
  Future<void> f = p.future().then([](Result<int> r) {
    return *r < 0 ? Status::invalid_argument("negative") : Status::ok();
  });
  p.set_value(-1);
  EXPECT_EQ(f.get().code(), StatusCode::kInvalidArgument);
}

TEST(Then, StatusContinuationOkCompletesTheNextFuture) {
  Promise<int> p;
  Future<void> f = p.future().then([](Result<int>) { return Status::ok(); });
  p.set_value(1);
  EXPECT_TRUE(f.get().is_ok());
}

TEST(Then, ResultContinuationValueBecomesTheNextValue) {
  Promise<int> p;
  Future<double> f = p.future().then([](Result<int> r) -> Result<double> { return *r / 2.0; });
  p.set_value(3);
  EXPECT_EQ(f.get().value(), 1.5);
}

TEST(Then, ResultContinuationErrorFailsTheNextFuture) {
  Promise<int> p;
  Future<double> f = p.future().then(
      [](Result<int>) -> Result<double> { return Status::failed_precondition("not yet"); });
  p.set_value(3);
  Result<double> r = f.get();
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "not yet");
}

TEST(Then, ContinuationReceivesTheError) {
  Promise<int> p;
  Future<int> f = p.future().then([](Result<int> r) { return static_cast<int>(r.status().code()); });
  p.set_error(Status::overloaded("busy"));
  EXPECT_EQ(f.get().value(), static_cast<int>(StatusCode::kOverloaded));
}

TEST(Then, ContinuationOfABrokenPromiseReceivesCancelled) {
  Future<StatusCode> f;
  {
    Promise<int> p;
    f = p.future().then([](Result<int> r) { return r.status().code(); });
  }
  EXPECT_EQ(f.get().value(), StatusCode::kCancelled);
}

TEST(Then, ContinuationsChain) {
  Promise<int> p;
  Future<int> f = p.future()
                      .then([](Result<int> r) { return *r + 1; })
                      .then([](Result<int> r) -> Result<int> { return *r * 10; })
                      .then([](Result<int> r) { return *r - 3; });
  p.set_value(1);
  EXPECT_EQ(f.get().value(), 17);
}

TEST(Then, ErrorPropagatesThroughAChainThatForwardsIt) {
  Promise<int> p;
  Future<int> f = p.future()
                      .then([](Result<int> r) -> Result<int> {
                        if (!r) return r.status();
                        return *r + 1;
                      })
                      .then([](Result<int> r) -> Result<int> { return r; });
  p.set_error(Status::corruption("bad"));
  EXPECT_EQ(f.get().status().code(), StatusCode::kCorruption);
}

TEST(Then, ContinuationOnACompleteFutureRunsAtOnceOnTheCallingThread) {
  const std::thread::id me = std::this_thread::get_id();
  std::thread::id ran_on;
  Future<void> f = Future<int>::ready(1).then([&](Result<int>) { ran_on = std::this_thread::get_id(); });
  EXPECT_TRUE(f.is_ready());
  EXPECT_EQ(ran_on, me);
}

TEST(Then, ContinuationRunsOnTheCompletingThread) {
  Promise<int> p;
  std::thread::id ran_on;
  Future<void> f = p.future().then([&](Result<int>) { ran_on = std::this_thread::get_id(); });
  std::thread::id completer;
  std::thread t([&] {
    completer = std::this_thread::get_id();
    p.set_value(1);
  });
  t.join();
  EXPECT_TRUE(await(std::move(f)).is_ok());
  EXPECT_EQ(ran_on, completer);
}

}  // namespace
}  // namespace keel
