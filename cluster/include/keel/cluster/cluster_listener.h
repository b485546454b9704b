// keel/cluster/cluster_listener.h: hears a cluster's changes as they are
// committed, on a database connection of its own that LISTENs on the
// channel named after the cluster's schema: the registry's names whose
// members changed (keel/cluster/cluster_registry.h), and that the hosts or
// the shards' holders changed (a host joined or left, shards were claimed
// or released). A notification is a wake-up, not the truth: one sent while
// the connection was down is lost, so a caller reads the tables again
// after a wait that says `resubscribed`, and now and then anyway.
//
//   KEEL_ASSIGN_OR_RETURN(auto listener, keel::ClusterListener::open(url));
//   for (;;) {
//     keel::Result<keel::ClusterWakeup> w = listener->wait(std::chrono::seconds(1));
//     if (!w || w->resubscribed) reread_every_name();
//     else for (const auto& [ns, name] : w->names) reread(ns, name);
//   }
//
// wait() is called by one thread at a time; interrupt() by any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "keel/base/status.h"

namespace keel {

// Value type: what one wait heard.
struct ClusterWakeup {
  // The names whose members changed, each once, in the order heard.
  std::vector<std::pair<std::string, std::string>> names;
  // A host joined or left, or shards were claimed or released.
  bool shards = false;
  // The connection was made (again) during this wait: changes before it
  // were not heard.
  bool resubscribed = false;
};

class ClusterListener {
 public:
  // A listener for the cluster at `url` (a journal URL with keel_schema, as
  // for Membership::join); it connects at its first wait, waiting at most
  // `connect_timeout` for the database. Errors: kInvalidArgument (a
  // malformed URL), kIoError (no eventfd).
  static Result<std::unique_ptr<ClusterListener>> open(
      const std::string& url, std::chrono::milliseconds connect_timeout = std::chrono::seconds(5));
  ~ClusterListener();
  ClusterListener(const ClusterListener&) = delete;
  ClusterListener& operator=(const ClusterListener&) = delete;

  // Waits up to `timeout` for notified changes (returning as soon as some
  // have come, or interrupt() was called), connecting and listening first
  // when there is no connection (for up to the connect timeout more).
  // Empty names: none in time. Errors:
  // kUnavailable (the database cannot be reached, or the connection was
  // lost: the next wait connects again), kUnauthenticated, kIoError.
  Result<ClusterWakeup> wait(std::chrono::milliseconds timeout);
  // Makes the current or next wait return at once. Thread-safe.
  void interrupt();

 private:
  class Impl;
  explicit ClusterListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
