#include "keel/engine/dead_letters.h"

namespace keel {

std::string_view dead_letter_reason_name(DeadLetterReason r) {
  switch (r) {
    case DeadLetterReason::kUnknownTarget: return "unknown_target";
    case DeadLetterReason::kStopped: return "stopped";
    case DeadLetterReason::kExpired: return "expired";
    case DeadLetterReason::kDropped: return "dropped";
    case DeadLetterReason::kStale: return "stale";
    case DeadLetterReason::kFailed: return "failed";
    case DeadLetterReason::kCancelled: return "cancelled";
  }
  return "?";
}

DeadLetterChannel::DeadLetterChannel(std::size_t history_capacity) : capacity_(history_capacity) {}

void DeadLetterChannel::publish(DeadLetter letter) {
  counts_[static_cast<std::size_t>(letter.reason)].fetch_add(1, std::memory_order_relaxed);
  std::vector<std::shared_ptr<std::function<void(const DeadLetter&)>>> subs;
  {
    MutexLock l(mu_);
    subs.reserve(subs_.size());
    for (auto& [h, fn] : subs_) subs.push_back(fn);
    if (capacity_ > 0) {
      if (history_.size() >= capacity_) history_.pop_front();
      history_.push_back(letter);
    }
  }
  for (auto& fn : subs) (*fn)(letter);
}

std::uint64_t DeadLetterChannel::subscribe(std::function<void(const DeadLetter&)> fn) {
  MutexLock l(mu_);
  const std::uint64_t h = next_sub_++;
  subs_.emplace_back(h, std::make_shared<std::function<void(const DeadLetter&)>>(std::move(fn)));
  return h;
}

void DeadLetterChannel::unsubscribe(std::uint64_t handle) {
  MutexLock l(mu_);
  std::erase_if(subs_, [&](const auto& p) { return p.first == handle; });
}

std::vector<DeadLetter> DeadLetterChannel::history() const {
  MutexLock l(mu_);
  return {history_.begin(), history_.end()};
}

std::uint64_t DeadLetterChannel::total() const {
  std::uint64_t t = 0;
  for (const auto& c : counts_) t += c.load(std::memory_order_relaxed);
  return t;
}

}  // namespace keel
