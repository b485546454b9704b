#include "pg_connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "record_format.h"

namespace keel::internal {
namespace {

constexpr Oid kInt8Oid = 20;
constexpr Oid kByteaOid = 17;
constexpr Oid kTextOid = 25;

std::string trimmed(const char* s) {
  std::string out = s != nullptr ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  // libpq's multi-line messages (hint lines start with a tab) read better on
  // one line.
  std::string line;
  for (char c : out) {
    if (c == '\n' || c == '\t') {
      if (!line.empty() && line.back() != ' ') line += ' ';
    } else {
      line += c;
    }
  }
  return line;
}

void ignore_notice(void*, const char*) {}

}  // namespace

TimePoint pg_now() {
  static const SystemClock clock;
  return clock.now();
}

PgParams& PgParams::int64(std::int64_t v) {
  std::string& s = owned_.emplace_back();
  put_be64(&s, static_cast<std::uint64_t>(v));
  add(kInt8Oid, s.data(), s.size(), 1);
  return *this;
}

PgParams& PgParams::bytes(std::string_view v) {
  add(kByteaOid, v.data(), v.size(), 1);
  return *this;
}

PgParams& PgParams::text(std::string_view v) {
  add(kTextOid, v.data(), v.size(), 1);
  return *this;
}

PgParams& PgParams::literal(std::string v) {
  std::string& s = owned_.emplace_back(std::move(v));
  add(0, s.c_str(), s.size(), 0);
  return *this;
}

namespace {

constexpr Oid kInt8ArrayOid = 1016;
constexpr Oid kByteaArrayOid = 1001;

void put_be32(std::string* dst, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) dst->push_back(static_cast<char>((v >> shift) & 0xff));
}

// array_recv's header of a one-dimensional array of `n` non-null elements.
void put_array_header(std::string* dst, Oid element, std::size_t n) {
  put_be32(dst, 1);  // dimensions
  put_be32(dst, 0);  // no nulls
  put_be32(dst, element);
  put_be32(dst, static_cast<std::uint32_t>(n));
  put_be32(dst, 1);  // lower bound
}

}  // namespace

PgParams& PgParams::int64_array(const std::vector<std::int64_t>& v) {
  std::string& s = owned_.emplace_back();
  s.reserve(20 + v.size() * 12);
  put_array_header(&s, kInt8Oid, v.size());
  for (std::int64_t x : v) {
    put_be32(&s, 8);
    put_be64(&s, static_cast<std::uint64_t>(x));
  }
  add(kInt8ArrayOid, s.data(), s.size(), 1);
  return *this;
}

PgParams& PgParams::bytes_array(const std::vector<std::string_view>& v) {
  std::size_t total = 20;
  for (std::string_view x : v) total += 4 + x.size();
  std::string& s = owned_.emplace_back();
  s.reserve(total);
  put_array_header(&s, kByteaOid, v.size());
  for (std::string_view x : v) {
    put_be32(&s, static_cast<std::uint32_t>(x.size()));
    s.append(x);
  }
  add(kByteaArrayOid, s.data(), s.size(), 1);
  return *this;
}

void PgParams::add(Oid type, const char* data, std::size_t size, int format) {
  types_.push_back(type);
  // libpq reads no bytes of a zero-length value, but wants a non-null pointer.
  values_.push_back(data != nullptr ? data : "");
  lengths_.push_back(static_cast<int>(size));
  formats_.push_back(format);
}

std::int64_t PgResult::integer(int row, int col) const {
  const std::string_view v = bytes(row, col);
  std::uint64_t u = 0;
  for (char c : v) u = (u << 8) | static_cast<std::uint8_t>(c);
  switch (v.size()) {
    case 1: return static_cast<std::int64_t>(u);
    case 2: return static_cast<std::int16_t>(u);
    case 4: return static_cast<std::int32_t>(u);
    case 8: return static_cast<std::int64_t>(u);
    default: return 0;
  }
}

Result<std::unique_ptr<PgConnection>> PgConnection::connect(const PgTarget& target, TimePoint deadline,
                                                            std::chrono::milliseconds statement_timeout) {
  PGconn* raw = PQconnectStart(target.conninfo.c_str());
  if (raw == nullptr) return Status::internal("postgresql journal: out of memory starting a connection");
  std::unique_ptr<PgConnection> c(new PgConnection(raw, target, statement_timeout));
  auto failed = [&](std::string_view why) -> Status {
    const std::string msg = "postgresql journal " + target.display + ": cannot connect to " + target.server +
                            ": " + std::string(why);
    // SQLSTATE is not available before the session exists: judge by text.
    if (std::string_view(why).find("authentication failed") != std::string_view::npos ||
        std::string_view(why).find("password") != std::string_view::npos) {
      return Status::unauthenticated(msg);
    }
    return Status::unavailable(msg);
  };
  if (PQstatus(raw) == CONNECTION_BAD) return failed(trimmed(PQerrorMessage(raw)));
  for (PostgresPollingStatusType st = PGRES_POLLING_WRITING;;) {
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) return failed(trimmed(PQerrorMessage(raw)));
    Status waited = c->wait(st == PGRES_POLLING_WRITING, deadline, "connect");
    if (!waited.is_ok()) {
      const std::string why = trimmed(PQerrorMessage(raw));
      return failed(why.empty() ? "no answer in time" : why);
    }
    st = PQconnectPoll(raw);
  }
  PQsetNoticeProcessor(raw, ignore_notice, nullptr);
  if (PQsetnonblocking(raw, 1) != 0) return failed(trimmed(PQerrorMessage(raw)));
  if (statement_timeout.count() > 0) {
    KEEL_RETURN_IF_ERROR(
        c->exec_script("SET statement_timeout = " + std::to_string(statement_timeout.count()), deadline));
  }
  return c;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::is_broken() const { return broken_ || PQstatus(conn_) == CONNECTION_BAD; }

