#include "keel/wire/envelope.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "keel/wire/value.h"

namespace keel::wire {
namespace {

Envelope full_envelope() {
  Envelope e;
  e.id = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  e.sender = {7, "client/3"};
  e.target = {9, "orders"};
  e.method = "place";
  e.payload = encode_args(std::string("A-17"), 3);
  e.payload_encoding = PayloadEncoding::kSelfDescribing;
  e.reply_to = ReplyTo{{7, "client/3"}, 42};
  e.deadline_ns = 1'700'000'000'000'000'000;
  e.trace_id = {1, 2};
  e.attempt = 2;
  e.idempotent = true;
  return e;
}

StatusCode code_of(const Result<Envelope>& r) { return r.status().code(); }

TEST(Envelope, FullEnvelopeRoundTrips) {
  const Envelope e = full_envelope();
  Result<std::string> bytes = encode_envelope(e);
  ASSERT_TRUE(bytes.has_value()) << bytes.status();
  Result<Envelope> back = decode_envelope(*bytes);
  ASSERT_TRUE(back.has_value()) << back.status();
  EXPECT_EQ(*back, e);
}

TEST(Envelope, DefaultEnvelopeRoundTripsWithoutReplyTo) {
  Envelope e;
  Result<std::string> bytes = encode_envelope(e);
  ASSERT_TRUE(bytes.has_value());
  Result<Envelope> back = decode_envelope(*bytes);
  ASSERT_TRUE(back.has_value()) << back.status();
  EXPECT_EQ(*back, e);
  EXPECT_FALSE(back->reply_to.has_value());
}

TEST(Envelope, EncodingIsOneSegmentInFlatArrayForm) {
  Result<std::string> bytes = encode_envelope(full_envelope());
  ASSERT_TRUE(bytes.has_value());
  ASSERT_GE(bytes->size(), 8u);
  std::uint32_t segments_minus_one = 0, words = 0;
  std::memcpy(&segments_minus_one, bytes->data(), 4);
  std::memcpy(&words, bytes->data() + 4, 4);
  EXPECT_EQ(segments_minus_one, 0u);
  EXPECT_EQ(bytes->size(), 8u + words * 8u);
}

TEST(Envelope, EveryPayloadEncodingRoundTrips) {
  for (PayloadEncoding enc :
       {PayloadEncoding::kSelfDescribing, PayloadEncoding::kCapnp, PayloadEncoding::kRaw}) {
    Envelope e = full_envelope();
    e.payload_encoding = enc;
    Result<Envelope> back = decode_envelope(encode_envelope(e).value());
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->payload_encoding, enc);
  }
}

TEST(Envelope, BinaryPayloadAndTextWithNulBytesRoundTrip) {
  Envelope e = full_envelope();
  e.payload = std::string("\0\xff\x01 zero", 8);
  e.method = std::string("a\0b", 3);
  Result<Envelope> back = decode_envelope(encode_envelope(e).value());
  ASSERT_TRUE(back.has_value()) << back.status();
  EXPECT_EQ(*back, e);
}

TEST(Envelope, LargePayloadRoundTrips) {
  Envelope e = full_envelope();
  e.payload.assign(1 << 20, 'x');
  Result<Envelope> back = decode_envelope(encode_envelope(e).value());
  ASSERT_TRUE(back.has_value()) << back.status();
  EXPECT_EQ(back->payload.size(), 1u << 20);
}

TEST(Envelope, OversizedPayloadIsRejectedAtEncode) {
  Envelope e;
  e.payload.assign(kMaxEnvelopeBytes + 1, 'x');
  Result<std::string> bytes = encode_envelope(e);
  EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
}

TEST(Envelope, InputOverTheSizeLimitIsCorruption) {
  const std::string bytes = encode_envelope(full_envelope()).value();
  EnvelopeLimits limits;
  limits.max_bytes = bytes.size() - 8;
  Result<Envelope> r = decode_envelope(bytes, limits);
  EXPECT_EQ(code_of(r), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("exceeds the limit"), std::string_view::npos);
}

TEST(Envelope, TraversalLimitIsEnforced) {
  Envelope e = full_envelope();
  e.payload.assign(4096, 'p');
  const std::string bytes = encode_envelope(e).value();
  EnvelopeLimits limits;
  limits.traversal_limit_words = 64;
  EXPECT_EQ(code_of(decode_envelope(bytes, limits)), StatusCode::kCorruption);
}

TEST(Envelope, EmptyInputIsCorruption) {
  EXPECT_EQ(code_of(decode_envelope("")), StatusCode::kCorruption);
}

TEST(Envelope, EveryTruncationIsCorruption) {
  const std::string bytes = encode_envelope(full_envelope()).value();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    Result<Envelope> r = decode_envelope(std::string_view(bytes).substr(0, n));
    EXPECT_EQ(code_of(r), StatusCode::kCorruption) << "prefix of " << n << " bytes";
  }
}

