// handshake.h: the authenticated handshake that opens every Keel
// connection (docs/wire-protocol.md, "Handshake"). Both sides prove that they
// know the shared secret with HMAC-SHA256 over the other side's fresh nonce,
// so neither a client nor a server without the secret gets through, and a
// recorded handshake cannot be replayed. The state machine does no I/O, so
// every transport (TCP, shared memory, RDMA) drives the same code. Private
// to Keel::net.
//
//   keel::wire::Handshake hs(keel::wire::Handshake::Role::kClient, secret, "node-a");
//   send(hs.take_output());                     // the client's Hello frame
//   while (!hs.is_done()) {
//     keel::wire::Frame f = receive_frame();
//     if (keel::Status s = hs.on_frame(f); !s.is_ok()) { send(hs.take_output()); close(s); }
//     send(hs.take_output());                   // empty when nothing is due
//   }
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "keel/base/status.h"
#include "keel/wire/control.h"
#include "keel/wire/transport.h"

namespace keel::wire {

// HMAC-SHA256 of `message` under `key` (32 bytes). prepare_handshake_crypto
// (keel/net/tcp_transport.h) sets it up ahead of time.
std::string hmac_sha256(std::string_view key, std::string_view message);
// Compares in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

// One side of the handshake. Not thread-safe; owned by one connection.
class Handshake {
 public:
  enum class Role { kClient, kServer };

  // Draws a fresh nonce (the kernel's CSPRNG, getrandom). A client queues
  // its Hello at once. `secret` must be non-empty (KEEL_CHECK). `version` is
  // the highest protocol version this side offers, in [kMinProtocolVersion,
  // kProtocolVersion] (KEEL_CHECK); lower values play an older peer in tests.
  Handshake(Role role, std::string secret, std::string node,
            std::uint16_t version = kProtocolVersion);

  // Feeds one frame received before is_done(). Errors, after which the
  // connection must be closed (take_output() then holds an Error frame for
  // the peer when one is due): kUnauthenticated (the peer's proof does not
  // match: wrong secret), kFailedPrecondition (no common protocol version),
  // kCorruption (a body that does not decode, or a frame type not allowed
  // at this step), or the peer's own error when it sent an Error frame.
  // Messages read "handshake: <why>", on this side and, through the Error
  // frame, on the peer's.
  Status on_frame(const Frame& frame);

  // Frames to send now, concatenated (possibly empty); clears them.
  std::string take_output();

  bool is_done() const { return state_ == State::kDone; }
  // The peer's node name from its Hello ("" before it arrived).
  const std::string& peer_node() const { return peer_node_; }
  // The version both sides speak: the lower of the two offered (valid once
  // the peer's Hello arrived).
  std::uint16_t version() const { return version_; }

 private:
  enum class State { kAwaitHello, kAwaitAuth, kAwaitAuthOk, kDone, kFailed };
  // Fails the handshake: returns `why` as "handshake: <message>", and
  // queues it for the peer as an Error frame when `tell_peer`.
  Status fail(Status why, bool tell_peer);
  Status on_hello(std::string_view body);
  Status on_auth(std::string_view body);

  Role role_;
  std::string secret_;
  std::string node_;
  std::string nonce_;
  std::string peer_nonce_;
  std::string peer_node_;
  std::uint16_t offered_version_;  // this side's highest
  std::uint16_t version_;          // negotiated once the peer's Hello arrived
  std::string output_;
  State state_ = State::kAwaitHello;
};

}  // namespace keel::wire
