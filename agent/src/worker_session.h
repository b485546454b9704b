// worker_session.h: WorkerSession, what a worker process serves: its
// agent's connection (spawns, calls, cancels, heartbeats, shard hand-overs)
// and the connections of clients that call its actors directly
// (docs/distribution.md, "Direct calls"). Internal to Keel::agent.
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keel/agent/worker_host.h"
#include "keel/base/thread_annotations.h"
#include "keel/engine/system.h"
#include "keel/journal/journal.h"
#include "keel/wire/control.h"
#include "keel/wire/transport.h"
#include "agent_client.h"

namespace keel::internal {

// Frames arrive on the transport's I/O thread, which alone spawns and
// looks actors up; replies are sent from whichever engine thread completes
// them. Owned by WorkerHost::run(), which destroys the connections before
// it.
class WorkerSession {
 public:
  using Types = std::map<std::string, std::pair<detail::RemoteSpawnFn, detail::RemoteAskFn>, std::less<>>;
  WorkerSession(System& system, Journal* journal, const Types& types, int slot, AgentClient* client)
      : system_(system), journal_(journal), types_(types), slot_(slot), client_(client) {}
  ~WorkerSession() { wait_releases(); }
  WorkerSession(const WorkerSession&) = delete;
  WorkerSession& operator=(const WorkerSession&) = delete;

  // Waits for the shard releases still running (they end once the system
  // has stopped their actors). Called by run() once the system is shut
  // down, before the connection the releases answer on goes.
  void wait_releases() KEEL_EXCLUDES(releases_mu_);

  // Callbacks of the connection to the agent. Its first frame registers
  // this worker, with the port of its direct listener.
  wire::ConnectionCallbacks callbacks();
  // Callbacks of the direct listener: clients' calls and cancels of the
  // actors hosted here (never spawns, never shard calls).
  wire::ConnectionCallbacks direct_callbacks();
  // The port clients reach this worker's actors on directly; 0: none. Set
  // before the agent's connection is made.
  void set_direct_port(std::uint16_t port) { direct_port_ = port; }

  // The TcpClient replies to the agent are sent through; set once, right
  // after connect (frames can arrive only after the handshake, which takes
  // a round trip).
  void set_link(wire::Connection* link) { link_.store(link, std::memory_order_release); }

  // Blocks until the agent is gone or asked for a shutdown; returns why.
  Status wait() KEEL_EXCLUDES(mu_);

 private:
  // A connection calls arrive on: 0 is the agent's, any other the id of a
  // direct client's connection.
  using Via = std::uint64_t;
  static constexpr Via kAgent = 0;

  void finish(const Status& why) KEEL_EXCLUDES(mu_);
  void on_frame(wire::Connection& c, const wire::Frame& f);
  void echo_heartbeat(wire::Connection& c, std::string_view body);
  void on_spawn(wire::Connection& c, std::string_view body);
  void send_spawn_ack(wire::Connection& c, const wire::Spawn& s);
  // A call from the agent or a direct client: asks the actor, and sends
  // its answer back on the connection it came on.
  void on_call(Via via, wire::Connection& c, std::string_view body) KEEL_EXCLUDES(running_mu_);
  void on_shards_call(wire::Connection& c, std::uint64_t corr, std::string_view method, std::string_view payload)
      KEEL_EXCLUDES(releases_mu_);
  void answer_shards_call(std::uint64_t corr);
  // The caller cancelled call `corr` made on `via`: cancels its ask
  // (docs/engine.md, "Cancelling an ask"), whose answer is then not sent.
  // An unknown call (answered already) is ignored.
  void on_cancel(Via via, wire::Connection& c, std::string_view body) KEEL_EXCLUDES(running_mu_);
  // Forgets call `corr` on `via` once it completed; false when it was
  // cancelled (its answer must not be sent).
  bool finish_call(Via via, std::uint64_t corr) KEEL_EXCLUDES(running_mu_);
  // Sends `m` on `via`: the agent's link, or a direct client's connection
  // if it is still open (else dropped). Any thread.
  template <class M>
  void send_on(Via via, const M& m) KEEL_EXCLUDES(direct_mu_);

  struct Hosted {
    AnyRef ref;  // any_incarnation(): follows restarts
    detail::RemoteAskFn ask;
    std::string type;
  };

  System& system_;
  Journal* const journal_;  // null: no journal
  const Types& types_;
  const int slot_;
  AgentClient* const client_;
  std::uint16_t direct_port_ = 0;
  std::map<std::string, Hosted, std::less<>> actors_;  // I/O thread only
  // release/acquire: a reply sent from an engine thread sees the TcpClient
  // fully constructed.
  std::atomic<wire::Connection*> link_{nullptr};
  // Direct clients' open connections, by id: added by on_open, removed by
  // on_close before it returns (while the Connection is valid), so a reply
  // sent under the lock never reaches a closed one.
  Mutex direct_mu_;
  std::map<Via, wire::Connection*> direct_ KEEL_GUARDED_BY(direct_mu_);
  // Shard releases running on threads of their own; closed once run() is
  // tearing the session down.
  Mutex releases_mu_;
  std::vector<std::future<void>> releases_ KEEL_GUARDED_BY(releases_mu_);
  bool releases_closed_ KEEL_GUARDED_BY(releases_mu_) = false;

  // Calls with a reply_to that have not completed, by connection and
  // correlation id: the handles that cancel them. Inserted on the I/O
  // thread, erased by it (a cancel) or by the engine thread that completes
  // the call.
  Mutex running_mu_;
  std::map<std::pair<Via, std::uint64_t>, CancelHandle> running_ KEEL_GUARDED_BY(running_mu_);

  Mutex mu_;
  CondVar cv_;
  bool done_ KEEL_GUARDED_BY(mu_) = false;
  Status why_ KEEL_GUARDED_BY(mu_);
};

}  // namespace keel::internal
