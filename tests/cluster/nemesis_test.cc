// The cluster under faults: three keel-agents as hosts in network
// namespaces (netns_cluster.h), durable actors called by clients that
// record every acknowledgement, directly or relayed by durable actors that
// send by key (their outbox), and faults injected at random: SIGKILL (and a
// restart), SIGSTOP past the lease, a host cut off from the database, a
// host cut off from its peers, a link set down, a PostgreSQL restart. After
// healing, every acknowledged operation was applied exactly once, every
// other at most once, each actor's journal sequence is gap-free, and no
// shard's epoch ever went down. Seeded: the seed is
// printed, and KEEL_NEMESIS_SEED runs it again; KEEL_NEMESIS_SECONDS sets
// how long faults are injected (20 by default).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>

#include "keel/client/client.h"
#include "keel/journal/journal.h"
#include "keel/journal/pg_journal.h"
#include "netns_cluster.h"
#include "remote_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::RemoteOpLog;
using testing::RemoteRelay;

class NemesisTest : public testing::NetnsClusterTest {};

// What the clients saw, by actor key.
struct Ledger {
  std::mutex mu;
  std::map<std::string, std::set<std::int64_t>> acked;
  std::map<std::string, std::set<std::int64_t>> unacked;
  std::map<std::int64_t, std::string> relayed_by;  // op -> the relay it was sent through
};

// Watches every shard's epoch until stopped; records any that went down.
class EpochWatch {
 public:
  explicit EpochWatch(std::string url) : url_(std::move(url)), thread_([this] { run(); }) {}
  ~EpochWatch() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> violations() {
    std::lock_guard<std::mutex> lock(mu_);
    return violations_;
  }

 private:
  void run() {
    std::map<std::uint32_t, std::uint64_t> last;
    while (!stop_) {
      if (Result<ClusterView> v = read_cluster(url_, 2s); v.has_value()) {
        std::lock_guard<std::mutex> lock(mu_);
        for (const ShardHolder& s : v->shards) {
          if (s.epoch < last[s.shard]) {
            violations_.push_back("shard " + std::to_string(s.shard) + ": epoch " + std::to_string(last[s.shard]) +
                                  " then " + std::to_string(s.epoch));
          }
          last[s.shard] = std::max(last[s.shard], s.epoch);
        }
      }
      std::this_thread::sleep_for(100ms);  // keel-allow-sleep: the sampling period of the epochs
    }
  }
  const std::string url_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> violations_;
  std::thread thread_;
};

std::uint64_t env_number(const char* name, std::uint64_t otherwise) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : otherwise;
}

