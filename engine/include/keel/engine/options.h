// keel/engine/options.h: the settings of spawns, mailboxes and sends.
//
//   keel::SpawnOptions opts;
//   opts.name = "ingest";                                   // registered name
//   opts.mailbox.capacity = 10'000;                         // bounded
//   opts.mailbox.policy = keel::OverflowPolicy::kBlock;     // senders wait...
//   opts.mailbox.block_timeout = std::chrono::seconds(1);   // ...this long
//   auto ref = system.spawn_with<Ingest>(opts);
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "keel/base/clock.h"

namespace keel {

// Identifies an actor for the life of its System; kept across restarts.
using ActorId = std::uint64_t;
inline constexpr ActorId kNoActor = 0;
// The generation of a ref that names no incarnation (AnyRef::any_incarnation);
// incarnations count from 1.
inline constexpr std::uint32_t kAnyGeneration = 0;

// What a send does when the target's mailbox holds `capacity` messages.
// Control messages (stop, exit, supervision) are never refused.
enum class OverflowPolicy : std::uint8_t {
  kBlock,       // the sender waits up to block_timeout for room, then the send fails
  kFail,        // the send fails at once (try_tell returns kOverloaded)
  kDropNewest,  // the new message goes to dead letters; the send succeeds
  kDropOldest,  // the oldest queued message goes to dead letters; the new one is queued
};

struct MailboxConfig {
  // 0 means unbounded.
  std::size_t capacity = 0;
  OverflowPolicy policy = OverflowPolicy::kFail;
  // For kBlock: how long a sender may wait for room. Real time.
  Duration block_timeout = std::chrono::seconds(1);
};

struct SpawnOptions {
  // When set, the actor is registered under this name while it lives, and
  // spawn fails with kAlreadyExists if the name is taken.
  std::string name;
  MailboxConfig mailbox;
};

// A message id chosen by the sender (128 bits; zero: none). A durable actor
// applies a message with such an id at most once: a copy whose id it has
// applied already (a retry after a timeout or a crash) is not handled again
// and completes with kAlreadyExists. Ids are remembered for the last
// DurableOptions::dedupe_window such messages; in-memory actors ignore them.
struct MessageId {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  bool empty() const { return hi == 0 && lo == 0; }
  friend bool operator==(const MessageId&, const MessageId&) = default;
};

// A pre-encoded INBOX envelope (SendOptions/AskOptions::inbox_envelope):
// for a message to a durable actor, the bytes of a wire::Envelope
// (wire::encode_envelope) that the engine journals as the message's INBOX
// record as they are, instead of encoding one from the message: one copy
// into the record, no re-encoding. It is meant for a message that arrived
// as an envelope, such as a remote call (keel/agent/worker_host.h). The
// engine journals it as is only when recovery rebuilds from it the message
// being sent: it opens as an envelope; its target key is the actor's key;
// its method is the handler's name; its payload encoding is
// kSelfDescribing; its id is not zero and not a durable timer's; and it is
// idempotent exactly when the send has an id (MessageId), which then equals
// its id. Otherwise the engine encodes the record itself, as without it.
// Precondition: the payload decodes as the handler's arguments
// (wire::decode_args), as for a call whose arguments were decoded from it;
// the engine does not decode it again, and recovery reports a payload that
// does not decode as kCorruption at that record. Its other fields (sender,
// reply_to, deadline, trace id, attempt) are journaled as they are and read
// only by `keel journal`: a recovered message is delivered as a tell, so a
// journaled reply_to is never answered. Ignored by in-memory actors.
struct SendOptions {
  // When positive, a message not handled within `ttl` of the send (by the
  // system clock) goes to dead letters as expired instead.
  Duration ttl = Duration::zero();
  MessageId id{};  // see MessageId
  // Durable targets: the message's INBOX record, already encoded (see
  // "A pre-encoded INBOX envelope" above). Borrowed: it must stay valid
  // until the send returns. Empty: the engine encodes the record.
  std::string_view inbox_envelope{};
};

struct AskOptions {
  // When positive, the future fails with kTimeout after this long (system
  // clock); a reply that comes later is counted as a late reply.
  Duration timeout = Duration::zero();
  Duration ttl = Duration::zero();
  MessageId id{};  // see MessageId
  // As SendOptions::inbox_envelope; borrowed until the ask returns (not
  // until its future completes).
  std::string_view inbox_envelope{};
};

// Life cycle of an actor, as diagnostics report it.
enum class ActorStatus : std::uint8_t {
  kRunning,     // handling messages
  kSuspended,   // failed, waiting for its supervisor's directive (or a backoff)
  kRestarting,  // stopping its children before it is rebuilt
  kStopping,    // stopping its children before it stops
  kStopped,
};

std::string_view actor_status_name(ActorStatus s);

}  // namespace keel
