// keel-agent processes as hosts of one cluster on the PostgreSQL test
// server of the CTest fixture keel_pg: a cluster client spawns durable
// actors through the shard map, one agent is killed with SIGKILL, and its
// actors come back on the others with every acknowledged effect applied
// once.
#include <signal.h>

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "agent_process.h"
#include "support/http_client.h"
#include "cluster_test.h"
#include "keel/client/client.h"
#include "keel/client/remote_pool.h"
#include "keel/cluster/cluster_view.h"
#include "keel/cluster/drain.h"
#include "poll_tables.h"
#include "keel/journal/pg_journal.h"
#include "remote_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::RemoteTally;
using testing::Tally;

constexpr const char* kAgentSecret = "agent secret for the cluster test";

class AgentClusterTest : public testing::ClusterTest {
 protected:
  // Starts agent `id` as a host of the cluster; null when it did not come up.
  std::unique_ptr<testing::AgentProcess> start_agent(const std::string& id, std::uint16_t* port) {
    auto a = std::make_unique<testing::AgentProcess>(
        KEEL_AGENT_EXE,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER, "--workers", "2",
                                 "--cluster", url_, "--host-id", id, "--cluster-name", "test", "--lease-ms", "2000",
                                 "--metrics", "127.0.0.1:0"},
        std::vector<std::string>{std::string("KEEL_SECRET=") + kAgentSecret,
                                 std::string("KEEL_CLUSTER_SECRET=") + kSecret});
    std::optional<std::uint16_t> p = a->wait_ready(20s);
    EXPECT_TRUE(p.has_value()) << id << " did not start: " << a->error_output();
    if (!p) return nullptr;
    *port = *p;
    return a;
  }

  // Starts host-1..3 and waits until they share the shards.
  void start_three(std::vector<std::unique_ptr<testing::AgentProcess>>& agents, std::vector<AgentEndpoint>& endpoints) {
    for (const char* id : {"host-1", "host-2", "host-3"}) {
      std::uint16_t port = 0;
      agents.push_back(start_agent(id, &port));
      ASSERT_NE(agents.back(), nullptr);
      endpoints.push_back(AgentEndpoint{"127.0.0.1", port});
    }
    ASSERT_TRUE(wait_balanced({"host-1", "host-2", "host-3"}));
  }

  // Starts host-1..3 as start_three does and connects a cluster client to
  // them (null, with a failure, when it cannot).
  std::unique_ptr<Client> start_three_and_connect(std::vector<std::unique_ptr<testing::AgentProcess>>& agents,
                                                  std::vector<AgentEndpoint>& endpoints) {
    start_three(agents, endpoints);
    if (::testing::Test::HasFatalFailure()) return nullptr;
    Result<std::unique_ptr<Client>> client = Client::connect(endpoints, client_options());
    EXPECT_TRUE(client.has_value()) << client.status();
    return client.has_value() ? std::move(*client) : nullptr;
  }

  bool wait_balanced(const std::set<std::string>& ids, std::chrono::milliseconds deadline = 30s) {
    return testing::wait_balanced(url_, ids, deadline);
  }

  // The id of the host that holds actor `key`'s shard.
  std::string holder_of(const std::string& key) {
    Result<ClusterView> v = read_cluster(url_);
    if (!v.has_value()) return "";
    return v->shards[pg_shard_of("actor/" + key, static_cast<std::uint32_t>(v->shards.size()))].host;
  }

  // Adds `n` to tally `key` with an idempotent call and checks that the
  // total is then `total`. A call sent again to the key's new host while
  // its first copy was applied by the old one answers kAlreadyExists: the
  // add was applied once, which the total shows.
  static void add_once(Client& client, const std::string& key, std::int64_t n, std::int64_t total) {
    CallOptions idem;
    idem.idempotent = true;
    Result<std::int64_t> v = client.call_with<&RemoteTally::add>(idem, key, n).get();
    if (!v.has_value()) {
      ASSERT_EQ(v.status().code(), StatusCode::kAlreadyExists) << key << ": " << v.status();
    }
    Result<Tally> t = client.call_with<&RemoteTally::get>(idem, key).get();
    ASSERT_TRUE(t.has_value()) << key << ": " << t.status();
    EXPECT_EQ(t->total, total) << key;
  }

  // The value of the metric line that starts with `name` (with its labels)
  // in agent `a`'s /metrics; -1 when there is no such line.
  static double metric(testing::AgentProcess& a, const std::string& name) {
    const std::string prefix = "; metrics on http://127.0.0.1:";
    const auto at = a.ready_line().find(prefix);
    if (at == std::string::npos) return -1;
    const testing::HttpReply r = testing::http_get(std::atoi(a.ready_line().c_str() + at + prefix.size()), "/metrics");
    const auto line = r.body.find("\n" + name + " ");
    if (line == std::string::npos) return -1;
    return std::atof(r.body.c_str() + line + 1 + name.size() + 1);
  }

  static ClientOptions client_options() {
    ClientOptions o;
    o.secret = kAgentSecret;
    o.cluster = true;
    o.default_deadline = 30s;
    o.retry.max_attempts = 200;  // through a failover: a lease of 2 s, then the claim
    o.retry.max_backoff = 200ms;
    return o;
  }
};

