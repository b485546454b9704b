// Private to the shared-memory transport: the one implementation of
// ShmRegion (keel/net/shm_transport.h), a memfd mapping with a header page
// and two rings (ring.h). Never installed.
#pragma once

#include <cstddef>
#include <memory>

#include "keel/base/status.h"
#include "keel/net/shm_transport.h"
#include "ring.h"

namespace keel::wire::internal {

// Owns the mapping and the descriptor. Thread-safe (immutable after
// creation).
class MappedShmRegion final : public ShmRegion {
 public:
  // As ShmRegion::create and ShmRegion::open.
  static Result<std::unique_ptr<MappedShmRegion>> create(std::size_t ring_bytes);
  static Result<std::unique_ptr<MappedShmRegion>> open(int fd);
  ~MappedShmRegion() override;

  int fd() const override { return fd_; }
  // The ring that side A writes and side B reads (a_to_b), and the reverse.
  RingRegion a_to_b() const { return a_to_b_; }
  RingRegion b_to_a() const { return b_to_a_; }

 private:
  MappedShmRegion(int fd, void* base, std::size_t bytes) : fd_(fd), base_(base), bytes_(bytes) {}
  // Maps `bytes` of `fd` (closed on failure). Errors: kIoError.
  static Result<std::unique_ptr<MappedShmRegion>> map(int fd, std::size_t bytes);

  int fd_;
  void* base_;
  std::size_t bytes_;
  RingRegion a_to_b_;
  RingRegion b_to_a_;
};

}  // namespace keel::wire::internal
