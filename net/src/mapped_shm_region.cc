// The shared-memory region (mapped_shm_region.h): a memfd mapping with a
// header page and two rings.
#include "mapped_shm_region.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace keel::wire {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::uint64_t kRegionMagic = 0x314d48534c45454b;  // "KEELSHM1"

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

}  // namespace

Result<std::unique_ptr<ShmRegion>> ShmRegion::create(std::size_t ring_bytes) {
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<internal::MappedShmRegion> region,
                        internal::MappedShmRegion::create(ring_bytes));
  return std::unique_ptr<ShmRegion>(std::move(region));
}

Result<std::unique_ptr<ShmRegion>> ShmRegion::open(int fd) {
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<internal::MappedShmRegion> region,
                        internal::MappedShmRegion::open(fd));
  return std::unique_ptr<ShmRegion>(std::move(region));
}

namespace internal {

Result<std::unique_ptr<MappedShmRegion>> MappedShmRegion::map(int fd, std::size_t bytes) {
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return close_with(fd, Status::io_error(errno_text("mmap")));
  return std::unique_ptr<MappedShmRegion>(new MappedShmRegion(fd, base, bytes));
}

Result<std::unique_ptr<MappedShmRegion>> MappedShmRegion::create(std::size_t ring_bytes) {
  if (ring_bytes < 4096) return Status::invalid_argument("shm ring_bytes must be at least 4096");
  const std::size_t capacity = floor_pow2(ring_bytes);
  const std::size_t span = round_up(ring_region_bytes(capacity), kPage);
  const std::size_t bytes = kPage + 2 * span;
  const int fd = memfd_create("keel-shm", MFD_CLOEXEC);
  if (fd < 0) return Status::io_error(errno_text("memfd_create"));
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    return close_with(fd, Status::io_error(errno_text("ftruncate")));
  }
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<MappedShmRegion> region, map(fd, bytes));
  char* p = static_cast<char*>(region->base_);
  KEEL_ASSIGN_OR_RETURN(region->a_to_b_, RingRegion::init(p + kPage, span));
  KEEL_ASSIGN_OR_RETURN(region->b_to_a_, RingRegion::init(p + kPage + span, span));
  auto* header = reinterpret_cast<RegionHeader*>(p);
  header->ring_span = span;
  std::atomic_ref<std::uint64_t>(header->magic).store(kRegionMagic, std::memory_order_release);
  return region;
}

Result<std::unique_ptr<MappedShmRegion>> MappedShmRegion::open(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return close_with(fd, Status::io_error(errno_text("fstat")));
  const auto bytes = static_cast<std::size_t>(st.st_size);
  if (bytes < kPage) {
    return close_with(
        fd, Status::corruption("shm region of " + std::to_string(bytes) + " bytes is too small"));
  }
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<MappedShmRegion> region, map(fd, bytes));
  auto* header = static_cast<RegionHeader*>(region->base_);
  if (std::atomic_ref<std::uint64_t>(header->magic).load(std::memory_order_acquire) !=
      kRegionMagic) {
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

MappedShmRegion::~MappedShmRegion() {
  munmap(base_, bytes_);
  ::close(fd_);
}

}  // namespace internal
}  // namespace keel::wire