TEST_F(AgentClusterTest, DurableActorsOfAKilledAgentComeBackOnTheOthersWithEveryAcknowledgedAdd) {
  std::vector<std::unique_ptr<testing::AgentProcess>> agents;
  std::vector<AgentEndpoint> endpoints;
  ASSERT_NO_FATAL_FAILURE(start_three(agents, endpoints));
  Result<std::unique_ptr<Client>> client = Client::connect(endpoints, client_options());
  ASSERT_TRUE(client.has_value()) << client.status();

  constexpr int kActors = 18;
  std::map<std::string, std::int64_t> acked;  // key -> sum of acknowledged adds
  std::map<std::string, std::size_t> first_host;
  CallOptions idem;
  idem.idempotent = true;
  for (int i = 0; i < kActors; ++i) {
    const std::string key = "tally-" + std::to_string(i);
    Result<SpawnInfo> s = (*client)->spawn("Tally", key).get();
    ASSERT_TRUE(s.has_value()) << key << ": " << s.status();
    first_host[key] = s->agent;
    Result<std::int64_t> v = (*client)->call_with<&RemoteTally::add>(idem, key, std::int64_t{i + 1}).get();
    ASSERT_TRUE(v.has_value()) << key << ": " << v.status();
    acked[key] += i + 1;
  }
  std::set<std::size_t> used;
  for (const auto& [key, host] : first_host) used.insert(host);
  EXPECT_GT(used.size(), 1u) << "the keys should spread over the hosts";

  // The host of tally-0 dies.
  const std::string victim_id = holder_of("tally-0");
  const std::size_t victim = victim_id == "host-1" ? 0 : victim_id == "host-2" ? 1 : 2;
  EXPECT_EQ(first_host["tally-0"], victim);
  ASSERT_EQ(kill(agents[victim]->pid(), SIGKILL), 0);
  ASSERT_EQ(agents[victim]->wait_exit(10s), -1);  // ended by a signal

  // Every actor answers again, the dead host's ones from another host once
  // its lease has ended, with what was acknowledged before.
  for (int i = 0; i < kActors; ++i) {
    const std::string key = "tally-" + std::to_string(i);
    Result<std::int64_t> v = (*client)->call_with<&RemoteTally::add>(idem, key, std::int64_t{100}).get();
    if (v.has_value()) {
      acked[key] += 100;
      EXPECT_EQ(*v, acked[key]) << key;
    } else {
      // Applied by the dead host's worker but not acknowledged: at most once.
      EXPECT_EQ(v.status().code(), StatusCode::kAlreadyExists) << key << ": " << v.status();
      acked[key] += 100;
    }
    Result<Tally> t = (*client)->call_with<&RemoteTally::get>(idem, key).get();
    ASSERT_TRUE(t.has_value()) << key << ": " << t.status();
    EXPECT_EQ(t->total, acked[key]) << key;
    EXPECT_NE((*client)->agent_for(key), victim) << key;
    EXPECT_NE(holder_of(key), victim_id) << key;
  }
}

