#include "raw_baselines.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <latch>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace keel_bench {

namespace {
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Sample done(double seconds, double ops) {
  Sample s;
  s.ok = true;
  s.seconds = seconds;
  s.ops = ops;
  s.peak_rss = peak_rss_bytes();
  return s;
}

// Keeps a value alive for the optimizer.
template <class T>
void escape(T&& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

struct Counter {
  std::uint64_t sum = 0;
};
__attribute__((noinline)) void add_to(void* target, std::int64_t v) { static_cast<Counter*>(target)->sum += v; }
__attribute__((noinline)) void sub_from(void* target, std::int64_t v) { static_cast<Counter*>(target)->sum -= v; }
using Handler = void (*)(void*, std::int64_t);
// volatile: the call target is unknown to the compiler, as in a mailbox.
Handler volatile kHandlers[2] = {add_to, sub_from};

struct Entry {
  Handler fn;
  void* target;
  std::int64_t arg;
};

// A 64-byte heap message with a virtual handler, like an actor runtime's.
struct HeapMessage {
  virtual ~HeapMessage() = default;
  virtual void invoke(Counter& c) = 0;
  HeapMessage* next = nullptr;
  std::int64_t arg = 0;
  char payload[40] = {};
};
struct AddMessage final : HeapMessage {
  void invoke(Counter& c) override { c.sum += static_cast<std::uint64_t>(arg); }
};
static_assert(sizeof(AddMessage) == 64);

struct Node {
  Node* next;
  Handler fn;
  std::int64_t arg;
  char pad[40];
};
static_assert(sizeof(Node) == 64);
}  // namespace

Sample raw_cv_handoff(const Sizes& sizes) {
  const std::int64_t n = sizes.handoff_round_trips;
  std::mutex mu;
  std::condition_variable to_b;
  std::condition_variable to_a;
  int turn = 0;  // 0: A's turn, 1: B's turn; guarded by mu
  std::thread b([&] {
    for (std::int64_t i = 0; i < n; ++i) {
      std::unique_lock l(mu);
      to_b.wait(l, [&] { return turn == 1; });
      turn = 0;
      to_a.notify_one();
    }
  });
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    std::unique_lock l(mu);
    turn = 1;
    to_b.notify_one();
    to_a.wait(l, [&] { return turn == 0; });
  }
  const double s = since(t0);
  b.join();
  return done(s, static_cast<double>(n));
}

Sample raw_dispatch(const Sizes& sizes) {
  const std::int64_t n = sizes.dispatch_messages;
  Counter c;
  std::deque<Entry> q;
  const auto t0 = Clock::now();
  q.push_back(Entry{kHandlers[0], &c, 1});
  for (std::int64_t i = 0; i < n; ++i) {
    Entry e = q.front();
    q.pop_front();
    e.fn(e.target, e.arg);
    q.push_back(Entry{kHandlers[i & 1], &c, i});
  }
  const double s = since(t0);
  escape(c.sum);
  return done(s, static_cast<double>(n));
}

Sample raw_dispatch_alloc(const Sizes& sizes) {
  const std::int64_t n = sizes.dispatch_messages;
  Counter c;
  std::deque<HeapMessage*> q;
  const auto t0 = Clock::now();
  q.push_back(new AddMessage);
  for (std::int64_t i = 0; i < n; ++i) {
    HeapMessage* m = q.front();
    q.pop_front();
    m->invoke(c);
    delete m;
    auto* next = new AddMessage;
    next->arg = i;
    q.push_back(next);
  }
  const double s = since(t0);
  for (HeapMessage* m : q) delete m;
  escape(c.sum);
  return done(s, static_cast<double>(n));
}