bool PgConnection::in_transaction() const {
  const PGTransactionStatusType t = PQtransactionStatus(conn_);
  return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

void PgConnection::drop() {
  const int fd = PQsocket(conn_);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  broken_ = true;
}

Status PgConnection::broken(Status s) {
  broken_ = true;
  return s;
}

Status PgConnection::error(std::string_view what, const PGresult* r) const {
  const std::string prefix = "postgresql journal " + target_.display + ": " + std::string(what) + ": ";
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string msg = trimmed(primary != nullptr ? primary : r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  if (msg.empty()) msg = trimmed(PQerrorMessage(conn_));
  if (state == nullptr || PQstatus(conn_) == CONNECTION_BAD) {
    return Status::unavailable(prefix + "connection to " + target_.server + " lost: " + msg);
  }
  const std::string_view code = state;
  if (code == "KL001") return Status::ownership_lost(prefix + msg);
  if (code == "23505") return Status::ownership_lost(prefix + "another writer's row is in the way: " + msg);
  if (code.starts_with("28")) return Status::unauthenticated(prefix + msg);
  if (code == "55P03") return Status::timeout(prefix + msg);  // lock timeout
  if (code == "57014") {
    // The session's statement_timeout (see connect) or a cancel request.
    std::string why = prefix + msg;
    if (statement_timeout_.count() > 0) {
      why += " (the statement ran or waited over " + std::to_string(statement_timeout_.count()) +
             " ms, the server-side part of the journal's pg_timeout; another session may hold a lock on the "
             "journal's tables; nothing of it was written)";
    }
    return Status::timeout(why);
  }
  if (code.starts_with("08") || code == "57P01" || code == "57P02" || code == "57P03") {
    return Status::unavailable(prefix + msg);
  }
  return Status::io_error(prefix + msg + " (SQLSTATE " + std::string(code) + ")");
}

Result<PgConnection::Ready> PgConnection::poll_socket(bool for_write, TimePoint deadline, int wake_fd) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - pg_now());
    if (left.count() <= 0) return Ready::kDeadline;
    pollfd p[2] = {{PQsocket(conn_), static_cast<short>(for_write ? POLLOUT | POLLIN : POLLIN), 0},
                   {wake_fd, POLLIN, 0}};
    if (p[0].fd < 0) return Status::unavailable("postgresql journal " + target_.display + ": no connection to " + target_.server);
    const int n = ::poll(p, wake_fd >= 0 ? 2 : 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) return Status::io_error("postgresql journal: poll: " + std::string(std::strerror(errno)));
    if (n <= 0) continue;
    return p[0].revents != 0 ? Ready::kSocket : Ready::kWoken;
  }
}

Status PgConnection::wait(bool for_write, TimePoint deadline, std::string_view what) {
  KEEL_ASSIGN_OR_RETURN(Ready ready, poll_socket(for_write, deadline, -1));
  if (ready == Ready::kDeadline) {
    return Status::unavailable("postgresql journal " + target_.display + ": " + std::string(what) + ": no answer from " +
                               target_.server + " in time");
  }
  return Status::ok();
}

Result<std::vector<std::string>> PgConnection::wait_notifications(TimePoint deadline, int wake_fd) {
  std::vector<std::string> out;
  auto take = [&] {
    while (PGnotify* n = PQnotifies(conn_)) {
      out.emplace_back(n->extra);
      PQfreemem(n);
    }
  };
  if (PQconsumeInput(conn_) == 0) return broken(error("wait for notifications"));
  take();
  while (out.empty()) {
    Result<Ready> ready = poll_socket(/*for_write=*/false, deadline, wake_fd);
    if (!ready) {
      return ready.status().code() == StatusCode::kUnavailable ? broken(error("wait for notifications"))
                                                                : ready.status();
    }
    if (*ready != Ready::kSocket) break;  // woken, or the deadline passed
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) == CONNECTION_BAD) return broken(error("wait for notifications"));
    take();
  }
  return out;
}

