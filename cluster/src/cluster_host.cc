// ClusterHost: membership, the journal's writer and the shard keeper of one
// host, wired together (cluster_host.h).
#include "keel/cluster/cluster_host.h"

#include <algorithm>
#include <cstdlib>

#include "keel/base/thread_annotations.h"

namespace keel {

struct ClusterHost::Parts {
  std::string url;
  ShardKeeperOptions keeper_options;
  // Destroyed in reverse: the keeper stops before the journal closes, and
  // the journal before the lease stops being renewed.
  std::unique_ptr<Membership> membership;
  std::unique_ptr<Journal> journal;
  mutable Mutex mu;
  std::unique_ptr<ShardKeeper> keeper KEEL_GUARDED_BY(mu);
  bool stopped KEEL_GUARDED_BY(mu) = false;

  // The keeper once started (it lives as long as the host), or null.
  ShardKeeper* started() const KEEL_EXCLUDES(mu) {
    MutexLock lock(mu);
    return keeper.get();
  }
};

Result<std::unique_ptr<ClusterHost>> ClusterHost::join(const std::string& url, const HostSpec& spec,
                                                       ClusterHostOptions options) {
  auto parts = std::make_unique<Parts>();
  parts->url = url;
  parts->keeper_options = options.keeper;
  KEEL_ASSIGN_OR_RETURN(parts->membership, Membership::join(url, spec, options.membership));
  options.journal.pg_claim_all_shards = false;
  options.journal.read_only = false;
  Result<std::unique_ptr<Journal>> journal = open_pg_journal(url, options.journal);
  if (!journal) {
    parts->membership->leave().ignore();  // the open's error is the one to report
    return journal.status();
  }
  parts->journal = std::move(*journal);
  return std::unique_ptr<ClusterHost>(new ClusterHost(std::move(parts)));
}

ClusterHost::ClusterHost(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

ClusterHost::~ClusterHost() { stop(); }

void ClusterHost::stop() {
  std::unique_ptr<ShardKeeper> keeper;
  {
    MutexLock lock(parts_->mu);
    keeper = std::move(parts_->keeper);
    parts_->stopped = true;
  }
  keeper.reset();  // joins its thread: no callback runs after this
}

Status ClusterHost::start(Callbacks callbacks) {
  MutexLock lock(parts_->mu);
  if (parts_->keeper != nullptr) return Status::failed_precondition("this cluster host keeps its shards already");
  if (parts_->stopped) return Status::failed_precondition("this cluster host was stopped");
  Journal* journal = parts_->journal.get();
  ShardKeeper::Callbacks wired;
  wired.gained = [journal, user = callbacks.gained](const std::vector<PgShardEpoch>& shards) {
    // Arguments the keeper made itself: a refusal here is a broken invariant.
    Status held = hold_pg_shards(*journal, shards);
    if (!held.is_ok()) std::abort();
    if (user) user(shards);
  };
  wired.losing = [journal, user = callbacks.losing](const std::vector<std::uint32_t>& shards, bool lost) {
    if (user) user(shards, lost);
    Status dropped = drop_pg_shards(*journal, shards);
    if (!dropped.is_ok()) std::abort();
  };
  KEEL_ASSIGN_OR_RETURN(parts_->keeper, ShardKeeper::start(parts_->url, *parts_->membership, std::move(wired),
                                                           parts_->keeper_options));
  return Status::ok();
}

Journal& ClusterHost::journal() { return *parts_->journal; }
Membership& ClusterHost::membership() { return *parts_->membership; }

std::vector<PgShardEpoch> ClusterHost::held() const {
  ShardKeeper* keeper = parts_->started();
  return keeper != nullptr ? keeper->held() : std::vector<PgShardEpoch>();
}

bool ClusterHost::holds(std::string_view owner) const {
  const std::uint32_t shard = pg_shard_of(owner);
  const std::vector<PgShardEpoch> held_now = held();
  return std::any_of(held_now.begin(), held_now.end(), [&](const PgShardEpoch& e) { return e.shard == shard; });
}

Result<std::vector<std::string>> ClusterHost::owners_in(const std::vector<PgShardEpoch>& shards) {
  std::vector<bool> wanted(kPgShards, false);
  for (const PgShardEpoch& e : shards) {
    if (e.shard < wanted.size()) wanted[e.shard] = true;
  }
  KEEL_ASSIGN_OR_RETURN(std::vector<OwnerInfo> all, parts_->journal->owners());
  std::vector<std::string> out;
  for (OwnerInfo& o : all) {
    if (wanted[pg_shard_of(o.owner)]) out.push_back(std::move(o.owner));
  }
  return out;
}

Status ClusterHost::leave() {
  ShardKeeper* keeper = parts_->started();
  return keeper != nullptr ? keeper->leave() : parts_->membership->leave();
}

}  // namespace keel
