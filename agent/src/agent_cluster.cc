// keel::Agent as a host of a cluster (docs/cluster.md, "Agents in a
// cluster"): membership, the shards its workers write, the actors it
// remembers and spawns again. The threads and locking are described in
// agent_impl.h.
#include <algorithm>
#include <charconv>
#include <future>
#include <set>

#include "keel/wire/envelope.h"
#include "keel/wire/value.h"
#include "agent_impl.h"

namespace keel {

Status Agent::Impl::join_cluster() {
  const AgentClusterOptions& o = options_.cluster;
  if (!options_.journal_dir.empty()) {
    return Status::invalid_argument("an agent in a cluster writes the cluster's journal: give no journal directory");
  }
  advertise_ = o.advertise;
  if (advertise_.empty()) advertise_ = options_.listen_host + ":" + std::to_string(client_listener_->port());
  KEEL_RETURN_IF_ERROR(internal::parse_host_port(advertise_).status());
  HostSpec self = o.host;
  self.addresses = {advertise_};
  KEEL_ASSIGN_OR_RETURN(membership_, Membership::join(o.url, self, o.membership));
  KEEL_RETURN_IF_ERROR(open_tables());
  KEEL_ASSIGN_OR_RETURN(registry_listener_, ClusterListener::open(o.url, o.membership.timeout));
  db_thread_ = std::thread([this] { run_db_thread(); });
  registry_thread_ = std::thread([this] { run_registry_listener(); });
  watch_lease();
  log("joined cluster " + o.membership.cluster + " as " + membership_->holder() + " at " + advertise_);
  return Status::ok();
}

Status Agent::Impl::open_tables() {
  KEEL_ASSIGN_OR_RETURN(remembered_, RememberedActors::open(options_.cluster.url, *membership_));
  KEEL_ASSIGN_OR_RETURN(gangs_, Gangs::open(options_.cluster.url, *membership_));
  KEEL_ASSIGN_OR_RETURN(claims_, ShardClaims::open(options_.cluster.url, *membership_));
  KEEL_ASSIGN_OR_RETURN(cluster_registry_, ClusterRegistry::open(options_.cluster.url, *membership_));
  return Status::ok();
}

Status Agent::Impl::start_keeping() {
  // The journal's shard count, once the workers have opened (or made) it.
  KEEL_ASSIGN_OR_RETURN(std::vector<ShardHolder> holders, claims_->holders());
  shard_count_.store(static_cast<std::uint32_t>(holders.size()), std::memory_order_release);
  ShardKeeper::Callbacks cb;
  cb.gained = [this](const std::vector<PgShardEpoch>& shards) { on_shards_gained(shards); };
  cb.losing = [this](const std::vector<std::uint32_t>& shards, bool lost) { on_shards_losing(shards, lost); };
  // A keeper that stopped on its own keeps nothing more, even when the
  // membership's lease came back (a pause that outran only the local
  // deadline): join again.
  cb.stopped = [this] {
    MutexLock lock(mu_);
    if (!db_stopping_) {
      on_db_thread([this] { rejoin(Status::ownership_lost("the shard keeper stopped: the lease was gone")); });
    }
  };
  // The agent's own listener (run_registry_listener) hears the shards
  // change and wakes the keeper: one listening connection per agent.
  ShardKeeperOptions keeping = options_.cluster.keeper;
  keeping.listen = false;
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<ShardKeeper> keeper,
                        ShardKeeper::start(options_.cluster.url, *membership_, std::move(cb), keeping));
  MutexLock lock(keeper_mu_);
  keeper_ = std::move(keeper);
  return Status::ok();
}

void Agent::Impl::leave_cluster() {
  if (cluster_left_) return;
  cluster_left_ = true;
  // The database thread first: a rejoin in progress ends.
  {
    MutexLock lock(mu_);
    db_stopping_ = true;
    db_changed_.notify_all();
  }
  if (registry_thread_.joinable()) {
    registry_listener_->interrupt();
    registry_thread_.join();
  }
  if (db_thread_.joinable()) db_thread_.join();
  std::unique_ptr<ShardKeeper> keeper;
  {
    MutexLock lock(keeper_mu_);
    keeper = std::move(keeper_);
  }
  if (keeper) {
    if (Status s = keeper->leave(); !s.is_ok()) log("leaving the cluster: " + s.to_string());
  } else if (membership_) {
    membership_->leave().ignore();
  }
}