TEST_F(AgentClusterTest, AGangIsSpreadOverTheHostsAndItsDeadMemberIsReported) {
  std::vector<std::unique_ptr<testing::AgentProcess>> agents;
  std::vector<AgentEndpoint> endpoints;
  std::unique_ptr<Client> client = start_three_and_connect(agents, endpoints);
  ASSERT_NE(client, nullptr);
  Client& c = *client;

  Result<ClusterGang> too_big = c.allocate_gang(GangRequest{"trainer", 4, GangPolicy::kStrictSpread, {}}).get();
  EXPECT_EQ(too_big.status().code(), StatusCode::kFailedPrecondition) << too_big.status();

  Result<ClusterGang> gang = c.allocate_gang(GangRequest{"trainer", 3, GangPolicy::kStrictSpread, {}}).get();
  ASSERT_TRUE(gang.has_value()) << gang.status();
  ASSERT_EQ(gang->members.size(), 3u);
  std::set<std::string> hosts;
  std::set<std::int64_t> pids;
  for (std::uint32_t rank = 0; rank < 3; ++rank) {
    hosts.insert(gang->members[rank].host);
    ASSERT_LT(gang->agents[rank], endpoints.size());
    Result<SpawnInfo> s = c.spawn_gang_member(*gang, rank, "Counter").get();
    ASSERT_TRUE(s.has_value()) << s.status();
    EXPECT_EQ(s->agent, gang->agents[rank]);
    const std::string key = Client::gang_member_key(gang->ticket, rank);
    Result<int> v = c.call<&testing::RemoteCounter::add>(key, static_cast<int>(rank) + 1).get();
    ASSERT_TRUE(v.has_value()) << v.status();
    EXPECT_EQ(*v, static_cast<int>(rank) + 1);
    Result<std::int64_t> pid = c.call<&testing::RemoteCounter::pid>(key).get();
    ASSERT_TRUE(pid.has_value()) << pid.status();
    pids.insert(*pid);
  }
  EXPECT_EQ(hosts.size(), 3u);
  EXPECT_EQ(pids.size(), 3u) << "each member runs in a worker of its own host";
  Result<ClusterGang> solo = c.allocate_gang(GangRequest{"solo", 1, GangPolicy::kPack, {}}).get();
  ASSERT_TRUE(solo.has_value()) << solo.status();
  Result<SpawnInfo> durable = c.spawn_gang_member(*solo, 0, "Tally").get();
  EXPECT_EQ(durable.status().code(), StatusCode::kInvalidArgument) << durable.status();
  ASSERT_TRUE(c.release_gang(solo->ticket).get().is_ok());

  // Rank 1's host dies: once its lease has ended, the gang reports it.
  const std::string dead_host = gang->members[1].host;
  ASSERT_EQ(kill(agents[gang->agents[1]]->pid(), SIGKILL), 0);
  std::vector<GangMember> dead;
  Status asked;
  testing::poll_until(
      [&] {
        Result<std::vector<GangMember>> d = c.dead_gang_members(gang->ticket).get();
        if (!d.has_value()) asked = d.status();
        if (d.has_value()) dead = *d;
        return !d.has_value() || !dead.empty();
      },
      30s);
  ASSERT_TRUE(asked.is_ok()) << asked;
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].rank, 1u);
  EXPECT_EQ(dead[0].host, dead_host);

  ASSERT_TRUE(c.release_gang(gang->ticket).get().is_ok());
  EXPECT_EQ(c.dead_gang_members(gang->ticket).get().status().code(), StatusCode::kNotFound);
}

