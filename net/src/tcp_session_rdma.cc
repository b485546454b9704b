// Moving a TCP session's data frames to RDMA (TransportOptions::rdma;
// protocol: docs/wire-protocol.md, "Transport negotiation").
//
// After the handshake a version-2 client offers an RdmaLink; a server with a
// device connects to it and accepts; the client connects back. Each side
// then switches its sends: it queues a `switched` marker on TCP and sends
// every later frame over the link, so the peer, which starts reading the
// link when it reads the marker, delivers frames in the order they were
// sent. A frame too large for the ring goes over TCP behind a handoff record
// in the ring that keeps its place. The link's completion channel is waited
// on by the I/O thread like a socket, so every callback still runs there.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "tcp_session.h"

namespace keel::wire::internal {

Status check_rdma_device(const TransportOptions& options) {
  const RdmaOptions& o = options.rdma;
  if (!o.enabled) return Status::failed_precondition("RDMA is disabled on this side");
  // RDMA frames would bypass TLS, so a TLS connection keeps them on TCP.
  if (options.tls.enabled) return Status::failed_precondition("RDMA is off with TLS on this side");
  if (o.device_check) return o.device_check();
  Result<std::vector<std::string>> devices = rdma_devices();
  if (!devices.has_value()) return Status::unavailable("no RDMA support: " + std::string(devices.status().message()));
  if (devices->empty()) return Status::unavailable("no RDMA device");
  if (!o.device.empty() && std::find(devices->begin(), devices->end(), o.device) == devices->end()) {
    return Status::unavailable("no RDMA device named " + o.device);
  }
  return Status::ok();
}

bool Core::rdma_usable() {
  if (!rdma_check_) rdma_check_ = check_rdma_device(options_);
  return rdma_check_->is_ok();
}

Result<std::unique_ptr<RdmaLink>> Core::open_rdma_link() {
  if (!rdma_usable()) return *rdma_check_;
  const RdmaOptions& o = options_.rdma;
  Result<std::unique_ptr<RdmaLink>> link = RdmaLink::open(o.device, o.ring_bytes);
  if (!link.has_value()) return Status(link.status().code(), "rdma open: " + std::string(link.status().message()));
  return link;
}

void Session::rdma_begin() {
  if (role_ != Handshake::Role::kClient || done_) return;
  if (handshake_.version() < kRdmaSetupVersion) {
    return rdma_log_tcp("the peer speaks protocol version " + std::to_string(handshake_.version()));
  }
  Result<std::unique_ptr<RdmaLink>> link = core_.open_rdma_link();
  if (!link.has_value()) return rdma_decline(link.status());
  link_ = std::move(*link);
  rdma_state_ = RdmaState::kOffered;
  send_setup(RdmaSetup{RdmaSetup::Kind::kOffer, link_->local_info().encode(), {}});
}

void Session::on_rdma_setup(std::string_view body) {
  RdmaSetup m;
  Status s = decode_body(body, m);
  if (s.is_ok() && handshake_.version() < kRdmaSetupVersion) {
    s = Status::corruption("rdma_setup frame on a protocol version 1 connection");
  }
  if (!s.is_ok()) return close_on_io(s);
  const bool server = role_ == Handshake::Role::kServer;
  switch (m.kind) {
    case RdmaSetup::Kind::kOffer:
      if (server && rdma_state_ == RdmaState::kTcp) return rdma_accept(m.endpoint);
      break;
    case RdmaSetup::Kind::kAccept:
      if (!server && rdma_state_ == RdmaState::kOffered) return rdma_connect(m.endpoint);
      break;
    case RdmaSetup::Kind::kDecline:
      if (rdma_state_ != RdmaState::kSwitched) {
        rdma_drop();
        return rdma_log_tcp("the peer declined RDMA: " + m.reason);
      }
      break;
    case RdmaSetup::Kind::kSwitched:
      if (rdma_state_ == RdmaState::kConnected || rdma_state_ == RdmaState::kSwitched) {
        if (peer_switched_) break;
        peer_switched_ = true;
        if (server) rdma_switch();  // the client switched first
        return rdma_drain();
      }
      break;
  }
  close_on_io(Status::corruption("unexpected rdma_setup (kind " +
                                 std::to_string(static_cast<int>(m.kind)) + ") at this step"));
}

void Session::rdma_accept(const std::string& endpoint) {
  Result<std::unique_ptr<RdmaLink>> link = core_.open_rdma_link();
  if (!link.has_value()) return rdma_decline(link.status());
  Result<RdmaEndpointInfo> peer = RdmaEndpointInfo::decode(endpoint);
  Status s = peer.has_value() ? (*link)->connect(*peer) : peer.status();
  if (!s.is_ok()) return rdma_decline(Status(s.code(), "rdma connect: " + std::string(s.message())));
  link_ = std::move(*link);
  rdma_state_ = RdmaState::kConnected;
  send_setup(RdmaSetup{RdmaSetup::Kind::kAccept, link_->local_info().encode(), {}});
  rdma_wait();
}

void Session::rdma_connect(const std::string& endpoint) {
  Result<RdmaEndpointInfo> peer = RdmaEndpointInfo::decode(endpoint);
  Status s = peer.has_value() ? link_->connect(*peer) : peer.status();
  if (!s.is_ok()) {
    rdma_drop();
    return rdma_decline(Status(s.code(), "rdma connect: " + std::string(s.message())));
  }
  rdma_state_ = RdmaState::kConnected;
  rdma_switch();
  rdma_wait();
}

void Session::rdma_drop() {
  if (cq_wait_) {
    asio::error_code ignored;
    cq_wait_->cancel(ignored);
    cq_wait_->release();
    cq_wait_.reset();
  }
  link_.reset();
  rdma_state_ = RdmaState::kTcp;
}

void Session::rdma_decline(const Status& why) {
  rdma_state_ = RdmaState::kTcp;
  send_setup(RdmaSetup{RdmaSetup::Kind::kDecline, {}, std::string(why.message())});
  rdma_log_tcp(std::string(why.message()));
}

void Session::rdma_log_tcp(const std::string& why) {
  // Staying on TCP is news only where this side could have used RDMA.
  if (!core_.rdma_usable() && !core_.options().rdma.log_when_unusable) return;
  core_.log("connection " + std::to_string(id_) + " to " + peer() + " stays on tcp: " + why);
}

void Session::send_setup(const RdmaSetup& m) {
  std::string frame;
  append_message(frame, m);
  {
    MutexLock l(mu_);
    if (closed_) return;
    enqueue_internal_locked(std::move(frame));
  }
  post_kick();
}

void Session::rdma_switch() {
  std::string frame;
  append_message(frame, RdmaSetup{RdmaSetup::Kind::kSwitched, {}, {}});
  {
    MutexLock l(mu_);
    if (closed_) return;
    enqueue_internal_locked(std::move(frame));
    rdma_ = link_;
  }
  post_kick();
  rdma_state_ = RdmaState::kSwitched;
  core_.log("connection " + std::to_string(id_) + " to " + peer() + " sends its frames over rdma");
}

void Session::rdma_wait() {
  cq_wait_ = std::make_unique<asio::posix::stream_descriptor>(core_.io(), link_->completion_fd());
  rdma_drain();
}

void Session::rdma_drain() {
  if (done_ || !cq_wait_) return;
  Result<bool> again = arm_then_poll([&] { return link_->arm(); }, [&] { return rdma_poll(); });
  if (!again.has_value()) {
    const Status& s = again.status();
    return close_on_io(s.code() == StatusCode::kIoError ? Status::unavailable(std::string(s.message())) : s);
  }
  if (done_) return;  // a delivered frame closed the connection
  bool writable = false;
  {
    MutexLock l(mu_);
    if (rdma_overloaded_ && link_->writable()) {
      rdma_overloaded_ = false;
      writable = true;
    }
  }
  if (writable && host_->callbacks().on_writable) host_->callbacks().on_writable(*this);
  if (*again) {
    asio::post(core_.io(), [self = shared_from_this()] { self->rdma_drain(); });
  } else if (!cq_waiting_) {
    // asio re-registers the descriptor when a wait starts, so an event
    // raised after the arm above and before this wait still wakes it.
    cq_waiting_ = true;
    cq_wait_->async_wait(asio::posix::stream_descriptor::wait_read,
                         [self = shared_from_this()](const asio::error_code& ec) {
                           self->cq_waiting_ = false;
                           if (!ec) self->rdma_drain();
                         });
  }
}

Result<int> Session::rdma_poll() {
  if (!peer_switched_ || handoffs_.waiting()) {
    KEEL_RETURN_IF_ERROR(link_->reap());
    return 0;
  }
  return link_->poll([this](std::uint8_t type, std::string_view body) {
    if (done_) return false;
    if (type != kRdmaHandoffRecordType) {
      deliver(Frame{static_cast<MessageType>(type), body});
      return true;
    }
    std::optional<std::pair<std::uint8_t, std::string>> early = handoffs_.on_handoff_record();
    if (!early) return false;  // its TCP frame comes next
    deliver(Frame{static_cast<MessageType>(early->first), early->second});
    return true;
  });
}

Status Session::admit_frame(MessageType type, std::string_view body, std::size_t wire, bool& sent) {
  sent = false;
  KEEL_RETURN_IF_ERROR(admit(wire, false));
  if (rdma_ == nullptr) return Status::ok();
  sent = body.size() <= rdma_->max_frame_bytes();
  Status s = sent ? rdma_->send(type, body) : rdma_->send_handoff();
  if (s.code() == StatusCode::kOverloaded) {
    rdma_overloaded_ = true;  // on_writable once half the ring is free
  } else if (s.code() == StatusCode::kIoError) {
    close(Status::unavailable(std::string(s.message())));
    return Status::unavailable(std::string(s.message()));
  }
  return s;
}

}  // namespace keel::wire::internal
