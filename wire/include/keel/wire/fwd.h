// keel/wire/fwd.h: forward declarations of keel::wire types.
#pragma once

#include <cstdint>

namespace keel::wire {
struct Id128;
struct ActorAddress;
struct ReplyTo;
struct Envelope;
struct EnvelopeLimits;
class EnvelopeView;
enum class PayloadEncoding : std::uint8_t;
struct Bytes;
struct Value;
struct ValueEntry;
struct ValueField;
enum class ValueKind : std::uint8_t;
enum class MessageType : std::uint8_t;
struct Frame;
class Connection;
struct ConnectionCallbacks;
struct TlsOptions;
struct RdmaOptions;
struct TransportOptions;
}  // namespace keel::wire
