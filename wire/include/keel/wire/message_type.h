// keel/wire/message_type.h: the message types of the Keel wire protocol
// (docs/wire-protocol.md, "Messages"). Every frame's header names one; the
// body codecs are in keel/wire/control.h, and a connection sends and
// delivers frames by type (keel/wire/transport.h).
//
//   void on_frame(keel::wire::Connection& c, const keel::wire::Frame& f) {
//     if (f.type != keel::wire::MessageType::kCall) {
//       log("ignored " + std::string(keel::wire::message_type_name(f.type)) + " frame");
//     }
//   }
#pragma once

#include <cstdint>
#include <string_view>

namespace keel::wire {

// The frame header's type byte (control.capnp: MessageType). Stable numbers.
enum class MessageType : std::uint8_t {
  kHello = 1,
  kAuth = 2,
  kAuthOk = 3,
  kSpawn = 4,
  kSpawnAck = 5,
  kCall = 6,  // body: an Envelope (envelope.capnp), byte for byte
  kReply = 7,
  kError = 8,
  kRegister = 9,
  kLookup = 10,
  kLookupReply = 11,
  kHeartbeat = 12,
  kShutdown = 13,
  kRdmaSetup = 14,  // transport negotiation; handled by the TCP transport, never delivered
  kCancel = 15,     // protocol version 3: the caller gave up on a call
};
// The highest type; 0 and anything above it are invalid on the wire.
inline constexpr std::uint8_t kMaxMessageType = 15;

// "hello", "call", ... or "unknown". Thread-safe.
std::string_view message_type_name(MessageType t);

}  // namespace keel::wire
