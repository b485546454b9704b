// message_pool.h: recycled memory for messages (Message::operator new).
//
// A message is allocated by its sender's thread and freed by its receiver's,
// usually another one. A general allocator's per-thread cache then never
// gets the block back where it is needed, and each message takes the
// allocator's slow path on both sides. MessagePool keeps freed blocks by
// size class in a cache per thread and moves them between threads a batch
// at a time: a thread that frees more than it allocates hands full batches
// to a shared depot, and a thread that allocates more takes them from
// there. That is one lock per batch of kBatch blocks, none per message.
//
//   void* p = MessagePool::allocate(48);  // a 64-byte block
//   ...                                   // any thread may free it:
//   MessagePool::release(p, 48);          // with the same size
//
// Size classes: 64, 128 and 256 bytes. Larger requests go to the global
// operator new, and so does everything in an AddressSanitizer build, so
// that it still sees a use after free. The depot keeps at most
// kMaxDepotBatches batches per class and frees the rest, so what a burst of
// messages leaves behind goes back to the allocator.
//
// Process-wide, like the allocator it stands in front of: a message may be
// freed by any thread, of any System. Thread-safe: each thread has its own
// cache (returned to the depot when the thread exits); the depot is
// guarded by a mutex.
#pragma once

#include <cstddef>
#include <cstdint>

namespace keel::internal {

class MessagePool {
 public:
  static constexpr int kClasses = 3;
  static constexpr std::size_t kClassBytes[kClasses] = {64, 128, 256};
  // Blocks per batch: what a thread caches per class is at most two of them.
  static constexpr std::uint32_t kBatch = 128;
  // Enough for the blocks of a 65,536-message mailbox drained by half.
  static constexpr std::size_t kMaxDepotBatches = 512;

  // The size class of a request of `bytes`, or -1 when the pool does not
  // serve it (larger than the largest class, or a sanitizer build).
  static int class_of(std::size_t bytes);

  // A block of at least `bytes` bytes, aligned for any fundamental type.
  // Any thread. Throws std::bad_alloc as operator new does.
  static void* allocate(std::size_t bytes);
  // Frees a block that allocate(`bytes`) returned, with the same `bytes`.
  // Any thread.
  static void release(void* p, std::size_t bytes) noexcept;

  // Full batches in the depot of class `c` (for tests; a snapshot).
  static std::size_t depot_batches(int c);
};

}  // namespace keel::internal
