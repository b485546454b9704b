// The RDMA binding (net/src/rdma_transport.h) and TCP connections moved
// to it (TransportOptions::rdma). The ring protocol under it is tested on
// every machine (ring_test.cc), and so are the negotiation and its fallbacks
// (tcp_transport_test.cc); the tests here that need a device skip, saying
// why, where ibv_get_device_list finds none.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "keel/net/tcp_transport.h"
#include "keel/wire/control.h"
#include "net/net_test_support.h"
#include "rdma_transport.h"

namespace keel::wire {
namespace {

using testing::no_rdma_device_reason;

TEST(RdmaEndpointInfo, EncodesToAFixedFormAndBack) {
  RdmaEndpointInfo info;
  info.qp_num = 0x123456;
  info.lid = 7;
  info.gid[15] = 9;
  info.ring_addr = 0x7f0000001000;
  info.ring_rkey = 42;
  info.ring_bytes = 1 << 20;
  info.mirror_addr = 0x7f0000200000;
  info.mirror_rkey = 43;
  const std::string bytes = info.encode();
  EXPECT_EQ(bytes.size(), 64u);
  auto back = RdmaEndpointInfo::decode(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, info);
  EXPECT_EQ(RdmaEndpointInfo::decode(bytes.substr(1)).status().code(), StatusCode::kCorruption);
}

TEST(RdmaLink, OpenWithoutADeviceIsUnavailable) {
  if (no_rdma_device_reason().empty()) GTEST_SKIP() << "this machine has an RDMA device";
  EXPECT_EQ(RdmaLink::open("", 1 << 16).status().code(), StatusCode::kUnavailable);
}

TEST(RdmaLink, FramesCrossALoopbackQueuePairWithCredits) {
  if (std::string why = no_rdma_device_reason(); !why.empty()) GTEST_SKIP() << why;
  auto a = RdmaLink::open("", 1 << 12);
  auto b = RdmaLink::open("", 1 << 12);
  ASSERT_TRUE(a.has_value()) << a.status();
  ASSERT_TRUE(b.has_value()) << b.status();
  ASSERT_TRUE((*a)->connect((*b)->local_info()).is_ok());
  ASSERT_TRUE((*b)->connect((*a)->local_info()).is_ok());
  std::vector<std::string> got;
  const std::string body(200, 'r');
  int sent = 0;
  // Fill the ring until credits run out, then let b drain it; repeat past
  // several wraps.
  for (int round = 0; round < 20; ++round) {
    Status s;
    while ((s = (*a)->send(MessageType::kCall, body)).is_ok()) ++sent;
    ASSERT_EQ(s.code(), StatusCode::kOverloaded) << s;
    for (int spins = 0; static_cast<int>(got.size()) < sent && spins < 10'000'000; ++spins) {
      ASSERT_TRUE((*b)->poll([&](std::uint8_t, std::string_view body) {
                        got.emplace_back(body);
                        return true;
                      }).has_value());
    }
    ASSERT_EQ(static_cast<int>(got.size()), sent);
    for (int spins = 0; spins < 1000; ++spins) {
      ASSERT_TRUE((*a)->poll([](std::uint8_t, std::string_view) { return true; }).has_value());
    }
  }
  for (const std::string& g : got) EXPECT_EQ(g, body);
}

TEST(RdmaEndpointInfo, DecodeRejectsEveryWrongSize) {
  for (std::size_t n : {std::size_t{0}, std::size_t{8}, kRdmaEndpointInfoBytes - 1, kRdmaEndpointInfoBytes + 1}) {
    EXPECT_EQ(RdmaEndpointInfo::decode(std::string(n, 'x')).status().code(), StatusCode::kCorruption) << n;
  }
}

// Two TcpTransports on loopback through the device: both sides switch, and
// frames keep their order, including those too large for the ring, which
// go over TCP behind a handoff record.
TEST(TcpTransportOverRdma, FramesMoveToRdmaAndKeepTheirOrder) {
  if (std::string why = no_rdma_device_reason(); !why.empty()) GTEST_SKIP() << why;
  using testing::Events;
  Events server_events;
  Events events;
  auto options = [](Events& e, const char* node) {
    TransportOptions o;
    o.secret = "s3cret";
    o.node_name = node;
    o.rdma.ring_bytes = 1 << 16;  // max record 32 KiB: the large frames below are handed off
    o.log = [&e](std::string_view line) { e.log(line); };
    return o;
  };
  auto server_transport = TcpTransport::create(options(server_events, "server")).value();
  ConnectionCallbacks scb;
  // The echo waits for credits: the client's I/O thread drains the replies
  // independently of this one.
  scb.on_frame = [](Connection& c, const Frame& f) {
    if (f.type != MessageType::kCall) return;
    for (int tries = 0; tries < 1'000'000; ++tries) {
      if (c.send(MessageType::kReply, f.body).code() != StatusCode::kOverloaded) return;
      std::this_thread::yield();
    }
  };
  auto listener = server_transport->listen("127.0.0.1", 0, scb).value();
  auto transport = TcpTransport::create(options(events, "client")).value();
  testing::OrderCheck order;
  ConnectionCallbacks cb;
  cb.on_open = [&](Connection&) { events.add("open"); };
  cb.on_frame = [&](Connection&, const Frame& f) {
    order.see(f.body);
    events.add("replies");
  };
  auto client = transport->connect("127.0.0.1", listener->port(), cb);
  ASSERT_TRUE(events.wait_count("open", 1)) << events.lines();
  ASSERT_TRUE(events.wait_log({"sends its frames over rdma"})) << events.lines();
  ASSERT_TRUE(server_events.wait_log({"sends its frames over rdma"})) << server_events.lines();
  EXPECT_EQ(client->path(), "rdma");
  constexpr std::uint64_t kCalls = 2000;
  for (std::uint64_t i = 0; i < kCalls; ++i) {
    const std::string body = testing::numbered_body(i, i % 100 == 0 ? 100 * 1024 : 200);
    Status s;
    for (int tries = 0; tries < 1'000'000 && (s = client->send(MessageType::kCall, body)).code() ==
                                                 StatusCode::kOverloaded;
         ++tries) {
      std::this_thread::yield();  // the ring drains as the server replies
    }
    ASSERT_TRUE(s.is_ok()) << s;
  }
  ASSERT_TRUE(events.wait_count("replies", kCalls)) << events.count("replies");
  EXPECT_TRUE(order.in_order);
  client.reset();
  listener.reset();
}

}  // namespace
}  // namespace keel::wire