TEST_F(AgentClusterTest, AnAgentPausedPastItsLeaseJoinsAgainAndItsActorsKeepTheirState) {
  std::vector<std::unique_ptr<testing::AgentProcess>> agents;
  std::vector<AgentEndpoint> endpoints;
  ASSERT_NO_FATAL_FAILURE(start_three(agents, endpoints));
  Result<std::unique_ptr<Client>> client = Client::connect(endpoints, client_options());
  ASSERT_TRUE(client.has_value()) << client.status();
  CallOptions idem;
  idem.idempotent = true;
  constexpr int kActors = 12;
  for (int i = 0; i < kActors; ++i) {
    const std::string key = "tally-" + std::to_string(i);
    ASSERT_TRUE((*client)->spawn("Tally", key).get().has_value());
    ASSERT_TRUE((*client)->call_with<&RemoteTally::add>(idem, key, std::int64_t{1}).get().has_value());
  }

  // host-2 stops (SIGSTOP) until the others have taken its shards. However
  // the test ends, it is woken before it is told to stop.
  ASSERT_EQ(kill(agents[1]->pid(), SIGSTOP), 0);
  struct Wake {
    pid_t pid;
    ~Wake() { kill(pid, SIGCONT); }
  } wake{agents[1]->pid()};
  ASSERT_TRUE(wait_balanced({"host-1", "host-3"}));
  for (int i = 0; i < kActors; ++i) {
    const std::string key = "tally-" + std::to_string(i);
    ASSERT_NO_FATAL_FAILURE(add_once(**client, key, 10, 11));
  }
  // It wakes up: its lease is gone, so it gives up what it held, joins
  // again as a new incarnation and gets its share back, with the state the
  // others committed.
  ASSERT_EQ(kill(agents[1]->pid(), SIGCONT), 0);
  ASSERT_TRUE(wait_balanced({"host-1", "host-2", "host-3"}));
  EXPECT_EQ(metric(*agents[1], "keel_cluster_rejoins_total"), 1);
  EXPECT_GT(metric(*agents[1], "keel_cluster_shards_lost_total"), 0);
  // The tables say it holds shards before its workers have them (the
  // metric counts those), and its new incarnation renews within a third of
  // the lease.
  EXPECT_TRUE(testing::poll_until([&] { return metric(*agents[1], "keel_cluster_shards_held") > 0; },
                                  std::chrono::seconds(30)));
  EXPECT_TRUE(testing::poll_until([&] { return metric(*agents[1], "keel_cluster_lease_renewals_total") > 0; },
                                  std::chrono::seconds(30)));
  EXPECT_GT(metric(*agents[0], "keel_cluster_shards_gained_total") + metric(*agents[2], "keel_cluster_shards_gained_total"),
            0);
  for (int i = 0; i < kActors; ++i) {
    const std::string key = "tally-" + std::to_string(i);
    ASSERT_NO_FATAL_FAILURE(add_once(**client, key, 100, 111));
  }
}

TEST_F(AgentClusterTest, AClientGivenOneHostLearnsTheOthersFromTheShardMap) {
  std::vector<std::unique_ptr<testing::AgentProcess>> agents;
  std::vector<AgentEndpoint> endpoints;
  ASSERT_NO_FATAL_FAILURE(start_three(agents, endpoints));
  Result<std::unique_ptr<Client>> client = Client::connect({endpoints[1]}, client_options());
  ASSERT_TRUE(client.has_value()) << client.status();
  CallOptions idem;
  idem.idempotent = true;
  std::set<std::string> hosts;
  for (int i = 0; i < 18; ++i) {
    const std::string key = "tally-" + std::to_string(i);
    Result<SpawnInfo> s = (*client)->spawn("Tally", key).get();
    ASSERT_TRUE(s.has_value()) << key << ": " << s.status();
    hosts.insert(s->endpoint.to_string());
    Result<std::int64_t> v = (*client)->call_with<&RemoteTally::add>(idem, key, std::int64_t{i}).get();
    ASSERT_TRUE(v.has_value()) << key << ": " << v.status();
    EXPECT_EQ(*v, i);
  }
  EXPECT_EQ(hosts.size(), 3u) << "every host's keys were sent to it";
  const std::vector<AgentEndpoint> known = (*client)->agents();
  ASSERT_EQ(known.size(), 3u);
  EXPECT_EQ(known[0], endpoints[1]) << "the seed keeps its index";
}

