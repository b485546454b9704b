// raw_baselines.h: what this machine can do without any actor runtime, in
// the same run as the actor workloads, so their figures read as ratios.
// Each returns one Sample (ops = the unit named below); run them through
// run_isolated like the workloads.
#pragma once

#include "bench_support.h"

namespace keel_bench {

// Two threads hand a token back and forth through one mutex and two
// condition variables. ops = round trips (two blocking wake-ups each).
Sample raw_cv_handoff(const Sizes& sizes);

// One thread: std::deque push_back, pop_front, call through a function
// pointer, queue depth 1. ops = messages (the dispatch lower bound).
Sample raw_dispatch(const Sizes& sizes);

// As raw_dispatch, plus a 64-byte heap message per call (new, virtual
// call, delete): what one message costs an allocating runtime on one core.
Sample raw_dispatch_alloc(const Sizes& sizes);

// Thread A mallocs 64-byte blocks (batches of 1000 handed over under a
// mutex), thread B frees them. ops = blocks.
Sample raw_malloc_cross_thread(const Sizes& sizes);

// fan_in_senders producer threads push 64-byte heap nodes onto one
// mutex-protected FIFO list; one consumer takes the whole list at a time,
// calls through a function pointer and frees. ops = messages. Unbounded, or
// bounded by fan_in_capacity (producers wait on a condition variable
// while it is full; the consumer wakes them when it empties the list).
Sample raw_mpsc_unbounded(const Sizes& sizes);
Sample raw_mpsc_bounded(const Sizes& sizes);

// Per object: new 512 bytes (touched) and insert it into a hash map keyed
// by id, single-threaded. ops = objects (what registering an actor costs at least).
Sample raw_alloc_register(const Sizes& sizes);

// Median latency from std::thread construction to the thread running.
// ops = 1, seconds = that latency.
Sample raw_thread_start(const Sizes& sizes);

}  // namespace keel_bench