TEST_F(NemesisTest, AcknowledgedOperationsAreAppliedExactlyOnceThroughRandomFaults) {
  const std::uint64_t seed = env_number("KEEL_NEMESIS_SEED", std::random_device{}());
  const auto seconds = std::chrono::seconds(env_number("KEEL_NEMESIS_SECONDS", 20));
  std::printf("nemesis seed %llu (KEEL_NEMESIS_SEED=%llu reruns it), %lld s of faults\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
              static_cast<long long>(seconds.count()));
  SCOPED_TRACE("nemesis seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  ASSERT_TRUE(start_all());
  ASSERT_TRUE(wait_balanced(all_ids()));
  Result<std::unique_ptr<Client>> client = Client::connect(endpoints(), client_options());
  ASSERT_TRUE(client.has_value()) << client.status();
  constexpr int kActors = 12;
  auto key_of = [](int i) { return "log-" + std::to_string(i); };
  for (int i = 0; i < kActors; ++i) {
    Result<SpawnInfo> s = (*client)->spawn("OpLog", key_of(i)).get();
    ASSERT_TRUE(s.has_value()) << s.status();
  }
  constexpr int kRelays = 4;
  auto relay_of = [](int i) { return "relay-" + std::to_string(i); };
  for (int i = 0; i < kRelays; ++i) {
    Result<SpawnInfo> s = (*client)->spawn("Relay", relay_of(i)).get();
    ASSERT_TRUE(s.has_value()) << s.status();
  }
  EpochWatch epochs(url_);

  // Three callers, each applying operations with ids of its own: two
  // directly, one through the relays, whose acknowledgement means the
  // operation is in a relay's outbox.
  Ledger ledger;
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> next_op{1};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&, c] {
      std::mt19937 pick(static_cast<std::uint32_t>(seed) + static_cast<std::uint32_t>(c));
      CallOptions once;
      once.idempotent = true;
      once.deadline = 15s;
      while (!stop) {
        const std::string key = key_of(static_cast<int>(pick() % kActors));
        const std::int64_t op = next_op++;
        const std::string relay = c < 2 ? std::string() : relay_of(static_cast<int>(pick() % kRelays));
        const Status s = relay.empty() ? (*client)->call_with<&RemoteOpLog::apply>(once, key, op).get().status()
                                       : (*client)->call_with<&RemoteRelay::relay>(once, relay, key, op).get().status();
        const bool applied = s.is_ok() || s.code() == StatusCode::kAlreadyExists;
        std::lock_guard<std::mutex> lock(ledger.mu);
        (applied ? ledger.acked : ledger.unacked)[key].insert(op);
        if (!relay.empty()) ledger.relayed_by[op] = relay;
      }
    });
  }

  // The faults, one host at a time.
  std::vector<std::string> log;
  const auto until = std::chrono::steady_clock::now() + seconds;
  while (std::chrono::steady_clock::now() < until && !HasFatalFailure()) {
    const int host = 1 + static_cast<int>(rng() % kHosts);
    const int fault = static_cast<int>(rng() % 6);
    const auto hold = std::chrono::milliseconds(500 + rng() % 3500);
    const char* names[] = {"kill", "pause", "cut from the database", "cut from its peers", "link down",
                           "restart the database"};
    log.push_back(std::string(names[fault]) + " " + (fault == 5 ? std::string() : id(host)) + " for " +
                  std::to_string(hold.count()) + " ms");
    std::printf("nemesis: %s\n", log.back().c_str());
    std::fflush(stdout);
    switch (fault) {
      case 0: kill_agent(host); break;
      case 1: signal_agent(host, SIGSTOP); break;
      case 2: cut_from_database(host); break;
      case 3: cut_from_peers(host); break;
      case 4: link(host, false); break;
      default: kill_database(); break;
    }
    std::this_thread::sleep_for(hold);  // keel-allow-sleep: the fault lasts this long
    switch (fault) {
      case 0: ASSERT_TRUE(start_agent(host)); break;
      case 1: signal_agent(host, SIGCONT); break;
      case 5: start_database(); break;
      default: heal(host); break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1500));  // keel-allow-sleep: calm between faults
  }
  stop = true;
  for (std::thread& t : callers) t.join();

  // Healed: every host holds its share again.
  ASSERT_TRUE(wait_balanced(all_ids(), 90s)) << "the cluster did not settle after the faults";
  epochs.stop();
  for (const std::string& v : epochs.violations()) ADD_FAILURE() << "an epoch went down: " << v;

  std::size_t acked_total = 0;
  CallOptions read;
  read.idempotent = true;
  read.deadline = 60s;
  for (int i = 0; i < kActors; ++i) {
    const std::string key = key_of(i);
    // Relayed operations arrive once the relays' outboxes have sent them.
    Result<std::vector<std::int64_t>> ids = Status::unavailable("not read yet");
    testing::poll_until(
        [&] {
          ids = (*client)->call_with<&RemoteOpLog::ids>(read, key).get();
          if (!ids.has_value()) return false;
          const std::set<std::int64_t> applied(ids->begin(), ids->end());
          return std::includes(applied.begin(), applied.end(), ledger.acked[key].begin(), ledger.acked[key].end());
        },
        90s);
    ASSERT_TRUE(ids.has_value()) << key << ": " << ids.status();
    std::map<std::int64_t, int> seen;
    for (std::int64_t op : *ids) ++seen[op];
    const std::set<std::int64_t>& acked = ledger.acked[key];
    const std::set<std::int64_t>& unacked = ledger.unacked[key];
    acked_total += acked.size();
    for (std::int64_t op : acked) {
      EXPECT_EQ(seen[op], 1) << key << ": acknowledged op " << op
                             << (ledger.relayed_by.count(op) != 0 ? " relayed by " + ledger.relayed_by[op] : " called");
    }
    for (const auto& [op, n] : seen) {
      EXPECT_LE(n, 1) << key << ": op " << op << " applied " << n << " times";
      EXPECT_TRUE(acked.count(op) != 0 || unacked.count(op) != 0) << key << ": op " << op << " was never sent";
    }
  }
  EXPECT_GT(acked_total, 0u);

  // Each actor's journal: sequence numbers without a gap (from the oldest
  // record kept: snapshots let older ones go).
  JournalOptions ro;
  ro.read_only = true;
  Result<std::unique_ptr<Journal>> journal = open_journal(url_, ro);
  ASSERT_TRUE(journal.has_value()) << journal.status();
  std::vector<std::string> owners;
  for (int i = 0; i < kActors; ++i) owners.push_back(key_of(i));
  for (int i = 0; i < kRelays; ++i) owners.push_back(relay_of(i));
  for (const std::string& key : owners) {
    std::uint64_t expected = 0;
    Status s = (*journal)->scan_owner("actor/" + key, 1, [&](const Record& r) {
      if (expected != 0) {
        EXPECT_EQ(r.seq, expected) << key;
      }
      expected = r.seq + 1;
      return true;
    });
    EXPECT_GT(expected, 0u) << key << " has no records";
    EXPECT_TRUE(s.is_ok()) << s;
  }
  std::printf("nemesis: %zu faults, %zu operations acknowledged\n", log.size(), acked_total);
}