TEST_F(AgentClusterTest, AnActorCallsActorsOnTheOtherHostsThroughItsWorkersClient) {
  std::vector<std::unique_ptr<testing::AgentProcess>> agents;
  std::vector<AgentEndpoint> endpoints;
  ASSERT_NO_FATAL_FAILURE(start_three(agents, endpoints));
  Result<std::unique_ptr<Client>> client = Client::connect(endpoints, client_options());
  ASSERT_TRUE(client.has_value()) << client.status();
  ASSERT_TRUE((*client)->spawn("Forwarder", "fwd").get().has_value());
  const std::size_t fwd_host = (*client)->agent_for("fwd");
  std::set<std::size_t> other_hosts;
  for (int i = 0; i < 12; ++i) {
    const std::string key = "counter-" + std::to_string(i);
    Result<SpawnInfo> s = (*client)->spawn("Counter", key).get();
    ASSERT_TRUE(s.has_value()) << s.status();
    if (s->agent != fwd_host) other_hosts.insert(s->agent);
    // The forwarder's worker client routes the call to the counter's host.
    Result<int> v = (*client)->call<&testing::RemoteForwarder::add_to>("fwd", key, i + 1).get();
    ASSERT_TRUE(v.has_value()) << key << ": " << v.status();
    EXPECT_EQ(*v, i + 1) << key;
    Result<int> direct = (*client)->call<&testing::RemoteCounter::get>(key).get();
    ASSERT_TRUE(direct.has_value()) << direct.status();
    EXPECT_EQ(*direct, i + 1) << key;
  }
  EXPECT_EQ(other_hosts.size(), 2u) << "counters on both other hosts";
}

TEST_F(AgentClusterTest, MessagesSentByKeyBetweenHostsAreAppliedOnceInOrderThroughAKilledHost) {
  std::vector<std::unique_ptr<testing::AgentProcess>> agents;
  std::vector<AgentEndpoint> endpoints;
  std::unique_ptr<Client> client = start_three_and_connect(agents, endpoints);
  ASSERT_NE(client, nullptr);
  Client& c = *client;

  // relay-i sends operations by key to log-i; the pairs spread over the hosts.
  constexpr int kPairs = 6;
  constexpr std::int64_t kOps = 10;
  int across = 0;
  for (int i = 0; i < kPairs; ++i) {
    const std::string n = std::to_string(i);
    Result<SpawnInfo> log = c.spawn("OpLog", "log-" + n).get();
    ASSERT_TRUE(log.has_value()) << log.status();
    Result<SpawnInfo> relay = c.spawn("Relay", "relay-" + n).get();
    ASSERT_TRUE(relay.has_value()) << relay.status();
    across += log->agent != relay->agent ? 1 : 0;
  }
  EXPECT_GT(across, 0) << "some relays send to another host";
  CallOptions idem;
  idem.idempotent = true;
  // Acknowledged once its message is in the relay's journal. A call sent
  // again after its first copy was applied answers kAlreadyExists.
  auto relay = [&](int i, std::int64_t op) {
    const std::string n = std::to_string(i);
    Result<std::int64_t> r = c.call_with<&testing::RemoteRelay::relay>(idem, "relay-" + n, "log-" + n, op).get();
    if (!r.has_value()) {
      ASSERT_EQ(r.status().code(), StatusCode::kAlreadyExists) << "relay-" << n << ": " << r.status();
    }
  };
  for (std::int64_t op = 1; op <= kOps / 2; ++op) {
    for (int i = 0; i < kPairs; ++i) ASSERT_NO_FATAL_FAILURE(relay(i, op));
  }
  // relay-0 also sends to a log not spawned yet: its messages wait in its
  // outbox (kNotFound is sent again).
  for (std::int64_t op = 1; op <= 3; ++op) {
    Result<std::int64_t> r = c.call_with<&testing::RemoteRelay::relay>(idem, "relay-0", "late-log", op).get();
    ASSERT_TRUE(r.has_value()) << r.status();
  }

  // The host of relay-0 dies, with those messages in relay-0's outbox, and
  // with messages on their way to its logs.
  const std::string victim_id = holder_of("relay-0");
  const std::size_t victim = victim_id == "host-1" ? 0 : victim_id == "host-2" ? 1 : 2;
  ASSERT_EQ(kill(agents[victim]->pid(), SIGKILL), 0);
  ASSERT_EQ(agents[victim]->wait_exit(10s), -1);
  for (std::int64_t op = kOps / 2 + 1; op <= kOps; ++op) {
    for (int i = 0; i < kPairs; ++i) ASSERT_NO_FATAL_FAILURE(relay(i, op));
  }
  // Once the late log exists, relay-0's new host delivers what the dead one
  // could not; relay-0's later messages to log-0 wait behind them (one
  // sender's messages go in the order sent).
  Result<SpawnInfo> late = c.spawn("OpLog", "late-log").get();
  ASSERT_TRUE(late.has_value()) << late.status();

  // Every log applies every operation once, in the order sent.
  auto expect_ops = [&](const std::string& key, std::int64_t last) {
    std::vector<std::int64_t> all;
    for (std::int64_t op = 1; op <= last; ++op) all.push_back(op);
    Result<std::vector<std::int64_t>> ids = Status::unavailable("not asked yet");
    EXPECT_TRUE(testing::poll_until(
        [&] {
          ids = c.call_with<&testing::RemoteOpLog::ids>(idem, key).get();
          return ids.has_value() && ids->size() >= all.size();
        },
        60s))
        << key << ": " << (ids.has_value() ? std::to_string(ids->size()) + " operations" : ids.status().to_string());
    ASSERT_TRUE(ids.has_value()) << key << ": " << ids.status();
    EXPECT_EQ(*ids, all) << key;
  };
  expect_ops("late-log", 3);
  for (int i = 0; i < kPairs; ++i) expect_ops("log-" + std::to_string(i), kOps);
  EXPECT_NE(holder_of("relay-0"), victim_id) << "relay-0 went on on another host";
}

