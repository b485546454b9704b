// The bodies of control-plane and data-plane frames (keel/wire/control.h):
// every message round-trips, and malformed bodies are kCorruption, never a
// crash.
#include "keel/wire/control.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

namespace keel::wire {
namespace {

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
  check(Heartbeat{10, 123456789, std::nullopt});
  check(Heartbeat{11, 5, WorkerStats{7, 2, 3, 9, HistogramSnapshot{{0.001, 0.5}, {1, 1, 1}, 1.25}}});
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
  EXPECT_EQ(
      decode_body(encode_body(RdmaSetup{RdmaSetup::Kind::kAccept, std::string(63, 'e'), ""}), out)
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

TEST(ControlBodies, HeartbeatWithAMalformedHistogramIsCorruption) {
  Heartbeat out;
  // Counts must have one more entry than the bounds.
  const Heartbeat short_counts{1, 0, WorkerStats{0, 0, 0, 0, HistogramSnapshot{{0.5}, {1}, 0}}};
  EXPECT_EQ(decode_body(encode_body(short_counts), out).code(), StatusCode::kCorruption);
  const Heartbeat descending{1, 0, WorkerStats{0, 0, 0, 0, HistogramSnapshot{{0.5, 0.1}, {0, 0, 0}, 0}}};
  EXPECT_EQ(decode_body(encode_body(descending), out).code(), StatusCode::kCorruption);
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
