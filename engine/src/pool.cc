#include "keel/engine/pool.h"

namespace keel::detail {

void PoolCore::add(std::shared_ptr<PoolCore> self, const AnyRef& member) {
  if (!member.valid()) return;
  {
    MutexLock l(mu_);
    for (auto& m : members_) {
      if (m.id() == member.id()) return;
    }
    members_.push_back(member);
    changed_.notify_all();
  }
  const ActorId id = member.id();
  std::weak_ptr<PoolCore> weak = self;
  system_.watch(member).then([weak, id](Result<Down>) {
    if (auto core = weak.lock()) core->remove(id);
  });
}

bool PoolCore::remove(ActorId id) {
  AnyRef dropped;  // released after unlocking
  MutexLock l(mu_);
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    if (it->id() == id) {
      dropped = std::move(*it);
      members_.erase(it);
      changed_.notify_all();
      return true;
    }
  }
  return false;
}

std::vector<AnyRef> PoolCore::members() const {
  MutexLock l(mu_);
  return members_;
}

std::size_t PoolCore::size() const {
  MutexLock l(mu_);
  return members_.size();
}

AnyRef PoolCore::next() {
  MutexLock l(mu_);
  if (members_.empty()) return AnyRef();
  const AnyRef& m = members_[cursor_++ % members_.size()];
  return m.current();
}

Status PoolCore::wait_for_size(std::size_t n, Duration timeout) const {
  MutexLock l(mu_);
  if (changed_.wait_for(l, timeout, [&]() KEEL_REQUIRES(mu_) { return members_.size() >= n; })) return Status::ok();
  return Status::timeout("pool has " + std::to_string(members_.size()) + " members, waited for " +
                         std::to_string(n));
}

}  // namespace keel::detail
