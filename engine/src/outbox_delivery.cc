// OutboxDelivery: one durable actor's outbox on its way out
// (outbox_delivery.h).
#include "outbox_delivery.h"

#include <algorithm>

#include "cell.h"
#include "runtime.h"
#include "keel/wire/value.h"

namespace keel::detail {

namespace {
// DELIVERED records are written when the queue runs empty, or after this
// many deliveries without one: a crash re-sends at most this many
// messages, which their receivers recognise by id.
constexpr std::uint64_t kMarkEvery = 32;
}  // namespace

std::shared_ptr<OutboxDelivery> OutboxDelivery::start(Setup setup, std::vector<OutboxEntry> pending) {
  auto d = std::make_shared<OutboxDelivery>(std::move(setup));
  {
    MutexLock lock(d->mu_);
    for (OutboxEntry& e : pending) d->queue_.push_back(std::move(e));
  }
  d->pump();
  return d;
}

void OutboxDelivery::push(OutboxEntry entry) {
  {
    MutexLock lock(mu_);
    if (closed_) return;  // the next start reads it from the journal
    queue_.push_back(std::move(entry));
  }
  pump();
}

void OutboxDelivery::close() {
  MutexLock lock(mu_);
  closed_ = true;
  queue_.clear();
}

OutboxMessage OutboxDelivery::message_of(const OutboxEntry& e) const {
  OutboxMessage m;
  m.sender = setup_.key;
  m.seq = e.seq;
  m.target = e.target;
  m.method = e.method;
  m.args = e.args.data;
  const auto id = outbox_message_id(setup_.owner, e.seq);
  m.id = MessageId{id[0], id[1]};
  return m;
}

void OutboxDelivery::pump() {
  auto self = shared_from_this();
  for (;;) {
    OutboxMessage m;
    {
      MutexLock lock(mu_);
      if (closed_ || in_flight_ || pumping_ || queue_.empty()) return;
      in_flight_ = true;
      pumping_ = true;
      ++attempts_;
      m = message_of(queue_.front());
    }
    Future<void> sent = setup_.transport->deliver(m);
    sent.then([self, seq = m.seq](auto r) { self->on_result(seq, r.status()); });
    MutexLock lock(mu_);
    pumping_ = false;
    // Answered already (on this thread, or another's while this one sent):
    // go on here rather than in on_result, so a run of quick answers does
    // not nest.
    if (in_flight_) return;
  }
}

void OutboxDelivery::on_result(std::uint64_t seq, const Status& result) {
  bool next = false;
  {
    MutexLock lock(mu_);
    if (closed_ || queue_.empty() || queue_.front().seq != seq) return;
    const OutboxEntry& e = queue_.front();
    const bool applied = result.is_ok() || result.code() == StatusCode::kAlreadyExists;
    if (!applied && setup_.retry.should_retry(result, attempts_)) {
      const Duration wait = setup_.retry.backoff(attempts_);
      setup_.rt->timers().schedule(setup_.rt->clock().now() + wait, Duration::zero(),
                                   [self = shared_from_this()] {
                                     {
                                       MutexLock lock(self->mu_);
                                       self->in_flight_ = false;
                                     }
                                     self->pump();
                                   });
      return;
    }
    if (!applied) {
      setup_.rt->log("the outbox of " + setup_.owner + " gave up message " + std::to_string(seq) + " to '" +
                     e.target + "'." + e.method + " after " + std::to_string(attempts_) +
                     " attempts: " + result.to_string());
    }
    queue_.pop_front();
    attempts_ = 0;
    in_flight_ = false;
    delivered_.store(seq, std::memory_order_release);
    if (queue_.empty() || seq - marked_ >= kMarkEvery) mark(seq);
    next = !pumping_;
  }
  if (next) pump();
}

void OutboxDelivery::mark(std::uint64_t seq) {
  marked_ = seq;
  Commit c;
  c.records.push_back(NewRecord{setup_.owner, RecordKind::kDelivered, wire::encode_value(seq)});
  internal::Runtime* rt = setup_.rt;
  // A failed mark only means those messages are sent again after a restart.
  rt->journal_op_started();
  rt->add_ref();  // released by the callback
  setup_.marks->submit(std::move(c), [rt, owner = setup_.owner](Result<CommitLsns> r) {
    if (!r && r.status().code() != StatusCode::kOwnershipLost) {
      rt->log("recording the delivered outbox messages of " + owner + " failed: " + r.status().to_string());
    }
    rt->journal_op_done();
    rt->release();
  });
}

}  // namespace keel::detail
