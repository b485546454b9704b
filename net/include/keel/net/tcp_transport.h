// keel/net/tcp_transport.h: the TCP transport (asio), Keel's default
// everywhere. A TcpTransport owns one I/O thread; listeners accept
// connections and clients connect (and reconnect with backoff) through it.
// Every connection runs the HMAC handshake (docs/wire-protocol.md,
// "Handshake") before its first frame, inside TLS when
// TransportOptions::tls is enabled. It uses TCP_NODELAY, batches small frames into one write, and bounds its send
// queue (back-pressure). A bad frame, a failed handshake or an unexpected
// message type closes that one connection with a logged reason; the
// listener keeps serving everyone else. When both ends have an RDMA device
// (TransportOptions::rdma, on by default), a connection moves its data
// frames to an RDMA queue pair after the handshake and keeps TCP as its
// control plane; otherwise it stays on TCP and logs why. Callbacks run on
// the I/O thread either way, and Connection::path() says which one is used.
//
//   keel::wire::TransportOptions options;
//   options.secret = "s3cret";
//   KEEL_ASSIGN_OR_RETURN(auto transport, keel::wire::TcpTransport::create(options));
//   KEEL_ASSIGN_OR_RETURN(auto listener, transport->listen("127.0.0.1", 0, server_callbacks));
//   auto client = transport->connect("127.0.0.1", listener->port(), client_callbacks);
//   // ... once client_callbacks.on_open has run:
//   client->send(keel::wire::MessageType::kCall, envelope_bytes).ignore();
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "keel/base/status.h"
#include "keel/wire/transport.h"

namespace keel::wire {

// Sets up OpenSSL's HMAC-SHA256 ahead of a first handshake: OpenSSL loads
// its configuration and providers on first use, about 1 ms in a new
// process. Call it where that time overlaps other work (a process that
// starts a peer, or a thread beside start-up). Thread-safe; a cheap no-op
// after the first call.
void prepare_handshake_crypto();

// Accepts connections until destroyed. Destroying it closes its connections
// (on_close with kCancelled) and returns once no callback of it runs or will
// run; it must not be destroyed from one of its own callbacks. Thread-safe.
class TcpListener {
 public:
  virtual ~TcpListener() = default;
  // The bound port (useful after listening on port 0).
  virtual std::uint16_t port() const = 0;
  // Connections currently open (handshake done, not yet closed).
  virtual std::size_t connection_count() const = 0;
};

struct ReconnectOptions {
  bool enabled = true;
  // Backoff after a failed attempt or a lost connection: starts at
  // `initial_backoff`, doubles per failure up to `max_backoff`, and resets
  // once a connection opens. A wrong secret (kUnauthenticated) or no common
  // protocol version (kFailedPrecondition) stops reconnecting.
  std::chrono::milliseconds initial_backoff{20};
  std::chrono::milliseconds max_backoff{2'000};
};

// The client side of one logical connection to a server, kept up across
// reconnects. As a Connection it forwards to the current connection: send()
// returns kUnavailable while none is open, and close(reason) closes the
// current one (the client then reconnects unless `reason` is kCancelled).
// Callbacks receive the current underlying connection. Destruction: as
// TcpListener. Thread-safe.
class TcpClient : public Connection {
 public:
  // Whether a connection is open now.
  virtual bool is_connected() const = 0;
  // Connections opened so far (1 after the first, 2 after a reconnect...).
  virtual std::uint64_t connect_count() const = 0;
};

// Owns the I/O thread that runs every socket, timer and callback of its
// listeners and clients. Listeners and clients must be destroyed before it.
// Thread-safe.
class TcpTransport {
 public:
  // Starts the I/O thread. Errors: kInvalidArgument (empty secret, or a TLS
  // file that cannot be loaded; the message names it).
  static Result<std::unique_ptr<TcpTransport>> create(TransportOptions options);
  virtual ~TcpTransport() = default;

  // Listens on host:port (port 0 picks a free one). Errors: kIoError (cannot
  // resolve, bind or listen, e.g. the port is taken), kInvalidArgument (TLS
  // without a certificate and key).
  virtual Result<std::unique_ptr<TcpListener>> listen(const std::string& host, std::uint16_t port,
                                                      ConnectionCallbacks callbacks) = 0;

  // Starts connecting to host:port in the background; outcomes arrive as
  // on_open / on_connect_error.
  virtual std::unique_ptr<TcpClient> connect(const std::string& host, std::uint16_t port,
                                             ConnectionCallbacks callbacks,
                                             ReconnectOptions reconnect = {}) = 0;
};

}  // namespace keel::wire
