// keel/engine/outbox.h: how a durable actor's messages sent by key
// (DurableActorBase::send_to) leave its System. The actor's handler records
// each such message in its batch (an OUTBOX record); once the batch is
// durable, the System hands the message to its OutboxTransport, again and
// again until the transport reports it delivered, also after a crash, a
// restart, or on the host that takes the actor over (docs/durable.md,
// "Sending by key"). The receiver applies it once: every attempt carries
// the same message id.
//
// keel::WorkerHost installs a transport over its client of the agent (so
// actors in a keel-agent worker send to actors in other workers and, in a
// cluster, on other hosts); a program that embeds Keel installs its own:
//
//   class ToOtherSystem : public keel::OutboxTransport {
//     keel::Future<void> deliver(const keel::OutboxMessage& m) override { ... }
//   };
//   keel::SystemConfig config;
//   config.outbox = std::make_shared<ToOtherSystem>();
#pragma once

#include <cstdint>
#include <string>

#include "keel/engine/future.h"
#include "keel/engine/options.h"

namespace keel {

// One message of a durable actor's outbox.
struct OutboxMessage {
  std::string sender;  // the sending actor's key
  std::uint64_t seq = 0;  // the sender's seq-th message sent by key (1, 2, ...)
  std::string target;  // the receiving durable actor's key
  std::string method;  // the handler's name (T::kHandlers)
  std::string args;    // wire::encode_args of the handler's arguments
  // outbox_message_id(actor_owner(sender), seq) (keel/journal/format.h):
  // the same for every attempt, so the receiver applies the message once.
  MessageId id;
};

// Delivers outbox messages to durable actors, wherever they are. Shared by
// the System and the deliveries in flight; called on engine and journal
// threads, one message of a given sender at a time (in its order); must
// not block.
//
// The future completes:
// - OK, or kAlreadyExists (the receiver applied this id already): delivered;
// - with a code in DurableOptions::outbox_retry's retry_on (by default
//   kUnavailable, kTimeout, kOwnershipLost, kNotFound, kIoError,
//   kOverloaded and kCancelled: a receiver stopped while its shard moved):
//   sent again after a backoff, until the actor stops;
// - any other error: the message is given up (reported through
//   SystemConfig::log) and counted as delivered.
class OutboxTransport {
 public:
  virtual ~OutboxTransport() = default;
  virtual Future<void> deliver(const OutboxMessage& message) = 0;
};

}  // namespace keel
