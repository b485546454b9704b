// PgJournal's reads: scans in pages on pooled reader connections, and the
// summaries, statistics and removals, each read in one repeatable-read
// transaction so that its figures come from one commit.
#include <algorithm>
#include <limits>
#include <tuple>

#include "pg_journal.h"
#include "pg_summary.h"
#include "record_format.h"

namespace keel::internal {
namespace {

// Rows per page of a scan: bounds the memory of one page, and a scan that
// stops early reads little past its end.
constexpr std::int64_t kPageRows = 256;
constexpr std::size_t kMaxIdleReaders = 4;

std::int64_t clamp(std::uint64_t v) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(v, std::numeric_limits<std::int64_t>::max()));
}

// Runs `body` in a read-only repeatable-read transaction on `c`.
Status read_transaction(PgConnection* c, TimePoint deadline, const std::function<Status()>& body) {
  KEEL_RETURN_IF_ERROR(c->exec_script("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", deadline));
  Status s = body();
  if (s.is_ok()) return c->exec_script("COMMIT", deadline);
  if (!c->is_broken()) c->exec_script("ROLLBACK", deadline).ignore();  // `s` is the error to report
  return s;
}

}  // namespace

Status pg_decode_record(const PgResult& r, int row, Record* out) {
  out->lsn = static_cast<Lsn>(r.integer(row, 0));
  out->owner.assign(r.bytes(row, 1));
  out->seq = static_cast<std::uint64_t>(r.integer(row, 2));
  out->kind = static_cast<RecordKind>(r.integer(row, 3));
  out->time = from_time_ns(r.integer(row, 4));
  out->format_version = static_cast<std::uint16_t>(r.integer(row, 5));
  const std::int64_t crc = r.integer(row, 6);
  out->crc = static_cast<std::uint32_t>(crc);
  out->compacted = r.integer(row, 7) != 0;
  out->payload.assign(r.bytes(row, 8));
  if (crc < 0 || crc > std::numeric_limits<std::uint32_t>::max()) {
    return Status::corruption("lsn " + std::to_string(out->lsn) + ", owner " + out->owner + ": stored crc " +
                              std::to_string(crc) + " is out of range");
  }
  return Status::ok();
}

Status PgJournal::with_reader(const std::function<Status(PgConnection*, bool* delivered)>& fn) {
  for (;;) {
    std::unique_ptr<PgConnection> c;
    {
      MutexLock lock(pool_mu_);
      if (!idle_.empty()) {
        c = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    const bool pooled = c != nullptr;
    if (!pooled) {
      KEEL_ASSIGN_OR_RETURN(c, PgConnection::connect(target_, pg_deadline(options().pg_timeout),
                                                     pg_statement_timeout(options().pg_timeout)));
    }
    bool delivered = false;
    Status s = fn(c.get(), &delivered);
    const bool lost = c->is_broken();
    if (!lost && !c->in_transaction()) {
      MutexLock lock(pool_mu_);
      if (idle_.size() < kMaxIdleReaders) idle_.push_back(std::move(c));
    }
    if (s.is_ok() || !lost || !pooled || delivered) return s;
    // A pooled connection lost (the server restarted): so are the others.
    MutexLock lock(pool_mu_);
    idle_.clear();
  }
}

Status PgJournal::read_pages(const std::string& where_and_order, const std::function<void(PgParams*)>& bind,
                             std::int64_t bound, const std::function<std::int64_t(const Record&)>& next,
                             const RawRecordFn& fn) {
  const std::string text = sql(std::string(kPgSelectRecord) + where_and_order);
  return with_reader([&](PgConnection* c, bool* delivered) -> Status {
    Record rec;
    for (std::int64_t from = bound;;) {
      PgParams p;
      bind(&p);
      p.int64(from).int64(kPageRows);
      KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(text, p, pg_deadline(options().pg_timeout)));
      for (int i = 0; i < r.rows(); ++i) {
        const Status read = pg_decode_record(r, i, &rec);
        *delivered = true;
        if (!fn(rec, read)) return Status::ok();
      }
      if (r.rows() < kPageRows) return Status::ok();
      from = next(rec);
    }
  });
}

Status PgJournal::read_owner(std::string_view owner, std::uint64_t from_seq, const RawRecordFn& fn) {
  return read_pages(
      "WHERE owner = $1 AND seq >= $2 ORDER BY seq LIMIT $3", [&](PgParams* p) { p->bytes(owner); }, clamp(from_seq),
      [](const Record& r) { return static_cast<std::int64_t>(r.seq) + 1; }, fn);
}

Status PgJournal::read_lsn(Lsn first, Lsn last, const RawRecordFn& fn) {
  return read_pages(
      "WHERE lsn <= $1 AND lsn >= $2 ORDER BY lsn LIMIT $3", [&](PgParams* p) { p->int64(clamp(last)); },
      clamp(first), [](const Record& r) { return static_cast<std::int64_t>(r.lsn) + 1; }, fn);
}

Status PgJournal::read_owner_backwards(std::string_view owner, const RawRecordFn& fn) {
  return read_pages(
      "WHERE owner = $1 AND seq <= $2 ORDER BY seq DESC LIMIT $3", [&](PgParams* p) { p->bytes(owner); },
      std::numeric_limits<std::int64_t>::max(), [](const Record& r) { return static_cast<std::int64_t>(r.seq) - 1; },
      fn);
}

Result<bool> PgJournal::read_latest_snapshot(std::string_view owner, const RawRecordFn& fn) {
  bool indexed = false;
  KEEL_RETURN_IF_ERROR(with_reader([&](PgConnection* c, bool* delivered) -> Status {
    const TimePoint deadline = pg_deadline(options().pg_timeout);
    KEEL_ASSIGN_OR_RETURN(indexed, pg_has_relation(c, target_, "records_snapshots", deadline));
    if (!indexed) return Status::ok();
    PgParams p;
    p.bytes(owner);
    KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql(std::string(kPgSelectRecord) +
                                                   "WHERE owner = $1 AND kind = 4 ORDER BY seq DESC LIMIT 1"),
                                               p, deadline));
    if (r.rows() == 0) return Status::ok();
    Record rec;
    const Status read = pg_decode_record(r, 0, &rec);
    *delivered = true;
    fn(rec, read);
    return Status::ok();
  }));
  return indexed;
}