Sample raw_malloc_cross_thread(const Sizes& sizes) {
  constexpr std::size_t kBatch = 1000;
  constexpr std::size_t kMaxBatchesInFlight = 8;
  const std::int64_t n = sizes.malloc_blocks;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<void*>> batches;  // guarded by mu
  bool finished = false;                    // guarded by mu
  std::thread consumer([&] {
    for (;;) {
      std::vector<void*> batch;
      {
        std::unique_lock l(mu);
        cv.wait(l, [&] { return !batches.empty() || finished; });
        if (batches.empty()) return;
        batch = std::move(batches.front());
        batches.pop_front();
      }
      cv.notify_all();
      for (void* p : batch) std::free(p);
    }
  });
  const auto t0 = Clock::now();
  for (std::int64_t made = 0; made < n;) {
    std::vector<void*> batch;
    batch.reserve(kBatch);
    for (std::size_t i = 0; i < kBatch && made < n; ++i, ++made) {
      void* p = std::malloc(64);
      std::memset(p, static_cast<int>(i), 64);
      batch.push_back(p);
    }
    std::unique_lock l(mu);
    cv.wait(l, [&] { return batches.size() < kMaxBatchesInFlight; });
    batches.push_back(std::move(batch));
    l.unlock();
    cv.notify_all();
  }
  {
    std::lock_guard l(mu);
    finished = true;
  }
  cv.notify_all();
  consumer.join();
  return done(since(t0), static_cast<double>(n));
}

namespace {
Sample mpsc(const Sizes& sizes, std::size_t capacity) {
  const int producers = sizes.fan_in_senders;
  const std::int64_t per = sizes.fan_in_messages / producers;
  const std::int64_t total = per * producers;
  std::mutex mu;
  std::condition_variable not_empty;
  std::condition_variable not_full;
  Node* head = nullptr;            // guarded by mu; FIFO
  Node* tail = nullptr;            // guarded by mu
  std::size_t size = 0;            // guarded by mu
  bool consumer_waits = false;     // guarded by mu
  int producers_waiting = 0;       // guarded by mu
  Counter c;
  std::latch go(producers + 1);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      for (std::int64_t i = 0; i < per; ++i) {
        auto* node = static_cast<Node*>(std::malloc(sizeof(Node)));
        node->next = nullptr;
        node->fn = kHandlers[0];
        node->arg = 1;
        bool wake;
        {
          std::unique_lock l(mu);
          if (capacity != 0 && size >= capacity) {
            ++producers_waiting;
            not_full.wait(l, [&] { return size < capacity; });
            --producers_waiting;
          }
          if (tail) tail->next = node; else head = node;
          tail = node;
          ++size;
          wake = std::exchange(consumer_waits, false);
        }
        if (wake) not_empty.notify_one();
      }
    });
  }
  go.arrive_and_wait();
  const auto t0 = Clock::now();
  std::int64_t handled = 0;
  while (handled < total) {
    Node* list;
    bool wake_producers;
    {
      std::unique_lock l(mu);
      if (head == nullptr) {
        consumer_waits = true;
        not_empty.wait(l, [&] { return head != nullptr; });
      }
      list = std::exchange(head, nullptr);
      tail = nullptr;
      size = 0;
      wake_producers = producers_waiting > 0;
    }
    if (wake_producers) not_full.notify_all();
    while (list != nullptr) {
      Node* next = list->next;
      list->fn(&c, list->arg);
      std::free(list);
      list = next;
      ++handled;
    }
  }
  const double s = since(t0);
  for (auto& t : threads) t.join();
  escape(c.sum);
  return done(s, static_cast<double>(total));
}
}  // namespace

Sample raw_mpsc_unbounded(const Sizes& sizes) { return mpsc(sizes, 0); }
Sample raw_mpsc_bounded(const Sizes& sizes) { return mpsc(sizes, sizes.fan_in_capacity); }

Sample raw_alloc_register(const Sizes& sizes) {
  const std::int64_t n = sizes.spawn_actors;
  std::unordered_map<std::uint64_t, char*> table;
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    char* obj = new char[512];
    std::memset(obj, 1, 512);
    table.emplace(static_cast<std::uint64_t>(i + 1), obj);
  }
  const double s = since(t0);
  Sample out = done(s, static_cast<double>(n));
  for (auto& [id, p] : table) delete[] p;
  return out;
}

Sample raw_thread_start(const Sizes& sizes) {
  std::vector<double> lat;
  for (int i = 0; i < sizes.startup_repetitions; ++i) {
    Clock::time_point started;
    const auto t0 = Clock::now();
    std::thread t([&] { started = Clock::now(); });
    t.join();
    lat.push_back(std::chrono::duration<double>(started - t0).count());
  }
  return done(median(lat), 1);
}

}  // namespace keel_bench
