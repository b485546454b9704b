#include "mailbox.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "cell.h"

namespace keel::detail {

Mailbox::Mailbox(MailboxConfig config) : config_(config) {}

Mailbox::~Mailbox() = default;

bool Mailbox::become_runnable(bool user) {
  if (scheduled_ || (user && paused_)) return false;
  scheduled_ = true;
  return true;
}

// ---- Senders -----------------------------------------------------------------

Mailbox::Pushed Mailbox::push(MessagePtr msg, bool stale, bool may_block, const std::function<bool()>& help) {
  Pushed out;
  MutexLock l(mu_);
  auto refuse = [&](Refusal why) {
    out.refusal = why;
    out.refused = std::move(msg);
    return std::move(out);
  };
  if (closed_) return refuse(Refusal::kClosed);
  if (stale) return refuse(Refusal::kStale);
  const std::size_t cap = config_.capacity;
  if (cap != 0 && user_size_.load(std::memory_order_relaxed) >= cap) {
    switch (config_.policy) {
      case OverflowPolicy::kBlock:
        if (may_block) {
          ++blocked_senders_;
          const bool room = wait_for_room(l, help);
          --blocked_senders_;
          if (closed_) return refuse(Refusal::kClosed);
          if (!room) return refuse(Refusal::kTimedOut);
          break;
        }
        [[fallthrough]];
      case OverflowPolicy::kFail:
      case OverflowPolicy::kDropNewest:
        return refuse(Refusal::kFull);
      case OverflowPolicy::kDropOldest:
        out.evicted = user_.pop_front();
        shrink(1);
        break;
    }
  }
  user_.push_back(std::move(msg));
  grow(1);
  out.schedule = become_runnable(/*user=*/true);
  return out;
}

bool Mailbox::wait_for_room(MutexLock& l, const std::function<bool()>& help) {
  const std::size_t cap = config_.capacity;
  auto has_room = [&]() KEEL_REQUIRES(mu_) {
    return closed_ || user_size_.load(std::memory_order_relaxed) < cap;
  };
  const auto deadline = std::chrono::steady_clock::now() + config_.block_timeout;
  // A sender that is itself an actor's turn runs other runnable actors while
  // it waits, so workers (or the deterministic stepper) blocked here cannot
  // starve the receiver. It re-checks for such work every millisecond.
  while (!has_room()) {
    if (help) {
      l.native().unlock();
      const bool ran = help();
      l.native().lock();
      if (ran) continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    const auto until = help ? std::min(deadline, now + std::chrono::milliseconds(1)) : deadline;
    room_cv_.wait_until(l, until, has_room);
  }
  return true;
}

SysMsgPtr Mailbox::push_system(SysMsgPtr msg, bool* schedule) {
  MutexLock l(mu_);
  *schedule = false;
  if (closed_) return msg;
  system_.push_back(std::move(msg));
  *schedule = become_runnable(/*user=*/false);
  return nullptr;
}

// ---- Durable acceptance ---------------------------------------------------------

void Mailbox::hold() {
  MutexLock l(mu_);
  holding_ = true;
}

bool Mailbox::push_if_idle(MessagePtr& msg, bool* schedule) {
  MutexLock l(mu_);
  *schedule = false;
  if (holding_ || closed_ || paused_ || accepting_ != 0 || !user_.empty() || in_hand_size_ != 0) {
    ++accepting_;
    return false;
  }
  user_.push_back(std::move(msg));
  grow(1);
  *schedule = become_runnable(/*user=*/true);
  return true;
}

MessagePtr Mailbox::push_accepted(MessagePtr msg, bool was_counted, bool* schedule) {
  MutexLock l(mu_);
  *schedule = false;
  if (was_counted) --accepting_;
  if (holding_) {  // recovering: queued after the recovered messages
    held_.push_back(std::move(msg));
    return nullptr;
  }
  if (closed_) return msg;
  user_.push_back(std::move(msg));
  grow(1);
  *schedule = become_runnable(/*user=*/true);
  return nullptr;
}

void Mailbox::count_acceptance() {
  MutexLock l(mu_);
  ++accepting_;
}

void Mailbox::accepted_failed() {
  MutexLock l(mu_);
  --accepting_;
}

bool Mailbox::release_held(std::vector<MessagePtr> all) {
  MutexLock l(mu_);
  for (MessagePtr& m : held_) all.push_back(std::move(m));
  held_.clear();
  holding_ = false;
  // Held messages were accepted after the recovery scan, so they follow the
  // recovered ones; sorting keeps the journal's order either way.
  std::stable_sort(all.begin(), all.end(),
                   [](const MessagePtr& a, const MessagePtr& b) { return inbox_lsn_of(*a) < inbox_lsn_of(*b); });
  for (MessagePtr& m : all) user_.push_back(std::move(m));
  grow(all.size());
  return !all.empty() && become_runnable(/*user=*/true);
}

bool Mailbox::drained() const {
  MutexLock l(mu_);
  return user_.empty() && in_hand_size_ == 0 && accepting_ == 0;
}

// ---- The actor's turn -------------------------------------------------------------

Mailbox::Step Mailbox::take(int budget) {
  Step step;
  {
    MutexLock l(mu_);
    if (!system_.empty()) {
      step.system = std::move(system_);
      return step;
    }
    const bool queued = !user_.empty() || in_hand_size_ != 0;
    if (paused_ || closed_ || budget <= 0 || !queued) {
      step.end = true;
      step.more = !paused_ && !closed_ && queued;
      if (!step.more) scheduled_ = false;
      return step;
    }
    step.from_hand = config_.policy != OverflowPolicy::kDropOldest;
    if (!step.from_hand) {
      // A sender may evict the oldest queued message, so none leaves user_
      // before the turn takes it.
      while (step.taken < budget) {
        MessagePtr m = user_.pop_front();
        if (m == nullptr) break;
        step.user.push_back(std::move(m));
        ++step.taken;
      }
    } else {
      // Everything queued moves to the turn's hand at once; next() unlinks
      // the batch's messages one by one, outside the lock, so senders do not
      // wait while the turn walks them.
      if (in_hand_size_ == 0) {
        in_hand_ = user_.take_all();
        in_hand_size_ = user_size_.load(std::memory_order_relaxed);
      }
      step.taken = static_cast<int>(std::min(static_cast<std::size_t>(budget), in_hand_size_));
      in_hand_size_ -= static_cast<std::size_t>(step.taken);
    }
    step.left = step.taken;
    const std::size_t left = shrink(static_cast<std::size_t>(step.taken));
    // Blocked senders are woken once the mailbox is half empty, so they
    // refill it in a burst instead of waking for every batch.
    if (blocked_senders_ > 0 && left <= config_.capacity / 2) room_cv_.notify_all();
  }
  return step;
}

MessagePtr Mailbox::next(Step& step) {
  if (step.left == 0) return nullptr;
  --step.left;
  if (!step.from_hand) return step.user.pop_front();
  MessagePtr m = in_hand_.pop_front();
  if (m == nullptr) {
    step.left = 0;  // closed: close() took the rest
    return m;
  }
  // The next message was most likely written by another core: fetch it
  // while this one is handled.
  if (const Message* n = in_hand_.front()) __builtin_prefetch(n);
  return m;
}

IntrusiveQueue<Message> Mailbox::put_back(Step& step) {
  if (step.left == 0) return {};
  MutexLock l(mu_);
  const int left = std::exchange(step.left, 0);
  if (!step.from_hand) return requeue_front_locked(std::move(step.user));
  // Still at the front of in_hand_, unless close() took them.
  if (left > 0 && !closed_) {
    in_hand_size_ += static_cast<std::size_t>(left);
    grow(static_cast<std::size_t>(left));
  }
  return {};
}

IntrusiveQueue<Message> Mailbox::requeue_front(IntrusiveQueue<Message> batch) {
  MutexLock l(mu_);
  return requeue_front_locked(std::move(batch));
}

IntrusiveQueue<Message> Mailbox::requeue_front_locked(IntrusiveQueue<Message> batch) {
  if (closed_) return batch;
  std::size_t n = 0;
  IntrusiveQueue<Message> counted;
  while (MessagePtr p = batch.pop_front()) {
    counted.push_back(std::move(p));
    ++n;
  }
  user_.prepend(in_hand_);
  in_hand_size_ = 0;
  user_.prepend(counted);
  grow(n);
  return {};
}

IntrusiveQueue<SysMsg> Mailbox::take_system() {
  MutexLock l(mu_);
  return std::move(system_);
}

void Mailbox::set_paused(bool paused) {
  MutexLock l(mu_);
  paused_ = paused;
}

Mailbox::Rest Mailbox::close() {
  Rest rest;
  MutexLock l(mu_);
  closed_ = true;
  paused_ = true;
  holding_ = false;
  user_.prepend(in_hand_);
  in_hand_size_ = 0;
  rest.user = std::move(user_);
  for (MessagePtr& m : held_) rest.user.push_back(std::move(m));
  held_.clear();
  rest.system = std::move(system_);
  user_size_.store(0, std::memory_order_relaxed);
  if (blocked_senders_ > 0) room_cv_.notify_all();
  return rest;
}

}  // namespace keel::detail
