// PgJournal: opening, the writer's connection and fencing, and the outcome
// of commits whose connection was lost. Layout: docs/journal-format.md,
// "PostgreSQL".
#include "pg_journal.h"

#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <thread>
#include <utility>

#include "crc32c.h"
#include "keel/journal/pg_journal.h"
#include "pg_summary.h"
#include "record_format.h"

namespace keel::internal {

PgJournal::PgJournal(PgTarget target, const JournalOptions& options, const BackendHooks& hooks)
    : JournalBase(target.display, options),
      target_(std::move(target)),
      commit_sent_(hooks.pg_commit_sent),
      ids_(std::random_device{}()) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  holder_ = std::string(host) + " pid " + std::to_string(::getpid());
}

Result<std::unique_ptr<Journal>> PgJournal::open(const std::string& conninfo, const JournalOptions& options,
                                                 const BackendHooks& hooks) {
  KEEL_ASSIGN_OR_RETURN(PgTarget target, parse_pg_target(conninfo, options.pg_schema));
  std::unique_ptr<PgJournal> j(new PgJournal(std::move(target), options, hooks));
  if (!options.read_only) {
    const Status opened = j->open_writer();
    // insufficient_privilege: the role, not the journal, must change (a
    // reader's role opened for writing). Elsewhere, as for a role without
    // SELECT on the admin table, it stays kIoError.
    if (opened.code() == StatusCode::kIoError && opened.message().find("(SQLSTATE 42501)") != std::string_view::npos) {
      return Status::failed_precondition(
          std::string(opened.message()) +
          " (the role lacks a right a writer needs: a writer must own the journal's tables; a reader needs only "
          "USAGE on the schema and SELECT on its tables, and opens the journal read_only; see docs/operations.md)");
    }
    KEEL_RETURN_IF_ERROR(opened);
    return std::unique_ptr<Journal>(std::move(j));
  }
  const TimePoint deadline = pg_deadline(options.pg_timeout);
  KEEL_ASSIGN_OR_RETURN(auto c,
                        PgConnection::connect(j->target_, deadline, pg_statement_timeout(options.pg_timeout)));
  KEEL_ASSIGN_OR_RETURN(j->header_, check_pg_journal(c.get(), j->target_, deadline));
  {
    MutexLock lock(j->pool_mu_);
    j->idle_.push_back(std::move(c));
  }
  return std::unique_ptr<Journal>(std::move(j));
}

Status PgJournal::open_writer() {
  const TimePoint deadline = pg_deadline(options().pg_timeout);
  KEEL_ASSIGN_OR_RETURN(writer_, PgConnection::connect(target_, deadline, pg_statement_timeout(options().pg_timeout)));
  // Before anything is claimed: an exclusive open that finds a live writer
  // must leave it as it was.
  KEEL_RETURN_IF_ERROR(take_live_lock(deadline));
  KEEL_ASSIGN_OR_RETURN(header_, create_or_upgrade(writer_.get(), target_, options().create_if_missing, deadline));
  held_.assign(header_.shards, 0);
  if (options().pg_claim_all_shards) {
    std::vector<std::uint32_t> all(header_.shards);
    std::iota(all.begin(), all.end(), 0u);
    KEEL_ASSIGN_OR_RETURN(std::vector<PgShardEpoch> epochs,
                          claim_shards(writer_.get(), target_, header_, all, holder_, deadline));
    for (const PgShardEpoch& e : epochs) held_[e.shard] = e.epoch;
  }
  KEEL_RETURN_IF_ERROR(prepare_writer(deadline));
  // The summaries are judged by the format they were written in; then the
  // header says which format the writer adds records of from now on.
  KEEL_RETURN_IF_ERROR(load_summaries(header_.format_version, deadline));
  KEEL_RETURN_IF_ERROR(writer_->exec_script(sql("UPDATE S.meta SET value = '" + std::to_string(kJournalFormatVersion) +
                                                "' WHERE key = 'format_version' AND value::integer < " +
                                                std::to_string(kJournalFormatVersion)),
                                            deadline));
  header_.format_version = kJournalFormatVersion;
  KEEL_ASSIGN_OR_RETURN(Lsn last, pg_max_lsn(writer_.get(), target_, deadline));
  start_writer(this, last);
  return Status::ok();
}

