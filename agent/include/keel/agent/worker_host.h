// keel/agent/worker_host.h: the worker side of keel-agent. A worker is the
// user's program: it links Keel::agent, registers its actor types by name
// and hands control to WorkerHost::run, which keel-agent starts by
// fork+exec (docs/distribution.md). The agent then routes spawns and calls
// from clients to it.
//
//   int main(int argc, char** argv) {
//     keel::WorkerHost host;
//     host.register_type<Counter>("Counter");   // plain: state lives in memory
//     host.register_type<Account>("Account");   // durable: recovered from the journal
//     return host.run(argc, argv);
//   }
//
// Actors are default-constructed. A durable type (deriving from
// keel::DurableActor) is spawned with System::spawn_durable under the
// requested key; a plain one with System::spawn_with, registered under it.
// Remote calls name handlers exactly as durable messages do (the names in
// T::kHandlers), and carry their arguments as keel::wire::encode_args.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "keel/base/status.h"
#include "keel/client/client.h"
#include "keel/engine/actor.h"
#include "keel/engine/durable.h"
#include "keel/engine/future.h"
#include "keel/wire/value.h"

namespace keel {

namespace detail {

// Runs one remote ask of handler M on `ref`: decodes `payload` as M's
// arguments and completes with the reply encoded as wire::encode_value (for
// void handlers, an empty wire::encode_args()). `options.inbox_envelope`
// is the envelope the call arrived in, whose payload is `payload`: a
// durable actor journals it as its INBOX record as it is (the arguments
// were decoded from that payload, as AskOptions::inbox_envelope requires).
// Errors: kCorruption for arguments that do not decode, then those of the
// ask.
template <class T, auto M, class Tuple>
struct RemoteAsk;
template <class T, auto M, class... Args>
struct RemoteAsk<T, M, std::tuple<Args...>> {
  static Future<std::string> run(const AnyRef& ref, std::string_view payload, const AskOptions& options) {
    auto args = wire::decode_args<Args...>(payload);
    if (!args) return Future<std::string>::ready(args.status());
    using R = ask_value_t<T, M, Args...>;
    auto reply = std::apply(
        [&](auto&... a) { return ActorRef<T>(ref).template ask_with<M>(options, std::move(a)...); }, *args);
    return reply.then([](Result<Stored<R>> r) -> Result<std::string> {
      if (!r) return r.status();
      if constexpr (std::is_void_v<R>) {
        return wire::encode_args();
      } else {
        return wire::encode_value(*r);
      }
    });
  }
};

// Finds T's handler named `method` and runs RemoteAsk for it; kNotFound
// when T has no such handler.
template <class T>
Future<std::string> remote_ask(const AnyRef& ref, std::string_view method, std::string_view payload,
                               const AskOptions& options) {
  std::optional<Future<std::string>> out;
  auto try_one = [&](const auto& h) {
    constexpr auto m = handler_pointer<std::decay_t<decltype(h)>>::value;
    if (out || method != h.name) return;
    out.emplace(RemoteAsk<T, m, typename MemberArgs<std::remove_const_t<decltype(m)>>::type>::run(ref, payload, options));
  };
  std::apply([&](const auto&... h) { (try_one(h), ...); }, T::kHandlers.items);
  if (!out) return Future<std::string>::ready(Status::not_found("no handler '" + std::string(method) + "'"));
  return std::move(*out);
}

// Passes the worker's client to an actor's constructor: System copies
// spawn arguments (and unwraps std::reference_wrapper into const refs), so
// the reference travels as a pointer that converts back to Client&.
struct ClientArg {
  Client* client;
  operator Client&() const { return *client; }  // NOLINT(implicit)
};

template <class T, class... A>
Result<AnyRef> spawn_remote_actor(System& system, const std::string& key, A... args) {
  if constexpr (is_durable_v<T>) {
    // A cluster gang's member lives on its host, not in a shard of the journal.
    if (key.starts_with("gang/")) {
      return Status::invalid_argument("gang member '" + key + "' cannot be a durable actor");
    }
    KEEL_ASSIGN_OR_RETURN(ActorRef<T> r, system.spawn_durable<T>(key, args...));
    return AnyRef(std::move(r));
  } else {
    SpawnOptions options;
    options.name = key;
    KEEL_ASSIGN_OR_RETURN(ActorRef<T> r, system.spawn_with<T>(options, args...));
    return AnyRef(std::move(r));
  }
}

// Spawns a T under `key` on `system` (durable: recovered from the journal),
// constructed with `*client` when T takes a Client&. Errors: those of
// System::spawn_durable / spawn_with, kFailedPrecondition (T needs a client
// and there is none).
template <class T>
Result<AnyRef> remote_spawn(System& system, const std::string& key, Client* client) {
  if constexpr (std::is_constructible_v<T, Client&>) {
    if (client == nullptr) return Status::failed_precondition("no client of the agent to construct " + key);
    return spawn_remote_actor<T>(system, key, ClientArg{client});
  } else {
    return spawn_remote_actor<T>(system, key);
  }
}

using RemoteSpawnFn = Result<AnyRef> (*)(System& system, const std::string& key, Client* client);
using RemoteAskFn = Future<std::string> (*)(const AnyRef& ref, std::string_view method,
                                            std::string_view payload, const AskOptions& options);

}  // namespace detail

struct WorkerHostOptions {
  // Engine threads; -1: one per core.
  int threads = -1;
  // SystemConfig::spin_before_park of the worker's engine. A worker shares
  // the host's cores with its own I/O thread, the agent and other workers,
  // so its idle engine threads sleep at once by default.
  std::chrono::microseconds spin_before_park{0};
  // How the hosted actors (top-level in the worker's System) are
  // supervised: SystemConfig::root_strategy. A handler that throws fails its
  // actor, which is restarted; calls keep reaching it by key, the new
  // incarnation included. Remote callers make handlers throw on bad input,
  // so the default allows many restarts (100 within a second) before the
  // actor is stopped (its calls then fail with kNotFound until a spawn of
  // its key starts it again).
  SupervisorStrategy supervision = default_supervision();

