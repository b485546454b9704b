// rdma_transport.h: the RDMA binding of the ring protocol (ring.h) over
// rdma-core verbs. Private to Keel::net. One reliable-connected (RC) queue
// pair per link. Each side owns a registered inbound ring that the peer
// writes records into with RDMA writes, ending each batch with an RDMA write
// with immediate of the new tail (the immediate wakes the receiver's
// completion queue); the receiver returns credits by RDMA-writing its head,
// also with an immediate, into the peer's registered mirror of that ring. The producer formats
// records in its local mirror with RingProducer, so records, wrap markers
// and credits are the same code as the shared-memory transport.
//
// Connection set-up goes over the TCP control plane: each side sends its
// RdmaEndpointInfo (queue pair number, LID/GID, ring addresses and keys) to
// the other, then calls connect(). The TCP transport does this by itself
// when both ends have a device (TransportOptions::rdma); machines without a
// device report none from rdma_devices(), and their connections stay on TCP.
//
//   if (keel::wire::rdma_devices().value_or({}).empty()) return use_tcp();
//   auto link = keel::wire::RdmaLink::open("", 1 << 20).value();
//   send_over_tcp(link->local_info().encode());
//   link->connect(keel::wire::RdmaEndpointInfo::decode(receive_over_tcp()).value()).ignore();
//   link->send(keel::wire::MessageType::kCall, envelope_bytes).ignore();
//   link->poll([](std::uint8_t type, std::string_view body) { handle(type, body); return true; }).ignore();
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/status.h"
#include "keel/wire/message_type.h"

namespace keel::wire {

// Names of the RDMA devices on this machine (ibv_get_device_list); empty
// when there are none. Errors: kUnavailable (the verbs library could not
// list devices, e.g. no kernel support).
Result<std::vector<std::string>> rdma_devices();

// What one side tells the other to connect to it. A value; encode() gives
// a fixed kRdmaEndpointInfoBytes (64) little-endian form for the control
// plane (RdmaSetup, keel/wire/control.h).
struct RdmaEndpointInfo {
  std::uint32_t qp_num = 0;
  std::uint16_t lid = 0;
  std::array<std::uint8_t, 16> gid{};  // all zero on InfiniBand without GRH
  std::uint64_t ring_addr = 0;         // this side's inbound ring (control block first)
  std::uint32_t ring_rkey = 0;
  std::uint64_t ring_bytes = 0;
  std::uint64_t mirror_addr = 0;       // this side's mirror of its outbound ring
  std::uint32_t mirror_rkey = 0;

  std::string encode() const;
  // Errors: kCorruption (wrong size).
  static Result<RdmaEndpointInfo> decode(std::string_view bytes);
  friend bool operator==(const RdmaEndpointInfo&, const RdmaEndpointInfo&) = default;
};

// A ring record of this type carries no frame: the sender's next frame
// comes over TCP instead (it was larger than the ring's max record size), so
// the receiver delivers that TCP frame at this point of the ring's order.
inline constexpr std::uint8_t kRdmaHandoffRecordType = 0xff;

// One RC queue pair with its two registered rings and a completion channel.
// send(), reap() and writable() are thread-safe; poll() and arm() are called
// by one thread at a time (the reader), which may call send() from on_frame.
// Not copyable or movable.
class RdmaLink {
 public:
  // Opens `device` (empty: the first one), allocates the protection domain,
  // completion channel, completion queue and queue pair, and registers an
  // inbound ring and an outbound mirror of `ring_bytes` data each. Errors:
  // kUnavailable (no such device, or built without libibverbs), kIoError (a
  // verbs call failed; the message names it).
  static Result<std::unique_ptr<RdmaLink>> open(const std::string& device, std::size_t ring_bytes);
  virtual ~RdmaLink() = default;

  virtual RdmaEndpointInfo local_info() const = 0;
  // Moves the queue pair to ready-to-send against `peer`. Errors:
  // kInvalidArgument (the peer's ring size differs), kIoError.
  virtual Status connect(const RdmaEndpointInfo& peer) = 0;
  // Formats one frame in the mirror and writes it to the peer's ring.
  // Errors: kOverloaded (no credits now: writable() turns true once the
  // peer returned half the ring), kInvalidArgument (over max_frame_bytes()),
  // kUnavailable (not connected), kIoError.
  virtual Status send(MessageType type, std::string_view body) = 0;
  // Writes a kRdmaHandoffRecordType record (no body). Errors as send().
  virtual Status send_handoff() = 0;
  // The largest body send() takes: the ring's max record size.
  virtual std::size_t max_frame_bytes() const = 0;
  // Whether half of the outbound ring or more is free (credits).
  virtual bool writable() const = 0;
  // Reaps completions: retires sent work requests and reposts receives.
  // Errors: kIoError (a failed work request: the link is broken).
  virtual Status reap() = 0;
  // Reaps, then hands each arrived record to `on_record` in order (a frame,
  // or a handoff record with type kRdmaHandoffRecordType and an empty body;
  // the body points into the registered ring until on_record returns) until
  // none is left or on_record returns false, then returns their credits to
  // the peer. Returns the number of records. Errors: kCorruption (a bad
  // record or type), kIoError, kUnavailable (not connected).
  virtual Result<int> poll(const std::function<bool(std::uint8_t type, std::string_view body)>& on_record) = 0;

  // The completion channel's descriptor (non-blocking): readable when a
  // completion arrived after the last arm().
  virtual int completion_fd() const = 0;
  // Consumes the channel's pending events and asks for an event at the next
  // completion. Completions that arrived before the call raise no event:
  // poll once more after arming (arm_then_poll, ring.h). Errors:
  // kIoError.
  virtual Status arm() = 0;
};

}  // namespace keel::wire