PgJournal::~PgJournal() {
  stop_writer();
  checkpoint_at_close();
  release_live_lock();
}

std::string PgJournal::sql(std::string_view text) const { return in_schema(target_.schema, text); }

Status PgJournal::prepare_writer(TimePoint deadline) {
  PgConnection* c = writer_.get();
  if (options().durability == Durability::kRelaxed) {
    KEEL_RETURN_IF_ERROR(c->exec_script("SET synchronous_commit = off", deadline));
  }
  const std::pair<const char*, std::string> statements[] = {
      {"insert_record",
       sql("INSERT INTO S.records (lsn, owner, seq, kind, time_ns, version, crc, compacted, payload) VALUES "
           "($1::bigint, $2::bytea, $3::bigint, ($4::bigint)::smallint, $5::bigint, ($6::bigint)::smallint, "
           "$7::bigint, false, $8::bytea)")},
      // A group of two or more records in one statement, a column per array.
      {"insert_records",
       sql("INSERT INTO S.records (lsn, owner, seq, kind, time_ns, version, crc, compacted, payload) "
           "SELECT l, o, q, k::smallint, t, v::smallint, c, false, p FROM unnest($1::bigint[], $2::bytea[], "
           "$3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bytea[]) "
           "AS u(l, o, q, k, t, v, c, p)")},
      {"insert_commit", sql("INSERT INTO S.commits (id, first_lsn, last_lsn) VALUES ($1::bigint, $2::bigint, $3::bigint)")},
      {"prune_commits", sql("DELETE FROM S.commits WHERE last_lsn < $1::bigint")},
      {"check_epochs", sql("SELECT S.check_epochs($1::integer[], $2::bigint[])")},
      {"max_lsn", sql("SELECT coalesce(max(lsn), 0) FROM S.records")},
      {"checkpoint_owners", pg_shared_checkpoint_owners_sql(target_.schema)},
      {"checkpoint_counters", pg_shared_checkpoint_counters_sql(target_.schema)},
      {"checkpoint_as_of", pg_shared_checkpoint_as_of_sql(target_.schema)},
      // Held by every write transaction: after a lost connection, taking it
      // waits until the lost transaction has ended one way or the other.
      {"writer_lock", "SELECT pg_advisory_xact_lock(hashtext('keel-writer/" + target_.schema + "'))"},
      {"write_owner", pg_write_owner_sql(target_.schema)},
      {"write_counters", pg_write_counters_sql(target_.schema)},
  };
  for (const auto& [name, text] : statements) KEEL_RETURN_IF_ERROR(c->prepare(name, text, deadline));
  return Status::ok();
}

Status PgJournal::load_summaries(int version, TimePoint deadline) {
  PgConnection* c = writer_.get();
  KEEL_ASSIGN_OR_RETURN(Lsn last, pg_max_lsn(c, target_, deadline));
  KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts, pg_read_checkpoint(c, target_, last, version, deadline));
  pending_.clear();
  if (counts) {
    // The records after the checkpoint go into the next one.
    KEEL_ASSIGN_OR_RETURN(auto newer, pg_newest_after(c, target_, counts->as_of, deadline));
    for (const auto& [owner, o] : newer) pending_.add(o);
    KEEL_RETURN_IF_ERROR(pg_count_rows_after(c, target_, last, &*counts, deadline));
    counts_ = *counts;
    return Status::ok();
  }
  KEEL_RETURN_IF_ERROR(c->exec_script("BEGIN", deadline));
  Result<JournalCounts> fresh = pg_refill_summaries(c, target_, last, deadline);
  Status s = fresh.status();
  if (s.is_ok()) s = c->exec_script("COMMIT", deadline);
  if (!s.is_ok()) {
    roll_back_writer(deadline);  // `s` is the error to report
    return s;
  }
  counts_ = *fresh;
  return Status::ok();
}

