// keel/engine/dead_letters.h: where undeliverable messages go.
//
// Every message that cannot be handled is reported here with the reason, and
// ask futures waiting on it fail. The channel keeps a bounded history (newest
// last), counts per reason, and calls subscribers as letters arrive.
//
//   auto& dl = system.dead_letters();
//   auto sub = dl.subscribe([](const keel::DeadLetter& d) {
//     std::printf("%s to %llu: %s\n", keel::dead_letter_reason_name(d.reason).data(),
//                 (unsigned long long)d.target, d.method.c_str());
//   });
//   ... dl.count(keel::DeadLetterReason::kStopped) ...
//   dl.unsubscribe(sub);
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/thread_annotations.h"
#include "keel/engine/options.h"

namespace keel {

enum class DeadLetterReason : std::uint8_t {
  kUnknownTarget,  // empty ref, or no actor under the name
  kStopped,        // the target has stopped (or the system shut down)
  kExpired,        // the message's TTL passed before it was handled
  kDropped,        // the mailbox was full (any overflow policy)
  kStale,          // addressed to an older incarnation of a restarted actor
  kFailed,         // a durable actor's handler failed on it max_attempts times
  kCancelled,      // its asker cancelled the ask before the handler started
};
inline constexpr std::size_t kDeadLetterReasonCount = 7;
std::string_view dead_letter_reason_name(DeadLetterReason r);

struct DeadLetter {
  DeadLetterReason reason;
  ActorId target = kNoActor;
  std::uint32_t target_generation = 0;  // addressed; for an any_incarnation() send, the current one
  std::string target_type;  // actor class, when known
  std::string method;       // registered handler name
  ActorId sender = kNoActor;
  TimePoint time;           // system clock
  std::string detail;       // e.g. "mailbox full (capacity 64, policy fail)"
};

// Thread-safe. Subscribers run on the thread that produced the letter, with
// no engine lock held; they must not block for long.
class DeadLetterChannel {
 public:
  explicit DeadLetterChannel(std::size_t history_capacity);

  void publish(DeadLetter letter) KEEL_EXCLUDES(mu_);

  std::uint64_t subscribe(std::function<void(const DeadLetter&)> fn) KEEL_EXCLUDES(mu_);
  void unsubscribe(std::uint64_t handle) KEEL_EXCLUDES(mu_);

  // The newest letters, oldest first, at most the history capacity.
  std::vector<DeadLetter> history() const KEEL_EXCLUDES(mu_);
  std::uint64_t count(DeadLetterReason r) const {
    return counts_[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }
  std::uint64_t total() const;

 private:
  const std::size_t capacity_;
  // relaxed: independent statistics counters.
  std::array<std::atomic<std::uint64_t>, kDeadLetterReasonCount> counts_{};
  mutable Mutex mu_;
  std::deque<DeadLetter> history_ KEEL_GUARDED_BY(mu_);
  std::uint64_t next_sub_ KEEL_GUARDED_BY(mu_) = 1;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<std::function<void(const DeadLetter&)>>>>
      subs_ KEEL_GUARDED_BY(mu_);
};

}  // namespace keel
