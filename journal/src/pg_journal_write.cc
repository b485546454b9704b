// PgJournal's writes: what a commit group sends in one pipeline, and the
// fenced transactions of compaction, removal and the closing checkpoint.
#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <vector>

#include "keel/journal/pg_journal.h"
#include "pg_journal.h"
#include "pg_summary.h"
#include "record_format.h"

namespace keel::internal {
namespace {

std::int64_t clamp(std::uint64_t v) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(v, std::numeric_limits<std::int64_t>::max()));
}

// The columns of `records` as the arrays of the statement "insert_records".
PgParams records_as_arrays(const std::vector<StagedRecord*>& records) {
  const std::size_t n = records.size();
  std::vector<std::int64_t> lsn(n), seq(n), kind(n), time(n), version(n), crc(n);
  std::vector<std::string_view> owner(n), payload(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Record& r = records[i]->record;
    lsn[i] = static_cast<std::int64_t>(r.lsn);
    owner[i] = r.owner;
    seq[i] = static_cast<std::int64_t>(r.seq);
    kind[i] = static_cast<std::int64_t>(r.kind);
    time[i] = to_time_ns(r.time);
    version[i] = r.format_version;
    crc[i] = r.crc;
    payload[i] = r.payload;
  }
  PgParams p;
  p.int64_array(lsn).bytes_array(owner).int64_array(seq).int64_array(kind).int64_array(time).int64_array(version)
      .int64_array(crc).bytes_array(payload);
  return p;
}

}  // namespace

std::vector<std::uint32_t> PgJournal::held_list() const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t s = 0; s < held_.size(); ++s) {
    if (held_[s] != 0) out.push_back(s);
  }
  return out;
}

PgParams PgJournal::epoch_check_of(const std::vector<std::uint32_t>& shards) const {
  std::string list = "{", epochs = "{";
  for (std::uint32_t s : shards) {
    if (list.size() > 1) {
      list += ',';
      epochs += ',';
    }
    list += std::to_string(s);
    epochs += std::to_string(held_[s]);
  }
  PgParams p;
  p.literal(list + "}").literal(epochs + "}");
  return p;
}

PgParams PgJournal::epoch_check(const std::vector<std::string_view>& owners) const {
  std::vector<bool> seen(header_.shards, false);
  std::vector<std::uint32_t> shards;
  for (std::string_view owner : owners) {
    const std::uint32_t s = pg_shard_of(owner, header_.shards);
    if (!seen[s]) shards.push_back(s);
    seen[s] = true;
  }
  return epoch_check_of(shards);
}

Status PgJournal::queue_checkpoint(const JournalCounts& counts,
                                   const std::unordered_map<std::string, OwnerInfo>& owners) {
  KEEL_RETURN_IF_ERROR(writer_->queue_prepared("write_counters", pg_write_counters_params(counts)));
  for (const auto& [owner, o] : owners) KEEL_RETURN_IF_ERROR(writer_->queue_prepared("write_owner", pg_write_owner_params(o)));
  return Status::ok();
}

namespace {
constexpr const char* kSharedCheckpoint[] = {"checkpoint_owners", "checkpoint_counters", "checkpoint_as_of"};
}  // namespace

Status PgJournal::queue_shared_checkpoint(PgConnection* c) {
  for (const char* step : kSharedCheckpoint) KEEL_RETURN_IF_ERROR(c->queue_prepared(step, PgParams()));
  return Status::ok();
}

Status PgJournal::exec_shared_checkpoint(TimePoint deadline) {
  for (const char* step : kSharedCheckpoint) KEEL_RETURN_IF_ERROR(writer_->exec_prepared(step, PgParams(), deadline).status());
  return Status::ok();
}

Status PgJournal::number_after_stored(PgConnection* c, const std::vector<StagedRecord*>& records, TimePoint deadline) {
  KEEL_RETURN_IF_ERROR(c->queue_prepared("max_lsn", PgParams()));
  PgResult max;
  KEEL_RETURN_IF_ERROR(c->end_pipeline(deadline, nullptr, &max));
  if (max.rows() != 1) return Status::io_error("postgresql journal " + target_.display + ": no highest lsn read");
  const auto next = static_cast<Lsn>(max.integer(0, 0)) + 1;
  if (records.front()->record.lsn != next) {
    for (std::size_t i = 0; i < records.size(); ++i) {
      StagedRecord& staged = *records[i];
      staged.record.lsn = next + i;
      staged.record.crc = record_checksum(staged.record, staged.payload_size, staged.payload_crc, staged.payload_shift);
    }
  }
  return c->begin_pipeline();
}