void Agent::Impl::watch_lease() {
  membership_->on_lease_lost([this](const Status& why) {
    MutexLock lock(mu_);
    if (!db_stopping_) on_db_thread([this, why] { rejoin(why); });
  });
}

void Agent::Impl::rejoin(const Status& why) {
  {
    // The lease-lost callback and the keeper's stop can both ask: once.
    MutexLock lock(keeper_mu_);
    if (keeper_ && keeper_->running() && membership_->holds_lease()) return;
  }
  log("host " + membership_->holder() + " lost its lease (" + why.to_string() + "): joining again");
  std::unique_ptr<ShardKeeper> keeper;
  {
    MutexLock lock(keeper_mu_);
    keeper = std::move(keeper_);
  }
  keeper.reset();  // its thread ends: from here this thread alone uses the membership and the tables
  std::vector<std::uint32_t> held;
  {
    MutexLock lock(mu_);
    for (const auto& [shard, epoch] : held_) held.push_back(shard);
  }
  if (!held.empty()) on_shards_losing(held, /*lost=*/true);
  const AgentClusterOptions& o = options_.cluster;
  HostSpec self = o.host;
  self.addresses = {advertise_};
  for (;;) {
    Result<std::unique_ptr<Membership>> m = Membership::join(o.url, self, o.membership);
    if (m) {
      remembered_.reset();
      gangs_.reset();
      claims_.reset();
      cluster_registry_.reset();
      {
        MutexLock lock(mu_);
        ++cluster_figures_.rejoins;
        cluster_figures_.lease_renewals += membership_->renewals();
        cluster_figures_.lease_renewal_failures += membership_->renewal_failures();
      }
      MutexLock lock(keeper_mu_);
      membership_ = std::move(*m);
      break;
    }
    log("joining again: " + m.status().to_string());
    MutexLock lock(mu_);
    if (db_changed_.wait_for(lock, std::chrono::seconds(1), [&]() KEEL_REQUIRES(mu_) { return db_stopping_; })) return;
  }
  open_tables().ignore();  // the URL was parsed at the first join
  watch_lease();
  if (Status s = start_keeping(); !s.is_ok()) log("keeping shards again: " + s.to_string());
  log("joined cluster " + o.membership.cluster + " again as " + membership_->holder());
}

std::vector<std::uint32_t> Agent::Impl::held_shards() const {
  MutexLock lock(mu_);
  std::vector<std::uint32_t> out;
  for (const auto& [shard, epoch] : held_) out.push_back(shard);
  return out;
}

int Agent::Impl::slot_for(std::string_view key) const {
  if (in_cluster()) return slot_of_shard(shard_of(key));
  return static_cast<int>(internal::stable_hash(key) % worker_count());
}

int Agent::Impl::slot_of_shard(std::uint32_t shard) const { return static_cast<int>(shard % worker_count()); }

std::uint32_t Agent::Impl::shard_of(std::string_view key) const {
  return pg_shard_of(internal::durable_owner(key), shard_count_.load(std::memory_order_acquire));
}

Status Agent::Impl::check_held(std::string_view key) const {
  if (!in_cluster() || internal::is_gang_key(key)) return Status::ok();
  const std::uint32_t shard = shard_of(key);
  if (held_.count(shard) != 0) return Status::ok();
  return Status::ownership_lost("host " + options_.cluster.host.id + " does not hold shard " + std::to_string(shard) +
                                " of actor '" + std::string(key) + "'");
}

// ---- shards ----------------------------------------------------------------

