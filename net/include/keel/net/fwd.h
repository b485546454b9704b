// keel/net/fwd.h: forward declarations of the transports' types
// (keel/net/tcp_transport.h, keel/net/shm_transport.h). The connection
// interface they implement is declared in keel/wire/fwd.h.
#pragma once

namespace keel::wire {
class TcpListener;
class TcpClient;
class TcpTransport;
struct ReconnectOptions;
class ShmRegion;
class ShmConnection;
enum class ShmSide;
struct ShmWaitOptions;
struct ShmOptions;
}  // namespace keel::wire
