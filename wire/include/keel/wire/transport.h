// keel/wire/transport.h: what every Keel transport (TCP, optionally moved to
// RDMA; shared memory) offers its user: authenticated connections that carry
// typed frames (keel/wire/message_type.h), and the callbacks through which
// frames arrive. How a connection is established is specific to each
// transport (keel/net/tcp_transport.h, keel/net/shm_transport.h); what
// happens on it is the same everywhere.
//
//   keel::wire::ConnectionCallbacks cb;
//   cb.on_frame = [](keel::wire::Connection& c, const keel::wire::Frame& f) {
//     if (f.type == keel::wire::MessageType::kCall) c.send(keel::wire::MessageType::kReply, f.body).ignore();
//   };
//   cb.on_close = [](keel::wire::Connection& c, const keel::Status& why) { log(c.peer(), why); };
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "keel/base/status.h"
#include "keel/wire/message_type.h"

namespace keel::wire {

// Default largest frame body accepted or sent: an envelope at its limit
// (kMaxEnvelopeBytes) plus room for the frame's own fields.
inline constexpr std::size_t kDefaultMaxFrameBodyBytes = (64u << 20) + 4096;

// One frame: its type and its body (padding removed). `body` is borrowed: it
// points into the buffer the frame was read into.
struct Frame {
  MessageType type;
  std::string_view body;
};

// One authenticated, bidirectional stream of frames. Owned by its transport;
// a user borrows it in callbacks, and it stays valid until on_close returns.
// send() and close() are thread-safe; the accessors are too.
class Connection {
 public:
  virtual ~Connection() = default;

  // Queues one frame (the body is copied into the send queue). Frames queued
  // while a write is in flight go out together in one write. Errors:
  // kOverloaded (the queue holds max_send_queue_bytes, or, over RDMA, the
  // ring has no credits: back off; nothing was queued, and on_writable
  // follows once the queue drains to half or half the ring is free),
  // kUnavailable (not open, or closed), kInvalidArgument (body larger than
  // max_frame_body_bytes).
  virtual Status send(MessageType type, std::string_view body) = 0;
  // As above, but takes the body: a large payload is written from `body`
  // itself, without a copy into the queue.
  virtual Status send_owned(MessageType type, std::string&& body) = 0;
  // As above, for a body the caller keeps and may send again (to several
  // connections, or repeatedly): a large one is written from `*body` in
  // place, and this connection's reference is dropped once it is written.
  // `*body` must not change while referenced. Transports without a send
  // queue copy it (the default).
  virtual Status send_shared(MessageType type, std::shared_ptr<const std::string> body) {
    return send(type, *body);
  }
  // Closes the connection; on_close follows (once) with `reason`. Frames
  // still queued are dropped. Idempotent.
  virtual void close(const Status& reason) = 0;

  // Unique per transport instance.
  virtual std::uint64_t id() const = 0;
  // The peer's address and node name, for logs ("127.0.0.1:4242 node-b").
  virtual std::string peer() const = 0;
  // Bytes queued for sending and not yet written.
  virtual std::size_t queued_bytes() const = 0;
  // What carries this side's data frames now: "tcp", "rdma" (a TCP
  // connection whose frames moved to RDMA, see RdmaOptions) or "shm".
  virtual std::string_view path() const = 0;
  // The protocol version both ends speak (control.h: the lower of the two
  // offered in the handshake); a frame type newer than it must not be sent.
  // 0 while not open.
  virtual std::uint16_t protocol_version() const = 0;
};

// Callbacks of one listener or client. All run on the transport's I/O thread
// (one thread per transport instance), one at a time; any may be empty.
struct ConnectionCallbacks {
  // The handshake completed; frames may be sent from now on.
  std::function<void(Connection&)> on_open;
  // One frame after the handshake. `frame.body` points into the receive
  // buffer and is valid until the callback returns.
  std::function<void(Connection&, const Frame&)> on_frame;
  // After send() returned kOverloaded: the queue has drained to half.
  std::function<void(Connection&)> on_writable;
  // An opened connection closed, with why (kUnavailable when the peer went
  // away, kCorruption for a bad frame, kCancelled for a local close...). The
  // last callback of that connection.
  std::function<void(Connection&, const Status&)> on_close;
  // Client side: a connection attempt or its handshake failed (kUnavailable,
  // kUnauthenticated, kFailedPrecondition, kCorruption, kTimeout).
  std::function<void(const Status&)> on_connect_error;
};

// Receives one line per notable event (a connection closed for a bad frame,
// a failed handshake, a reconnect). Called on the I/O thread.
using LogSink = std::function<void(std::string_view line)>;

// TLS for the TCP transport (OpenSSL through asio::ssl). When enabled, every
// connection runs a TLS handshake first and the HMAC handshake inside it, so
// TLS adds encryption and the shared secret still authenticates the peers.
struct TlsOptions {
  bool enabled = false;
  // PEM files. A listener needs its certificate chain and private key.
  std::string certificate_chain_file;
  std::string private_key_file;
  // Client side: the server's certificate must chain to one in this PEM file
  // (its host name is not checked: the shared secret names the peer). Empty
  // with verify_server: the system's default trust store.
  std::string ca_file;
  bool verify_server = true;
};

// Moving a TCP connection's data frames to RDMA (docs/wire-protocol.md,
// "Transport negotiation"). After the handshake the client offers RDMA when
// it has a usable device; when the server has one too, both connect an RC
// queue pair with a ring per direction (docs/wire-protocol.md, "Ring
// protocol") and from then on send their frames over it, while the TCP
// connection stays open for liveness and close. Any failure (no device on
// either side, an open or connect error, a peer that declines or speaks
// protocol version 1) leaves the connection on TCP, with one logged line
// that names the reason.
struct RdmaOptions {
  bool enabled = true;
  // The device to use; empty: the first one.
  std::string device;
  // Data bytes of each ring (one per direction, registered with the device),
  // rounded down to a power of two. Both sides must use the same size.
  std::size_t ring_bytes = 1u << 20;
  // Answers whether this side has a usable device: ok, or why not. Empty:
  // look for `device` among this machine's devices (ibv_get_device_list).
  // It decides only what this side states in the negotiation; the queue
  // pair is always a real one.
  std::function<Status()> device_check;
  // A connection that stays on TCP logs one line with the reason when this
  // side has a usable device (a failed open or connect, a peer without a
  // device or with an older protocol). With this set, also when it has none
  // (disabled, TLS, no device: the usual case on machines without RDMA).
  bool log_when_unusable = false;
};

struct TransportOptions {
  // Shared secret for the HMAC handshake (docs/wire-protocol.md, "Handshake"). Required.
  std::string secret;
  // This node's name, sent in the handshake and shown in peer() and logs.
  std::string node_name = "keel";
  // Largest frame body accepted or sent; a larger incoming frame closes
  // that connection.
  std::size_t max_frame_body_bytes = kDefaultMaxFrameBodyBytes;
  // Send queue bound per connection (back-pressure, see Connection::send).
  std::size_t max_send_queue_bytes = 64u << 20;
  // A peer that has not completed the handshake by then is disconnected.
  std::chrono::milliseconds handshake_timeout{10'000};
  // Where log lines go; empty = stderr, prefixed "keel wire: ".
  LogSink log;
  // TLS (TCP transport only; off by default).
  TlsOptions tls;
  // RDMA for the data frames of TCP connections (on by default; stays on
  // TCP where either side has no device).
  RdmaOptions rdma;
};

}  // namespace keel::wire