void Agent::Impl::on_shards_gained(const std::vector<PgShardEpoch>& shards) {
  std::vector<std::uint32_t> numbers;
  std::vector<std::future<Status>> holds;
  {
    MutexLock lock(mu_);
    std::map<int, std::pair<std::vector<std::uint32_t>, std::vector<std::uint64_t>>> by_slot;
    cluster_figures_.shards_gained += shards.size();
    for (const PgShardEpoch& e : shards) {
      held_[e.shard] = e.epoch;
      numbers.push_back(e.shard);
      auto& [s, epochs] = by_slot[slot_of_shard(e.shard)];
      s.push_back(e.shard);
      epochs.push_back(e.epoch);
    }
    // A worker that is not connected gets its shards when it registers.
    for (auto& [slot, held] : by_slot) {
      if (slots_[slot].conn == nullptr) continue;
      auto done = std::make_shared<std::promise<Status>>();
      holds.push_back(done->get_future());
      send_shard_call(slot, internal::kHoldShards, wire::encode_args(held.first, held.second),
                      [done](const Status& s) { done->set_value(s); });
    }
  }
  for (auto& h : holds) {
    if (Status s = h.get(); !s.is_ok()) log("a worker could not take its shards: " + s.to_string());
  }
  // The actors of these shards, spawned again (durable ones recover). Their
  // spawns follow the holds on each worker's connection.
  Result<std::vector<RememberedActor>> actors = remembered_->in_shards(numbers);
  if (!actors) {
    log("could not read the actors of " + std::to_string(numbers.size()) + " gained shards: " +
        actors.status().to_string());
    return;
  }
  MutexLock lock(mu_);
  for (const RememberedActor& a : *actors) {
    if (held_.count(a.shard) == 0 || hosted_.count(a.key) != 0) continue;
    const int slot = slot_for(a.key);
    hosted_[a.key] = Hosted{a.type, slot, false};
    ++cluster_figures_.actors_recovered;
    if (slots_[slot].conn != nullptr) spawn_on(slot, 0, 0, a.key, a.type, "", false);
  }
}

void Agent::Impl::on_shards_losing(const std::vector<std::uint32_t>& shards, bool lost) {
  std::vector<std::future<Status>> releases;
  {
    MutexLock lock(mu_);
    const std::set<std::uint32_t> going(shards.begin(), shards.end());
    (lost ? cluster_figures_.shards_lost : cluster_figures_.shards_handed_over) += shards.size();
    std::map<int, std::vector<std::uint32_t>> by_slot;
    for (std::uint32_t shard : shards) {
      held_.erase(shard);
      by_slot[slot_of_shard(shard)].push_back(shard);
    }
    // Their actors are no longer routed to; calls in flight finish on the
    // worker (or fail there once it stops them).
    std::vector<std::string> leaving;
    for (const auto& [key, h] : hosted_) {
      if (!internal::is_gang_key(key) && going.count(shard_of(key)) != 0) {
        leaving.push_back(key);
      }
    }
    for (const std::string& key : leaving) forget_actor(key);
    for (auto& [slot, numbers] : by_slot) {
      if (slots_[slot].conn == nullptr) continue;
      auto done = std::make_shared<std::promise<Status>>();
      releases.push_back(done->get_future());
      send_shard_call(slot, internal::kReleaseShards, wire::encode_args(numbers),
                      [done](const Status& s) { done->set_value(s); });
    }
  }
  // A hand-over waits until the workers have stopped those actors, so
  // what they handled is committed before the keeper releases the shards.
  const auto deadline = std::chrono::steady_clock::now() + options_.cluster.release_timeout;
  for (auto& r : releases) {
    if (r.wait_until(deadline) != std::future_status::ready) {
      log("a worker did not give shards back within " + std::to_string(options_.cluster.release_timeout.count()) +
          " ms");
      continue;
    }
    if (Status s = r.get(); !s.is_ok() && !lost) log("a worker could not give shards back: " + s.to_string());
  }
}

void Agent::Impl::send_shard_call(int slot, std::string_view method, std::string payload,
                                  std::function<void(const Status&)> done) {
  wire::Envelope e;
  e.target.key = std::string(internal::kShardsKey);
  e.method = std::string(method);
  e.payload = std::move(payload);
  const std::uint64_t corr = next_id_++;
  e.reply_to = wire::ReplyTo{};
  e.reply_to->correlation_id = corr;
  auto bytes = wire::encode_envelope(e);
  Status sent = bytes ? slots_[slot].conn->send_owned(wire::MessageType::kCall, std::move(*bytes)) : bytes.status();
  if (!sent.is_ok()) return done(sent);
  shard_calls_[corr] = ShardCall{slot, std::move(done)};
}

