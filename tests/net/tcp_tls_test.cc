// TLS for the TCP transport (TransportOptions::tls): the HMAC handshake and
// frames run inside TLS; a plain peer, or a server whose certificate the
// client does not trust, is turned away with a logged reason while the
// listener keeps serving. The certificates are made for each run by the
// openssl command (tests skip, saying so, where it is missing).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "keel/net/tcp_transport.h"
#include "net/net_test_support.h"

namespace keel::wire {
namespace {

using testing::Events;

class TcpTls : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-tls-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    if (!make_cert("server") || !make_cert("other")) {
      GTEST_SKIP() << "the openssl command could not make a test certificate";
    }
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A self-signed P-256 certificate and key: <dir>/<name>.crt, <name>.key.
  bool make_cert(const std::string& name) {
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                            " -subj /CN=keel-" + name + " -keyout " + dir_ + "/" + name + ".key -out " + dir_ +
                            "/" + name + ".crt >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  TransportOptions options(Events& events, bool tls, const std::string& trust = "server") {
    TransportOptions o;
    o.secret = "s3cret";
    o.log = [&events](std::string_view line) { events.log(line); };
    o.tls.enabled = tls;
    o.tls.certificate_chain_file = dir_ + "/server.crt";
    o.tls.private_key_file = dir_ + "/server.key";
    o.tls.ca_file = dir_ + "/" + trust + ".crt";
    return o;
  }

  std::unique_ptr<TcpListener> echo_listener(TcpTransport& t) {
    ConnectionCallbacks cb;
    cb.on_frame = [](Connection& c, const Frame& f) { c.send(MessageType::kReply, f.body).ignore(); };
    return t.listen("127.0.0.1", 0, cb).value();
  }

  ConnectionCallbacks client_callbacks(Events& events, std::string* reply) {
    ConnectionCallbacks cb;
    cb.on_open = [&events](Connection&) { events.add("open"); };
    cb.on_frame = [&events, reply](Connection&, const Frame& f) {
      *reply = std::string(f.body);
      events.add("replies");
    };
    cb.on_connect_error = [&events](const Status& s) {
      events.add("connect_error_" + std::string(status_code_name(s.code())));
    };
    return cb;
  }

  std::string dir_;
};

TEST_F(TcpTls, FramesRoundTripInsideTls) {
  Events server_events, events;
  auto server = TcpTransport::create(options(server_events, true)).value();
  auto listener = echo_listener(*server);
  auto transport = TcpTransport::create(options(events, true)).value();
  std::string reply;
  auto client = transport->connect("127.0.0.1", listener->port(), client_callbacks(events, &reply));
  ASSERT_TRUE(events.wait_count("open", 1)) << events.lines() << server_events.lines();
  const std::string big(300 * 1024, 't');  // several TLS records
  ASSERT_TRUE(client->send(MessageType::kCall, big).is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  EXPECT_EQ(reply, big);
  client.reset();
  listener.reset();
}

TEST_F(TcpTls, PlainClientIsTurnedAwayAndTheListenerKeepsServing) {
  Events server_events, plain_events, events;
  auto server = TcpTransport::create(options(server_events, true)).value();
  auto listener = echo_listener(*server);
  auto plain_transport = TcpTransport::create(options(plain_events, false)).value();
  std::string ignored;
  ReconnectOptions once;
  once.enabled = false;
  auto plain = plain_transport->connect("127.0.0.1", listener->port(), client_callbacks(plain_events, &ignored), once);
  ASSERT_TRUE(server_events.wait_log({"during the handshake", "TLS handshake"})) << server_events.lines();
  EXPECT_EQ(plain_events.count("open"), 0);

  auto transport = TcpTransport::create(options(events, true)).value();
  std::string reply;
  auto client = transport->connect("127.0.0.1", listener->port(), client_callbacks(events, &reply));
  ASSERT_TRUE(events.wait_count("open", 1)) << events.lines();
  ASSERT_TRUE(client->send(MessageType::kCall, "after").is_ok());
  ASSERT_TRUE(events.wait_count("replies", 1));
  plain.reset();
  client.reset();
  listener.reset();
}

TEST_F(TcpTls, UntrustedServerCertificateIsUnauthenticated) {
  Events server_events, events;
  auto server = TcpTransport::create(options(server_events, true)).value();
  auto listener = echo_listener(*server);
  auto transport = TcpTransport::create(options(events, true, "other")).value();
  std::string ignored;
  auto client = transport->connect("127.0.0.1", listener->port(), client_callbacks(events, &ignored));
  ASSERT_TRUE(events.wait_count("connect_error_unauthenticated", 1)) << events.lines();
  EXPECT_TRUE(events.wait_log({"TLS handshake", "certificate verify failed"})) << events.lines();
  EXPECT_EQ(events.count("open"), 0);
  client.reset();
  listener.reset();
}

TEST_F(TcpTls, MissingCertificateFileIsInvalidArgument) {
  Events events;
  TransportOptions o = options(events, true);
  o.tls.certificate_chain_file = dir_ + "/missing.crt";
  EXPECT_EQ(TcpTransport::create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(TcpTls, ListenerWithoutCertificateIsInvalidArgument) {
  Events events;
  TransportOptions o = options(events, true);
  o.tls.certificate_chain_file.clear();
  o.tls.private_key_file.clear();
  auto t = TcpTransport::create(o).value();
  EXPECT_EQ(t->listen("127.0.0.1", 0, {}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keel::wire
