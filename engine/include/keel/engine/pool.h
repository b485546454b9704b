// keel/engine/pool.h: Pool<T>, a group of actors of class T addressed as one.
//
// tell/ask go to one member in round-robin order, broadcast to all. Members
// are watched: one that stops leaves the pool; one that is restarted stays
// (messages go to its current incarnation).
//
//   keel::Pool<Worker> pool(system);
//   if (auto s = pool.spawn(4); !s.is_ok()) return s;      // 4 new members
//   pool.tell<&Worker::work>(42);                          // one member
//   auto replies = pool.broadcast_ask<&Worker::load>();    // a future each
//   keel::Status ready = pool.wait_for_size(4, std::chrono::seconds(1));
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/engine/actor_ref.h"
#include "keel/engine/system.h"

namespace keel {

namespace detail {
// The untyped membership behind Pool<T>. Thread-safe.
class PoolCore {
 public:
  explicit PoolCore(System& system) : system_(system) {}
  // Adds `member` unless present; it leaves when it stops.
  void add(std::shared_ptr<PoolCore> self, const AnyRef& member) KEEL_EXCLUDES(mu_);
  bool remove(ActorId id) KEEL_EXCLUDES(mu_);
  std::vector<AnyRef> members() const KEEL_EXCLUDES(mu_);
  std::size_t size() const KEEL_EXCLUDES(mu_);
  // The next member in round-robin order (current incarnation); empty when none.
  AnyRef next() KEEL_EXCLUDES(mu_);
  Status wait_for_size(std::size_t n, Duration timeout) const KEEL_EXCLUDES(mu_);
  System& system() const { return system_; }

 private:
  System& system_;
  mutable Mutex mu_;
  mutable CondVar changed_;
  std::vector<AnyRef> members_ KEEL_GUARDED_BY(mu_);
  std::size_t cursor_ KEEL_GUARDED_BY(mu_) = 0;
};
}  // namespace detail

// Thread-safe. The System must outlive the pool.
template <class T>
class Pool {
 public:
  explicit Pool(System& system) : core_(std::make_shared<detail::PoolCore>(system)) {}
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Spawns `n` top-level actors T(args...) and adds them. Stops at the first
  // spawn error and returns it (members spawned so far stay).
  template <class... A>
  Status spawn(std::size_t n, const A&... args) {
    for (std::size_t i = 0; i < n; ++i) {
      KEEL_ASSIGN_OR_RETURN(ActorRef<T> r, core_->system().template spawn<T>(args...));
      add(r);
    }
    return Status::ok();
  }
  void add(const ActorRef<T>& member) { core_->add(core_, member); }
  bool remove(const AnyRef& member) { return core_->remove(member.id()); }
  std::size_t size() const { return core_->size(); }
  std::vector<ActorRef<T>> members() const {
    std::vector<ActorRef<T>> out;
    for (auto& m : core_->members()) out.emplace_back(m.current());
    return out;
  }
  // Waits (real time) until the pool has at least `n` members: kTimeout if not.
  Status wait_for_size(std::size_t n, Duration timeout) const { return core_->wait_for_size(n, timeout); }

  // To the next member; kUnavailable when the pool is empty.
  template <auto M, class... A>
  Status tell(A&&... args) {
    ActorRef<T> m(core_->next());
    if (!m.valid()) return Status::unavailable("pool is empty");
    return m.template try_tell<M>(SendOptions{}, std::forward<A>(args)...);
  }
  template <auto M, class... A>
  auto ask(A&&... args) {
    ActorRef<T> m(core_->next());
    using F = decltype(m.template ask<M>(std::forward<A>(args)...));
    if (!m.valid()) return F::ready(Status::unavailable("pool is empty"));
    return m.template ask<M>(std::forward<A>(args)...);
  }
  // To every member (args copied for each).
  template <auto M, class... A>
  void broadcast(const A&... args) {
    for (auto& m : members()) m.template tell<M>(args...);
  }
  template <auto M, class... A>
  auto broadcast_ask(const A&... args) {
    using F = decltype(std::declval<ActorRef<T>&>().template ask<M>(args...));
    std::vector<F> out;
    for (auto& m : members()) out.push_back(m.template ask<M>(args...));
    return out;
  }

 private:
  std::shared_ptr<detail::PoolCore> core_;  // shared with the watch continuations
};

}  // namespace keel