void Agent::Impl::hold_shards_of(int slot) {
  std::vector<std::uint32_t> shards;
  std::vector<std::uint64_t> epochs;
  for (const auto& [shard, epoch] : held_) {
    if (slot_of_shard(shard) != slot) continue;
    shards.push_back(shard);
    epochs.push_back(epoch);
  }
  if (shards.empty()) return;
  send_shard_call(slot, internal::kHoldShards, wire::encode_args(shards, epochs), [this, slot](const Status& s) {
    if (!s.is_ok()) log("worker " + std::to_string(slot) + " could not take its shards: " + s.to_string());
  });
}

bool Agent::Impl::answer_shard_call(std::uint64_t correlation, const Status& s) {
  auto it = shard_calls_.find(correlation);
  if (it == shard_calls_.end()) return false;
  auto done = std::move(it->second.done);
  shard_calls_.erase(it);
  done(s);
  return true;
}

// ---- the database thread ---------------------------------------------------

void Agent::Impl::remember_and_spawn(std::uint64_t client_id, wire::Spawn s) {
  const std::uint32_t shard = shard_of(s.key);
  on_db_thread([this, client_id, shard, s = std::move(s)] {
    const Status remembered = remembered_->remember(s.key, s.actor_type, shard);
    MutexLock lock(mu_);
    if (remembered.is_ok()) return route_spawn(client_id, s);
    if (wire::Connection* c = client(client_id)) {
      internal::send_error(*c, s.request_id, remembered, internal::kAgentErrorType).ignore();
    }
  });
}

void Agent::Impl::answer_client(std::uint64_t client_id, std::uint64_t correlation, const Result<std::string>& r) {
  MutexLock lock(mu_);
  wire::Connection* c = client(client_id);
  if (c == nullptr) return;
  if (!r) {
    internal::send_error(*c, correlation, r.status(), internal::kAgentErrorType).ignore();
    return;
  }
  wire::Reply reply;
  reply.correlation_id = correlation;
  reply.payload = *r;
  internal::send_message(*c, reply).ignore();
}

namespace {

// Gang ranks and hosts as the gang calls answer them.
std::pair<std::vector<std::uint32_t>, std::vector<std::string>> split_members(const std::vector<GangMember>& members) {
  std::pair<std::vector<std::uint32_t>, std::vector<std::string>> out;
  for (const GangMember& m : members) {
    out.first.push_back(m.rank);
    out.second.push_back(m.host);
  }
  return out;
}

// "gang/<ticket>/<rank>" -> (ticket, rank). Errors: kInvalidArgument.
Result<std::pair<std::string, std::uint32_t>> parse_gang_key(std::string_view key) {
  const std::string_view rest = key.substr(internal::kGangKeyPrefix.size());
  const std::size_t slash = rest.find('/');
  std::uint32_t rank = 0;
  const std::string_view digits = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), rank);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) {
    return Status::invalid_argument("'" + std::string(key) + "' is not a gang member's key (gang/TICKET/RANK)");
  }
  return std::make_pair(std::string(rest.substr(0, slash)), rank);
}

}  // namespace

void Agent::Impl::serve_gang_call(std::uint64_t client_id, std::uint64_t correlation, std::string method,
                                  std::string payload) {
  on_db_thread([this, client_id, correlation, method = std::move(method), payload = std::move(payload)] {
    answer_client(client_id, correlation, [&]() -> Result<std::string> {
      if (method == "gang") {
        KEEL_ASSIGN_OR_RETURN(auto a, (wire::decode_args<std::string, std::uint32_t, std::uint32_t,
                                                         std::vector<std::string>>(payload)));
        auto& [name, size, policy, labels] = a;
        if (policy > static_cast<std::uint32_t>(GangPolicy::kStrictSpread)) {
          return Status::invalid_argument("no gang policy " + std::to_string(policy));
        }
        GangRequest request{name, size, static_cast<GangPolicy>(policy), {}};
        for (const std::string& l : labels) {
          const std::size_t eq = l.find('=');
          if (eq == std::string::npos) return Status::invalid_argument("label '" + l + "': expected KEY=VALUE");
          request.required[l.substr(0, eq)] = l.substr(eq + 1);
        }
        KEEL_ASSIGN_OR_RETURN(GangTicket t, gangs_->allocate(request));
        KEEL_ASSIGN_OR_RETURN(std::vector<HostView> hosts, membership_->hosts());
        std::vector<std::string> addresses;
        for (const GangMember& m : t.members) {
          auto h = std::find_if(hosts.begin(), hosts.end(), [&](const HostView& v) { return v.id == m.host; });
          addresses.push_back(h == hosts.end() || h->addresses.empty() ? std::string() : h->addresses.front());
        }
        auto [ranks, ids] = split_members(t.members);
        return wire::encode_args(t.ticket, ranks, ids, addresses);
      }
      KEEL_ASSIGN_OR_RETURN(auto a, wire::decode_args<std::string>(payload));
      const std::string& ticket = std::get<0>(a);
      if (method == "gang-release") {
        KEEL_RETURN_IF_ERROR(gangs_->release(ticket));
        return wire::encode_args();
      }
      if (method == "gang-dead") {
        KEEL_ASSIGN_OR_RETURN(std::vector<GangMember> dead, gangs_->dead_members(ticket));
        auto [ranks, ids] = split_members(dead);
        return wire::encode_args(ranks, ids);
      }
      return Status::not_found("no cluster call '" + method + "'");
    }());
  });
}