TEST_F(AgentClusterTest, TheRegistrySpansTheHostsAndForgetsAKilledHostsRegistrations) {
  std::vector<std::unique_ptr<testing::AgentProcess>> agents;
  std::vector<AgentEndpoint> endpoints;
  std::unique_ptr<Client> client = start_three_and_connect(agents, endpoints);
  ASSERT_NE(client, nullptr);
  Client& c = *client;
  // An actor on each host (host-1 is agent 0, and so on).
  std::map<std::size_t, std::string> on_host;
  for (int i = 0; i < 60 && on_host.size() < 3; ++i) {
    const std::string key = "member-" + std::to_string(i);
    Result<SpawnInfo> s = c.spawn("Counter", key).get();
    ASSERT_TRUE(s.has_value()) << key << ": " << s.status();
    on_host.emplace(s->agent, key);
  }
  ASSERT_EQ(on_host.size(), 3u);
  const std::string& key_a = on_host[0];
  const std::string& key_c = on_host[2];

  // Registered through host-1 (the host of key_a), found at host-2. A host
  // registers only the actors it hosts.
  Status not_hosted = c.register_name("ns", "pool", "no-such-actor").get();
  EXPECT_EQ(not_hosted.code(), StatusCode::kNotFound) << not_hosted;
  ASSERT_TRUE(c.register_name("ns", "pool", key_a).get().is_ok());
  Result<RegistryMembers> at_b = c.lookup_on(1, "ns", "pool").get();
  ASSERT_TRUE(at_b.has_value()) << at_b.status();
  EXPECT_EQ(at_b->keys, std::vector<std::string>{key_a});
  auto pool = RemotePool::follow(c, "ns", "pool");

  // A watch at host-2 wakes when host-3 registers.
  Future<RegistryMembers> watched = c.watch_on(1, "ns", "pool", at_b->version, 60s);
  ASSERT_TRUE(c.register_name("ns", "pool", key_c).get().is_ok());
  Result<RegistryMembers> woke = watched.get();
  ASSERT_TRUE(woke.has_value()) << woke.status();
  EXPECT_EQ(woke->keys, (std::vector<std::string>{key_a, key_c}));
  ASSERT_TRUE(pool->wait_for_size(2, 60s).is_ok());
  Result<RegistryMembers> merged = c.lookup("ns", "pool").get();
  ASSERT_TRUE(merged.has_value()) << merged.status();
  EXPECT_EQ(merged->keys, (std::vector<std::string>{key_a, key_c}));

  // host-1 dies: once its lease has ended, its registration is gone from
  // every host's lookups, its watches and the pool.
  Future<RegistryMembers> watched_c = c.watch_on(2, "ns", "pool", woke->version, 60s);
  ASSERT_EQ(kill(agents[0]->pid(), SIGKILL), 0);
  ASSERT_EQ(agents[0]->wait_exit(10s), -1);
  Result<RegistryMembers> after = watched_c.get();
  ASSERT_TRUE(after.has_value()) << after.status();
  EXPECT_EQ(after->keys, std::vector<std::string>{key_c});
  at_b = c.lookup_on(1, "ns", "pool").get();
  ASSERT_TRUE(at_b.has_value()) << at_b.status();
  EXPECT_EQ(at_b->keys, std::vector<std::string>{key_c});
  ASSERT_TRUE(pool->wait_for_size_at_most(1, 60s).is_ok());
  EXPECT_EQ(pool->endpoints(), std::vector<std::string>{key_c});

  // Unregistering goes through the table too.
  ASSERT_TRUE(c.unregister_name("ns", "pool", key_c).get().is_ok());
  at_b = c.lookup_on(1, "ns", "pool").get();
  ASSERT_TRUE(at_b.has_value()) << at_b.status();
  EXPECT_TRUE(at_b->keys.empty());
}

