// pg_connection.h: PgConnection, one libpq connection of a PgJournal, with
// deadlines on every wait, and PgParams / PgResult for binary parameters
// and results. libpq appears only here and in the .cc files of the
// PostgreSQL backend.
//
// Not thread-safe: a connection belongs to the writer thread, or to one read
// at a time (borrowed from the reader pool).
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "pg_conninfo.h"

namespace keel::internal {

// Statement parameters, all in binary format. Added values are copied (ints)
// or borrowed (bytes, text: they must outlive the statement's send).
class PgParams {
 public:
  PgParams() = default;
  PgParams(PgParams&&) = default;  // moving keeps owned_'s strings in place
  PgParams& operator=(PgParams&&) = default;
  PgParams(const PgParams&) = delete;
  PgParams& operator=(const PgParams&) = delete;

  PgParams& int64(std::int64_t v);
  PgParams& bytes(std::string_view v);  // bytea
  PgParams& text(std::string_view v);   // text (the bytes as they are)
  // A text-format value of unspecified type, for SQL that casts it (arrays:
  // "{1,2,3}"). Copied.
  PgParams& literal(std::string v);
  // One-dimensional arrays in the server's binary array format (bigint[],
  // bytea[]), copied: a whole group's column in one parameter, for SQL that
  // takes them apart with unnest().
  PgParams& int64_array(const std::vector<std::int64_t>& v);
  PgParams& bytes_array(const std::vector<std::string_view>& v);

  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  void add(Oid type, const char* data, std::size_t size, int format);
  std::deque<std::string> owned_;  // stable addresses
  std::vector<Oid> types_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// Owns one PGresult (binary columns). Move-only value.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r) {}
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  ~PgResult() {
    if (r_ != nullptr) PQclear(r_);
  }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const { return r_ != nullptr ? PQntuples(r_) : 0; }
  int columns() const { return r_ != nullptr ? PQnfields(r_) : 0; }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string_view bytes(int row, int col) const {
    return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
  }
  // A binary int2, int4, int8 or boolean column as an integer; 0 for NULL
  // or a value of another width.
  std::int64_t integer(int row, int col) const;

 private:
  PGresult* r_ = nullptr;
};

class PgConnection {
 public:
  // Connects to `target` (one attempt) by `deadline`, in non-blocking mode,
  // with notices discarded. A positive `statement_timeout` becomes the
  // session's: the server then cancels a statement that runs or waits (on
  // another session's lock) longer, and rolls its transaction back, so a
  // caller whose deadline is later learns the outcome (kTimeout) instead
  // of abandoning a statement that might still commit. Errors: kUnavailable
  // (cannot reach the server, or no answer by the deadline: the message
  // names target.server), kUnauthenticated (credentials refused), kIoError.
  static Result<std::unique_ptr<PgConnection>> connect(const PgTarget& target, TimePoint deadline,
                                                       std::chrono::milliseconds statement_timeout = {});
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement (extended protocol, binary results) by `deadline`.
  // Errors: as error() below.
  Result<PgResult> exec(const std::string& sql, const PgParams& params, TimePoint deadline);
  Result<PgResult> exec(const std::string& sql, TimePoint deadline) { return exec(sql, PgParams(), deadline); }
  // Runs `sql`, several ';'-separated statements without parameters.
  Status exec_script(const std::string& sql, TimePoint deadline);
  // Prepares `sql` as the named statement `name` on this connection.
  Status prepare(const std::string& name, const std::string& sql, TimePoint deadline);
  Result<PgResult> exec_prepared(const std::string& name, const PgParams& params, TimePoint deadline);

  // Pipeline mode (one round trip for many statements): begin_pipeline(),
  // then queue statements, then end_pipeline(), which syncs, flushes, calls
  // `sent` (if set) once everything is on the wire, reads every result and
  // leaves pipeline mode. Returns the first statement's error (the rest of
  // the pipeline was then skipped by the server). Queue errors mean the
  // connection failed. With `rows`, the last result that has rows goes
  // there.
  Status begin_pipeline();
  Status queue(const std::string& sql, const PgParams& params);
  Status queue_prepared(const std::string& name, const PgParams& params);
  Status end_pipeline(TimePoint deadline, const std::function<void()>& sent = nullptr, PgResult* rows = nullptr);

  // The payloads of the notifications (LISTEN, run before with exec_script)
  // that have arrived, oldest first, waiting until `deadline` for one when
  // none has, or until `wake_fd` (if not -1) is readable; empty when none
  // came. The caller drains `wake_fd`. Errors: kUnavailable (the connection
  // is lost: is_broken() afterwards), kIoError.
  Result<std::vector<std::string>> wait_notifications(TimePoint deadline, int wake_fd = -1);

  // Whether the connection is lost or was abandoned mid-statement (after a
  // deadline): it cannot be used again.
  bool is_broken() const;
  // Whether a transaction is open (or failed and not yet rolled back).
  bool in_transaction() const;
  // The server process of this connection (for tests that end it).
  int backend_pid() const { return PQbackendPID(conn_); }
  // Closes the socket as a lost network would; is_broken() afterwards.
  void drop();

  // The error of `r` (null: of the connection) for operation `what`:
  // kUnavailable for a lost connection or a server shutting down,
  // kOwnershipLost for a fenced commit (SQLSTATE KL001) or another writer's
  // row in the way (unique violation, 23505), kUnauthenticated (class 28),
  // kTimeout (statement or lock timeout), else kIoError (with its SQLSTATE,
  // as "(SQLSTATE 42501)"). Messages name the journal
  // (target.display) and never hold the password.
  Status error(std::string_view what, const PGresult* r = nullptr) const;

 private:
  PgConnection(PGconn* conn, const PgTarget& target, std::chrono::milliseconds statement_timeout)
      : conn_(conn), target_(target), statement_timeout_(statement_timeout) {}
  // Waits until the socket is readable (or writable) or `deadline` passes.
  Status wait(bool for_write, TimePoint deadline, std::string_view what);
  // What poll_socket saw first: the socket ready, `wake_fd` readable, or
  // the deadline.
  enum class Ready : std::uint8_t { kSocket, kWoken, kDeadline };
  // Polls the socket (readable, and writable too with `for_write`) and
  // `wake_fd` (if not -1) until one is ready or `deadline` passes. Errors:
  // kUnavailable (no socket), kIoError (poll failed).
  Result<Ready> poll_socket(bool for_write, TimePoint deadline, int wake_fd);
  Status flush(TimePoint deadline, std::string_view what);
  // Reads the results of one statement; the first error wins.
  Result<PgResult> collect(TimePoint deadline, std::string_view what);
  Status broken(Status s);

  PGconn* conn_;
  const PgTarget& target_;  // owned by the journal, which outlives its connections
  const std::chrono::milliseconds statement_timeout_;  // the session's; zero: the server's default
  bool broken_ = false;
  int queued_ = 0;  // statements in the current pipeline
};

// Real monotonic time, for network deadlines.
TimePoint pg_now();
inline TimePoint pg_deadline(std::chrono::milliseconds timeout) { return pg_now() + timeout; }
// The server-side statement timeout of a journal's connections whose calls
// wait at most `timeout`: three quarters of it, so that the server cancels a
// stuck statement (and the caller hears of it) before the caller's deadline.
inline std::chrono::milliseconds pg_statement_timeout(std::chrono::milliseconds timeout) {
  return std::max(std::chrono::milliseconds(1), timeout * 3 / 4);
}

}  // namespace keel::internal
