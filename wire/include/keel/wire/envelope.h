// keel/wire/envelope.h: the Envelope that carries every Keel message, and its
// Cap'n Proto codec (schema: wire/schema/envelope.capnp; bytes:
// docs/wire-format.md). The same bytes travel on the wire and sit in the
// journal.
//
// Envelope is a plain value for building and inspecting messages;
// EnvelopeView reads the encoded bytes in place (no copies of the method or
// the payload) for the hot path.
//
//   keel::wire::Envelope e;
//   e.id = {1, 2};
//   e.target = {0, "orders"};
//   e.method = "place";
//   e.payload = keel::wire::encode_args(std::string("A-17"), 3);
//   KEEL_ASSIGN_OR_RETURN(std::string bytes, keel::wire::encode_envelope(e));
//   KEEL_ASSIGN_OR_RETURN(keel::wire::EnvelopeView view, keel::wire::EnvelopeView::open(bytes));
//   assert(view.method() == "place");
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keel/base/status.h"

namespace keel::wire {

// The schema version this code writes (envelope.capnp: schemaVersion).
inline constexpr std::uint16_t kEnvelopeSchemaVersion = 1;
// Default limits for decoding. An encoded envelope larger than
// kMaxEnvelopeBytes is rejected by both encode and decode.
inline constexpr std::size_t kMaxEnvelopeBytes = 64u << 20;
// Cap'n Proto traversal limit (words read through pointers), which bounds
// the work a hostile message can cause; a well-formed envelope reads each
// word once, so it is its size in words plus slack.
inline constexpr std::uint64_t kEnvelopeTraversalLimitWords = (kMaxEnvelopeBytes / 8) + 1024;

// A 128-bit id (message id, trace id). {0, 0} means none.
struct Id128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  bool is_zero() const { return hi == 0 && lo == 0; }
  friend bool operator==(const Id128&, const Id128&) = default;
};

// An actor's address: the node (system) it lives on and its key there.
struct ActorAddress {
  std::uint64_t node = 0;  // 0 = the local system
  std::string key;         // registered name or id
  friend bool operator==(const ActorAddress&, const ActorAddress&) = default;
};

// How Envelope::payload is encoded (stable numbers, as in the schema).
enum class PayloadEncoding : std::uint8_t {
  kSelfDescribing = 0,  // keel/wire/value.h; renderable as JSON without the program
  kCapnp = 1,           // Cap'n Proto, schema known to the reader
  kRaw = 2,             // opaque bytes
};

// Where the reply to an ask goes.
struct ReplyTo {
  ActorAddress address;
  std::uint64_t correlation_id = 0;
  friend bool operator==(const ReplyTo&, const ReplyTo&) = default;
};

// One message. A copyable, comparable value; thread-compatible.
struct Envelope {
  Id128 id;                  // unique per message; the dedup key on redelivery
  ActorAddress sender;       // empty key and node 0 when sent from outside an actor
  ActorAddress target;
  std::string method;        // handler name, as registered
  std::string payload;
  PayloadEncoding payload_encoding = PayloadEncoding::kSelfDescribing;
  std::optional<ReplyTo> reply_to;  // empty for tell
  std::int64_t deadline_ns = 0;     // wall-clock ns since the Unix epoch; 0 = none
  Id128 trace_id;
  std::uint32_t attempt = 0;        // delivery attempt, 0 for the first
  // The sender chose `id` and reuses it when it retries: a durable target
  // applies a message with this id at most once (docs/durable.md).
  bool idempotent = false;

  friend bool operator==(const Envelope&, const Envelope&) = default;
};

// Limits applied by decode_envelope and EnvelopeView::open.
struct EnvelopeLimits {
  std::size_t max_bytes = kMaxEnvelopeBytes;
  std::uint64_t traversal_limit_words = kEnvelopeTraversalLimitWords;
};

// Encodes `e` as one Cap'n Proto message in flat-array form (segment table
// plus a single segment). Errors: kInvalidArgument when the encoding would
// exceed kMaxEnvelopeBytes. Thread-safe (no shared state).
Result<std::string> encode_envelope(const Envelope& e);

// Decodes bytes produced by encode_envelope (any alignment). Errors:
// kCorruption, with a message saying what is wrong, for anything that is not
// a valid envelope: truncated, garbage, a bad segment table, pointers out of
// bounds, traversal limit exceeded, schema version 0, unknown payload
// encoding, or more than limits.max_bytes. Never throws. Thread-safe.
Result<Envelope> decode_envelope(std::string_view bytes, const EnvelopeLimits& limits = {});

// A read-only view of an encoded envelope. open() validates the whole message
// once; the accessors then return fields in place: method(), payload() and
// the address keys point into the bytes given to open(), which must outlive
// the view and stay unchanged. (If those bytes are not 8-byte aligned, open()
// copies them once into a buffer the view owns, and the views point there.)
// Movable, not copyable. Thread-compatible.
class EnvelopeView {
 public:
  struct Address {
    std::uint64_t node = 0;
    std::string_view key;
  };

  // Errors: as decode_envelope.
  static Result<EnvelopeView> open(std::string_view bytes, const EnvelopeLimits& limits = {});

  EnvelopeView(EnvelopeView&&) noexcept = default;
  EnvelopeView& operator=(EnvelopeView&&) noexcept = default;
  EnvelopeView(const EnvelopeView&) = delete;
  EnvelopeView& operator=(const EnvelopeView&) = delete;

  std::uint16_t schema_version() const { return schema_version_; }
  Id128 id() const { return id_; }
  Address sender() const { return sender_; }
  Address target() const { return target_; }
  std::string_view method() const { return method_; }
  std::string_view payload() const { return payload_; }
  PayloadEncoding payload_encoding() const { return payload_encoding_; }
  bool has_reply_to() const { return has_reply_to_; }
  // Meaningful only when has_reply_to().
  Address reply_to() const { return reply_to_; }
  std::uint64_t correlation_id() const { return correlation_id_; }
  std::int64_t deadline_ns() const { return deadline_ns_; }
  Id128 trace_id() const { return trace_id_; }
  std::uint32_t attempt() const { return attempt_; }
  bool idempotent() const { return idempotent_; }

  // A copy as an owning Envelope.
  Envelope to_envelope() const;

 private:
  EnvelopeView() = default;
  friend struct EnvelopeViewAccess;

  std::unique_ptr<std::uint64_t[]> aligned_copy_;  // only for unaligned input
  std::uint16_t schema_version_ = 0;
  Id128 id_;
  Address sender_;
  Address target_;
  std::string_view method_;
  std::string_view payload_;
  PayloadEncoding payload_encoding_ = PayloadEncoding::kSelfDescribing;
  bool has_reply_to_ = false;
  Address reply_to_;
  std::uint64_t correlation_id_ = 0;
  std::int64_t deadline_ns_ = 0;
  Id128 trace_id_;
  std::uint32_t attempt_ = 0;
  bool idempotent_ = false;
};

// "self_describing", "capnp", "raw", or "unknown".
std::string_view payload_encoding_name(PayloadEncoding e);

}  // namespace keel::wire
