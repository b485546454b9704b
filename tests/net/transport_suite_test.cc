// One suite over the Connection interface (keel/wire/transport.h), run on
// every transport: what a user of a connection may rely on, whichever
// transport carries it (TCP, TCP moved to RDMA, shared memory). The RDMA
// pair needs a device and skips, saying why, where there is none.
// Transport-specific behaviour (handshake, reconnect, rings) has its own
// tests.
#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <memory>
#include <string>

#include "keel/net/shm_transport.h"
#include "keel/net/tcp_transport.h"
#include "net/net_test_support.h"
#include "ring.h"

namespace keel::wire {
namespace {

using testing::Events;

// Wraps on_open so that start() can wait for the client side to open.
ConnectionCallbacks signalling_open(ConnectionCallbacks cb, std::promise<void>& opened) {
  cb.on_open = [&opened, inner = cb.on_open](Connection& c) {
    if (inner) inner(c);
    opened.set_value();
  };
  return cb;
}

// Two TcpTransports on loopback; with kRdma, their connection moves its
// frames to RDMA (rings large enough that no test here runs out of
// credits), and start() returns once both sides have switched.
template <bool kRdma>
class TcpPairOf {
 public:
  static constexpr std::size_t kMaxBody = 1 << 20;
  static constexpr bool kNeedsRdmaDevice = kRdma;

  void start(ConnectionCallbacks server, ConnectionCallbacks client) {
    TransportOptions o;
    o.secret = "suite";
    o.max_frame_body_bytes = kMaxBody;
    o.log = [this](std::string_view line) { log_.log(line); };
    o.rdma.enabled = kRdma;
    o.rdma.ring_bytes = 8 << 20;
    o.node_name = "server";
    server_transport_ = TcpTransport::create(o).value();
    o.node_name = "client";
    client_transport_ = TcpTransport::create(o).value();
    listener_ = server_transport_->listen("127.0.0.1", 0, std::move(server)).value();
    std::promise<void> opened;
    ReconnectOptions once;
    once.enabled = false;
    client_ = client_transport_->connect("127.0.0.1", listener_->port(), signalling_open(std::move(client), opened),
                                         once);
    ASSERT_EQ(opened.get_future().wait_for(testing::kDeadline), std::future_status::ready);
    if (kRdma) {
      // Each side's line names its peer.
      ASSERT_TRUE(log_.wait_log({"server sends its frames over rdma"})) << log_.lines();
      ASSERT_TRUE(log_.wait_log({"client sends its frames over rdma"})) << log_.lines();
    }
  }
  ~TcpPairOf() {
    client_.reset();
    listener_.reset();
  }
  Connection& client() { return *client_; }

 private:
  Events log_;
  std::unique_ptr<TcpTransport> server_transport_;
  std::unique_ptr<TcpTransport> client_transport_;
  std::unique_ptr<TcpListener> listener_;
  std::unique_ptr<TcpClient> client_;
};

using TcpPair = TcpPairOf<false>;
using TcpRdmaPair = TcpPairOf<true>;

class ShmPair {
 public:
  static constexpr std::size_t kMaxBody = (64 << 10) / 2 - kRingRecordHeaderBytes;
  static constexpr bool kNeedsRdmaDevice = false;

  void start(ConnectionCallbacks server, ConnectionCallbacks client) {
    region_ = ShmRegion::create(64 << 10).value();
    ShmOptions o;
    o.log = [](std::string_view) {};
    server_ = ShmConnection::start(*region_, ShmSide::kB, std::move(server), o).value();
    std::promise<void> opened;
    client_ = ShmConnection::start(*region_, ShmSide::kA, signalling_open(std::move(client), opened), o).value();
    ASSERT_EQ(opened.get_future().wait_for(testing::kDeadline), std::future_status::ready);
  }
  ~ShmPair() {
    client_.reset();
    server_.reset();
  }
  Connection& client() { return *client_; }

