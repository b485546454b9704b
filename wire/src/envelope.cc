// The Envelope codec over the generated Cap'n Proto code. Every capnp call
// that touches input bytes runs inside a try block: Cap'n Proto reports
// malformed input as kj::Exception, and no kj exception may leave wire/.
#include "keel/wire/envelope.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <cstring>
#include <string>

#include "schema/envelope.capnp.h"

namespace keel::wire {
namespace {

namespace schema = ::keel::wire::schema;

static_assert(schema::SCHEMA_VERSION == kEnvelopeSchemaVersion);
static_assert(static_cast<int>(schema::PayloadEncoding::SELF_DESCRIBING) ==
              static_cast<int>(PayloadEncoding::kSelfDescribing));
static_assert(static_cast<int>(schema::PayloadEncoding::CAPNP) ==
              static_cast<int>(PayloadEncoding::kCapnp));
static_assert(static_cast<int>(schema::PayloadEncoding::RAW) ==
              static_cast<int>(PayloadEncoding::kRaw));

constexpr std::size_t words_for_bytes(std::size_t n) { return (n + 7) / 8; }

// An upper bound on the words the message needs, so that the builder's first
// segment holds everything and the output is single-segment.
std::size_t estimate_words(const Envelope& e) {
  constexpr std::size_t kRoot = 1 + 8 + 5;       // root pointer, data (7 words used), pointers
  constexpr std::size_t kAddress = 1 + 1;        // data, pointer
  std::size_t words = kRoot + 2 * kAddress;
  words += words_for_bytes(e.sender.key.size() + 1) + words_for_bytes(e.target.key.size() + 1);
  words += words_for_bytes(e.method.size() + 1) + words_for_bytes(e.payload.size());
  if (e.reply_to) {
    words += 1 + 1 + kAddress + words_for_bytes(e.reply_to->address.key.size() + 1);
  }
  return words + 8;  // slack
}

// An empty key is left as a null pointer, which reads back as "".
void set_address(schema::Address::Builder b, const ActorAddress& a) {
  b.setNode(a.node);
  if (!a.key.empty()) b.setKey(capnp::Text::Reader(a.key.data(), a.key.size()));
}

EnvelopeView::Address read_address(schema::Address::Reader r) {
  capnp::Text::Reader key = r.getKey();
  return {r.getNode(), std::string_view(key.begin(), key.size())};
}

ActorAddress to_owned(const EnvelopeView::Address& a) { return {a.node, std::string(a.key)}; }

}  // namespace

// Fills an EnvelopeView from a validated root (private members).
struct EnvelopeViewAccess {
  static Status fill(EnvelopeView& v, schema::Envelope::Reader root) {
    v.schema_version_ = root.getSchemaVersion();
    if (v.schema_version_ == 0) return Status::corruption("envelope: schema version 0 (not set)");
    const auto encoding = static_cast<std::uint16_t>(root.getPayloadEncoding());
    if (encoding > static_cast<std::uint16_t>(PayloadEncoding::kRaw)) {
      return Status::corruption("envelope: unknown payload encoding " + std::to_string(encoding));
    }
    v.payload_encoding_ = static_cast<PayloadEncoding>(encoding);
    v.id_ = {root.getIdHi(), root.getIdLo()};
    if (root.hasSender()) v.sender_ = read_address(root.getSender());
    if (root.hasTarget()) v.target_ = read_address(root.getTarget());
    capnp::Text::Reader method = root.getMethod();
    v.method_ = std::string_view(method.begin(), method.size());
    capnp::Data::Reader payload = root.getPayload();
    v.payload_ = std::string_view(reinterpret_cast<const char*>(payload.begin()), payload.size());
    v.has_reply_to_ = root.hasReplyTo();
    if (v.has_reply_to_) {
      schema::ReplyTo::Reader reply = root.getReplyTo();
      if (reply.hasAddress()) v.reply_to_ = read_address(reply.getAddress());
      v.correlation_id_ = reply.getCorrelationId();
    }
    v.deadline_ns_ = root.getDeadlineNs();
    v.trace_id_ = {root.getTraceHi(), root.getTraceLo()};
    v.attempt_ = root.getAttempt();
    v.idempotent_ = root.getIdempotent();
    return Status::ok();
  }
};

Result<std::string> encode_envelope(const Envelope& e) {
  const std::size_t words = estimate_words(e);
  if (words * 8 > kMaxEnvelopeBytes) {
    return Status::invalid_argument("envelope of about " + std::to_string(words * 8) +
                                    " bytes exceeds the limit of " +
                                    std::to_string(kMaxEnvelopeBytes));
  }
  try {
    capnp::MallocMessageBuilder message(static_cast<capnp::uint>(words),
                                        capnp::AllocationStrategy::FIXED_SIZE);
    schema::Envelope::Builder root = message.initRoot<schema::Envelope>();
    root.setSchemaVersion(kEnvelopeSchemaVersion);
    root.setIdHi(e.id.hi);
    root.setIdLo(e.id.lo);
    if (e.sender != ActorAddress{}) set_address(root.initSender(), e.sender);  // else null
    set_address(root.initTarget(), e.target);
    root.setMethod(capnp::Text::Reader(e.method.data(), e.method.size()));
    root.setPayload(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(e.payload.data()),
                                        e.payload.size()));
    root.setPayloadEncoding(static_cast<schema::PayloadEncoding>(e.payload_encoding));
    if (e.reply_to) {
      schema::ReplyTo::Builder reply = root.initReplyTo();
      set_address(reply.initAddress(), e.reply_to->address);
      reply.setCorrelationId(e.reply_to->correlation_id);
    }
    root.setDeadlineNs(e.deadline_ns);
    root.setTraceHi(e.trace_id.hi);
    root.setTraceLo(e.trace_id.lo);
    root.setAttempt(e.attempt);
    root.setIdempotent(e.idempotent);

    std::string out(capnp::computeSerializedSizeInWords(message) * sizeof(capnp::word), '\0');
    kj::ArrayOutputStream stream(kj::arrayPtr(reinterpret_cast<kj::byte*>(out.data()), out.size()));
    capnp::writeMessage(stream, message);
    return out;
  } catch (const kj::Exception& ex) {
    return Status::invalid_argument(std::string("envelope: cannot encode: ") +
                                    ex.getDescription().cStr());
  }
}

