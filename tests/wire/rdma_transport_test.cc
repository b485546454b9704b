// The RDMA binding (keel/wire/rdma_transport.h). The ring protocol under it
// is tested on every machine (ring_test.cc); these tests need a device and
// skip, saying why, where ibv_get_device_list finds none.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "keel/wire/rdma_transport.h"

namespace keel::wire {
namespace {

// Why the device tests cannot run here, or "" when they can.
std::string no_device_reason() {
  auto devices = rdma_devices();
  if (!devices.has_value()) return "no RDMA support: " + devices.status().to_string();
  if (devices->empty()) return "no RDMA device (ibv_get_device_list is empty)";
  return "";
}

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
  if (no_device_reason().empty()) GTEST_SKIP() << "this machine has an RDMA device";
  EXPECT_EQ(RdmaLink::open("", 1 << 16).status().code(), StatusCode::kUnavailable);
}

TEST(RdmaLink, FramesCrossALoopbackQueuePairWithCredits) {
  if (std::string why = no_device_reason(); !why.empty()) GTEST_SKIP() << why;
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
      ASSERT_TRUE((*b)->poll([&](const Frame& f) { got.emplace_back(f.body); }).has_value());
    }
    ASSERT_EQ(static_cast<int>(got.size()), sent);
    for (int spins = 0; spins < 1000; ++spins) ASSERT_TRUE((*a)->poll([](const Frame&) {}).has_value());
  }
  for (const std::string& g : got) EXPECT_EQ(g, body);
}

}  // namespace
}  // namespace keel::wire
