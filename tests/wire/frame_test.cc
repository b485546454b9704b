// Framing and message bodies (keel/wire/frame.h, keel/wire/control.h): every
// malformed input is a typed error, never a crash, and frames come out whole
// however the bytes are split.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "keel/wire/control.h"
#include "keel/wire/envelope.h"
#include "keel/wire/frame.h"

namespace keel::wire {
namespace {

std::string frame_of(MessageType type, std::string_view body) {
  std::string out;
  append_frame(out, type, body);
  return out;
}

TEST(FrameDecoder, YieldsFramesInOrderAndPadsBodiesToWords) {
  std::string bytes = frame_of(MessageType::kCall, "abc") + frame_of(MessageType::kReply, "");
  EXPECT_EQ(bytes.size(), frame_wire_bytes(3) + frame_wire_bytes(0));
  EXPECT_EQ(bytes.size(), 24u);
  FrameDecoder d;
  d.feed(bytes);
  auto a = d.next();
  ASSERT_TRUE(a.has_value() && a->has_value());
  EXPECT_EQ((*a)->type, MessageType::kCall);
  EXPECT_EQ((*a)->body, "abc");
  auto b = d.next();
  ASSERT_TRUE(b.has_value() && b->has_value());
  EXPECT_EQ((*b)->type, MessageType::kReply);
  EXPECT_EQ((*b)->body, "");
  auto c = d.next();
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->has_value());
  EXPECT_TRUE(d.finish().is_ok());
}

TEST(FrameDecoder, ReassemblesFramesFedOneByteAtATime) {
  std::string bytes;
  for (int i = 0; i < 50; ++i) append_frame(bytes, MessageType::kCall, std::string(i * 7, 'x'));
  FrameDecoder d;
  int seen = 0;
  for (char c : bytes) {
    d.feed(std::string_view(&c, 1));
    auto f = d.next();
    ASSERT_TRUE(f.has_value());
    if (f->has_value()) {
      EXPECT_EQ((*f)->body.size(), static_cast<std::size_t>(seen * 7));
      ++seen;
    }
  }
  EXPECT_EQ(seen, 50);
}

TEST(FrameDecoder, BodiesOfWholeWordsStayWordAligned) {
  Envelope e;
  e.target = {1, "orders"};
  e.method = "place";
  e.payload = "payload";
  const std::string env = encode_envelope(e).value();
  std::string bytes = frame_of(MessageType::kCall, "odd") + frame_of(MessageType::kCall, env);
  FrameDecoder d;
  d.feed(bytes);
  ASSERT_TRUE(d.next().value().has_value());
  auto f = d.next().value();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f->body.data()) % 8, 0u);
  auto view = EnvelopeView::open(f->body);
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->method(), "place");
}

TEST(FrameDecoder, GarbageIsMalformed) {
  FrameDecoder d;
  d.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto f = d.next();
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(d.error(), FrameError::kMalformed);
  // The error is sticky.
  EXPECT_EQ(d.next().status().code(), StatusCode::kCorruption);
}

TEST(FrameDecoder, ReservedFlagsAreMalformed) {
  std::string bytes = frame_of(MessageType::kCall, "x");
  bytes[5] = 1;
  FrameDecoder d;
  d.feed(bytes);
  EXPECT_EQ(d.next().status().code(), StatusCode::kCorruption);
  EXPECT_EQ(d.error(), FrameError::kMalformed);
}

TEST(FrameDecoder, UnknownTypeIsReported) {
  for (std::uint8_t type : {std::uint8_t{0}, std::uint8_t{kMaxMessageType + 1}, std::uint8_t{255}}) {
    std::string bytes = frame_of(MessageType::kCall, "x");
    bytes[4] = static_cast<char>(type);
    FrameDecoder d;
    d.feed(bytes);
    auto f = d.next();
    EXPECT_EQ(f.status().code(), StatusCode::kCorruption);
    EXPECT_EQ(d.error(), FrameError::kUnknownType) << int(type);
    EXPECT_NE(f.status().message().find("message type " + std::to_string(type)), std::string::npos);
  }
}

TEST(FrameDecoder, OversizedFrameIsRejectedFromItsHeaderAlone) {
  FrameDecoder d(FrameLimits{1024});
  char header[kFrameHeaderBytes];
  encode_frame_header(header, MessageType::kCall, 1025);
  d.feed(std::string_view(header, sizeof header));  // no body bytes at all
  auto f = d.next();
  EXPECT_EQ(f.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(d.error(), FrameError::kOversized);
  EXPECT_LT(d.buffered_bytes(), 1025u);
}

TEST(FrameDecoder, FrameAtTheLimitIsAccepted) {
  FrameDecoder d(FrameLimits{1024});
  d.feed(frame_of(MessageType::kCall, std::string(1024, 'y')));
  auto f = d.next();
  ASSERT_TRUE(f.has_value() && f->has_value());
  EXPECT_EQ((*f)->body.size(), 1024u);
}

TEST(FrameDecoder, TruncatedStreamIsReportedAtFinish) {
  std::string bytes = frame_of(MessageType::kCall, std::string(100, 'z'));
  FrameDecoder d;
  d.feed(std::string_view(bytes).substr(0, 50));
  auto f = d.next();
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->has_value());
  EXPECT_EQ(d.wanted_bytes(), bytes.size() - 50);
  EXPECT_EQ(d.finish().code(), StatusCode::kCorruption);
  EXPECT_EQ(d.error(), FrameError::kTruncated);
}

