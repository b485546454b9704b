// Framing (net/src/frame.h): every malformed input is a typed error, never
// a crash, and frames come out whole however the bytes are split.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "frame.h"
#include "keel/wire/envelope.h"
#include "keel/wire/message_type.h"

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

}  // namespace
}  // namespace keel::wire
