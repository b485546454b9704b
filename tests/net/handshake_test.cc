// The HMAC handshake state machine (net/src/handshake.h), driven by hand:
// both sides must prove the shared secret over the other's nonce.
#include <gtest/gtest.h>

#include <string>

#include "frame.h"
#include "handshake.h"
#include "keel/wire/control.h"

namespace keel::wire {
namespace {

// Delivers `bytes` (whole frames) to `to`; returns the first error.
Status deliver(const std::string& bytes, Handshake& to) {
  FrameDecoder d;
  d.feed(bytes);
  while (true) {
    auto f = d.next();
    if (!f.has_value()) return f.status();
    if (!f->has_value()) return Status::ok();
    KEEL_RETURN_IF_ERROR(to.on_frame(**f));
  }
}

TEST(Handshake, SameSecretAuthenticatesBothSides) {
  Handshake client(Handshake::Role::kClient, "secret", "client-node");
  Handshake server(Handshake::Role::kServer, "secret", "server-node");
  ASSERT_TRUE(deliver(client.take_output(), server).is_ok());  // Hello
  ASSERT_TRUE(deliver(server.take_output(), client).is_ok());  // Hello + proof
  ASSERT_TRUE(deliver(client.take_output(), server).is_ok());  // Auth
  EXPECT_TRUE(server.is_done());
  ASSERT_TRUE(deliver(server.take_output(), client).is_ok());  // AuthOk
  EXPECT_TRUE(client.is_done());
  EXPECT_EQ(client.peer_node(), "server-node");
  EXPECT_EQ(server.peer_node(), "client-node");
}

TEST(Handshake, WrongSecretFailsOnBothSidesWithUnauthenticated) {
  Handshake client(Handshake::Role::kClient, "wrong", "c");
  Handshake server(Handshake::Role::kServer, "secret", "s");
  ASSERT_TRUE(deliver(client.take_output(), server).is_ok());
  Status at_client = deliver(server.take_output(), client);
  EXPECT_EQ(at_client.code(), StatusCode::kUnauthenticated);
  // The client tells the server why before closing.
  Status at_server = deliver(client.take_output(), server);
  EXPECT_EQ(at_server.code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(server.is_done());
}

TEST(Handshake, ErrorReadsAsOneLineOnBothSides) {
  Handshake client(Handshake::Role::kClient, "wrong", "c");
  Handshake server(Handshake::Role::kServer, "secret", "s");
  ASSERT_TRUE(deliver(client.take_output(), server).is_ok());
  const std::string line = "handshake: the server's proof does not match (wrong shared secret)";
  EXPECT_EQ(deliver(server.take_output(), client).message(), line);
  EXPECT_EQ(deliver(client.take_output(), server).message(), line);
}

TEST(Handshake, ClientWithoutTheSecretCannotForgeItsProof) {
  Handshake server(Handshake::Role::kServer, "secret", "s");
  Hello hello;
  hello.nonce = std::string(kNonceBytes, 'n');
  std::string bytes;
  append_message(bytes, hello);
  ASSERT_TRUE(deliver(bytes, server).is_ok());
  server.take_output();
  bytes.clear();
  append_message(bytes, AuthProof{std::string(kProofBytes, 'x')});
  EXPECT_EQ(deliver(bytes, server).code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(server.is_done());
  // The server answers with an Error frame for the client's log.
  FrameDecoder d;
  d.feed(server.take_output());
  auto f = d.next();
  ASSERT_TRUE(f.has_value() && f->has_value());
  EXPECT_EQ((*f)->type, MessageType::kError);
}

TEST(Handshake, NoCommonVersionIsFailedPrecondition) {
  Handshake server(Handshake::Role::kServer, "secret", "s");
  Hello hello;
  hello.version = 9;
  hello.min_version = 9;
  hello.nonce = std::string(kNonceBytes, 'n');
  std::string bytes;
  append_message(bytes, hello);
  EXPECT_EQ(deliver(bytes, server).code(), StatusCode::kFailedPrecondition);
}

// Runs a whole handshake between `client` and `server`.
void complete(Handshake& client, Handshake& server) {
  ASSERT_TRUE(deliver(client.take_output(), server).is_ok());
  ASSERT_TRUE(deliver(server.take_output(), client).is_ok());
  ASSERT_TRUE(deliver(client.take_output(), server).is_ok());
  ASSERT_TRUE(deliver(server.take_output(), client).is_ok());
  ASSERT_TRUE(client.is_done() && server.is_done());
}

TEST(Handshake, BothSidesSpeakTheLowerOfTheirVersions) {
  Handshake new_client(Handshake::Role::kClient, "secret", "c");
  Handshake new_server(Handshake::Role::kServer, "secret", "s");
  complete(new_client, new_server);
  EXPECT_EQ(new_client.version(), kProtocolVersion);
  EXPECT_EQ(new_server.version(), kProtocolVersion);

  Handshake old_client(Handshake::Role::kClient, "secret", "c", 1);
  Handshake server(Handshake::Role::kServer, "secret", "s");
  complete(old_client, server);
  EXPECT_EQ(old_client.version(), 1);
  EXPECT_EQ(server.version(), 1);

  Handshake client(Handshake::Role::kClient, "secret", "c");
  Handshake old_server(Handshake::Role::kServer, "secret", "s", 1);
  complete(client, old_server);
  EXPECT_EQ(client.version(), 1);
  EXPECT_EQ(old_server.version(), 1);
}

TEST(Handshake, FrameOutOfOrderIsCorruption) {
  Handshake server(Handshake::Role::kServer, "secret", "s");
  std::string bytes;
  append_frame(bytes, MessageType::kCall, "");
  EXPECT_EQ(deliver(bytes, server).code(), StatusCode::kCorruption);
}

TEST(Handshake, ShortNonceIsCorruption) {
  Handshake server(Handshake::Role::kServer, "secret", "s");
  Hello hello;
  hello.nonce = "short";
  std::string bytes;
  append_message(bytes, hello);
  EXPECT_EQ(deliver(bytes, server).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace keel::wire