TEST_F(AgentClusterTest, AnActorsRegistrationsGoWhenItsShardMovesToAnotherHost) {
  std::vector<std::unique_ptr<testing::AgentProcess>> agents;
  std::vector<AgentEndpoint> endpoints;
  std::unique_ptr<Client> client = start_three_and_connect(agents, endpoints);
  ASSERT_NE(client, nullptr);
  Client& c = *client;
  std::vector<std::string> on_host_2;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "member-" + std::to_string(i);
    Result<SpawnInfo> s = c.spawn("Counter", key).get();
    ASSERT_TRUE(s.has_value()) << key << ": " << s.status();
    if (s->agent != 1) continue;
    ASSERT_TRUE(c.register_name("ns", "moving", key).get().is_ok()) << key;
    on_host_2.push_back(key);
  }
  ASSERT_FALSE(on_host_2.empty());
  Result<RegistryMembers> before = c.lookup_on(2, "ns", "moving").get();
  ASSERT_TRUE(before.has_value()) << before.status();
  ASSERT_EQ(before->keys, on_host_2);

  // host-2 is drained: it hands its shards over, and its actors leave
  // their names; a watch at host-3 hears of it.
  Future<RegistryMembers> watched = c.watch_on(2, "ns", "moving", before->version, 60s);
  DrainOptions drain;
  drain.secret = kSecret;
  ASSERT_TRUE(drain_host(url_, "host-2", drain).has_value());
  Result<RegistryMembers> woke = watched.get();
  ASSERT_TRUE(woke.has_value()) << woke.status();
  EXPECT_LT(woke->keys.size(), on_host_2.size());
  // Its shards may move over several rounds of the keepers.
  EXPECT_TRUE(testing::poll_until(
      [&] {
        Result<RegistryMembers> m = c.lookup_on(2, "ns", "moving").get();
        return m.has_value() && m->keys.empty();
      },
      60s));
}

TEST_F(AgentClusterTest, ABadClusterConfigurationIsRefusedAtStart) {
  testing::AgentProcess no_id(KEEL_AGENT_EXE,
                              {"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER, "--cluster", url_},
                              {std::string("KEEL_SECRET=") + kAgentSecret,
                               std::string("KEEL_CLUSTER_SECRET=") + kSecret});
  EXPECT_EQ(no_id.wait_exit(10s), 2);
  EXPECT_NE(no_id.error_output().find("--cluster needs --host-id"), std::string::npos);

  std::uint16_t port = 0;
  auto first = start_agent("host-1", &port);  // creates the cluster with kSecret
  ASSERT_NE(first, nullptr);
  testing::AgentProcess wrong_secret(
      KEEL_AGENT_EXE,
      {"--listen", "127.0.0.1:0", "--worker", KEEL_TEST_WORKER, "--cluster", url_, "--host-id", "h", "--cluster-name",
       "test"},
      {std::string("KEEL_SECRET=") + kAgentSecret, "KEEL_CLUSTER_SECRET=another secret of twenty"});
  EXPECT_EQ(wrong_secret.wait_exit(20s), 1);
  EXPECT_NE(wrong_secret.error_output().find("unauthenticated"), std::string::npos) << wrong_secret.error_output();
}

}  // namespace
}  // namespace keel