 private:
  std::unique_ptr<ShmRegion> region_;
  std::unique_ptr<ShmConnection> server_;
  std::unique_ptr<ShmConnection> client_;
};

template <class Pair>
class ConnectionSuite : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Pair::kNeedsRdmaDevice) return;
    if (std::string why = testing::no_rdma_device_reason(); !why.empty()) GTEST_SKIP() << why;
  }

  // A server that echoes calls and records how its connection closed.
  ConnectionCallbacks echo_server() {
    ConnectionCallbacks cb;
    cb.on_frame = [this](Connection& c, const Frame& f) {
      if (f.type == MessageType::kCall) {
        Status s = c.send(MessageType::kReply, f.body);
        if (!s.is_ok()) events_.log("echo: " + s.to_string());
      }
    };
    cb.on_close = [this](Connection&, const Status& why) {
      events_.add("server_close_" + std::string(status_code_name(why.code())));
    };
    return cb;
  }

  Events events_;
  Pair pair_;
};

using Pairs = ::testing::Types<TcpPair, TcpRdmaPair, ShmPair>;
TYPED_TEST_SUITE(ConnectionSuite, Pairs);

TYPED_TEST(ConnectionSuite, ReplyComesBackWithTheSameBytes) {
  std::string got;
  MessageType type{};
  ConnectionCallbacks client;
  client.on_frame = [&](Connection&, const Frame& f) {
    got = std::string(f.body);
    type = f.type;
    this->events_.add("replies");
  };
  this->pair_.start(this->echo_server(), client);
  const std::string body("\0binary\xff body", 13);
  ASSERT_TRUE(this->pair_.client().send(MessageType::kCall, body).is_ok());
  ASSERT_TRUE(this->events_.wait_count("replies", 1));
  EXPECT_EQ(got, body);
  EXPECT_EQ(type, MessageType::kReply);
}

TYPED_TEST(ConnectionSuite, ManyCallsInFlightComeBackInOrder) {
  std::uint64_t next = 0;
  bool in_order = true;
  ConnectionCallbacks client;
  client.on_frame = [&](Connection&, const Frame& f) {
    std::uint64_t seq = 0;
    std::memcpy(&seq, f.body.data(), sizeof seq);
    in_order = in_order && seq == next++;
    this->events_.add("replies");
  };
  this->pair_.start(this->echo_server(), client);
  constexpr std::uint64_t kCalls = 20'000;
  for (std::uint64_t i = 0; i < kCalls; ++i) {
    std::string body(8 + i % 100, 'x');
    std::memcpy(body.data(), &i, sizeof i);
    Status s;
    do {
      s = this->pair_.client().send(MessageType::kCall, body);
    } while (s.code() == StatusCode::kOverloaded);
    ASSERT_TRUE(s.is_ok()) << s;
  }
  ASSERT_TRUE(this->events_.wait_count("replies", kCalls));
  EXPECT_TRUE(in_order);
}

TYPED_TEST(ConnectionSuite, BodyOverTheLimitIsInvalidArgument) {
  this->pair_.start(this->echo_server(), {});
  EXPECT_EQ(this->pair_.client().send(MessageType::kCall, std::string(TypeParam::kMaxBody + 1, 'b')).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(this->pair_.client().send(MessageType::kCall, std::string(TypeParam::kMaxBody, 'b')).is_ok());
}

TYPED_TEST(ConnectionSuite, ClosingOneSideClosesThePeerWithUnavailable) {
  ConnectionCallbacks client;
  client.on_close = [&](Connection&, const Status& why) {
    this->events_.add("client_close_" + std::string(status_code_name(why.code())));
  };
  this->pair_.start(this->echo_server(), client);
  this->pair_.client().close(Status::cancelled("done"));
  ASSERT_TRUE(this->events_.wait_count("client_close_cancelled", 1));
  ASSERT_TRUE(this->events_.wait_count("server_close_unavailable", 1));
  EXPECT_EQ(this->pair_.client().send(MessageType::kCall, "late").code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace keel::wire
