// The shared-memory transport (keel/wire/shm_transport.h): a memfd mapping
// with a header page and two rings, and a connection whose reader thread
// delivers frames in place.
#include "keel/wire/shm_transport.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace keel::wire {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::uint64_t kRegionMagic = 0x314d48534c45454b;  // "KEELSHM1"
// Records handed to callbacks before their credits go back, at most.
constexpr int kReleaseEvery = 64;

struct RegionHeader {
  std::uint64_t magic;
  std::uint64_t ring_span;  // bytes from one ring's start to the next
};

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

std::size_t floor_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Closes `fd` (a failed open or create owns it) and returns `s`.
Status close_with(int fd, Status s) {
  ::close(fd);
  return s;
}

std::atomic<std::uint64_t> g_next_id{1};  // relaxed: only uniqueness matters

}  // namespace

// ------------------------------------------------------------------ region

Result<std::unique_ptr<ShmRegion>> ShmRegion::map(int fd, std::size_t bytes) {
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return close_with(fd, Status::io_error(errno_text("mmap")));
  return std::unique_ptr<ShmRegion>(new ShmRegion(fd, base, bytes));
}

Result<std::unique_ptr<ShmRegion>> ShmRegion::create(std::size_t ring_bytes) {
  if (ring_bytes < 4096) return Status::invalid_argument("shm ring_bytes must be at least 4096");
  const std::size_t capacity = floor_pow2(ring_bytes);
  const std::size_t span = round_up(ring_region_bytes(capacity), kPage);
  const std::size_t bytes = kPage + 2 * span;
  const int fd = memfd_create("keel-shm", MFD_CLOEXEC);
  if (fd < 0) return Status::io_error(errno_text("memfd_create"));
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    return close_with(fd, Status::io_error(errno_text("ftruncate")));
  }
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<ShmRegion> region, map(fd, bytes));
  char* p = static_cast<char*>(region->base_);
  KEEL_ASSIGN_OR_RETURN(region->a_to_b_, RingRegion::init(p + kPage, span));
  KEEL_ASSIGN_OR_RETURN(region->b_to_a_, RingRegion::init(p + kPage + span, span));
  auto* header = reinterpret_cast<RegionHeader*>(p);
  header->ring_span = span;
  std::atomic_ref<std::uint64_t>(header->magic).store(kRegionMagic, std::memory_order_release);
  return region;
}

Result<std::unique_ptr<ShmRegion>> ShmRegion::open(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return close_with(fd, Status::io_error(errno_text("fstat")));
  const auto bytes = static_cast<std::size_t>(st.st_size);
  if (bytes < kPage) {
    return close_with(fd, Status::corruption("shm region of " + std::to_string(bytes) +
                                             " bytes is too small"));
  }
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<ShmRegion> region, map(fd, bytes));
  auto* header = static_cast<RegionHeader*>(region->base_);
  if (std::atomic_ref<std::uint64_t>(header->magic).load(std::memory_order_acquire) != kRegionMagic) {
    return Status::corruption("not a Keel shm region (no magic)");
  }
  const std::size_t span = header->ring_span;
  if (span == 0 || span % kPage != 0 || kPage + 2 * span != bytes) {
    return Status::corruption("shm region: ring span " + std::to_string(span) + " does not fit");
  }
  char* p = static_cast<char*>(region->base_);
  KEEL_ASSIGN_OR_RETURN(region->a_to_b_, RingRegion::attach(p + kPage, span));
  KEEL_ASSIGN_OR_RETURN(region->b_to_a_, RingRegion::attach(p + kPage + span, span));
  return region;
}

ShmRegion::~ShmRegion() {
  munmap(base_, bytes_);
  ::close(fd_);
}

// -------------------------------------------------------------- connection

Result<std::unique_ptr<ShmConnection>> ShmConnection::start(ShmRegion& region, ShmSide side,
                                                            ConnectionCallbacks callbacks,
                                                            ShmOptions options) {
  RingRegion out = side == ShmSide::kA ? region.a_to_b() : region.b_to_a();
  RingRegion in = side == ShmSide::kA ? region.b_to_a() : region.a_to_b();
  std::unique_ptr<ShmConnection> c(new ShmConnection(out, in, side, std::move(callbacks), std::move(options)));
  c->reader_ = std::thread([raw = c.get()] { raw->run(); });
  return c;
}

ShmConnection::ShmConnection(RingRegion out, RingRegion in, ShmSide side, ConnectionCallbacks callbacks,
                             ShmOptions options)
    : side_(side),
      id_(g_next_id.fetch_add(1, std::memory_order_relaxed)),
      callbacks_(std::move(callbacks)),
      options_(std::move(options)),
      producer_(out, options_.wait),
      consumer_(in, options_.wait) {}

ShmConnection::~ShmConnection() {
  close(Status::cancelled("connection destroyed"));
  reader_.join();
}

void ShmConnection::log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "keel wire: %s\n", line.c_str());
  }
}

Status ShmConnection::send(MessageType type, std::string_view body) {
  if (closing_.load(std::memory_order_acquire)) return Status::unavailable("shm connection closed");
  MutexLock l(send_mu_);
  Status s = producer_.write(static_cast<std::uint8_t>(type), body,
                             std::chrono::steady_clock::now() + options_.send_wait);
  if (s.code() == StatusCode::kTimeout) {
    return Status::overloaded("shm ring: no credits within " + std::to_string(options_.send_wait.count()) +
                              " ms");
  }
  return s;
}

void ShmConnection::close(const Status& reason) {
  MutexLock l(close_mu_);
  if (closing_.load(std::memory_order_acquire)) return;
  close_reason_ = reason;
  closing_.store(true, std::memory_order_release);
}

void ShmConnection::run() {
  if (callbacks_.on_open) callbacks_.on_open(*this);
  Status reason;
  int unreleased = 0;
  while (true) {
    if (closing_.load(std::memory_order_acquire)) {
      MutexLock l(close_mu_);
      reason = close_reason_;
      break;
    }
    beat_out();  // the peer's reader watches this side's producer heartbeat
    Result<std::optional<RingRecord>> next = consumer_.try_read();
    if (next.has_value() && !next->has_value()) {
      consumer_.release();
      unreleased = 0;
      Result<RingRecord> waited =
          consumer_.read(std::chrono::steady_clock::now() + options_.wait.poll_interval);
      if (!waited.has_value() && waited.status().code() == StatusCode::kTimeout) continue;
      next = waited.has_value() ? Result<std::optional<RingRecord>>(std::optional<RingRecord>(*waited))
                                : Result<std::optional<RingRecord>>(waited.status());
    }
    if (!next.has_value()) {
      reason = next.status();
      break;
    }
    const RingRecord& r = **next;
    if (r.type == 0 || r.type > kMaxMessageType) {
      reason = Status::corruption("shm: frame: unknown_type: message type " + std::to_string(r.type));
      break;
    }
    if (callbacks_.on_frame) callbacks_.on_frame(*this, Frame{static_cast<MessageType>(r.type), r.body});
    if (++unreleased >= kReleaseEvery) {
      consumer_.release();
      unreleased = 0;
    }
  }
  consumer_.release();
  consumer_.close();
  {
    MutexLock l(send_mu_);
    producer_.close();
  }
  closing_.store(true, std::memory_order_release);
  if (reason.code() != StatusCode::kCancelled) {
    log("closed shm connection " + std::to_string(id_) + " to " + peer() + ": " + reason.to_string());
  }
  if (callbacks_.on_close) callbacks_.on_close(*this, reason);
}

}  // namespace keel::wire