Status PgConnection::flush(TimePoint deadline, std::string_view what) {
  for (;;) {
    const int r = PQflush(conn_);
    if (r == 0) return Status::ok();
    if (r < 0) return broken(error(what));
    Status waited = wait(true, deadline, what);
    if (!waited.is_ok()) return broken(waited);
    // Reading what the server sent meanwhile keeps both sides from waiting
    // on each other's full buffers.
    if (PQconsumeInput(conn_) == 0) return broken(error(what));
  }
}

Result<PgResult> PgConnection::collect(TimePoint deadline, std::string_view what) {
  PgResult kept;
  Status failure;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      Status waited = wait(false, deadline, what);
      if (!waited.is_ok()) return broken(waited);
      if (PQconsumeInput(conn_) == 0) return broken(error(what));
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) break;
    PgResult result(r);
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
      if (failure.is_ok()) failure = error(what, r);
    } else {
      kept = std::move(result);
    }
  }
  if (PQstatus(conn_) == CONNECTION_BAD) return broken(error(what));
  if (!failure.is_ok()) return failure;
  return kept;
}

Result<PgResult> PgConnection::exec(const std::string& sql, const PgParams& p, TimePoint deadline) {
  if (PQsendQueryParams(conn_, sql.c_str(), p.size(), p.types(), p.values(), p.lengths(), p.formats(), 1) == 0) {
    return broken(error(sql));
  }
  KEEL_RETURN_IF_ERROR(flush(deadline, sql));
  return collect(deadline, sql);
}

Status PgConnection::exec_script(const std::string& sql, TimePoint deadline) {
  if (PQsendQuery(conn_, sql.c_str()) == 0) return broken(error("run script"));
  KEEL_RETURN_IF_ERROR(flush(deadline, "run script"));
  return collect(deadline, "run script").status();
}

Status PgConnection::prepare(const std::string& name, const std::string& sql, TimePoint deadline) {
  if (PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr) == 0) return broken(error("prepare " + name));
  KEEL_RETURN_IF_ERROR(flush(deadline, "prepare " + name));
  return collect(deadline, "prepare " + name).status();
}

Result<PgResult> PgConnection::exec_prepared(const std::string& name, const PgParams& p, TimePoint deadline) {
  if (PQsendQueryPrepared(conn_, name.c_str(), p.size(), p.values(), p.lengths(), p.formats(), 1) == 0) {
    return broken(error(name));
  }
  KEEL_RETURN_IF_ERROR(flush(deadline, name));
  return collect(deadline, name);
}

Status PgConnection::begin_pipeline() {
  queued_ = 0;
  if (PQenterPipelineMode(conn_) == 0) return broken(error("enter pipeline mode"));
  return Status::ok();
}

Status PgConnection::queue(const std::string& sql, const PgParams& p) {
  ++queued_;
  if (PQsendQueryParams(conn_, sql.c_str(), p.size(), p.types(), p.values(), p.lengths(), p.formats(), 1) == 0) {
    return broken(error("queue a statement"));
  }
  return Status::ok();
}

Status PgConnection::queue_prepared(const std::string& name, const PgParams& p) {
  ++queued_;
  if (PQsendQueryPrepared(conn_, name.c_str(), p.size(), p.values(), p.lengths(), p.formats(), 1) == 0) {
    return broken(error("queue " + name));
  }
  return Status::ok();
}

Status PgConnection::end_pipeline(TimePoint deadline, const std::function<void()>& sent, PgResult* rows) {
  constexpr std::string_view kWhat = "commit";
  if (PQpipelineSync(conn_) == 0) return broken(error(kWhat));
  KEEL_RETURN_IF_ERROR(flush(deadline, kWhat));
  if (sent) sent();
  Status failure;
  for (bool synced = false; !synced;) {
    while (PQisBusy(conn_) != 0) {
      Status waited = wait(false, deadline, kWhat);
      if (!waited.is_ok()) return broken(waited);
      if (PQconsumeInput(conn_) == 0) return broken(error(kWhat));
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) {
      if (PQstatus(conn_) == CONNECTION_BAD || broken_) return broken(error(kWhat));
      continue;  // the end of one statement's results
    }
    PgResult result(r);
    switch (PQresultStatus(r)) {
      case PGRES_PIPELINE_SYNC: synced = true; break;
      case PGRES_TUPLES_OK:
        if (rows != nullptr) *rows = std::move(result);
        break;
      case PGRES_FATAL_ERROR:
      case PGRES_BAD_RESPONSE:
        if (failure.is_ok()) failure = error(kWhat, r);
        if (PQstatus(conn_) == CONNECTION_BAD) return broken(failure);
        break;
      default: break;  // PGRES_PIPELINE_ABORTED: skipped after the first error
    }
  }
  if (PQexitPipelineMode(conn_) == 0) return broken(error("leave pipeline mode"));
  return failure;
}

}  // namespace keel::internal
