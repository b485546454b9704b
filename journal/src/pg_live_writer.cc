// Who runs a PostgreSQL journal: the live lock every writable PgJournal
// holds, and the admin endpoint a WorkflowEngine announces in the admin
// table. docs/journal-format.md, "Live lock and admin endpoint".
#include <algorithm>
#include <utility>

#include "keel/journal/pg_journal.h"
#include "pg_journal.h"

namespace keel::internal {
namespace {

// The live lock's key, in the two-int4 key space of advisory locks (which
// the one-bigint locks of pg_schema.cc and the commit path never meet):
// 'KEEL' as a big-endian int4, and hashtext('keel-live/<schema>') as $1.
constexpr std::string_view kLiveLockKey = "1262830924, hashtext($1)";

PgParams live_lock_key(const PgTarget& t) {
  PgParams p;
  p.literal("keel-live/" + t.schema);
  return p;
}

// The writer that claimed the journal last ("host pid N"), for messages;
// "another writer" when the epochs say nothing (a journal being created).
std::string last_claimer(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  Result<bool> has = pg_has_relation(c, t, "epochs", deadline);
  if (!has.has_value() || !*has) return "another writer";
  Result<PgResult> r =
      c->exec(in_schema(t.schema, "SELECT holder FROM S.epochs ORDER BY claimed_at DESC, shard LIMIT 1"), deadline);
  if (!r.has_value() || r->rows() != 1) return "another writer";
  return std::string(r->bytes(0, 0));
}

}  // namespace

Status PgJournal::take_live_lock(TimePoint deadline) {
  PgConnection* c = writer_.get();
  const std::string what = "postgresql journal " + target_.display;
  if (options().pg_exclusive) {
    KEEL_ASSIGN_OR_RETURN(
        PgResult r, c->exec("SELECT pg_try_advisory_lock(" + std::string(kLiveLockKey) + ")", live_lock_key(target_),
                            deadline));
    if (r.rows() == 1 && r.integer(0, 0) != 0) return Status::ok();
    return Status::failed_precondition(what + ": a live writer holds it (last claimed by " +
                                       last_claimer(c, target_, deadline) + ")");
  }
  // An exclusive holder is an offline command, done in moments: wait for
  // it, but give up within the open's deadline, with a quarter of what is
  // left to spare for the server to say so before the connection's own
  // deadline passes.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - pg_now());
  KEEL_RETURN_IF_ERROR(c->exec_script(
      "SET lock_timeout = " + std::to_string(std::max<std::int64_t>(left.count() * 3 / 4, 1)), deadline));
  Status s = c->exec("SELECT pg_advisory_lock_shared(" + std::string(kLiveLockKey) + ")", live_lock_key(target_),
                     deadline)
                 .status();
  if (s.code() == StatusCode::kTimeout) {
    return Status::unavailable(what + ": an offline command holds it exclusively (" +
                               last_claimer(c, target_, deadline) + "); try again");
  }
  KEEL_RETURN_IF_ERROR(s);
  return c->exec_script("RESET lock_timeout", deadline);
}

void PgJournal::release_live_lock() {
  if (writer_ == nullptr || writer_->is_broken()) return;
  const std::string unlock = options().pg_exclusive ? "pg_advisory_unlock" : "pg_advisory_unlock_shared";
  // A failure leaves the lock to the end of the session, moments later.
  writer_
      ->exec("SELECT " + unlock + "(" + std::string(kLiveLockKey) + ")", live_lock_key(target_),
             pg_deadline(options().pg_timeout))
      .status()
      .ignore();
}

Status PgJournal::announce_admin(const PgAdminAnnouncement& a) {
  if (options().read_only) {
    return Status::failed_precondition("postgresql journal " + target_.display + ": read-only: cannot announce");
  }
  return with_reader([&](PgConnection* c, bool*) -> Status {
    PgParams p;
    p.text(a.host).int64(a.pid).text(a.socket).text(a.token);
    return c
        ->exec(sql("INSERT INTO S.admin (only_row, host, pid, socket, token) VALUES (true, $1, $2, $3, $4) "
                   "ON CONFLICT (only_row) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
                   "socket = excluded.socket, token = excluded.token, announced_at = now()"),
               p, pg_deadline(options().pg_timeout))
        .status();
  });
}

Status PgJournal::withdraw_admin(std::string_view token) {
  if (options().read_only) {
    return Status::failed_precondition("postgresql journal " + target_.display + ": read-only: cannot withdraw");
  }
  return with_reader([&](PgConnection* c, bool*) -> Status {
    PgParams p;
    p.text(token);
    return c->exec(sql("DELETE FROM S.admin WHERE token = $1"), p, pg_deadline(options().pg_timeout)).status();
  });
}

}  // namespace keel::internal

namespace keel {
Status announce_pg_admin(Journal& journal, const PgAdminAnnouncement& a) {
  KEEL_ASSIGN_OR_RETURN(internal::PgJournal * pg, internal::PgJournal::of(journal));
  return pg->announce_admin(a);
}

Status withdraw_pg_admin(Journal& journal, std::string_view token) {
  KEEL_ASSIGN_OR_RETURN(internal::PgJournal * pg, internal::PgJournal::of(journal));
  return pg->withdraw_admin(token);
}

Result<std::optional<PgAdminAnnouncement>> read_pg_admin(const std::string& conninfo,
                                                         std::chrono::milliseconds timeout) {
  KEEL_ASSIGN_OR_RETURN(internal::PgTarget target, internal::parse_pg_target(conninfo, ""));
  const TimePoint deadline = internal::pg_deadline(timeout);
  KEEL_ASSIGN_OR_RETURN(auto c, internal::PgConnection::connect(target, deadline));
  KEEL_RETURN_IF_ERROR(internal::check_pg_journal(c.get(), target, deadline).status());
  KEEL_ASSIGN_OR_RETURN(bool has, internal::pg_has_relation(c.get(), target, "admin", deadline));
  if (!has) return std::optional<PgAdminAnnouncement>();  // a layout before the admin table
  KEEL_ASSIGN_OR_RETURN(
      internal::PgResult r,
      c->exec(internal::in_schema(target.schema, "SELECT host, pid, socket, token FROM S.admin"), deadline));
  if (r.rows() != 1) return std::optional<PgAdminAnnouncement>();
  PgAdminAnnouncement a;
  a.host = std::string(r.bytes(0, 0));
  a.pid = r.integer(0, 1);
  a.socket = std::string(r.bytes(0, 2));
  a.token = std::string(r.bytes(0, 3));
  return std::optional<PgAdminAnnouncement>(std::move(a));
}

}  // namespace keel
