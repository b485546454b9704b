// keel/wire/control.h: the bodies of control-plane and data-plane frames
// (schema: wire/schema/control.capnp; protocol: docs/wire-protocol.md). Each
// message is a plain value with encode_body() and decode_body(); the frame
// header's MessageType (keel/wire/message_type.h) says which one a body
// holds. A `call` body is an Envelope (keel/wire/envelope.h) and has no
// struct here.
//
//   keel::wire::Lookup lookup{.request_id = 7, .name = "orders"};
//   KEEL_RETURN_IF_ERROR(connection.send(keel::wire::message_type_of(lookup),
//                                        keel::wire::encode_body(lookup)));
//   // ... on the other side, for a frame f of type kLookup:
//   keel::wire::Lookup got;
//   KEEL_RETURN_IF_ERROR(keel::wire::decode_body(f.body, got));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "keel/base/histogram.h"
#include "keel/base/status.h"
#include "keel/wire/message_type.h"

namespace keel::wire {

// Protocol version of this code (control.capnp: protocolVersion), and the
// oldest version it still speaks. Two peers use the lower of their versions.
inline constexpr std::uint16_t kProtocolVersion = 3;
inline constexpr std::uint16_t kMinProtocolVersion = 1;
// The first version with RdmaSetup; an older peer is served over TCP only.
inline constexpr std::uint16_t kRdmaSetupVersion = 2;
// The first version with Cancel; an older peer is never sent one (a call to
// it that is cancelled runs on).
inline constexpr std::uint16_t kCancelVersion = 3;
// Size of an encoded RdmaEndpointInfo (the RDMA binding's queue pair and
// ring addresses; docs/wire-protocol.md, "Transport negotiation").
inline constexpr std::size_t kRdmaEndpointInfoBytes = 64;
inline constexpr std::size_t kNonceBytes = 32;
inline constexpr std::size_t kProofBytes = 32;  // HMAC-SHA256

struct Hello {
  std::uint16_t version = kProtocolVersion;
  std::uint16_t min_version = kMinProtocolVersion;
  std::string nonce;  // kNonceBytes random bytes
  std::string node;   // sender's node name, for logs
  std::string proof;  // server only: its proof over the client's nonce
  friend bool operator==(const Hello&, const Hello&) = default;
};

struct AuthProof {
  std::string proof;
  friend bool operator==(const AuthProof&, const AuthProof&) = default;
};

struct Spawn {
  std::uint64_t request_id = 0;
  std::string actor_type;
  std::string key;
  std::string args;  // self-describing value (keel/wire/value.h)
  bool durable = false;
  friend bool operator==(const Spawn&, const Spawn&) = default;
};

struct SpawnAck {
  std::uint64_t request_id = 0;
  std::uint64_t node = 0;
  std::string key;
  bool recovered = false;
  friend bool operator==(const SpawnAck&, const SpawnAck&) = default;
};

struct Reply {
  std::uint64_t correlation_id = 0;
  std::string payload;
  std::uint8_t payload_encoding = 0;  // PayloadEncoding numbering
  friend bool operator==(const Reply&, const Reply&) = default;
};

// A typed remote failure. correlation_id 0 = about the connection, which the
// sender closes after it.
struct ErrorMessage {
  std::uint64_t correlation_id = 0;
  StatusCode code = StatusCode::kInternal;
  std::string remote_type;
  std::string message;
  // The Status a caller sees: `code` with "<remote_type>: <message>".
  Status to_status() const;
  friend bool operator==(const ErrorMessage&, const ErrorMessage&) = default;
};

struct Register {
  std::uint64_t request_id = 0;
  std::string name;
  std::uint64_t node = 0;
  std::string key;
  friend bool operator==(const Register&, const Register&) = default;
};

struct Lookup {
  std::uint64_t request_id = 0;
  std::string name;
  friend bool operator==(const Lookup&, const Lookup&) = default;
};

struct LookupReply {
  std::uint64_t request_id = 0;
  bool found = false;
  std::uint64_t node = 0;
  std::string key;
  friend bool operator==(const LookupReply&, const LookupReply&) = default;
};

// A keel-agent worker's engine counters (keel::EngineMetrics), carried in
// its heartbeat echo.
struct WorkerStats {
  std::uint64_t messages_handled = 0;
  std::uint64_t inbox_depth = 0;
  std::uint64_t durable_commits = 0;
  std::uint64_t durable_records = 0;
  HistogramSnapshot commit_seconds;  // well-formed (HistogramSnapshot::is_well_formed)
  friend bool operator==(const WorkerStats&, const WorkerStats&) = default;
};

struct Heartbeat {
  std::uint64_t sequence = 0;
  std::int64_t sent_ns = 0;
  std::optional<WorkerStats> stats;  // set only in a worker's echo
  friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

struct Shutdown {
  std::string reason;
  std::uint32_t drain_ms = 0;
  friend bool operator==(const Shutdown&, const Shutdown&) = default;
};

// One step of moving a TCP connection's data frames to RDMA
// (docs/wire-protocol.md, "Transport negotiation").
struct RdmaSetup {
  enum class Kind : std::uint8_t { kOffer = 0, kAccept = 1, kDecline = 2, kSwitched = 3 };
  Kind kind = Kind::kDecline;
  std::string endpoint;  // kOffer, kAccept: kRdmaEndpointInfoBytes bytes
  std::string reason;    // kDecline: why this side stays on TCP
  friend bool operator==(const RdmaSetup&, const RdmaSetup&) = default;
};

// The caller of a call gave up on it: `correlation_id` is the call's
// reply_to correlation id on this connection. No answer is sent.
struct Cancel {
  std::uint64_t correlation_id = 0;
  friend bool operator==(const Cancel&, const Cancel&) = default;
};

// The frame type that carries each body.
constexpr MessageType message_type_of(const Hello&) { return MessageType::kHello; }
constexpr MessageType message_type_of(const AuthProof&) { return MessageType::kAuth; }
constexpr MessageType message_type_of(const Spawn&) { return MessageType::kSpawn; }
constexpr MessageType message_type_of(const SpawnAck&) { return MessageType::kSpawnAck; }
constexpr MessageType message_type_of(const Reply&) { return MessageType::kReply; }
constexpr MessageType message_type_of(const ErrorMessage&) { return MessageType::kError; }
constexpr MessageType message_type_of(const Register&) { return MessageType::kRegister; }
constexpr MessageType message_type_of(const Lookup&) { return MessageType::kLookup; }
constexpr MessageType message_type_of(const LookupReply&) { return MessageType::kLookupReply; }
constexpr MessageType message_type_of(const Heartbeat&) { return MessageType::kHeartbeat; }
constexpr MessageType message_type_of(const Shutdown&) { return MessageType::kShutdown; }
constexpr MessageType message_type_of(const RdmaSetup&) { return MessageType::kRdmaSetup; }
constexpr MessageType message_type_of(const Cancel&) { return MessageType::kCancel; }

// Encodes a body as one flat Cap'n Proto message (a whole number of words).
// Thread-safe.
std::string encode_body(const Hello& m);
std::string encode_body(const AuthProof& m);
std::string encode_body(const Spawn& m);
std::string encode_body(const SpawnAck& m);
std::string encode_body(const Reply& m);
std::string encode_body(const ErrorMessage& m);
std::string encode_body(const Register& m);
std::string encode_body(const Lookup& m);
std::string encode_body(const LookupReply& m);
std::string encode_body(const Heartbeat& m);
std::string encode_body(const Shutdown& m);
std::string encode_body(const RdmaSetup& m);
std::string encode_body(const Cancel& m);

// Decodes a body of the matching type into `out`. Errors: kCorruption for
// anything that is not a valid message (truncated, garbage, bad pointers,
// traversal limit, an unknown StatusCode in an ErrorMessage, an RdmaSetup
// of an unknown kind or whose offer or accept lacks a whole endpoint, a
// Heartbeat whose stats hold a malformed histogram).
// Never throws.
// Thread-safe.
Status decode_body(std::string_view bytes, Hello& out);
Status decode_body(std::string_view bytes, AuthProof& out);
Status decode_body(std::string_view bytes, Spawn& out);
Status decode_body(std::string_view bytes, SpawnAck& out);
Status decode_body(std::string_view bytes, Reply& out);
Status decode_body(std::string_view bytes, ErrorMessage& out);
Status decode_body(std::string_view bytes, Register& out);
Status decode_body(std::string_view bytes, Lookup& out);
Status decode_body(std::string_view bytes, LookupReply& out);
Status decode_body(std::string_view bytes, Heartbeat& out);
Status decode_body(std::string_view bytes, Shutdown& out);
Status decode_body(std::string_view bytes, RdmaSetup& out);
Status decode_body(std::string_view bytes, Cancel& out);

}  // namespace keel::wire