Status PgJournal::ensure_writer(TimePoint deadline) {
  if (writer_ != nullptr && !writer_->is_broken()) return Status::ok();
  writer_.reset();
  auto backoff = std::chrono::milliseconds(10);
  for (;;) {
    Result<std::unique_ptr<PgConnection>> c =
        PgConnection::connect(target_, deadline, pg_statement_timeout(options().pg_timeout));
    Status s = c.status();
    if (s.is_ok()) {
      writer_ = std::move(*c);
      // The live lock ended with the lost session: take it again.
      s = take_live_lock(deadline);
      if (s.is_ok()) s = prepare_writer(deadline);
      if (s.is_ok()) s = load_summaries(kJournalFormatVersion, deadline);
      if (s.is_ok()) return Status::ok();
      writer_.reset();
    }
    if (s.code() != StatusCode::kUnavailable || pg_now() + backoff >= deadline) return s;
    // Backoff between attempts at an unreachable server.
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(1));
  }
}

Result<bool> PgJournal::is_committed(std::uint64_t id, TimePoint deadline) {
  for (;;) {
    KEEL_RETURN_IF_ERROR(ensure_writer(deadline));
    PgConnection* c = writer_.get();
    // The writer lock waits for the lost transaction to end, if the server
    // still runs it; then its commit id is there or will never be.
    PgParams p;
    p.int64(static_cast<std::int64_t>(id));
    Status s = c->exec_script("BEGIN", deadline);
    if (s.is_ok()) s = c->exec_prepared("writer_lock", PgParams(), deadline).status();
    if (s.is_ok()) {
      Result<PgResult> r = c->exec(sql("SELECT 1 FROM S.commits WHERE id = $1"), p, deadline);
      s = r.status();
      if (s.is_ok()) s = c->exec_script("COMMIT", deadline);
      if (s.is_ok()) return r->rows() == 1;
    }
    roll_back_writer(deadline);
    if (s.code() != StatusCode::kUnavailable || pg_now() >= deadline) return s;
  }
}

Status PgJournal::settle_lost_commit(std::uint64_t id, Lsn first, Lsn last, const Status& lost) {
  const std::string range = "commit of lsn " + std::to_string(first) + ".." + std::to_string(last);
  Result<bool> committed = is_committed(id, pg_deadline(options().pg_timeout));
  if (committed.has_value() && *committed) return Status::ok();
  if (committed.has_value()) {
    return Status::unavailable("postgresql journal " + target_.display + ": " + range +
                               " not written (the connection was lost: " + std::string(lost.message()) + ")");
  }
  unresolved_ = Unresolved{id, first, last};
  return Status::unavailable("postgresql journal " + target_.display + ": " + range +
                             ": outcome unknown, it may or may not be written (the connection was lost and the "
                             "server did not answer again in time: " + std::string(committed.status().message()) +
                             "); the next commit learns it first");
}

Status PgJournal::settle_unresolved(TimePoint deadline) {
  if (!unresolved_) return Status::ok();
  const std::string range =
      "commit of lsn " + std::to_string(unresolved_->first) + ".." + std::to_string(unresolved_->last);
  Result<bool> committed = is_committed(unresolved_->id, deadline);
  if (!committed.has_value()) {
    return Status::unavailable("postgresql journal " + target_.display + ": the outcome of the " + range +
                               " is still unknown: " + std::string(committed.status().message()));
  }
  if (*committed) {
    stopped_ = Status::failed_precondition("postgresql journal " + target_.display + ": the " + range +
                                           ", reported as of unknown outcome, was written: reopen the journal");
    return stopped_;
  }
  unresolved_.reset();
  return Status::ok();
}

void PgJournal::roll_back_writer(TimePoint deadline) {
  if (writer_ == nullptr || writer_->is_broken() || !writer_->in_transaction()) return;
  writer_->exec_script("ROLLBACK", deadline).ignore();  // a failed rollback breaks the connection: reconnected next time
}

Status PgJournal::note_failure(Status s) {
  if (s.code() != StatusCode::kOwnershipLost) return s;
  if (options().pg_claim_all_shards) {
    stopped_ = s;
    return s;
  }
  // A cluster's writer loses only the shards that moved; when it cannot
  // learn which, the group fails as the server's absence makes it fail.
  Status dropped = drop_moved_shards(pg_deadline(options().pg_timeout));
  return dropped.is_ok() ? s : dropped;
}