Status PgJournal::send_group(const std::vector<StagedRecord*>& records, std::uint64_t id, bool checkpoint,
                             const JournalCounts& counts, TimePoint deadline, bool* drop_after) {
  PgConnection* c = writer_.get();
  const bool shared = !options().pg_claim_all_shards;
  std::vector<std::string_view> owners;
  owners.reserve(records.size());
  for (const StagedRecord* r : records) owners.push_back(r->record.owner);
  KEEL_RETURN_IF_ERROR(c->begin_pipeline());
  KEEL_RETURN_IF_ERROR(c->queue("BEGIN", PgParams()));
  KEEL_RETURN_IF_ERROR(c->queue_prepared("writer_lock", PgParams()));
  KEEL_RETURN_IF_ERROR(c->queue_prepared("check_epochs", epoch_check(owners)));
  // A cluster's writer ends its first trip here: holding the writer lock,
  // which orders this commit among every host's, it numbers the records.
  if (shared) KEEL_RETURN_IF_ERROR(number_after_stored(c, records, deadline));
  if (records.size() == 1) {
    const Record& r = records.front()->record;
    PgParams p;  // libpq copies the values into its buffer at once
    p.int64(static_cast<std::int64_t>(r.lsn))
        .bytes(r.owner)
        .int64(static_cast<std::int64_t>(r.seq))
        .int64(static_cast<std::int64_t>(r.kind))
        .int64(to_time_ns(r.time))
        .int64(r.format_version)
        .int64(r.crc)
        .bytes(r.payload);
    KEEL_RETURN_IF_ERROR(c->queue_prepared("insert_record", p));
  } else {
    KEEL_RETURN_IF_ERROR(c->queue_prepared("insert_records", records_as_arrays(records)));
  }
  PgParams commit;
  commit.int64(static_cast<std::int64_t>(id))
      .int64(static_cast<std::int64_t>(records.front()->record.lsn))
      .int64(static_cast<std::int64_t>(records.back()->record.lsn));
  KEEL_RETURN_IF_ERROR(c->queue_prepared("insert_commit", commit));
  if (checkpoint) {
    if (shared) {
      KEEL_RETURN_IF_ERROR(queue_shared_checkpoint(c));
    } else {
      std::unordered_map<std::string, OwnerInfo> summaries = pending_.owners();
      for (const Record* newest : newest_by_owner(records)) summaries[newest->owner] = owner_info_of(*newest);
      KEEL_RETURN_IF_ERROR(queue_checkpoint(counts, summaries));
    }
    // Earlier groups' outcomes are all known by now: their ids can go.
    PgParams prune;
    prune.int64(static_cast<std::int64_t>(records.front()->record.lsn));
    KEEL_RETURN_IF_ERROR(c->queue_prepared("prune_commits", prune));
  }
  KEEL_RETURN_IF_ERROR(c->queue("COMMIT", PgParams()));
  return c->end_pipeline(deadline, [&] {
    if (commit_sent_) *drop_after = commit_sent_(c->backend_pid());
  });
}

Status PgJournal::in_fenced_transaction(std::string_view owner, bool synced, TimePoint deadline,
                                        const std::function<Status()>& body) {
  if (!stopped_.is_ok()) return stopped_;
  KEEL_RETURN_IF_ERROR(ensure_writer(deadline));
  PgConnection* c = writer_.get();
  auto run = [&]() -> Status {
    KEEL_RETURN_IF_ERROR(c->exec_script(synced ? "BEGIN" : "BEGIN; SET LOCAL synchronous_commit = off", deadline));
    KEEL_RETURN_IF_ERROR(c->exec_prepared("writer_lock", PgParams(), deadline).status());
    // Empty `owner`: every shard this writer holds.
    const PgParams check = owner.empty() ? epoch_check_of(held_list()) : epoch_check({owner});
    KEEL_RETURN_IF_ERROR(c->exec_prepared("check_epochs", check, deadline).status());
    KEEL_RETURN_IF_ERROR(body());
    return c->exec_script("COMMIT", deadline);
  };
  Status s = run();
  if (!s.is_ok()) {
    roll_back_writer(deadline);  // `s` is the error to report
    return note_failure(s);
  }
  return Status::ok();
}