TEST_F(NemesisTest, AHostCutOffFromItsPeersButNotFromTheDatabaseKeepsItsShards) {
  ASSERT_TRUE(start_all());
  ASSERT_TRUE(wait_balanced(all_ids()));
  Result<ClusterView> before = read_cluster(url_);
  ASSERT_TRUE(before.has_value()) << before.status();
  Result<std::unique_ptr<Client>> client = Client::connect(endpoints(), client_options());
  ASSERT_TRUE(client.has_value()) << client.status();
  ASSERT_TRUE((*client)->spawn("OpLog", "log-a").get().has_value());

  cut_from_peers(2);
  // Three leases long, nothing moves: hosts talk to each other only through
  // the database, which host-2 still reaches. (A poll that never succeeds:
  // it samples the tables until the time is up.)
  std::string moved;
  testing::poll_until(
      [&] {
        Result<ClusterView> now = read_cluster(url_);
        if (!now.has_value()) {
          moved = now.status().to_string();
          return true;
        }
        for (std::size_t s = 0; s < now->shards.size(); ++s) {
          if (now->shards[s].epoch != before->shards[s].epoch || !now->shards[s].live) {
            moved = "shard " + std::to_string(s) + " moved";
            return true;
          }
        }
        return false;
      },
      6s, 200ms);
  EXPECT_EQ(moved, "");
  CallOptions once;
  once.idempotent = true;
  Result<std::int64_t> n = (*client)->call_with<&RemoteOpLog::apply>(once, "log-a", std::int64_t{1}).get();
  ASSERT_TRUE(n.has_value()) << n.status();
  EXPECT_EQ(*n, 1);
}

TEST_F(NemesisTest, AHostCutOffFromTheDatabaseLosesItsShardsAndGetsThemBackAfterHealing) {
  ASSERT_TRUE(start_all());
  ASSERT_TRUE(wait_balanced(all_ids()));
  Result<std::unique_ptr<Client>> client = Client::connect(endpoints(), client_options());
  ASSERT_TRUE(client.has_value()) << client.status();
  CallOptions once;
  once.idempotent = true;
  for (int i = 0; i < 9; ++i) {
    const std::string key = "log-" + std::to_string(i);
    ASSERT_TRUE((*client)->spawn("OpLog", key).get().has_value());
    ASSERT_TRUE((*client)->call_with<&RemoteOpLog::apply>(once, key, std::int64_t{1}).get().has_value());
  }
  cut_from_database(3);
  ASSERT_TRUE(wait_balanced({id(1), id(2)})) << "host-3's shards did not move";
  for (int i = 0; i < 9; ++i) {
    const std::string key = "log-" + std::to_string(i);
    Result<std::int64_t> n = (*client)->call_with<&RemoteOpLog::apply>(once, key, std::int64_t{2}).get();
    if (!n.has_value()) {
      ASSERT_EQ(n.status().code(), StatusCode::kAlreadyExists) << key << ": " << n.status();
    }
  }
  heal(3);
  ASSERT_TRUE(wait_balanced(all_ids())) << "host-3 did not join again";
  for (int i = 0; i < 9; ++i) {
    const std::string key = "log-" + std::to_string(i);
    Result<std::vector<std::int64_t>> ids = (*client)->call_with<&RemoteOpLog::ids>(once, key).get();
    ASSERT_TRUE(ids.has_value()) << key << ": " << ids.status();
    EXPECT_EQ(*ids, (std::vector<std::int64_t>{1, 2})) << key;
  }
}

}  // namespace
}  // namespace keel