Result<EnvelopeView> EnvelopeView::open(std::string_view bytes, const EnvelopeLimits& limits) {
  if (bytes.size() > limits.max_bytes) {
    return Status::corruption("envelope: " + std::to_string(bytes.size()) +
                              " bytes exceeds the limit of " + std::to_string(limits.max_bytes));
  }
  if (bytes.size() < 2 * sizeof(capnp::word) || bytes.size() % sizeof(capnp::word) != 0) {
    return Status::corruption("envelope: " + std::to_string(bytes.size()) +
                              " bytes is not a whole message (truncated?)");
  }
  EnvelopeView view;
  const char* data = bytes.data();
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(capnp::word) != 0) {
    // Cap'n Proto reads whole words; unaligned reads are undefined behaviour.
    view.aligned_copy_ = std::make_unique<std::uint64_t[]>(bytes.size() / 8);
    std::memcpy(view.aligned_copy_.get(), data, bytes.size());
    data = reinterpret_cast<const char*>(view.aligned_copy_.get());
  }
  const auto* begin = reinterpret_cast<const capnp::word*>(data);
  kj::ArrayPtr<const capnp::word> words(begin, bytes.size() / sizeof(capnp::word));
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = limits.traversal_limit_words;
    options.nestingLimit = 8;  // the schema nests 3 deep
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end()) {
      return Status::corruption("envelope: " +
                                std::to_string((words.end() - reader.getEnd()) * 8) +
                                " trailing bytes after the message");
    }
    KEEL_RETURN_IF_ERROR(EnvelopeViewAccess::fill(view, reader.getRoot<schema::Envelope>()));
  } catch (const kj::Exception& ex) {
    return Status::corruption(std::string("envelope: malformed: ") + ex.getDescription().cStr());
  }
  return view;
}

Envelope EnvelopeView::to_envelope() const {
  Envelope e;
  e.id = id_;
  e.sender = to_owned(sender_);
  e.target = to_owned(target_);
  e.method = std::string(method_);
  e.payload = std::string(payload_);
  e.payload_encoding = payload_encoding_;
  if (has_reply_to_) e.reply_to = ReplyTo{to_owned(reply_to_), correlation_id_};
  e.deadline_ns = deadline_ns_;
  e.trace_id = trace_id_;
  e.attempt = attempt_;
  e.idempotent = idempotent_;
  return e;
}

Result<Envelope> decode_envelope(std::string_view bytes, const EnvelopeLimits& limits) {
  KEEL_ASSIGN_OR_RETURN(EnvelopeView view, EnvelopeView::open(bytes, limits));
  return view.to_envelope();
}

std::string_view payload_encoding_name(PayloadEncoding e) {
  switch (e) {
    case PayloadEncoding::kSelfDescribing: return "self_describing";
    case PayloadEncoding::kCapnp: return "capnp";
    case PayloadEncoding::kRaw: return "raw";
  }
  return "unknown";
}

}  // namespace keel::wire
