// pg_link.h: PgLink, one connection of the cluster's to its database, made
// on first use and again after it broke. Not thread-safe: its owner
// serializes the calls.
#pragma once

#include <memory>

#include "pg_connection.h"
#include "pg_conninfo.h"

namespace keel::internal {

class PgLink {
 public:
  // `target` must outlive the link.
  explicit PgLink(const PgTarget* target) : target_(target) {}

  // The connection, connected by `deadline` if it was not (or broke).
  // Errors: as PgConnection::connect.
  Result<PgConnection*> get(TimePoint deadline) {
    if (conn_ != nullptr && !conn_->is_broken()) return conn_.get();
    conn_.reset();
    KEEL_ASSIGN_OR_RETURN(conn_, PgConnection::connect(*target_, deadline));
    return conn_.get();
  }

 private:
  const PgTarget* target_;
  std::unique_ptr<PgConnection> conn_;
};

}  // namespace keel::internal
