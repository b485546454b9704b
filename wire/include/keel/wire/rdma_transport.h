// keel/wire/rdma_transport.h: the RDMA binding of the ring protocol
// (keel/wire/ring.h) over rdma-core verbs. One reliable-connected (RC) queue
// pair per link. Each side owns a registered inbound ring that the peer
// writes records into with RDMA writes, ending each batch with an RDMA write
// with immediate of the new tail (the immediate wakes the receiver's
// completion queue); the receiver returns credits by RDMA-writing its head
// into the peer's registered mirror of that ring. The producer formats
// records in its local mirror with RingProducer, so records, wrap markers
// and credits are the same code as the shared-memory transport.
//
// Connection set-up goes over the TCP control plane: each side sends its
// RdmaEndpointInfo (queue pair number, LID/GID, ring addresses and keys) to
// the other, then calls connect(). Machines without a device report none
// from rdma_devices(), and callers stay on TCP.
//
//   if (keel::wire::rdma_devices().value_or({}).empty()) return use_tcp();
//   auto link = keel::wire::RdmaLink::open("", 1 << 20).value();
//   send_over_tcp(link->local_info().encode());
//   link->connect(keel::wire::RdmaEndpointInfo::decode(receive_over_tcp()).value()).ignore();
//   link->send(keel::wire::MessageType::kCall, envelope_bytes).ignore();
//   link->poll([](const keel::wire::Frame& f) { handle(f); }).ignore();
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
#include "keel/wire/frame.h"

namespace keel::wire {

// Names of the RDMA devices on this machine (ibv_get_device_list); empty
// when there are none. Errors: kUnavailable (the verbs library could not
// list devices, e.g. no kernel support).
Result<std::vector<std::string>> rdma_devices();

// What one side tells the other to connect to it. A value; encode() gives
// a fixed 64-byte little-endian form for the control plane.
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

// One RC queue pair with its two registered rings. Not thread-safe: one
// thread sends and polls (the owner's I/O thread). Not copyable or movable.
class RdmaLink {
 public:
  // Opens `device` (empty: the first one), allocates the protection domain,
  // completion queue and queue pair, and registers an inbound ring and an
  // outbound mirror of `ring_bytes` data each. Errors: kUnavailable (no such
  // device), kIoError (a verbs call failed; the message names it).
  static Result<std::unique_ptr<RdmaLink>> open(const std::string& device, std::size_t ring_bytes);
  virtual ~RdmaLink() = default;

  virtual RdmaEndpointInfo local_info() const = 0;
  // Moves the queue pair to ready-to-send against `peer`. Errors:
  // kInvalidArgument (the peer's ring size differs), kIoError.
  virtual Status connect(const RdmaEndpointInfo& peer) = 0;
  // Formats one frame in the mirror and writes it to the peer's ring.
  // Errors: kOverloaded (no credits: poll() to take them back),
  // kInvalidArgument (over the ring's max record size), kIoError.
  virtual Status send(MessageType type, std::string_view body) = 0;
  // Reaps completions, hands every frame that arrived to `on_frame` (the
  // body points into the registered ring until on_frame returns), then
  // returns their credits to the peer. Returns the number of frames.
  // Errors: kCorruption (a bad record or type), kIoError (a failed work
  // request: the link is broken).
  virtual Result<int> poll(const std::function<void(const Frame&)>& on_frame) = 0;
};

}  // namespace keel::wire
