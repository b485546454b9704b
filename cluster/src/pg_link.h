// pg_link.h: PgLink, one connection of the cluster's to its database, made
// on first use and again after it broke. Not thread-safe: its owner
// serializes the calls.
#pragma once

#include <chrono>
#include <memory>

#include "pg_connection.h"
#include "pg_conninfo.h"

namespace keel::internal {

class PgLink {
 public:
  // `target` must outlive the link. A positive `statement_timeout` is the
  // session's: the server cancels (and rolls back) a statement that runs
  // or waits longer, so one abandoned at its deadline cannot still take
  // effect later.
  explicit PgLink(const PgTarget* target, std::chrono::milliseconds statement_timeout = {})
      : target_(target), statement_timeout_(statement_timeout) {}

  // The connection, connected by `deadline` if it was not (or broke).
  // Errors: as PgConnection::connect.
  Result<PgConnection*> get(TimePoint deadline) {
    if (conn_ != nullptr && !conn_->is_broken()) return conn_.get();
    conn_.reset();
    KEEL_ASSIGN_OR_RETURN(conn_, PgConnection::connect(*target_, deadline, statement_timeout_));
    return conn_.get();
  }

 private:
  const PgTarget* target_;
  const std::chrono::milliseconds statement_timeout_;
  std::unique_ptr<PgConnection> conn_;
};

}  // namespace keel::internal
