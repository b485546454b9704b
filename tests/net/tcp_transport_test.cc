// The TCP transport (keel/net/tcp_transport.h) on loopback: round trips,
// many calls in flight, authentication, bad frames from one peer while the
// server keeps serving others, back-pressure and reconnect. Every wait has a
// deadline (net_test_support.h); nothing sleeps.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "frame.h"
#include "handshake.h"
#include "keel/net/tcp_transport.h"
#include "keel/wire/control.h"
#include "net/net_test_support.h"
#include "rdma_transport.h"

namespace keel::wire {
namespace {

using testing::Events;

// Every fallback to TCP is logged, so tests can see why.
TransportOptions options_for(Events& events, std::string secret = "s3cret", std::string node = "node") {
  TransportOptions o;
  o.secret = std::move(secret);
  o.node_name = std::move(node);
  o.log = [&events](std::string_view line) { events.log(line); };
  o.rdma.log_when_unusable = true;
  return o;
}

// Echoes every call as a reply and counts what happens.
ConnectionCallbacks echo_server(Events& events) {
  ConnectionCallbacks cb;
  cb.on_open = [&events](Connection& c) {
    events.add("server_open");
    events.add("server_version_" + std::to_string(c.protocol_version()));
  };
  cb.on_frame = [&events](Connection& c, const Frame& f) {
    if (f.type == MessageType::kCall) {
      ASSERT_TRUE(c.send(MessageType::kReply, f.body).is_ok());
    }
    events.add("server_frames");
  };
  cb.on_close = [&events](Connection&, const Status& why) {
    events.add("server_close");
    events.add("server_close_" + std::string(status_code_name(why.code())));
  };
  return cb;
}

ConnectionCallbacks counting_client(Events& events, std::string* last_body = nullptr) {
  ConnectionCallbacks cb;
  cb.on_open = [&events](Connection&) { events.add("client_open"); };
  cb.on_frame = [&events, last_body](Connection&, const Frame& f) {
    if (last_body) *last_body = std::string(f.body);
    events.add("replies");
  };
  cb.on_close = [&events](Connection&, const Status&) { events.add("client_close"); };
  cb.on_connect_error = [&events](const Status& s) {
    events.add("connect_error_" + std::string(status_code_name(s.code())));
  };
  return cb;
}

struct Server {
  Events events;
  std::unique_ptr<TcpTransport> transport;
  std::unique_ptr<TcpListener> listener;
  explicit Server(TransportOptions o = {}) {
    if (o.secret.empty()) o = options_for(events, "s3cret", "server");
    transport = TcpTransport::create(o).value();
    listener = transport->listen("127.0.0.1", 0, echo_server(events)).value();
  }
  ~Server() { listener.reset(); }
};

// An authenticated peer over a blocking POSIX socket, so a test can send
// bytes no Keel transport would.
class RawPeer {
 public:
  explicit RawPeer(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawPeer() { ::close(fd_); }
  bool connected() const { return connected_; }
  void write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Runs the client side of the handshake, offering protocol `version`;
  // returns its outcome.
  Status authenticate(const std::string& secret, std::uint16_t version = kProtocolVersion) {
    Handshake hs(Handshake::Role::kClient, secret, "raw", version);
    write_all(hs.take_output());
    while (!hs.is_done()) {
      KEEL_ASSIGN_OR_RETURN(Frame f, read_frame());
      KEEL_RETURN_IF_ERROR(hs.on_frame(f));
      write_all(hs.take_output());
    }
    return Status::ok();
  }
  // The next frame from the server, held as `last_` (kUnavailable when the
  // socket closed or nothing came within the deadline).
  Result<Frame> read_frame() {
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (true) {
      auto f = decoder_.next();
      if (!f.has_value()) return f.status();
      if (f->has_value()) {
        last_type_ = (*f)->type;
        last_body_ = std::string((*f)->body);
        return Frame{last_type_, last_body_};
      }
      std::span<char> space = decoder_.prepare(4096);
      const ssize_t n = ::read(fd_, space.data(), space.size());
      if (n <= 0) return Status::unavailable("closed or silent");
      decoder_.commit(static_cast<std::size_t>(n));
    }
  }
  // Reads until the server closes the socket (or the read times out).
  bool wait_closed() {
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  FrameDecoder decoder_;
  MessageType last_type_ = MessageType::kHello;
  std::string last_body_;
};

// A client on its own transport that completes one round trip.
void expect_round_trip(std::uint16_t port, const std::string& payload = "ping") {
  Events events;
  auto transport = TcpTransport::create(options_for(events, "s3cret", "client")).value();
  std::string reply;
  auto client = transport->connect("127.0.0.1", port, counting_client(events, &reply));
  ASSERT_TRUE(events.wait_count("client_open", 1)) << events.lines();
  ASSERT_TRUE(client->send(MessageType::kCall, payload).is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_EQ(reply, payload);
}

TEST(TcpTransport, CreateWithoutSecretIsInvalidArgument) {
  EXPECT_EQ(TcpTransport::create(TransportOptions{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(TcpTransport, CallRoundTripsAfterTheHandshake) {
  Server server;
  Events events;
  auto transport = TcpTransport::create(options_for(events, "s3cret", "client")).value();
  std::string reply;
  auto client = transport->connect("127.0.0.1", server.listener->port(), counting_client(events, &reply));
  EXPECT_EQ(client->send(MessageType::kCall, "early").code(), StatusCode::kUnavailable);
  ASSERT_TRUE(events.wait_count("client_open", 1)) << events.lines();
  EXPECT_TRUE(client->is_connected());
  EXPECT_NE(client->peer().find("server"), std::string::npos) << client->peer();
  ASSERT_TRUE(client->send(MessageType::kCall, "hello world").is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_EQ(reply, "hello world");
  EXPECT_EQ(server.listener->connection_count(), 1u);
}

TEST(TcpTransport, ManyCallsInFlightArriveInOrder) {
  Server server;
  Events events;
  auto transport = TcpTransport::create(options_for(events)).value();
  testing::OrderCheck order;
  ConnectionCallbacks cb = counting_client(events);
  cb.on_frame = [&](Connection&, const Frame& f) {
    order.see(f.body);
    events.add("replies");
  };
  auto client = transport->connect("127.0.0.1", server.listener->port(), cb);
  ASSERT_TRUE(events.wait_count("client_open", 1));
  constexpr std::uint64_t kCalls = 50'000;
  for (std::uint64_t i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(client->send(MessageType::kCall, testing::numbered_body(i, 56)).is_ok());
  }
  ASSERT_TRUE(events.wait_count("replies", kCalls)) << events.count("replies");
  EXPECT_TRUE(order.in_order);
}

TEST(TcpTransport, LargeOwnedBodiesRoundTrip) {
  Server server;
  Events events;
  auto transport = TcpTransport::create(options_for(events)).value();
  std::string reply;
  auto client = transport->connect("127.0.0.1", server.listener->port(), counting_client(events, &reply));
  ASSERT_TRUE(events.wait_count("client_open", 1));
  std::string big(3 * 1024 * 1024 + 5, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131);
  std::string copy = big;
  ASSERT_TRUE(client->send_owned(MessageType::kCall, std::move(big)).is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_TRUE(reply == copy);
}

TEST(TcpTransport, ASharedBodySentThreeTimesArrivesThreeTimesAndIsReleased) {
  Server server;
  Events events;
  auto transport = TcpTransport::create(options_for(events)).value();
  std::vector<std::string> replies;
  std::mutex mu;
  ConnectionCallbacks cb = counting_client(events);
  auto count_reply = cb.on_frame;
  cb.on_frame = [&, count_reply](Connection& c, const Frame& f) {
    {
      std::lock_guard<std::mutex> l(mu);
      replies.emplace_back(f.body);
    }
    count_reply(c, f);
  };
  auto client = transport->connect("127.0.0.1", server.listener->port(), cb);
  ASSERT_TRUE(events.wait_count("client_open", 1));
  std::string bytes(2 * 1024 * 1024 + 3, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 37);
  auto big = std::make_shared<const std::string>(bytes);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->send_shared(MessageType::kCall, big).is_ok());
  ASSERT_TRUE(events.wait_count("replies", 3));
  {
    std::lock_guard<std::mutex> l(mu);
    ASSERT_EQ(replies.size(), 3u);
    for (const std::string& r : replies) EXPECT_TRUE(r == bytes);
  }
  client.reset();
  transport.reset();
  EXPECT_EQ(big.use_count(), 1);  // no reference left in any queue
}

TEST(TcpTransport, WrongSecretIsClosedWithReasonAndServerKeepsServing) {
  Server server;
  Events bad_events;
  auto bad_transport = TcpTransport::create(options_for(bad_events, "not the secret", "intruder")).value();
  auto bad = bad_transport->connect("127.0.0.1", server.listener->port(), counting_client(bad_events));
  ASSERT_TRUE(bad_events.wait_count("connect_error_unauthenticated", 1)) << bad_events.lines();
  ASSERT_TRUE(server.events.wait_log({"during the handshake", "unauthenticated", "wrong shared secret"}))
      << server.events.lines();
  EXPECT_EQ(bad_events.count("client_open"), 0);
  EXPECT_FALSE(bad->is_connected());
  EXPECT_EQ(server.events.count("server_open"), 0);
  expect_round_trip(server.listener->port());
}

TEST(TcpTransport, GarbageBeforeTheHandshakeIsDroppedWithReason) {
  Server server;
  RawPeer raw(server.listener->port());
  ASSERT_TRUE(raw.connected());
  raw.write_all("GET / HTTP/1.1\r\nHost: keel\r\n\r\n");
  EXPECT_TRUE(raw.wait_closed());
  ASSERT_TRUE(server.events.wait_log({"malformed", "bad magic"})) << server.events.lines();
  expect_round_trip(server.listener->port());
}

struct BadFrameCase {
  const char* name;
  std::string bytes;
  std::string reason;
};

class TcpTransportBadFrame : public ::testing::TestWithParam<int> {};

BadFrameCase bad_frame_case(int i) {
  std::string header(kFrameHeaderBytes, '\0');
  switch (i) {
    case 0:
      encode_frame_header(header.data(), MessageType::kCall, 1u << 30);
      return {"oversized", header, "oversized"};
    case 1:
      encode_frame_header(header.data(), MessageType::kCall, 8);
      header[4] = static_cast<char>(99);
      return {"unknown type", header + std::string(8, 'x'), "message type 99"};
    case 2: {
      std::string frame;
      append_frame(frame, MessageType::kCall, std::string(64, 'y'));
      return {"truncated", frame.substr(0, 40), "truncated"};
    }
    case 3:
      return {"garbage", std::string(32, '\x7f'), "malformed"};
    default: {
      std::string frame;
      append_message(frame, Hello{});
      return {"hello after the handshake", frame, "unexpected hello"};
    }
  }
}

TEST_P(TcpTransportBadFrame, ClosesThatConnectionWithReasonAndServerKeepsServing) {
  const BadFrameCase c = bad_frame_case(GetParam());
  Server server;
  // Another client is connected throughout and keeps working.
  Events events;
  auto transport = TcpTransport::create(options_for(events)).value();
  auto good = transport->connect("127.0.0.1", server.listener->port(), counting_client(events));
  ASSERT_TRUE(events.wait_count("client_open", 1));
  {
    RawPeer raw(server.listener->port());
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.authenticate("s3cret").is_ok()) << c.name;
    ASSERT_TRUE(server.events.wait_count("server_open", 2));
    raw.write_all(c.bytes);
    // A truncated frame is only known to be one when the stream ends: the
    // RawPeer closes its socket as it goes out of scope.
    if (GetParam() != 2) {
      EXPECT_TRUE(raw.wait_closed()) << c.name;
    }
  }
  ASSERT_TRUE(server.events.wait_count("server_close_corruption", 1)) << c.name << "\n"
                                                                     << server.events.lines();
  EXPECT_TRUE(server.events.wait_log({"closed connection", c.reason})) << server.events.lines();
  ASSERT_TRUE(good->send(MessageType::kCall, "still there").is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_EQ(server.listener->connection_count(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Cases, TcpTransportBadFrame, ::testing::Range(0, 5));

TEST(TcpTransport, SilentPeerIsDisconnectedAfterTheHandshakeTimeout) {
  Events events;
  TransportOptions o = options_for(events, "s3cret", "server");
  o.handshake_timeout = std::chrono::milliseconds(100);
  Server server(o);
  RawPeer raw(server.listener->port());
  ASSERT_TRUE(raw.connected());
  EXPECT_TRUE(raw.wait_closed());
  EXPECT_TRUE(events.wait_log({"timeout", "handshake not completed"})) << events.lines();
}

TEST(TcpTransport, FullSendQueueReportsOverloadedThenWritable) {
  // The server's I/O thread blocks in its first on_frame until released, so
  // the client's frames pile up in the socket buffers and then its queue.
  Events server_events;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  ConnectionCallbacks scb;
  scb.on_frame = [&](Connection&, const Frame&) {
    if (server_events.count("frames") == 0) released.wait();
    server_events.add("frames");
  };
  auto server_transport = TcpTransport::create(options_for(server_events)).value();
  auto listener = server_transport->listen("127.0.0.1", 0, scb).value();

  Events events;
  TransportOptions o = options_for(events);
  o.max_send_queue_bytes = 1 << 20;
  auto transport = TcpTransport::create(o).value();
  ConnectionCallbacks cb = counting_client(events);
  cb.on_writable = [&](Connection&) { events.add("writable"); };
  auto client = transport->connect("127.0.0.1", listener->port(), cb);
  ASSERT_TRUE(events.wait_count("client_open", 1));

  const std::string body(256 * 1024, 'b');
  long sent = 0;
  Status s;
  // Socket buffers hold a few MiB at most; the loop ends well before the bound.
  for (int i = 0; i < 100'000; ++i) {
    s = client->send(MessageType::kCall, body);
    if (!s.is_ok()) break;
    ++sent;
  }
  ASSERT_EQ(s.code(), StatusCode::kOverloaded) << s;
  EXPECT_LE(client->queued_bytes(), o.max_send_queue_bytes + frame_wire_bytes(body.size()));
  release.set_value();
  ASSERT_TRUE(events.wait_count("writable", 1));
  ASSERT_TRUE(client->send(MessageType::kCall, body).is_ok());
  ASSERT_TRUE(server_events.wait_count("frames", sent + 1));
  client.reset();
  listener.reset();
}

TEST(TcpTransport, ClientReconnectsWhenTheServerComesBack) {
  Events server_events;
  auto server_transport = TcpTransport::create(options_for(server_events)).value();
  auto listener = server_transport->listen("127.0.0.1", 0, echo_server(server_events)).value();
  const std::uint16_t port = listener->port();

  Events events;
  auto transport = TcpTransport::create(options_for(events)).value();
  ReconnectOptions reconnect;
  reconnect.initial_backoff = std::chrono::milliseconds(5);
  reconnect.max_backoff = std::chrono::milliseconds(50);
  auto client = transport->connect("127.0.0.1", port, counting_client(events), reconnect);
  ASSERT_TRUE(events.wait_count("client_open", 1));

  listener.reset();  // the server goes away
  ASSERT_TRUE(events.wait_count("client_close", 1));
  EXPECT_EQ(client->send(MessageType::kCall, "lost").code(), StatusCode::kUnavailable);
  ASSERT_TRUE(events.wait_count("connect_error_unavailable", 1)) << events.lines();

  listener = server_transport->listen("127.0.0.1", port, echo_server(server_events)).value();
  ASSERT_TRUE(events.wait_count("client_open", 2)) << events.lines();
  EXPECT_EQ(client->connect_count(), 2u);
  ASSERT_TRUE(client->send(MessageType::kCall, "back").is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_TRUE(events.wait_log({"reconnecting to 127.0.0.1"}));
  client.reset();
  listener.reset();
}

TEST(TcpTransport, ListeningOnATakenPortIsIoError) {
  Server server;
  auto again = server.transport->listen("127.0.0.1", server.listener->port(), {});
  // SO_REUSEADDR lets a second bind succeed only when nobody listens.
  EXPECT_EQ(again.status().code(), StatusCode::kIoError);
}

// ------------------------------------------------------- RDMA negotiation
using testing::no_rdma_device_reason;

TEST(TcpTransportRdma, WithoutADeviceOnEitherSideTheConnectionStaysOnTcpAndSaysWhy) {
  if (no_rdma_device_reason().empty()) GTEST_SKIP() << "this machine has an RDMA device";
  Server server;
  Events events;
  auto transport = TcpTransport::create(options_for(events, "s3cret", "client")).value();
  std::string reply;
  auto client = transport->connect("127.0.0.1", server.listener->port(), counting_client(events, &reply));
  ASSERT_TRUE(events.wait_count("client_open", 1)) << events.lines();
  ASSERT_TRUE(client->send(MessageType::kCall, "over tcp").is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_EQ(reply, "over tcp");
  ASSERT_TRUE(events.wait_log({"stays on tcp", "RDMA"})) << events.lines();
  ASSERT_TRUE(server.events.wait_log({"stays on tcp", "the peer declined RDMA"})) << server.events.lines();
  EXPECT_EQ(client->path(), "tcp");
}

TEST(TcpTransportRdma, DisabledSideTellsThePeerWhy) {
  Server server;
  Events events;
  TransportOptions o = options_for(events, "s3cret", "client");
  o.rdma.enabled = false;
  auto transport = TcpTransport::create(o).value();
  auto client = transport->connect("127.0.0.1", server.listener->port(), counting_client(events));
  ASSERT_TRUE(events.wait_count("client_open", 1)) << events.lines();
  ASSERT_TRUE(server.events.wait_log({"stays on tcp", "the peer declined RDMA", "disabled"}))
      << server.events.lines();
  ASSERT_TRUE(client->send(MessageType::kCall, "x").is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_EQ(client->path(), "tcp");
}

TEST(TcpTransportRdma, ASideThatClaimsADeviceButCannotOpenItFallsBackWithTheReason) {
  if (no_rdma_device_reason().empty()) GTEST_SKIP() << "this machine has an RDMA device";
  Server server;
  Events events;
  TransportOptions o = options_for(events, "s3cret", "client");
  o.rdma.device_check = [] { return Status::ok(); };  // the capability answer only
  auto transport = TcpTransport::create(o).value();
  std::string reply;
  auto client = transport->connect("127.0.0.1", server.listener->port(), counting_client(events, &reply));
  ASSERT_TRUE(events.wait_count("client_open", 1)) << events.lines();
  ASSERT_TRUE(events.wait_log({"stays on tcp", "rdma open"})) << events.lines();
  ASSERT_TRUE(server.events.wait_log({"stays on tcp", "the peer declined RDMA", "rdma open"}))
      << server.events.lines();
  ASSERT_TRUE(client->send(MessageType::kCall, "still tcp").is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_EQ(reply, "still tcp");
  EXPECT_EQ(client->path(), "tcp");
}

TEST(TcpTransportRdma, AnOfferToAServerWithoutADeviceIsDeclinedAndTcpKeepsWorking) {
  if (no_rdma_device_reason().empty()) GTEST_SKIP() << "this machine has an RDMA device";
  Server server;
  RawPeer raw(server.listener->port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.authenticate("s3cret").is_ok());
  RdmaEndpointInfo made_up;
  made_up.qp_num = 77;
  made_up.ring_bytes = 1 << 20;
  std::string offer;
  append_message(offer, RdmaSetup{RdmaSetup::Kind::kOffer, made_up.encode(), ""});
  raw.write_all(offer);
  auto answer = raw.read_frame();
  ASSERT_TRUE(answer.has_value()) << answer.status();
  ASSERT_EQ(answer->type, MessageType::kRdmaSetup);
  RdmaSetup decline;
  ASSERT_TRUE(decode_body(answer->body, decline).is_ok());
  EXPECT_EQ(decline.kind, RdmaSetup::Kind::kDecline);
  EXPECT_FALSE(decline.reason.empty());
  ASSERT_TRUE(server.events.wait_log({"stays on tcp", "RDMA"})) << server.events.lines();
  std::string call;
  append_frame(call, MessageType::kCall, "after the decline");
  raw.write_all(call);
  auto reply = raw.read_frame();
  ASSERT_TRUE(reply.has_value()) << reply.status();
  EXPECT_EQ(reply->type, MessageType::kReply);
  EXPECT_EQ(reply->body, "after the decline");
}

TEST(TcpTransportRdma, ASwitchBeforeAnyOfferClosesTheConnectionAsCorruption) {
  Server server;
  RawPeer raw(server.listener->port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.authenticate("s3cret").is_ok());
  std::string early;
  append_message(early, RdmaSetup{RdmaSetup::Kind::kSwitched, "", ""});
  raw.write_all(early);
  EXPECT_TRUE(raw.wait_closed());
  ASSERT_TRUE(server.events.wait_log({"closed connection", "unexpected rdma_setup"})) << server.events.lines();
}

TEST(TcpTransport, ConnectionsReportTheNegotiatedProtocolVersion) {
  Server server;
  Events events;
  auto transport = TcpTransport::create(options_for(events)).value();
  auto client = transport->connect("127.0.0.1", server.listener->port(), counting_client(events));
  ASSERT_TRUE(events.wait_count("client_open", 1));
  EXPECT_EQ(client->protocol_version(), kProtocolVersion);
  ASSERT_TRUE(server.events.wait_count("server_version_" + std::to_string(kProtocolVersion), 1));

  RawPeer old(server.listener->port());  // offers version 2: it knows no cancel frame
  ASSERT_TRUE(old.connected());
  ASSERT_TRUE(old.authenticate("s3cret", 2).is_ok());
  EXPECT_TRUE(server.events.wait_count("server_version_2", 1));
}

TEST(TcpTransportRdma, AVersionOneClientIsServedOverTcpAndNeverSeesRdmaSetup) {
  Server server;
  RawPeer raw(server.listener->port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.authenticate("s3cret", 1).is_ok());
  std::string call;
  append_frame(call, MessageType::kCall, "old peer");
  raw.write_all(call);
  auto reply = raw.read_frame();
  ASSERT_TRUE(reply.has_value()) << reply.status();
  EXPECT_EQ(reply->type, MessageType::kReply);  // not an rdma_setup, which version 1 cannot read
  EXPECT_EQ(reply->body, "old peer");
}

// A server that speaks protocol version 1 only, over a blocking socket on
// its own thread: it echoes calls and records every frame type it gets.
class OldServer {
 public:
  OldServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 1);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OldServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  Events events;

 private:
  void serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    timeval tv{30, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    Handshake hs(Handshake::Role::kServer, "s3cret", "old", 1);
    FrameDecoder d;
    auto write_all = [c](std::string bytes) {
      std::string_view rest = bytes;
      while (!rest.empty()) {
        const ssize_t n = ::write(c, rest.data(), rest.size());
        if (n <= 0) return;
        rest.remove_prefix(static_cast<std::size_t>(n));
      }
    };
    while (true) {
      std::span<char> space = d.prepare(4096);
      const ssize_t n = ::read(c, space.data(), space.size());
      if (n <= 0) break;
      d.commit(static_cast<std::size_t>(n));
      while (true) {
        auto f = d.next();
        if (!f.has_value() || !f->has_value()) break;
        const Frame& frame = **f;
        if (!hs.is_done()) {
          if (!hs.on_frame(frame).is_ok()) break;
          write_all(hs.take_output());
          continue;
        }
        events.add("frame_" + std::string(message_type_name(frame.type)));
        if (frame.type == MessageType::kCall) {
          std::string reply;
          append_frame(reply, MessageType::kReply, frame.body);
          write_all(reply);
        }
      }
    }
    ::close(c);
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

TEST(TcpTransportRdma, AVersionOneServerServesANewClientOverTcp) {
  OldServer old;
  Events events;
  auto transport = TcpTransport::create(options_for(events, "s3cret", "client")).value();
  std::string reply;
  auto client = transport->connect("127.0.0.1", old.port(), counting_client(events, &reply));
  ASSERT_TRUE(events.wait_count("client_open", 1)) << events.lines();
  ASSERT_TRUE(client->send(MessageType::kCall, "to an old server").is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_EQ(reply, "to an old server");
  ASSERT_TRUE(events.wait_log({"stays on tcp", "protocol version 1"})) << events.lines();
  EXPECT_EQ(old.events.count("frame_rdma_setup"), 0);
  EXPECT_EQ(client->path(), "tcp");
  client.reset();
}

}  // namespace
}  // namespace keel::wire