Result<std::uint64_t> PgJournal::compact_on_writer(std::string_view owner, std::uint64_t below_seq) {
  const TimePoint deadline = pg_deadline(options().pg_timeout);
  std::vector<Record> headers;
  Status s = in_fenced_transaction(owner, true, deadline, [&]() -> Status {
    PgParams p;
    p.bytes(owner).int64(clamp(below_seq));
    KEEL_ASSIGN_OR_RETURN(PgResult r, writer_->exec(sql(std::string(kPgSelectRecord) +
                                                         "WHERE owner = $1 AND seq < $2 AND NOT compacted FOR UPDATE"),
                                                     p, deadline));
    std::string lsns = "{", crcs = "{";
    for (int i = 0; i < r.rows(); ++i) {
      Record h;
      KEEL_RETURN_IF_ERROR(pg_decode_record(r, i, &h));
      KEEL_RETURN_IF_ERROR(check_record(h));  // damage is never hidden under a fresh checksum
      h.payload.clear();
      h.compacted = true;
      h.crc = record_checksum(h);
      lsns += (i > 0 ? "," : "") + std::to_string(h.lsn);
      crcs += (i > 0 ? "," : "") + std::to_string(h.crc);
      headers.push_back(std::move(h));
    }
    if (headers.empty()) return Status::ok();
    PgParams u;
    u.literal(lsns + "}").literal(crcs + "}");
    return writer_
        ->exec(sql("UPDATE S.records r SET payload = ''::bytea, compacted = true, crc = u.crc "
                   "FROM unnest($1::bigint[], $2::bigint[]) AS u(lsn, crc) WHERE r.lsn = u.lsn"),
               u, deadline)
        .status();
  });
  if (!s.is_ok()) return s;
  return static_cast<std::uint64_t>(headers.size());
}

