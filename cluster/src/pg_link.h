// pg_link.h: PgLink, one connection of the cluster's to its database, made
// on first use and again after it broke, with its calls serialized.
#pragma once

#include <chrono>
#include <memory>

#include "keel/base/thread_annotations.h"
#include "pg_connection.h"
#include "pg_conninfo.h"

namespace keel::internal {

// Thread-safe: calls run one at a time on the link's connection.
class PgLink {
 public:
  // `target` must outlive the link. A positive `statement_timeout` is the
  // session's: the server cancels (and rolls back) a statement that runs
  // or waits longer, so one abandoned at its deadline cannot still take
  // effect later.
  explicit PgLink(const PgTarget* target, std::chrono::milliseconds statement_timeout = {})
      : target_(target), statement_timeout_(statement_timeout) {}

  // Runs `body(connection, deadline)` once no other call of the link runs,
  // connecting first if the connection is not there (or broke). Returns the
  // body's result, or the connection's error (those of PgConnection::connect).
  template <class Body>
  auto run_until(TimePoint deadline, Body body)
      -> decltype(body(static_cast<PgConnection*>(nullptr), deadline)) {
    MutexLock lock(mu_);
    if (conn_ == nullptr || conn_->is_broken()) {
      conn_.reset();
      Result<std::unique_ptr<PgConnection>> c = PgConnection::connect(*target_, deadline, statement_timeout_);
      if (!c) return c.status();
      conn_ = std::move(*c);
    }
    return body(conn_.get(), deadline);
  }
  // The same with a deadline `timeout` from now.
  template <class Body>
  auto run(std::chrono::milliseconds timeout, Body body) {
    return run_until(pg_now() + timeout, std::move(body));
  }

 private:
  const PgTarget* target_;
  const std::chrono::milliseconds statement_timeout_;
  Mutex mu_;
  std::unique_ptr<PgConnection> conn_ KEEL_GUARDED_BY(mu_);
};

}  // namespace keel::internal
