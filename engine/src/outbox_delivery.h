// OutboxDelivery: the deliveries of one durable actor's outbox (messages
// sent by key, DurableActorBase::send_to) since the actor last started: one
// message at a time, in the order sent, through the System's
// OutboxTransport, each sent again after a backoff until the transport
// reports it delivered; DELIVERED records say how far it got.
//
// Threading: every method is thread-safe. The actor's turn creates and
// closes it; the journal writer thread pushes messages whose batch became
// durable; the transport's and the timers' threads report results. After
// close() returns, no callback touches the runtime or the actor again.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "keel/base/retry_policy.h"
#include "keel/base/thread_annotations.h"
#include "keel/engine/detail/commit_pipeline.h"
#include "keel/engine/outbox.h"
#include "keel/journal/format.h"

namespace keel::internal {
class Runtime;
}

namespace keel::detail {

class OutboxDelivery : public std::enable_shared_from_this<OutboxDelivery> {
 public:
  struct Setup {
    std::shared_ptr<OutboxTransport> transport;  // not null
    std::shared_ptr<CommitPipeline> marks;       // the actor's pipeline for DELIVERED records
    std::string key;                             // the sending actor's key
    std::string owner;                           // actor_owner(key)
    RetryPolicy retry;
    internal::Runtime* rt = nullptr;             // alive until close()
    std::uint64_t delivered = 0;                 // the last seq known delivered
  };

  // Starts delivering `pending` (durable, undelivered, in seq order).
  static std::shared_ptr<OutboxDelivery> start(Setup setup, std::vector<OutboxEntry> pending);

  // Queues a message whose batch is durable (seq greater than any queued).
  void push(OutboxEntry entry) KEEL_EXCLUDES(mu_);
  // The last seq delivered (or given up), in order.
  std::uint64_t delivered() const { return delivered_.load(std::memory_order_acquire); }
  // Stops: nothing more is sent or marked; a result that comes later is
  // dropped (its message is sent again by the actor's next start). Waits
  // for a callback that is running.
  void close() KEEL_EXCLUDES(mu_);

  explicit OutboxDelivery(Setup setup) : setup_(std::move(setup)), delivered_(setup_.delivered) {}

 private:
  // Sends the next message unless one is in flight, until one is pending.
  void pump() KEEL_EXCLUDES(mu_);
  // The transport's answer for `seq`.
  void on_result(std::uint64_t seq, const Status& result) KEEL_EXCLUDES(mu_);
  // Records that messages up to `seq` are delivered (a DELIVERED record).
  void mark(std::uint64_t seq) KEEL_REQUIRES(mu_);
  OutboxMessage message_of(const OutboxEntry& e) const;

  const Setup setup_;
  std::atomic<std::uint64_t> delivered_;
  mutable Mutex mu_;
  bool closed_ KEEL_GUARDED_BY(mu_) = false;
  bool in_flight_ KEEL_GUARDED_BY(mu_) = false;  // the front message is with the transport or waiting to retry
  bool pumping_ KEEL_GUARDED_BY(mu_) = false;    // a pump() loop runs (results it sees go on in it)
  int attempts_ KEEL_GUARDED_BY(mu_) = 0;        // sends of the front message so far
  std::uint64_t marked_ KEEL_GUARDED_BY(mu_) = 0;  // the last seq a DELIVERED record was written for
  std::deque<OutboxEntry> queue_ KEEL_GUARDED_BY(mu_);
};

}  // namespace keel::detail