Result<std::uint64_t> PgJournal::remove_on_writer(std::string_view owner, std::uint64_t below_seq, bool whole) {
  const TimePoint deadline = pg_deadline(options().pg_timeout);
  JournalCounts counts = counts_;
  bool checkpointed = false;
  std::uint64_t removed = 0;
  // Not synced by itself (Journal::truncate): the next synced commit makes
  // it durable, as PostgreSQL flushes its WAL in order.
  Status s = in_fenced_transaction(owner, false, deadline, [&]() -> Status {
    KEEL_ASSIGN_OR_RETURN(removed, remove_in(owner, below_seq, whole, deadline, &counts, &checkpointed));
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  counts_ = counts;
  if (checkpointed) pending_.clear();
  return removed;
}

Result<std::uint64_t> PgJournal::remove_in(std::string_view owner, std::uint64_t below_seq, bool whole,
                                           TimePoint deadline, JournalCounts* counts, bool* checkpointed) {
  PgConnection* c = writer_.get();
  PgParams o;
  o.bytes(owner);
  KEEL_ASSIGN_OR_RETURN(PgResult last, c->exec(sql("SELECT coalesce(max(seq), 0), coalesce((SELECT lsn FROM S.records "
                                                   "WHERE owner = $1 ORDER BY seq DESC LIMIT 1), 0), "
                                                   "(SELECT coalesce(max(lsn), 0) FROM S.records) "
                                                   "FROM S.records WHERE owner = $1"),
                                               o, deadline));
  const std::int64_t last_seq = last.integer(0, 0);
  if (last_seq == 0) return std::uint64_t{0};  // no such owner
  std::int64_t below = std::min<std::int64_t>(clamp(below_seq), last_seq);  // the newest stays
  if (whole) {
    if (last.integer(0, 1) == last.integer(0, 2)) {
      return Status::failed_precondition("postgresql journal " + target_.display + ": owner " + std::string(owner) +
                                         " holds the newest record (lsn " + std::to_string(last.integer(0, 2)) +
                                         "), which stays until a later append");
    }
    below = std::numeric_limits<std::int64_t>::max();
  }
  if (!options().pg_claim_all_shards) {
    // Several writers: every record stored, the ones to go included, is
    // counted first (by the server, whoever wrote them).
    KEEL_RETURN_IF_ERROR(exec_shared_checkpoint(deadline));
  }
  PgParams p;
  p.bytes(owner).int64(below);
  KEEL_ASSIGN_OR_RETURN(PgResult kinds, c->exec(sql("WITH gone AS (DELETE FROM S.records WHERE owner = $1 AND seq < $2 "
                                                    "RETURNING kind) SELECT kind, count(*) FROM gone GROUP BY kind"),
                                                p, deadline));
  std::array<std::uint64_t, kRecordKindSlots> by_kind{};
  std::uint64_t n = 0;
  for (int i = 0; i < kinds.rows(); ++i) {
    const auto k = static_cast<std::size_t>(kinds.integer(i, 0));
    const auto count = static_cast<std::uint64_t>(kinds.integer(i, 1));
    if (k < by_kind.size()) by_kind[k] += count;
    n += count;
  }
  if (n == 0) return std::uint64_t{0};
  const bool shared = !options().pg_claim_all_shards;
  if (whole) {
    KEEL_RETURN_IF_ERROR(c->exec(sql("DELETE FROM S.owners WHERE owner = $1"), o, deadline).status());
    KEEL_RETURN_IF_ERROR(c->exec(sql("DELETE FROM S.floors WHERE owner = $1"), o, deadline).status());
  } else {
    KEEL_RETURN_IF_ERROR(c->exec(sql("INSERT INTO S.floors (owner, first_seq) VALUES ($1, $2) "
                                     "ON CONFLICT (owner) DO UPDATE SET first_seq = excluded.first_seq"),
                                 p, deadline)
                             .status());
  }
  PgParams r;
  r.int64(static_cast<std::int64_t>(n));
  KEEL_RETURN_IF_ERROR(c->exec(sql("INSERT INTO S.counters (name, value) VALUES ('removed', $1) "
                                   "ON CONFLICT (name) DO UPDATE SET value = S.counters.value + excluded.value"),
                               r, deadline)
                           .status());
  if (shared) {
    // Several writers: the checkpoint before the deletion counted the
    // removed records; they come off now.
    KEEL_RETURN_IF_ERROR(
        c->exec(pg_subtract_counters_sql(target_.schema), pg_subtract_counters_params(by_kind, whole), deadline).status());
    *checkpointed = true;
    return n;
  }
  // A removal's counts are a checkpoint: the pending summaries go with them,
  // but the removed owner's.
  counts->remove(by_kind, whole);
  std::unordered_map<std::string, OwnerInfo> owners = pending_.owners();
  if (whole) owners.erase(std::string(owner));
  KEEL_RETURN_IF_ERROR(c->exec_prepared("write_counters", pg_write_counters_params(*counts), deadline).status());
  for (const auto& [name, info] : owners) {
    KEEL_RETURN_IF_ERROR(c->exec_prepared("write_owner", pg_write_owner_params(info), deadline).status());
  }
  *checkpointed = true;
  return n;
}

Status PgJournal::vacuum_on_writer() {
  const TimePoint deadline = pg_deadline(options().pg_timeout);
  if (!stopped_.is_ok()) return stopped_;
  KEEL_RETURN_IF_ERROR(ensure_writer(deadline));
  // Plain VACUUM: readers and other processes go on meanwhile; freed space
  // is reused, and the tables' empty tails are given back.
  return writer_->exec_script(sql("VACUUM S.records, S.owners, S.floors, S.counters, S.commits"), deadline);
}

void PgJournal::checkpoint_at_close() {
  if (writer_ == nullptr || writer_->is_broken() || !stopped_.is_ok() || pending_.empty()) return;
  const TimePoint deadline = pg_deadline(options().pg_timeout);
  Status s = in_fenced_transaction("", true, deadline, [&]() -> Status {
    if (!options().pg_claim_all_shards) {
      return exec_shared_checkpoint(deadline);
    }
    KEEL_RETURN_IF_ERROR(writer_->exec_prepared("write_counters", pg_write_counters_params(counts_), deadline).status());
    for (const auto& [owner, o] : pending_.owners()) {
      KEEL_RETURN_IF_ERROR(writer_->exec_prepared("write_owner", pg_write_owner_params(o), deadline).status());
    }
    return Status::ok();
  });
  // Readers count the records after the last checkpoint anyway.
  s.ignore();
}

}  // namespace keel::internal
