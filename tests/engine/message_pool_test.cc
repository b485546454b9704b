// MessagePool (engine/src/message_pool.h): size classes, reuse of blocks
// freed on another thread, the depot's bound, and a thread's cache going
// back to the depot when the thread exits. Each test uses fresh threads, so
// their caches start empty.
#include "message_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace keel::internal {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooled = false;
#else
constexpr bool kPooled = true;
#endif

// Allocates `n` blocks of `bytes` on a new thread.
std::vector<void*> allocate_on_thread(std::size_t n, std::size_t bytes) {
  std::vector<void*> blocks;
  std::thread([&] {
    for (std::size_t i = 0; i < n; ++i) {
      void* p = MessagePool::allocate(bytes);
      std::memset(p, 0xab, bytes);  // the whole requested size is usable
      blocks.push_back(p);
    }
  }).join();
  return blocks;
}

void release_on_thread(const std::vector<void*>& blocks, std::size_t bytes) {
  std::thread([&] {
    for (void* p : blocks) MessagePool::release(p, bytes);
  }).join();
}

TEST(MessagePool, RequestsMapToTheSmallestClassThatHoldsThem) {
  if (!kPooled) GTEST_SKIP() << "AddressSanitizer build: every request goes to operator new";
  EXPECT_EQ(MessagePool::class_of(1), 0);
  EXPECT_EQ(MessagePool::class_of(64), 0);
  EXPECT_EQ(MessagePool::class_of(65), 1);
  EXPECT_EQ(MessagePool::class_of(128), 1);
  EXPECT_EQ(MessagePool::class_of(256), 2);
  EXPECT_EQ(MessagePool::class_of(257), -1);
}

TEST(MessagePool, LargeRequestsAreServedByTheGlobalAllocator) {
  std::vector<void*> blocks = allocate_on_thread(3, 4096);
  for (void* p : blocks) EXPECT_NE(p, nullptr);
  release_on_thread(blocks, 4096);
}

TEST(MessagePool, BlocksFreedOnAnotherThreadAreReusedByTheAllocatingThread) {
  if (!kPooled) GTEST_SKIP() << "AddressSanitizer build: no pooling";
  // The sender/receiver pattern: one thread allocates, another frees. The
  // freeing thread keeps at most two batches and hands the rest over.
  const std::size_t n = 4 * MessagePool::kBatch;
  std::vector<void*> sent = allocate_on_thread(n, 40);
  release_on_thread(sent, 40);
  const std::set<void*> freed(sent.begin(), sent.end());
  std::vector<void*> again = allocate_on_thread(MessagePool::kBatch, 40);
  const auto reused = std::count_if(again.begin(), again.end(), [&](void* p) { return freed.count(p) != 0; });
  EXPECT_EQ(reused, static_cast<std::ptrdiff_t>(MessagePool::kBatch));
  release_on_thread(again, 40);
}

TEST(MessagePool, AThreadHandsItsCacheToTheDepotWhenItExits) {
  if (!kPooled) GTEST_SKIP() << "AddressSanitizer build: no pooling";
  const int c = MessagePool::class_of(200);
  std::vector<void*> blocks = allocate_on_thread(3, 200);
  const std::size_t before = MessagePool::depot_batches(c);
  ASSERT_LT(before, MessagePool::kMaxDepotBatches);
  release_on_thread(blocks, 200);  // a partial batch, kept until the thread ends
  EXPECT_EQ(MessagePool::depot_batches(c), before + 1);
  // The next thread takes that batch: its first allocation is one of them.
  std::vector<void*> again = allocate_on_thread(1, 200);
  EXPECT_TRUE(std::find(blocks.begin(), blocks.end(), again[0]) != blocks.end());
  release_on_thread(again, 200);
}

TEST(MessagePool, TheDepotKeepsAtMostItsBoundOfBatches) {
  if (!kPooled) GTEST_SKIP() << "AddressSanitizer build: no pooling";
  const std::size_t n = (MessagePool::kMaxDepotBatches + 8) * MessagePool::kBatch;
  std::vector<void*> blocks = allocate_on_thread(n, 100);
  release_on_thread(blocks, 100);
  EXPECT_EQ(MessagePool::depot_batches(MessagePool::class_of(100)), MessagePool::kMaxDepotBatches);
}

TEST(MessagePool, ThreadsAllocatingAndFreeingConcurrentlyGetDistinctBlocks) {
  // Two producer threads allocate and stamp blocks; two consumer threads
  // check the stamps and free them; no block is handed out twice at once.
  constexpr int kPerProducer = 20000;
  std::vector<std::vector<void*>> made(2);
  std::thread p0([&] {
    for (int i = 0; i < kPerProducer; ++i) {
      auto* p = static_cast<int*>(MessagePool::allocate(120));
      *p = i;
      made[0].push_back(p);
    }
  });
  std::thread p1([&] {
    for (int i = 0; i < kPerProducer; ++i) {
      auto* p = static_cast<int*>(MessagePool::allocate(120));
      *p = -i - 1;
      made[1].push_back(p);
    }
  });
  p0.join();
  p1.join();
  std::set<void*> unique(made[0].begin(), made[0].end());
  unique.insert(made[1].begin(), made[1].end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(2 * kPerProducer));
  bool stamps_intact = true;
  std::thread c0([&] {
    for (int i = 0; i < kPerProducer; ++i) {
      stamps_intact &= *static_cast<int*>(made[0][static_cast<std::size_t>(i)]) == i;
      MessagePool::release(made[0][static_cast<std::size_t>(i)], 120);
    }
  });
  bool stamps_intact1 = true;
  std::thread c1([&] {
    for (int i = 0; i < kPerProducer; ++i) {
      stamps_intact1 &= *static_cast<int*>(made[1][static_cast<std::size_t>(i)]) == -i - 1;
      MessagePool::release(made[1][static_cast<std::size_t>(i)], 120);
    }
  });
  c0.join();
  c1.join();
  EXPECT_TRUE(stamps_intact);
  EXPECT_TRUE(stamps_intact1);
}

}  // namespace
}  // namespace keel::internal
