// The RDMA binding (rdma_transport.h) over libibverbs.
//
// Ordering. Records go out as RDMA writes from the local mirror, followed by
// an RDMA write with immediate of the new tail; RC queue pairs place writes
// in order, so when the peer sees the tail (or the immediate's completion)
// the records before it are in place. The tail and head words are sent
// inline (copied when posted): the mirror's tail moves on with the next
// send, and the hardware must not read a value newer than the data already
// posted. Mirror bytes between the synced tail and the peer's head are not
// touched until the peer returns their credits, which it does only after
// reading them. Credits go back as an RDMA write with immediate of the head,
// so that a producer waiting for them gets a completion too.
//
// Threads. The producer side (mirror, send queue accounting, reaping) sits
// behind mu_, so any thread may send; the consumer side (the inbound ring)
// belongs to the one thread that polls, which calls on_record without the
// lock so that a handler may send.
#include "rdma_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <infiniband/verbs.h>

#include <cerrno>
#include <cstddef>
#include <algorithm>
#include <cstring>
#include <new>
#include <optional>

#include "keel/base/thread_annotations.h"
#include "keel/wire/control.h"
#include "ring.h"

namespace keel::wire {
namespace {

constexpr std::uint8_t kPort = 1;
constexpr int kQueueDepth = 256;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

struct DeviceList {
  ibv_device** list = nullptr;
  int count = 0;
  DeviceList() { list = ibv_get_device_list(&count); }
  ~DeviceList() {
    if (list != nullptr) ibv_free_device_list(list);
  }
};

std::size_t floor_pow2(std::size_t n) {
  std::size_t p = 64;
  while (p * 2 <= n) p *= 2;
  return p;
}

// Page-aligned memory for a registered ring.
struct RingMemory {
  std::size_t bytes = 0;
  void* data = nullptr;
  explicit RingMemory(std::size_t n) : bytes(n), data(::operator new(n, std::align_val_t{4096})) {
    std::memset(data, 0, n);
  }
  ~RingMemory() { ::operator delete(data, std::align_val_t{4096}); }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;
};

class LinkImpl final : public RdmaLink {
 public:
  explicit LinkImpl(std::size_t ring_bytes)
      : in_mem_(ring_region_bytes(ring_bytes)), mirror_mem_(ring_region_bytes(ring_bytes)) {}

  ~LinkImpl() override {
    if (qp_ != nullptr) ibv_destroy_qp(qp_);
    if (in_mr_ != nullptr) ibv_dereg_mr(in_mr_);
    if (mirror_mr_ != nullptr) ibv_dereg_mr(mirror_mr_);
    if (cq_ != nullptr) ibv_destroy_cq(cq_);
    if (channel_ != nullptr) ibv_destroy_comp_channel(channel_);
    if (pd_ != nullptr) ibv_dealloc_pd(pd_);
    if (ctx_ != nullptr) ibv_close_device(ctx_);
  }

