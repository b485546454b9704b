// Cancelling a remote call: the client's future completes with kCancelled
// at once, the cancel travels client -> agent -> worker, and the worker
// cancels the local ask, whose running handler sees is_cancelled().
#include <gtest/gtest.h>

#include "agent_fixture.h"

namespace keel::testing {
namespace {

// One worker: the spinning actor and the one that reports on it share the
// worker process's signals (remote_actors.h).
class RemoteCancelTest : public AgentTest {
 protected:
  void configure(AgentOptions& o) override { o.workers = 1; }
};

TEST_F(RemoteCancelTest, CancelReachesTheWorkerAndTheRunningHandlerSeesIt) {
  ASSERT_TRUE(wait(client_->spawn("Cancellable", "spin-1")).is_ok());
  ASSERT_TRUE(wait(client_->spawn("Cancellable", "watch-1")).is_ok());
  Future<bool> started = client_->call<&RemoteCancellable::wait_started>("watch-1");
  Future<bool> saw_cancel = client_->call<&RemoteCancellable::wait_saw_cancel>("watch-1");
  CallOptions long_deadline;
  long_deadline.deadline = std::chrono::minutes(2);  // the cancel, not the deadline, ends it
  Future<int> spin = client_->call_with<&RemoteCancellable::spin>(long_deadline, "spin-1");
  ASSERT_EQ(wait(std::move(started)).value(), true);

  EXPECT_TRUE(spin.cancel());
  ASSERT_TRUE(spin.is_ready());  // at once, before the worker heard of it
  EXPECT_EQ(spin.get().status().code(), StatusCode::kCancelled);
  // The handler in the worker saw the flag (it would give up after its
  // own deadline otherwise, and report false).
  EXPECT_EQ(wait(std::move(saw_cancel)).value(), true);
}

TEST_F(RemoteCancelTest, CallCancelledBeforeItsTurnInTheWorkerIsNotHandled) {
  ASSERT_TRUE(wait(client_->spawn("Cancellable", "spin-2")).is_ok());
  ASSERT_TRUE(wait(client_->spawn("Cancellable", "watch-2")).is_ok());
  Future<bool> started = client_->call<&RemoteCancellable::wait_started>("watch-2");
  CallOptions long_deadline;
  long_deadline.deadline = std::chrono::minutes(2);
  Future<int> spin = client_->call_with<&RemoteCancellable::spin>(long_deadline, "spin-2");
  ASSERT_EQ(wait(std::move(started)).value(), true);
  // Queued behind spin, which runs until cancelled.
  Future<int> bump = client_->call_with<&RemoteCancellable::bump>(long_deadline, "spin-2");
  EXPECT_TRUE(bump.cancel());
  EXPECT_EQ(bump.get().status().code(), StatusCode::kCancelled);
  // The cancels travel in order on the same connections: bump's reaches the
  // worker while spin still runs, so bump never starts.
  EXPECT_TRUE(spin.cancel());
  EXPECT_EQ(wait(client_->call<&RemoteCancellable::bumps>("spin-2")).value(), 0);
  EXPECT_EQ(wait(client_->call<&RemoteCancellable::bump>("spin-2")).value(), 1);
}

TEST_F(RemoteCancelTest, CancellingAFinishedCallChangesNothing) {
  ASSERT_TRUE(wait(client_->spawn("Counter", "c-1")).is_ok());
  Future<int> f = client_->call<&RemoteCounter::add>("c-1", 5);
  ASSERT_TRUE(f.wait_for(kWait));
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(f.get().value(), 5);
  EXPECT_EQ(wait(client_->call<&RemoteCounter::get>("c-1")).value(), 5);
}

}  // namespace
}  // namespace keel::testing