Result<std::vector<OwnerInfo>> PgJournal::owners() {
  std::vector<OwnerInfo> out;
  KEEL_RETURN_IF_ERROR(with_reader([&](PgConnection* c, bool*) -> Status {
    const TimePoint deadline = pg_deadline(options().pg_timeout);
    return read_transaction(c, deadline, [&]() -> Status {
      KEEL_ASSIGN_OR_RETURN(Lsn last, pg_max_lsn(c, target_, deadline));
      KEEL_ASSIGN_OR_RETURN(int version, pg_header_version(c, target_, deadline));
      KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts,
                            pg_read_checkpoint(c, target_, last, version, deadline));
      KEEL_ASSIGN_OR_RETURN(out, pg_read_owners(c, target_, counts ? std::optional<Lsn>(counts->as_of) : std::nullopt,
                                                deadline));
      return Status::ok();
    });
  }));
  return out;
}

Result<Lsn> PgJournal::last_lsn() {
  Lsn last = kNoLsn;
  KEEL_RETURN_IF_ERROR(with_reader([&](PgConnection* c, bool*) -> Status {
    KEEL_ASSIGN_OR_RETURN(last, pg_max_lsn(c, target_, pg_deadline(options().pg_timeout)));
    return Status::ok();
  }));
  return last;
}

Result<Removals> PgJournal::read_removals() {
  Removals out;
  KEEL_RETURN_IF_ERROR(with_reader([&](PgConnection* c, bool*) -> Status {
    const TimePoint deadline = pg_deadline(options().pg_timeout);
    return read_transaction(c, deadline, [&]() -> Status {
      out = Removals();
      KEEL_ASSIGN_OR_RETURN(bool floors, pg_has_relation(c, target_, "floors", deadline));
      KEEL_ASSIGN_OR_RETURN(bool counters, pg_has_relation(c, target_, "counters", deadline));
      if (!floors || !counters) return Status::ok();
      KEEL_ASSIGN_OR_RETURN(PgResult removed,
                            c->exec(sql("SELECT coalesce(max(value), 0) FROM S.counters WHERE name = 'removed'"),
                                    deadline));
      out.removed = removed.rows() == 1 ? static_cast<std::uint64_t>(removed.integer(0, 0)) : 0;
      KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql("SELECT owner, first_seq FROM S.floors"), deadline));
      for (int i = 0; i < r.rows(); ++i) out.first_seq[std::string(r.bytes(i, 0))] = static_cast<std::uint64_t>(r.integer(i, 1));
      return Status::ok();
    });
  }));
  return out;
}

Result<JournalStats> PgJournal::read_stats() {
  JournalStats st;
  KEEL_RETURN_IF_ERROR(with_reader([&](PgConnection* c, bool*) -> Status {
    const TimePoint deadline = pg_deadline(options().pg_timeout);
    return read_transaction(c, deadline, [&]() -> Status {
      st = JournalStats();
      st.backend = "postgresql";
      st.path = target_.display;
      KEEL_ASSIGN_OR_RETURN(int version, pg_header_version(c, target_, deadline));
      st.format_version = static_cast<std::uint16_t>(version);
      KEEL_ASSIGN_OR_RETURN(PgResult ends, c->exec(sql("SELECT lsn, time_ns FROM (SELECT lsn, time_ns FROM S.records "
                                                       "ORDER BY lsn LIMIT 1) a UNION ALL SELECT lsn, time_ns FROM "
                                                       "(SELECT lsn, time_ns FROM S.records ORDER BY lsn DESC LIMIT 1) b"),
                                                   deadline));
      if (ends.rows() == 2) {
        st.first_lsn = static_cast<Lsn>(ends.integer(0, 0));
        st.first_time = from_time_ns(ends.integer(0, 1));
        st.last_lsn = static_cast<Lsn>(ends.integer(1, 0));
        st.last_time = from_time_ns(ends.integer(1, 1));
      }
      KEEL_ASSIGN_OR_RETURN(std::optional<JournalCounts> counts,
                            pg_read_checkpoint(c, target_, st.last_lsn, version, deadline));
      if (counts) {
        KEEL_RETURN_IF_ERROR(pg_count_rows_after(c, target_, st.last_lsn, &*counts, deadline));
      } else {
        KEEL_ASSIGN_OR_RETURN(counts, pg_count_rows(c, target_, st.last_lsn, deadline));
      }
      set_counts(*counts, &st);
      PgParams p;
      p.text(target_.schema);
      KEEL_ASSIGN_OR_RETURN(PgResult size, c->exec("SELECT coalesce(sum(pg_total_relation_size(k.oid)), 0)::bigint "
                                                   "FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace "
                                                   "WHERE n.nspname = $1 AND k.relkind = 'r'",
                                                   p, deadline));
      st.size_bytes = size.rows() == 1 ? static_cast<std::uint64_t>(size.integer(0, 0)) : 0;
      return Status::ok();
    });
  }));
  return st;
}

}  // namespace keel::internal