TEST(FrameDecoder, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes = frame_of(MessageType::kCall, std::string(rng() % 64, 'a'));
    for (int i = 0; i < 3; ++i) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    FrameDecoder d(FrameLimits{4096});
    d.feed(bytes);
    while (true) {
      auto f = d.next();
      if (!f.has_value()) {
        EXPECT_EQ(f.status().code(), StatusCode::kCorruption);
        EXPECT_NE(d.error(), FrameError::kNone);
        break;
      }
      if (!f->has_value()) break;
    }
  }
}

TEST(ControlBodies, RoundTripEveryMessage) {
  auto check = [](const auto& m) {
    std::remove_cvref_t<decltype(m)> out;
    const std::string body = encode_body(m);
    EXPECT_EQ(body.size() % 8, 0u);
    ASSERT_TRUE(decode_body(body, out).is_ok());
    EXPECT_TRUE(out == m);
  };
  check(Hello{2, 1, std::string(kNonceBytes, 'n'), "node-a", std::string(kProofBytes, 'p')});
  check(AuthProof{std::string(kProofBytes, 'q')});
  check(Spawn{1, "Counter", "c/1", "\x01\x02", true});
  check(SpawnAck{1, 9, "c/1", true});
  check(Reply{77, std::string("\0\1\2", 3), 2});
  check(ErrorMessage{5, StatusCode::kNotFound, "std::out_of_range", "no actor c/2"});
  check(Register{3, "orders", 4, "o/1"});
  check(Lookup{4, "orders"});
  check(LookupReply{4, true, 4, "o/1"});
  check(Heartbeat{10, 123456789});
  check(Shutdown{"maintenance", 500});
  check(RdmaSetup{RdmaSetup::Kind::kOffer, std::string(kRdmaEndpointInfoBytes, 'e'), ""});
  check(RdmaSetup{RdmaSetup::Kind::kAccept, std::string(kRdmaEndpointInfoBytes, 'f'), ""});
  check(RdmaSetup{RdmaSetup::Kind::kDecline, "", "no RDMA device"});
  check(RdmaSetup{RdmaSetup::Kind::kSwitched, "", ""});
  check(Cancel{77});
  EXPECT_EQ(message_type_of(Cancel{}), MessageType::kCancel);
  EXPECT_EQ(message_type_name(MessageType::kCancel), "cancel");
}

TEST(ControlBodies, RdmaSetupWithoutAWholeEndpointOrOfAnUnknownKindIsCorruption) {
  RdmaSetup out;
  EXPECT_EQ(decode_body(encode_body(RdmaSetup{RdmaSetup::Kind::kOffer, "", ""}), out).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(decode_body(encode_body(RdmaSetup{RdmaSetup::Kind::kAccept, std::string(63, 'e'), ""}), out)
                .code(),
            StatusCode::kCorruption);
  EXPECT_EQ(decode_body("not a message at all", out).code(), StatusCode::kCorruption);
  std::string bad = encode_body(RdmaSetup{RdmaSetup::Kind::kSwitched, "", ""});
  ASSERT_TRUE(decode_body(bad, out).is_ok());
  // The kind is the first field of the root struct's data section (after
  // the segment table and the root pointer); 9 is no kind.
  bad[16] = static_cast<char>(9);
  EXPECT_EQ(decode_body(bad, out).code(), StatusCode::kCorruption);
}

TEST(ControlBodies, ErrorBecomesATypedStatus) {
  ErrorMessage e{5, StatusCode::kNotFound, "KeyError", "no actor c/2"};
  EXPECT_EQ(e.to_status(), Status::not_found("KeyError: no actor c/2"));
}

TEST(ControlBodies, GarbageAndTruncationAreCorruption) {
  Spawn spawn;
  EXPECT_EQ(decode_body("", spawn).code(), StatusCode::kCorruption);
  EXPECT_EQ(decode_body("12345678", spawn).code(), StatusCode::kCorruption);
  const std::string body = encode_body(Spawn{1, "Counter", "c/1", "args", false});
  EXPECT_EQ(decode_body(std::string_view(body).substr(0, body.size() - 8), spawn).code(),
            StatusCode::kCorruption);
  std::string bad = encode_body(ErrorMessage{1, StatusCode::kInternal, "", ""});
  ErrorMessage e;
  ASSERT_TRUE(decode_body(bad, e).is_ok());
  // The code byte sits in the root struct's data section (after the segment
  // table and the root pointer); 200 is no StatusCode.
  bad[16 + 8] = static_cast<char>(200);
  EXPECT_EQ(decode_body(bad, e).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace keel::wire
