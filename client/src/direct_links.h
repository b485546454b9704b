// direct_links.h: DirectLinks, the workers a keel::Client calls directly
// (docs/distribution.md, "Direct calls") and, per key, which worker hosts
// it as far as the client knows. Internal to Keel::client.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keel/client/client.h"
#include "keel/net/tcp_transport.h"

namespace keel::internal {

// Links are added, never removed: an index names one worker connection for
// the client's life (a lost one stays, unused, so that a late callback
// finds it). Routes are kept per key, learned from the agent a key's calls
// go to. Not thread-safe: the client's lock serializes every use.
class DirectLinks {
 public:
  using Time = std::chrono::steady_clock::time_point;
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  // How long a key whose agent named no worker (not hosted yet, or no
  // direct calls there) goes through the agent before it is asked again.
  static constexpr std::chrono::seconds kAskAgain{1};
  // A question not answered by then (its agent's connection was lost, the
  // agent is stalled) no longer holds the key's next question back.
  static constexpr std::chrono::seconds kQuestionTimeout{10};
  // Routes kept before idle ones (no link, nothing in flight) are dropped.
  static constexpr std::size_t kMaxRoutes = 1 << 16;
  // Links made at most; past it, keys without one go through their agents.
  static constexpr std::size_t kMaxLinks = 1024;
  // Connections to an agent's workers that failed before they opened, in
  // a row, after which that agent is not asked again: its workers cannot
  // be reached from here (a firewall, a port mapping), and its keys go
  // through it.
  static constexpr int kMaxFailedConnects = 3;

  // The link a call of `key` sent now through agent `agent` goes over
  // instead: the route's, when it was learned from that agent, its link is
  // open, and no call of the key is in flight through an agent (a direct
  // call could overtake it); kNone otherwise.
  std::size_t usable(const std::string& key, std::size_t agent) const;
  // Whether to ask `agent` where `key` is hosted: the agent's workers can
  // be reached (kMaxFailedConnects), no question is in flight for the key
  // (for less than kQuestionTimeout),
  // and it has no route from that agent, or one without a link whose
  // answer is older than kAskAgain.
  bool should_ask(const std::string& key, std::size_t agent, Time now) const;
  // Question `correlation` about `key` went to `agent`.
  void asked(const std::string& key, std::size_t agent, std::uint64_t correlation, Time now);
  // The key question `correlation` was about, if it is one (and forgets it).
  std::optional<std::string> answered(std::uint64_t correlation);
  // The answer to the question about `key`: the worker at `at`, or none
  // (nullopt). Returns the index of a link added for it, which the client
  // connects (kNone: the link exists already, or there is none, or there
  // are kMaxLinks).
  std::size_t learn(const std::string& key, std::optional<AgentEndpoint> at, Time now);
  // Forgets the route of `key` (its worker does not host it any more); it
  // is asked again after kAskAgain.
  void forget(const std::string& key, Time now);
  // The call of `key` was sent through an agent, or such a call ended.
  void sent_through_agent(const std::string& key) {
    trim();
    ++routes_[key].through_agent;
  }
  void ended_through_agent(const std::string& key);

  std::size_t size() const { return links_.size(); }
  wire::TcpClient* conn(std::size_t i) const { return links_[i].conn.get(); }
  const AgentEndpoint& endpoint(std::size_t i) const { return links_[i].at; }
  void set_conn(std::size_t i, std::unique_ptr<wire::TcpClient> c) { links_[i].conn = std::move(c); }
  void opened(std::size_t i);
  // Link `i` closed or could not connect: every route over it is dropped.
  // Its keys are asked for again at their next call when it had opened
  // (the worker went away, and may be back on another port), after
  // kAskAgain when it never opened.
  void lost(std::size_t i, Time now);
  // Moves every connection out (the client closes them outside its lock).
  std::vector<std::unique_ptr<wire::TcpClient>> take_all();

 private:
  struct Link {
    AgentEndpoint at;
    std::size_t agent = kNone;  // the agent that named it
    std::unique_ptr<wire::TcpClient> conn;
    bool opened = false;  // its handshake completed (it is open until lost)
    bool lost = false;    // closed or failed: never used again
  };
  struct Route {
    std::size_t agent = kNone;  // the agent that answered
    std::size_t link = kNone;
    std::uint64_t asking = 0;   // the question in flight; 0: none
    Time answered_at{};         // or asked at, while `asking`
    int through_agent = 0;      // its calls in flight through an agent
  };
  // Drops idle routes once there are more than kMaxRoutes.
  void trim();

  std::vector<Link> links_;
  std::map<std::string, Route, std::less<>> routes_;
  std::map<std::uint64_t, std::string> questions_;
  // Per agent: its workers' connections that failed before opening, in a row.
  std::map<std::size_t, int> failed_connects_;
};

}  // namespace keel::internal
