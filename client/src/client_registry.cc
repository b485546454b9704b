// keel::Client's registry calls. Each agent serves its own registry under a
// reserved key, and answers wire::encode_value(std::pair(version, keys));
// over several agents a lookup asks each and merges the answers.
//
// Threads: the fan-out state below is completed by whichever I/O or timer
// thread completes the last per-agent future; it is shared with those
// continuations, so it lives in a shared_ptr.
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "keel/base/thread_annotations.h"
#include "keel/client/client.h"

namespace keel {
namespace {

constexpr const char* kRegistryKey = "keel.registry";

CallOptions registry_call(Duration deadline = Duration::zero()) {
  CallOptions o;
  o.idempotent = true;
  o.deadline = deadline;
  return o;
}

Result<RegistryMembers> decode_members(const Result<std::string>& r) {
  if (!r) return r.status();
  KEEL_ASSIGN_OR_RETURN(auto m, (wire::decode_value<std::pair<std::uint64_t, std::vector<std::string>>>(*r)));
  return RegistryMembers{m.first, std::move(m.second)};
}

using Answers = std::vector<std::optional<Result<RegistryMembers>>>;

// Every agent's answer to one lookup, handed to `done` once all are in.
struct Gather {
  Mutex mu;
  Answers answers KEEL_GUARDED_BY(mu);
  std::size_t pending KEEL_GUARDED_BY(mu) = 0;
  std::function<void(Answers)> done;
};

// The watches of one Client::watch after its lookup: the answers so far,
// and the watches still in flight.
struct Race {
  Mutex mu;
  Answers answers KEEL_GUARDED_BY(mu);
  std::size_t pending KEEL_GUARDED_BY(mu) = 0;
  Promise<RegistryMembers> promise;  // completed once, by try_set
};

// The answers merged (merge_members over those that answered, or in a
// `cluster` newest_members); the first error when none did, and kCancelled
// when the client is being destroyed (nothing may call it again).
Result<RegistryMembers> merge_answers(const std::vector<std::optional<Result<RegistryMembers>>>& answers,
                                      bool cluster) {
  std::vector<RegistryMembers> ok;
  Status first;
  for (const auto& a : answers) {
    if (!a) continue;
    if (!*a && a->status().code() == StatusCode::kCancelled) return a->status();
    if (*a) {
      ok.push_back(**a);
    } else if (first.is_ok()) {
      first = a->status();
    }
  }
  if (ok.empty()) return first.is_ok() ? Status::unavailable("no agent answered") : first;
  return cluster ? newest_members(ok) : merge_members(ok);
}

// Looks `ns`/`name` up on every agent of `client` and calls done(answers)
// on the thread that completes the last lookup. In a cluster, a host not
// connected now answers kUnavailable at once: the others read the same
// table, and its calls would wait out the retries.
void lookup_each(Client& client, const std::string& ns, const std::string& name,
                 std::function<void(Answers)> done) {
  const std::size_t n = client.agents().size();
  auto g = std::make_shared<Gather>();
  g->done = std::move(done);
  {
    MutexLock lock(g->mu);
    g->answers.assign(n, std::nullopt);
    g->pending = n;
  }
  for (std::size_t i = 0; i < n; ++i) {
    Future<RegistryMembers> asked =
        client.in_cluster() && !client.is_connected(i)
            ? Future<RegistryMembers>::ready(
                  Status::unavailable("host " + client.agents()[i].to_string() + " is not connected"))
            : client.lookup_on(i, ns, name);
    asked.then([g, i](Result<RegistryMembers> r) {
      Answers all;
      {
        MutexLock lock(g->mu);
        g->answers[i] = std::move(r);
        if (--g->pending != 0) return;
        all = std::move(g->answers);
      }
      g->done(std::move(all));
    });
  }
}

}  // namespace

RegistryMembers newest_members(const std::vector<RegistryMembers>& per_host) {
  RegistryMembers out;
  for (const RegistryMembers& m : per_host) {
    if (m.version > out.version) out = m;
  }
  return out;
}

RegistryMembers merge_members(const std::vector<RegistryMembers>& per_agent) {
  RegistryMembers out;
  std::set<std::string_view> seen;
  for (const RegistryMembers& m : per_agent) {
    out.version += m.version;
    for (const std::string& k : m.keys) {
      if (seen.insert(k).second) out.keys.push_back(k);
    }
  }
  return out;
}

Future<void> Client::register_name(const std::string& ns, const std::string& name, const std::string& key) {
  return call_on(agent_for(key), kRegistryKey, "register", wire::encode_args(ns, name, key), registry_call())
      .then([](Result<std::string> r) { return r.status(); });
}

Future<void> Client::unregister_name(const std::string& ns, const std::string& name, const std::string& key) {
  return call_on(agent_for(key), kRegistryKey, "unregister", wire::encode_args(ns, name, key), registry_call())
      .then([](Result<std::string> r) { return r.status(); });
}

Future<RegistryMembers> Client::lookup_on(std::size_t agent, const std::string& ns, const std::string& name) {
  return call_on(agent, kRegistryKey, "lookup", wire::encode_args(ns, name), registry_call())
      .then([this, agent](Result<std::string> r) {
        auto m = decode_members(r);
        if (m) learn_placement(agent, m->keys);
        return m;
      });
}

Future<RegistryMembers> Client::watch_on(std::size_t agent, const std::string& ns, const std::string& name,
                                         std::uint64_t version, Duration deadline) {
  return call_on(agent, kRegistryKey, "watch", wire::encode_args(ns, name, version), registry_call(deadline))
      .then([this, agent](Result<std::string> r) {
        auto m = decode_members(r);
        if (m) learn_placement(agent, m->keys);
        return m;
      });
}

Future<RegistryMembers> Client::lookup(const std::string& ns, const std::string& name) {
  auto promise = std::make_shared<Promise<RegistryMembers>>();
  Future<RegistryMembers> out = promise->future();
  lookup_each(*this, ns, name, [this, promise](Answers all) { promise->try_set(merge_answers(all, in_cluster())); });
  return out;
}

Future<RegistryMembers> Client::watch(const std::string& ns, const std::string& name, std::uint64_t version,
                                      Duration deadline) {
  if (agents().size() == 1) return watch_on(0, ns, name, version, deadline);
  // Look every agent up; if the merged version is `version`, watch each
  // agent that answered from its own version, and complete with the first
  // change, merged with the other agents' lookups.
  const auto until = std::chrono::steady_clock::now() + deadline;
  auto race = std::make_shared<Race>();
  Future<RegistryMembers> out = race->promise.future();
  lookup_each(*this, ns, name, [this, race, ns, name, version, until](Answers all) {
    auto merged = merge_answers(all, in_cluster());
    const auto left = std::chrono::duration_cast<Duration>(until - std::chrono::steady_clock::now());
    if (!merged || merged->version != version) {
      race->promise.try_set(std::move(merged));
      return;
    }
    if (left <= Duration::zero()) {
      race->promise.set_error(Status::timeout("deadline exceeded watching " + ns + "/" + name));
      return;
    }
    std::vector<std::pair<std::size_t, std::uint64_t>> to_watch;
    for (std::size_t a = 0; a < all.size(); ++a) {
      if (*all[a]) to_watch.emplace_back(a, (*all[a])->version);
    }
    {
      MutexLock lock(race->mu);
      race->answers = std::move(all);
      race->pending = to_watch.size();
    }
    for (const std::pair<std::size_t, std::uint64_t>& from : to_watch) {
      const std::size_t a = from.first;
      watch_on(a, ns, name, from.second, left).then([this, race, a](Result<RegistryMembers> w) {
        std::optional<Result<RegistryMembers>> result;  // set outside the lock
        {
          MutexLock lock(race->mu);
          if (!w && w.status().code() != StatusCode::kCancelled) {
            if (--race->pending == 0) result = w.status();
          } else {
            race->answers[a] = std::move(w);
            result = merge_answers(race->answers, in_cluster());
          }
        }
        if (result) race->promise.try_set(std::move(*result));
      });
    }
  });
  return out;
}

}  // namespace keel