  Status init(ibv_device* device) {
    ctx_ = ibv_open_device(device);
    if (ctx_ == nullptr) return Status::io_error(errno_text("ibv_open_device"));
    if (ibv_query_port(ctx_, kPort, &port_) != 0) return Status::io_error(errno_text("ibv_query_port"));
    pd_ = ibv_alloc_pd(ctx_);
    if (pd_ == nullptr) return Status::io_error(errno_text("ibv_alloc_pd"));
    channel_ = ibv_create_comp_channel(ctx_);
    if (channel_ == nullptr) return Status::io_error(errno_text("ibv_create_comp_channel"));
    const int fl = fcntl(channel_->fd, F_GETFL);
    if (fl < 0 || fcntl(channel_->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
      return Status::io_error(errno_text("fcntl (completion channel)"));
    }
    cq_ = ibv_create_cq(ctx_, 2 * kQueueDepth, nullptr, channel_, 0);
    if (cq_ == nullptr) return Status::io_error(errno_text("ibv_create_cq"));
    ibv_qp_init_attr qa{};
    qa.send_cq = cq_;
    qa.recv_cq = cq_;
    qa.qp_type = IBV_QPT_RC;
    qa.cap.max_send_wr = kQueueDepth;
    qa.cap.max_recv_wr = kQueueDepth;
    qa.cap.max_send_sge = 1;
    qa.cap.max_recv_sge = 1;
    qa.cap.max_inline_data = 64;
    qp_ = ibv_create_qp(pd_, &qa);
    if (qp_ == nullptr) return Status::io_error(errno_text("ibv_create_qp"));
    KEEL_ASSIGN_OR_RETURN(in_, RingRegion::init(in_mem_.data, in_mem_.bytes));
    KEEL_ASSIGN_OR_RETURN(mirror_, RingRegion::init(mirror_mem_.data, mirror_mem_.bytes));
    const int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
    in_mr_ = ibv_reg_mr(pd_, in_mem_.data, in_mem_.bytes, access);
    if (in_mr_ == nullptr) return Status::io_error(errno_text("ibv_reg_mr (inbound ring)"));
    mirror_mr_ = ibv_reg_mr(pd_, mirror_mem_.data, mirror_mem_.bytes, access);
    if (mirror_mr_ == nullptr) return Status::io_error(errno_text("ibv_reg_mr (mirror)"));
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_INIT;
    a.pkey_index = 0;
    a.port_num = kPort;
    a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE;
    if (ibv_modify_qp(qp_, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS) != 0) {
      return Status::io_error(errno_text("ibv_modify_qp (INIT)"));
    }
    if (ibv_query_gid(ctx_, kPort, 0, &gid_) != 0) std::memset(&gid_, 0, sizeof gid_);  // IB without GRH
    for (int i = 0; i < kQueueDepth; ++i) KEEL_RETURN_IF_ERROR(post_receive());
    return Status::ok();
  }

  RdmaEndpointInfo local_info() const override {
    RdmaEndpointInfo info;
    info.qp_num = qp_->qp_num;
    info.lid = port_.lid;
    std::memcpy(info.gid.data(), gid_.raw, info.gid.size());
    info.ring_addr = reinterpret_cast<std::uint64_t>(in_mem_.data);
    info.ring_rkey = in_mr_->rkey;
    info.ring_bytes = in_mem_.bytes;
    info.mirror_addr = reinterpret_cast<std::uint64_t>(mirror_mem_.data);
    info.mirror_rkey = mirror_mr_->rkey;
    return info;
  }

  Status connect(const RdmaEndpointInfo& peer) override {
    if (peer.ring_bytes != in_mem_.bytes) {
      return Status::invalid_argument("rdma: the peer's ring is " + std::to_string(peer.ring_bytes) +
                                      " bytes, this side's " + std::to_string(in_mem_.bytes));
    }
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = port_.active_mtu;
    a.dest_qp_num = peer.qp_num;
    a.rq_psn = 0;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 12;
    a.ah_attr.dlid = peer.lid;
    a.ah_attr.port_num = kPort;
    bool global = false;
    for (std::uint8_t b : peer.gid) global = global || b != 0;
    if (global) {
      a.ah_attr.is_global = 1;
      std::memcpy(a.ah_attr.grh.dgid.raw, peer.gid.data(), peer.gid.size());
      a.ah_attr.grh.sgid_index = 0;
      a.ah_attr.grh.hop_limit = 1;
    }
    if (ibv_modify_qp(qp_, &a,
                      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                          IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER) != 0) {
      return Status::io_error(errno_text("ibv_modify_qp (RTR)"));
    }
    ibv_qp_attr r{};
    r.qp_state = IBV_QPS_RTS;
    r.timeout = 14;
    r.retry_cnt = 7;
    r.rnr_retry = 7;
    r.sq_psn = 0;
    r.max_rd_atomic = 1;
    if (ibv_modify_qp(qp_, &r,
                      IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
                          IBV_QP_MAX_QP_RD_ATOMIC) != 0) {
      return Status::io_error(errno_text("ibv_modify_qp (RTS)"));
    }
    MutexLock l(mu_);
    peer_ = peer;
    producer_.emplace(mirror_);
    consumer_.emplace(in_);
    return Status::ok();
  }

  Status send(MessageType type, std::string_view body) override {
    MutexLock l(mu_);
    return write_record(static_cast<std::uint8_t>(type), body);
  }

  Status send_handoff() override {
    MutexLock l(mu_);
    return write_record(kRdmaHandoffRecordType, {});
  }

  std::size_t max_frame_bytes() const override { return mirror_.max_record_bytes(); }

  bool writable() const override {
    MutexLock l(mu_);
    return producer_ && producer_->free_bytes() >= mirror_.capacity / 2;
  }

  Status reap() override {
    MutexLock l(mu_);
    return reap_locked();
  }

  Result<int> poll(const std::function<bool(std::uint8_t, std::string_view)>& on_record) override {
    KEEL_RETURN_IF_ERROR(reap());
    if (!consumer_) return Status::unavailable("rdma: not connected");
    int records = 0;
    while (true) {
      KEEL_ASSIGN_OR_RETURN(std::optional<RingRecord> r, consumer_->try_read());
      if (!r) break;
      if ((r->type == 0 || r->type > kMaxMessageType) && r->type != kRdmaHandoffRecordType) {
        return Status::corruption("rdma: frame: unknown_type: message type " + std::to_string(r->type));
      }
      ++records;
      if (!on_record(r->type, r->body)) break;
    }
    if (records > 0 || head_pending_) {
      consumer_->release();
      const std::uint64_t head = in_.control->head;  // this thread wrote it
      MutexLock l(mu_);
      if (outstanding_ + 1 > kQueueDepth) KEEL_RETURN_IF_ERROR(reap_locked());
      // With the send queue still full, the credits go back at the next
      // poll, which the completions that free the queue wake.
      head_pending_ = outstanding_ + 1 > kQueueDepth;
      if (!head_pending_) {
        KEEL_RETURN_IF_ERROR(post_write(&head, sizeof head, 0, peer_.mirror_addr + offsetof(RingControl, head),
                                        peer_.mirror_rkey, IBV_WR_RDMA_WRITE_WITH_IMM,
                                        htonl(static_cast<std::uint32_t>(head)), true, 1));
        ++outstanding_;
      }
    }
    return records;
  }

  int completion_fd() const override { return channel_->fd; }

  Status arm() override {
    ibv_cq* cq = nullptr;
    void* context = nullptr;
    unsigned events = 0;
    while (ibv_get_cq_event(channel_, &cq, &context) == 0) ++events;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Status::io_error(errno_text("ibv_get_cq_event"));
    MutexLock l(mu_);
    if (events > 0) ibv_ack_cq_events(cq_, events);
    if (ibv_req_notify_cq(cq_, 0) != 0) return Status::io_error(errno_text("ibv_req_notify_cq"));
    return Status::ok();
  }

 private:
  // Formats one record in the mirror and writes the new bytes, then the tail
  // with an immediate, to the peer's ring.
  Status write_record(std::uint8_t type, std::string_view body) KEEL_REQUIRES(mu_) {
    if (!producer_) return Status::unavailable("rdma: not connected");
    if (outstanding_ + 3 > kQueueDepth) KEEL_RETURN_IF_ERROR(reap_locked());
    if (outstanding_ + 3 > kQueueDepth) return Status::overloaded("rdma: send queue full");
    KEEL_RETURN_IF_ERROR(producer_->try_write(type, body));
    const std::uint64_t tail = mirror_.control->tail;  // written under mu_
    int posted = 0;
    for (const RingSpan& span : ring_spans(synced_tail_, tail, mirror_.capacity)) {
      if (span.length == 0) continue;
      KEEL_RETURN_IF_ERROR(post_write(mirror_.data + span.offset, span.length, mirror_mr_->lkey,
                                      peer_.ring_addr + sizeof(RingControl) + span.offset, peer_.ring_rkey,
                                      IBV_WR_RDMA_WRITE, 0, false, 0));
      ++posted;
    }
    synced_tail_ = tail;
    // The tail last, inline and with the immediate that wakes the peer; its
    // completion also retires the data writes before it.
    KEEL_RETURN_IF_ERROR(post_write(&tail, sizeof tail, 0, peer_.ring_addr + offsetof(RingControl, tail),
                                    peer_.ring_rkey, IBV_WR_RDMA_WRITE_WITH_IMM,
                                    htonl(static_cast<std::uint32_t>(tail)), true, posted + 1));
    outstanding_ += posted + 1;
    return Status::ok();
  }

  Status post_receive() {
    ibv_recv_wr wr{};
    ibv_recv_wr* bad = nullptr;
    wr.wr_id = 0;
    wr.num_sge = 0;  // write-with-immediate consumes a receive but carries no receive data
    if (ibv_post_recv(qp_, &wr, &bad) != 0) return Status::io_error(errno_text("ibv_post_recv"));
    return Status::ok();
  }

  // Posts one RDMA write. An inline write (lkey 0) copies `len` bytes from
  // `local` now; `wr_id` is how many send-queue entries its completion
  // retires.
  Status post_write(const void* local, std::size_t len, std::uint32_t lkey, std::uint64_t remote,
                    std::uint32_t rkey, ibv_wr_opcode opcode, std::uint32_t imm_be, bool signaled,
                    int wr_id) {
    ibv_sge sge{};
    sge.addr = reinterpret_cast<std::uint64_t>(local);
    sge.length = static_cast<std::uint32_t>(len);
    sge.lkey = lkey;
    ibv_send_wr wr{};
    ibv_send_wr* bad = nullptr;
    wr.wr_id = static_cast<std::uint64_t>(wr_id);
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = opcode;
    unsigned flags = 0;
    if (signaled) flags |= IBV_SEND_SIGNALED;
    if (lkey == 0) flags |= IBV_SEND_INLINE;
    wr.send_flags = flags;
    wr.imm_data = imm_be;
    wr.wr.rdma.remote_addr = remote;
    wr.wr.rdma.rkey = rkey;
    if (ibv_post_send(qp_, &wr, &bad) != 0) return Status::io_error(errno_text("ibv_post_send"));
    return Status::ok();
  }

  // Retires send-queue entries and reposts receives.
  Status reap_locked() KEEL_REQUIRES(mu_) {
    ibv_wc wc[32];
    while (true) {
      const int n = ibv_poll_cq(cq_, 32, wc);
      if (n < 0) return Status::io_error("rdma: ibv_poll_cq failed");
      for (int i = 0; i < n; ++i) {
        if (wc[i].status != IBV_WC_SUCCESS) {
          return Status::io_error(std::string("rdma: work request failed: ") + ibv_wc_status_str(wc[i].status));
        }
        if (wc[i].opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
          KEEL_RETURN_IF_ERROR(post_receive());
        } else {
          outstanding_ -= static_cast<int>(wc[i].wr_id);
        }
      }
      if (n < 32) return Status::ok();
    }
  }

  RingMemory in_mem_;
  RingMemory mirror_mem_;
  ibv_context* ctx_ = nullptr;
  ibv_port_attr port_{};
  ibv_gid gid_{};
  ibv_pd* pd_ = nullptr;
  ibv_comp_channel* channel_ = nullptr;
  ibv_cq* cq_ = nullptr;
  ibv_qp* qp_ = nullptr;
  ibv_mr* in_mr_ = nullptr;
  ibv_mr* mirror_mr_ = nullptr;
  RingRegion in_;
  RingRegion mirror_;
  std::optional<RingConsumer> consumer_;  // the polling thread's, once connected
  bool head_pending_ = false;             // polling thread: credits not yet written back

  mutable Mutex mu_;
  RdmaEndpointInfo peer_ KEEL_GUARDED_BY(mu_);
  std::optional<RingProducer> producer_ KEEL_GUARDED_BY(mu_);
  std::uint64_t synced_tail_ KEEL_GUARDED_BY(mu_) = 0;  // mirror tail already written to the peer
  int outstanding_ KEEL_GUARDED_BY(mu_) = 0;            // send-queue entries not yet retired
};

}  // namespace

Result<std::vector<std::string>> rdma_devices() {
  DeviceList devices;
  if (devices.list == nullptr) return Status::unavailable(errno_text("ibv_get_device_list"));
  std::vector<std::string> names;
  for (int i = 0; i < devices.count; ++i) names.emplace_back(ibv_get_device_name(devices.list[i]));
  return names;
}

Result<std::unique_ptr<RdmaLink>> RdmaLink::open(const std::string& device, std::size_t ring_bytes) {
  DeviceList devices;
  if (devices.list == nullptr) return Status::unavailable(errno_text("ibv_get_device_list"));
  ibv_device* chosen = nullptr;
  for (int i = 0; i < devices.count && chosen == nullptr; ++i) {
    if (device.empty() || device == ibv_get_device_name(devices.list[i])) chosen = devices.list[i];
  }
  if (chosen == nullptr) {
    return Status::unavailable(device.empty() ? "no RDMA device" : "no RDMA device named " + device);
  }
  auto link = std::make_unique<LinkImpl>(floor_pow2(std::max<std::size_t>(ring_bytes, 4096)));
  KEEL_RETURN_IF_ERROR(link->init(chosen));
  return std::unique_ptr<RdmaLink>(std::move(link));
}

}  // namespace keel::wire
