// intrusive_queue.h: a FIFO of objects linked through their own `next`
// field (messages in a mailbox), with no allocation per item.
#pragma once

#include <memory>
#include <utility>

namespace keel::detail {

// A FIFO of messages linked through their `next` field. Owns what it holds:
// items go in and come out as unique_ptrs, and the destructor deletes what
// is left. Not thread-safe.
template <class T>
class IntrusiveQueue {
 public:
  IntrusiveQueue() = default;
  IntrusiveQueue(IntrusiveQueue&& o) noexcept
      : head_(std::exchange(o.head_, nullptr)), tail_(std::exchange(o.tail_, nullptr)) {}
  IntrusiveQueue& operator=(IntrusiveQueue&& o) noexcept {
    if (this != &o) {
      clear();
      head_ = std::exchange(o.head_, nullptr);
      tail_ = std::exchange(o.tail_, nullptr);
    }
    return *this;
  }
  ~IntrusiveQueue() { clear(); }

  bool empty() const { return head_ == nullptr; }
  // The first item, still owned by the queue, or null.
  const T* front() const { return head_; }
  void clear() {
    while (pop_front()) {
    }
  }
  void push_back(std::unique_ptr<T> owned) {
    T* m = owned.release();
    m->next = nullptr;
    if (tail_) tail_->next = m; else head_ = m;
    tail_ = m;
  }
  std::unique_ptr<T> pop_front() {
    T* m = head_;
    if (m) {
      head_ = m->next;
      if (!head_) tail_ = nullptr;
      m->next = nullptr;
    }
    return std::unique_ptr<T>(m);
  }
  // Moves all of `other` in front of this queue's items.
  void prepend(IntrusiveQueue& other) {
    if (other.empty()) return;
    other.tail_->next = head_;
    if (!tail_) tail_ = other.tail_;
    head_ = other.head_;
    other.head_ = other.tail_ = nullptr;
  }
  IntrusiveQueue take_all() {
    IntrusiveQueue q;
    q.head_ = std::exchange(head_, nullptr);
    q.tail_ = std::exchange(tail_, nullptr);
    return q;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace keel::detail