void Agent::Impl::spawn_gang_member(std::uint64_t client_id, wire::Spawn s) {
  on_db_thread([this, client_id, s = std::move(s)] {
    Status ok = [&]() -> Status {
      KEEL_ASSIGN_OR_RETURN(auto member, parse_gang_key(s.key));
      KEEL_ASSIGN_OR_RETURN(GangTicket t, gangs_->find(member.first));
      if (member.second >= t.members.size()) {
        return Status::invalid_argument("gang " + t.ticket + " has no rank " + std::to_string(member.second));
      }
      if (t.members[member.second].host != membership_->self().id) {
        return Status::failed_precondition("rank " + std::to_string(member.second) + " of gang " + t.ticket +
                                           " is on host " + t.members[member.second].host + ", not " +
                                           membership_->self().id);
      }
      return Status::ok();
    }();
    MutexLock lock(mu_);
    if (ok.is_ok()) return route_spawn(client_id, s);
    if (wire::Connection* c = client(client_id)) {
      internal::send_error(*c, s.request_id, ok, internal::kAgentErrorType).ignore();
    }
  });
}

void Agent::Impl::serve_shard_map(std::uint64_t client_id, std::uint64_t correlation) {
  on_db_thread([this, client_id, correlation] {
    answer_client(client_id, correlation, [&]() -> Result<std::string> {
      // Clients of a cluster ask every second or so: one read serves them all.
      constexpr auto kShardMapFresh = std::chrono::milliseconds(250);
      const SteadyTime now = std::chrono::steady_clock::now();
      if (!shard_map_cache_.empty() && now - shard_map_read_at_ < kShardMapFresh) return shard_map_cache_;
      // On this agent's own connections (no connection per read).
      KEEL_ASSIGN_OR_RETURN(std::vector<HostView> hosts, membership_->hosts());
      KEEL_ASSIGN_OR_RETURN(std::vector<ShardHolder> holders, claims_->holders());
      std::map<std::string, std::string, std::less<>> address;
      for (const HostView& h : hosts) {
        if (h.live && !h.addresses.empty()) address[h.id] = h.addresses.front();
      }
      std::vector<std::string> map;
      for (const ShardHolder& holder : holders) {
        auto a = holder.live ? address.find(holder.host) : address.end();
        map.push_back(a == address.end() ? std::string() : a->second);
      }
      shard_map_cache_ = wire::encode_args(map);
      shard_map_read_at_ = now;
      return shard_map_cache_;
    }());
  });
}

void Agent::Impl::on_db_thread(std::function<void()> task) {
  db_tasks_.push_back(std::move(task));
  db_changed_.notify_all();
}

void Agent::Impl::run_db_thread() {
  for (;;) {
    std::function<void()> task;
    {
      MutexLock lock(mu_);
      db_changed_.wait(lock, [&]() KEEL_REQUIRES(mu_) { return db_stopping_ || !db_tasks_.empty(); });
      if (db_tasks_.empty()) return;
      task = std::move(db_tasks_.front());
      db_tasks_.pop_front();
    }
    task();
  }
}

}  // namespace keel
