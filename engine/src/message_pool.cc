// MessagePool (message_pool.h), and Message's allocation functions, which
// use it.
#include "message_pool.h"

#include <new>
#include <type_traits>
#include <utility>

#include "keel/base/thread_annotations.h"
#include "keel/engine/detail/message.h"

namespace keel::internal {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooled = false;  // let ASan see every allocation
#else
constexpr bool kPooled = true;
#endif

// A free block: linked to the next one of its batch, and, on a batch's
// first block while the batch is in the depot, to the next batch.
struct FreeBlock {
  FreeBlock* next;
  FreeBlock* next_batch;
  std::uint32_t batch_count;  // on a batch's first block in the depot: its size
};
static_assert(sizeof(FreeBlock) <= MessagePool::kClassBytes[0]);

// A stack of free blocks of one class. Owned by one thread's cache, or by
// the depot.
struct Batch {
  FreeBlock* head = nullptr;
  std::uint32_t count = 0;

  void push(void* p) {
    head = ::new (p) FreeBlock{head, nullptr, 0};  // the block's storage now holds a FreeBlock
    ++count;
  }
  void* pop() {
    FreeBlock* b = head;
    head = b->next;
    --count;
    return b;
  }
  // Frees every block to the global allocator.
  void free_all() {
    while (head != nullptr) ::operator delete(pop());
  }
};

// The batches threads hand over. Trivially destructible and constant
// initialized, so it is usable until the process ends, also by threads
// that exit after static destructors ran.
struct Depot {
  Mutex mu;
  // Per class: batches, linked through their first block's next_batch,
  // and their number.
  FreeBlock* batches[MessagePool::kClasses] KEEL_GUARDED_BY(mu) = {};
  std::size_t size[MessagePool::kClasses] KEEL_GUARDED_BY(mu) = {};

  // Takes `b` (which may be partly full); frees its blocks when the depot
  // holds kMaxDepotBatches of the class already.
  void give(int c, Batch& b) KEEL_EXCLUDES(mu) {
    if (b.head == nullptr) return;
    {
      MutexLock l(mu);
      if (size[c] < MessagePool::kMaxDepotBatches) {
        b.head->next_batch = batches[c];
        b.head->batch_count = b.count;
        batches[c] = b.head;
        ++size[c];
        b = Batch{};
        return;
      }
    }
    b.free_all();
  }
  // A batch of class `c`, or an empty one when the depot has none.
  Batch take(int c) KEEL_EXCLUDES(mu) {
    MutexLock l(mu);
    Batch b;
    if (FreeBlock* head = batches[c]) {
      batches[c] = head->next_batch;
      --size[c];
      b.head = head;
      b.count = head->batch_count;
    }
    return b;
  }
};

static_assert(std::is_trivially_destructible_v<Depot>);
constinit Depot g_depot;

// One thread's blocks: per class, the batch it allocates from and frees to,
// and a spare that is full or empty. A thread that frees into a full
// `current` makes it the spare and hands the old spare to the depot; one
// that finds `current` empty takes the spare, or a batch from the depot.
struct ThreadCache {
  Batch current[MessagePool::kClasses];
  Batch spare[MessagePool::kClasses];

  ~ThreadCache();
};

// Set when this thread's cache is destroyed (thread exit): later calls on
// this thread go to the global allocator. Trivial, so readable at any time.
thread_local bool t_cache_gone = false;
thread_local ThreadCache t_cache;

ThreadCache::~ThreadCache() {
  t_cache_gone = true;
  for (int c = 0; c < MessagePool::kClasses; ++c) {
    g_depot.give(c, current[c]);
    g_depot.give(c, spare[c]);
  }
}

}  // namespace

int MessagePool::class_of(std::size_t bytes) {
  if (!kPooled) return -1;
  for (int c = 0; c < kClasses; ++c) {
    if (bytes <= kClassBytes[c]) return c;
  }
  return -1;
}

void* MessagePool::allocate(std::size_t bytes) {
  const int c = class_of(bytes);
  if (c < 0) return ::operator new(bytes);
  // Blocks of a class always have the class's size, wherever they came
  // from, since any thread's cache may take them.
  if (t_cache_gone) return ::operator new(kClassBytes[c]);
  ThreadCache& cache = t_cache;
  Batch& cur = cache.current[c];
  if (cur.head == nullptr) {
    if (cache.spare[c].head != nullptr) {
      std::swap(cur, cache.spare[c]);
    } else {
      cur = g_depot.take(c);
    }
    if (cur.head == nullptr) return ::operator new(kClassBytes[c]);
  }
  return cur.pop();
}

void MessagePool::release(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  const int c = class_of(bytes);
  // Unsized global deletes: sized deallocation is not declared under every
  // compiler's defaults (clang before 16 without -fsized-deallocation).
  if (c < 0) {
    ::operator delete(p);
    return;
  }
  if (t_cache_gone) {
    ::operator delete(p);
    return;
  }
  ThreadCache& cache = t_cache;
  Batch& cur = cache.current[c];
  if (cur.count >= kBatch) {
    g_depot.give(c, cache.spare[c]);  // empty, or full: then the depot takes it
    cache.spare[c] = std::exchange(cur, Batch{});
  }
  cur.push(p);
}

std::size_t MessagePool::depot_batches(int c) {
  MutexLock l(g_depot.mu);
  return g_depot.size[c];
}

}  // namespace keel::internal

namespace keel::detail {

void* Message::operator new(std::size_t bytes) { return internal::MessagePool::allocate(bytes); }

void Message::operator delete(void* p, std::size_t bytes) noexcept { internal::MessagePool::release(p, bytes); }

}  // namespace keel::detail