  // The default of `supervision`: restart on every error, at most 100
  // times within one second.
  static SupervisorStrategy default_supervision() {
    SupervisorStrategy s;
    s.max_restarts = 100;
    s.within = std::chrono::seconds(1);
    return s;
  }
};

// Hosts actors for keel-agent in this process. Owned by main(); not
// thread-safe: register types, then call run() once, from one thread.
class WorkerHost {
 public:
  explicit WorkerHost(WorkerHostOptions options = {});
  ~WorkerHost();
  WorkerHost(const WorkerHost&) = delete;
  WorkerHost& operator=(const WorkerHost&) = delete;

  // Makes actor class T spawnable under `type_name`. T lists its handlers
  // in kHandlers and is either default-constructible or constructible from
  // a keel::Client&: the worker's client of its agent, through which the
  // actor calls actors in other worker processes (from a handler, return
  // the Future or use continue_with; never wait on it in a handler). The
  // client outlives the actors. A name registered twice keeps the first
  // registration.
  template <class T>
  void register_type(std::string type_name) {
    static_assert(std::is_base_of_v<Actor, T>, "actors derive from keel::Actor");
    static_assert(std::is_default_constructible_v<T> || std::is_constructible_v<T, Client&>,
                  "remote actors are default-constructed, or constructed from a keel::Client&");
    add_type(std::move(type_name), &detail::remote_spawn<T>, &detail::remote_ask<T>);
  }

  // Connects to the agent named on the command line (keel-agent passes
  // --keel-agent HOST:PORT --keel-client HOST:PORT --keel-slot N
  // [--keel-direct HOST] [--keel-journal PATH]; the secret comes in
  // KEEL_SECRET), serves spawns and calls until the agent goes away or
  // tells it to shut down, then stops its actors. With --keel-direct it
  // also takes clients' calls directly on a port of HOST. Returns the process
  // exit code: 0 after a shutdown or a lost agent, 2 when not started by an
  // agent (bad arguments), 1 when the journal or the connection fails at
  // start (the reason goes to stderr).
  int run(int argc, char** argv);

 private:
  void add_type(std::string type_name, detail::RemoteSpawnFn spawn, detail::RemoteAskFn ask);

  struct Type {
    std::string name;
    detail::RemoteSpawnFn spawn;
    detail::RemoteAskFn ask;
  };
  WorkerHostOptions options_;
  std::vector<Type> types_;
};

}  // namespace keel