Status PgJournal::write_group(const std::vector<StagedRecord*>& records) {
  if (!stopped_.is_ok()) return stopped_;
  const TimePoint deadline = pg_deadline(options().pg_timeout);
  KEEL_RETURN_IF_ERROR(settle_unresolved(deadline));
  KEEL_RETURN_IF_ERROR(ensure_writer(deadline));
  const std::uint64_t id = ids_() >> 1;  // a positive bigint
  const Lsn first = records.front()->record.lsn;
  const Lsn last = records.back()->record.lsn;
  JournalCounts counts = counts_;
  counts.add(records);
  const bool checkpoint = pending_.due_with(records.size());
  bool drop_after = false;
  Status s = send_group(records, id, checkpoint, counts, deadline, &drop_after);
  if (s.is_ok() && drop_after) {
    writer_->drop();
    s = Status::unavailable("postgresql journal " + target_.display + ": connection dropped after the commit was sent");
  }
  if (!s.is_ok() && writer_->is_broken()) {
    KEEL_RETURN_IF_ERROR(settle_lost_commit(id, first, last, s));
  } else if (!s.is_ok()) {
    roll_back_writer(deadline);
    return note_failure(s);
  }
  counts_ = counts;
  pending_.committed(records, checkpoint);
  return Status::ok();
}

Result<std::uint64_t> PgJournal::load_last_seq(std::string_view owner) {
  const TimePoint deadline = pg_deadline(options().pg_timeout);
  KEEL_RETURN_IF_ERROR(ensure_writer(deadline));
  PgParams p;
  p.bytes(owner);
  KEEL_ASSIGN_OR_RETURN(PgResult r,
                        writer_->exec(sql("SELECT coalesce(max(seq), 0) FROM S.records WHERE owner = $1"), p, deadline));
  return r.rows() == 1 ? static_cast<std::uint64_t>(r.integer(0, 0)) : 0;
}

}  // namespace keel::internal

namespace keel {

std::uint32_t pg_shard_of(std::string_view owner, std::uint32_t shards) {
  return shards == 0 ? 0 : internal::crc32c::value(owner.data(), owner.size()) % shards;
}

bool is_pg_conninfo(std::string_view path) {
  if (path.starts_with("postgresql://") || path.starts_with("postgres://")) return true;
  // A keyword/value string starts with a keyword ([a-z_]+) and '='.
  std::size_t i = path.find_first_not_of(" \t");
  const std::size_t start = i;
  while (i < path.size() && ((path[i] >= 'a' && path[i] <= 'z') || path[i] == '_')) ++i;
  if (i == start || i == std::string_view::npos) return false;
  i = path.find_first_not_of(" \t", i);
  if (i == std::string_view::npos || path[i] != '=') return false;
  return ::access(std::string(path).c_str(), F_OK) != 0;
}

Result<std::unique_ptr<Journal>> open_pg_journal(const std::string& conninfo, const JournalOptions& options) {
  return internal::PgJournal::open(conninfo, options, internal::BackendHooks{});
}

std::string redacted_journal_path(const std::string& path) {
  if (!is_pg_conninfo(path)) return path;
  Result<internal::PgTarget> target = internal::parse_pg_target(path, "");
  return target.has_value() ? target->display : std::string("a malformed PostgreSQL connection string");
}

Result<std::vector<PgShardEpoch>> claim_pg_shards(const std::string& conninfo, const std::vector<std::uint32_t>& shards,
                                                  std::string_view holder, std::chrono::milliseconds timeout) {
  KEEL_ASSIGN_OR_RETURN(internal::PgTarget target, internal::parse_pg_target(conninfo, ""));
  const TimePoint deadline = internal::pg_deadline(timeout);
  KEEL_ASSIGN_OR_RETURN(auto c, internal::PgConnection::connect(target, deadline, internal::pg_statement_timeout(timeout)));
  KEEL_ASSIGN_OR_RETURN(internal::PgHeader header, internal::check_pg_journal(c.get(), target, deadline));
  return internal::claim_shards(c.get(), target, header, shards, holder, deadline);
}

}  // namespace keel

namespace keel::internal {

Result<std::unique_ptr<Journal>> open_pg_journal(const std::string& conninfo, const JournalOptions& options,
                                                 const BackendHooks& hooks) {
  return PgJournal::open(conninfo, options, hooks);
}

}  // namespace keel::internal