TEST(Envelope, TrailingBytesAreCorruption) {
  std::string bytes = encode_envelope(full_envelope()).value();
  bytes.append(8, '\0');
  Result<Envelope> r = decode_envelope(bytes);
  EXPECT_EQ(code_of(r), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("trailing"), std::string_view::npos);
}

TEST(Envelope, GarbageIsCorruptionNotACrash) {
  std::string garbage(256, '\xff');
  EXPECT_EQ(code_of(decode_envelope(garbage)), StatusCode::kCorruption);
  garbage.assign(256, '\0');
  EXPECT_EQ(code_of(decode_envelope(garbage)), StatusCode::kCorruption);
}

TEST(Envelope, HugeSegmentCountIsCorruption) {
  std::string bytes = encode_envelope(full_envelope()).value();
  const std::uint32_t segments = 0x7fffffff;
  std::memcpy(bytes.data(), &segments, 4);
  Result<Envelope> r = decode_envelope(bytes);
  EXPECT_EQ(code_of(r), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("malformed"), std::string_view::npos);
}

TEST(Envelope, UnsetSchemaVersionIsCorruption) {
  // A message whose root struct is all zeros: 1 segment of 2 words, root
  // pointer to an empty struct.
  std::string bytes(8 + 16, '\0');
  const std::uint32_t words = 2;
  std::memcpy(bytes.data() + 4, &words, 4);
  Result<Envelope> r = decode_envelope(bytes);
  EXPECT_EQ(code_of(r), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("schema version"), std::string_view::npos);
}

TEST(EnvelopeView, FieldsPointIntoTheGivenBytes) {
  const std::string bytes = encode_envelope(full_envelope()).value();
  Result<EnvelopeView> view = EnvelopeView::open(bytes);
  ASSERT_TRUE(view.has_value()) << view.status();
  EXPECT_EQ(view->method(), "place");
  EXPECT_GE(view->payload().data(), bytes.data());
  EXPECT_LE(view->payload().data() + view->payload().size(), bytes.data() + bytes.size());
  EXPECT_GE(view->method().data(), bytes.data());
  EXPECT_EQ(view->target().key, "orders");
  EXPECT_EQ(view->target().node, 9u);
  EXPECT_EQ(view->schema_version(), kEnvelopeSchemaVersion);
}

TEST(EnvelopeView, MatchesTheDecodedEnvelope) {
  const Envelope e = full_envelope();
  const std::string bytes = encode_envelope(e).value();
  Result<EnvelopeView> view = EnvelopeView::open(bytes);
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->to_envelope(), e);
  EXPECT_EQ(view->id(), e.id);
  EXPECT_TRUE(view->has_reply_to());
  EXPECT_EQ(view->correlation_id(), 42u);
  EXPECT_EQ(view->reply_to().key, "client/3");
  EXPECT_EQ(view->deadline_ns(), e.deadline_ns);
  EXPECT_EQ(view->trace_id(), e.trace_id);
  EXPECT_EQ(view->attempt(), 2u);
  EXPECT_TRUE(view->idempotent());
}

TEST(EnvelopeView, UnalignedInputIsCopiedOnceAndStillReadable) {
  const Envelope e = full_envelope();
  const std::string bytes = encode_envelope(e).value();
  std::vector<char> buffer(bytes.size() + 1);
  std::memcpy(buffer.data() + 1, bytes.data(), bytes.size());
  const std::string_view unaligned(buffer.data() + 1, bytes.size());
  Result<EnvelopeView> view = EnvelopeView::open(unaligned);
  ASSERT_TRUE(view.has_value()) << view.status();
  EXPECT_EQ(view->to_envelope(), e);
  EXPECT_EQ(decode_envelope(unaligned).value(), e);
}

TEST(EnvelopeView, MovedViewKeepsItsFields) {
  const std::string bytes = encode_envelope(full_envelope()).value();
  Result<EnvelopeView> view = EnvelopeView::open(bytes);
  ASSERT_TRUE(view.has_value());
  EnvelopeView moved = std::move(view).value();
  EXPECT_EQ(moved.method(), "place");
}

TEST(EnvelopeView, GarbageIsCorruption) {
  Result<EnvelopeView> view = EnvelopeView::open(std::string(64, '\x5a'));
  EXPECT_EQ(view.status().code(), StatusCode::kCorruption);
}

TEST(PayloadEncoding, NamesAreStable) {
  EXPECT_EQ(payload_encoding_name(PayloadEncoding::kSelfDescribing), "self_describing");
  EXPECT_EQ(payload_encoding_name(PayloadEncoding::kCapnp), "capnp");
  EXPECT_EQ(payload_encoding_name(PayloadEncoding::kRaw), "raw");
}

}  // namespace
}  // namespace keel::wire
