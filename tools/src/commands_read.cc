// keel journal stats, ls, show, tail and export: the read-only views.
#include <array>
#include <chrono>
#include <functional>
#include <thread>

#include "command.h"
#include "keel/journal/pg_journal.h"
#include "keel/journal/format.h"
#include "render.h"

namespace keel::internal {
namespace {

constexpr std::size_t kKinds = kRecordKindSlots;  // RecordKind values are 1..9

std::string time_json(const std::optional<WallTime>& t) {
  if (!t) return "null";
  return "{\"time\":\"" + rfc3339(*t) + "\",\"time_ns\":" + std::to_string(unix_ns(*t)) + "}";
}

// Counts of every record by kind; with a deep pass, also the records that
// failed their checksum (a scan restarts after each one).
struct KindCounts {
  std::array<std::uint64_t, kKinds> by_kind{};
  std::optional<std::uint64_t> damaged;  // known only after a deep pass
  std::optional<WallTime> oldest;
  std::optional<WallTime> newest;
};

// One LSN range, in order; a record that fails its checksum is counted as
// damaged and the scan goes on after it.
Status count_range(Journal& journal, Lsn first, Lsn last, KindCounts& c) {
  Lsn next = first;
  while (next <= last) {
    Status s = journal.scan_lsn(next, last, [&](const Record& r) {
      const auto k = static_cast<std::size_t>(r.kind);
      if (k < kKinds) ++c.by_kind[k];
      if (!c.oldest) c.oldest = r.time;
      c.newest = r.time;
      next = r.lsn + 1;
      return true;
    });
    if (s.code() != StatusCode::kCorruption) return s;
    c.damaged = c.damaged.value_or(0) + 1;  // the record at `next` failed its checksum
    ++next;
  }
  return Status::ok();
}

// Counts every record by kind in one LSN-order pass. Memory does not depend
// on the journal's size.
Result<KindCounts> count_kinds(Journal& journal, Lsn first, Lsn last) {
  KindCounts c;
  c.damaged = 0;
  if (first != kNoLsn) KEEL_RETURN_IF_ERROR(count_range(journal, first, last, c));
  return c;
}

}  // namespace

namespace {

// What stats shows: the journal's own figures (its writer keeps the counts
// by kind), or with `deep` counts from one pass over every record, which
// also finds the damaged ones.
struct StatsView {
  JournalStats st;
  KindCounts counts;
};

Result<StatsView> read_stats(Journal& journal, bool deep) {
  KEEL_ASSIGN_OR_RETURN(JournalStats st, journal.stats());
  if (deep) {
    KEEL_ASSIGN_OR_RETURN(KindCounts counts, count_kinds(journal, st.first_lsn, st.last_lsn));
    return StatsView{std::move(st), counts};
  }
  KindCounts counts;
  for (std::size_t k = 1; k < kKinds; ++k) counts.by_kind[k] = st.records_by_kind[k];
  counts.oldest = st.first_time;
  counts.newest = st.last_time;
  return StatsView{std::move(st), counts};
}

std::string stats_json(const std::string& path, const JournalStats& st, const KindCounts& counts) {
  std::string by_kind;
  for (std::size_t k = 1; k < kKinds; ++k) {
    by_kind += (k == 1 ? "\"" : ",\"") + std::string(record_kind_name(static_cast<RecordKind>(k))) +
               "\":" + std::to_string(counts.by_kind[k]);
  }
  return "{\"path\":" + json_string(path) + ",\"backend\":" + json_string(st.backend) +
         ",\"format_version\":" + std::to_string(st.format_version) + ",\"first_lsn\":" +
         std::to_string(st.first_lsn) + ",\"last_lsn\":" + std::to_string(st.last_lsn) +
         ",\"records\":" + std::to_string(st.records) + ",\"by_kind\":{" + by_kind +
         "},\"damaged\":" + (counts.damaged ? std::to_string(*counts.damaged) : std::string("null")) +
         ",\"owners\":" + std::to_string(st.owners) +
         ",\"size_bytes\":" + std::to_string(st.size_bytes) + ",\"oldest\":" + time_json(counts.oldest) +
         ",\"newest\":" + time_json(counts.newest) + "}";
}

Table stats_table(const Context& ctx, const JournalStats& st, const KindCounts& counts) {
  Table t({"", ""});
  const Palette& p = ctx.palette;
  t.add({"journal", redacted_journal_path(ctx.path)});
  t.add({"backend", st.backend});
  t.add({"format version", std::to_string(st.format_version)});
  t.add({"lsn range",
         st.records == 0 ? "(empty)" : std::to_string(st.first_lsn) + " .. " + std::to_string(st.last_lsn)});
  t.add({"records", std::to_string(st.records)});
  for (std::size_t k = 1; k < kKinds; ++k) {
    if (counts.by_kind[k] == 0) continue;
    t.add({"  " + std::string(record_kind_name(static_cast<RecordKind>(k))), std::to_string(counts.by_kind[k])});
  }
  if (counts.damaged.value_or(0) != 0) t.add({p.red("  damaged"), p.red(std::to_string(*counts.damaged))});
  t.add({"owners", std::to_string(st.owners)});
  t.add({"size on disk", human_bytes(st.size_bytes) + " (" + std::to_string(st.size_bytes) + " bytes)"});
  t.add({"oldest", counts.oldest ? rfc3339(*counts.oldest) : "-"});
  t.add({"newest", counts.newest ? rfc3339(*counts.newest) : "-"});
  return t;
}

}  // namespace

Outcome write_stats_json(Journal& journal, const std::string& path, std::ostream& out, bool deep) {
  Result<StatsView> v = read_stats(journal, deep);
  if (!v) return from_status(v.status());
  out << stats_json(path, v->st, v->counts) << "\n";
  return {};
}

Outcome run_stats(Context& ctx) {
  const bool deep = ctx.args.has("--deep");
  if (ctx.json) return write_stats_json(ctx.journal, redacted_journal_path(ctx.path), ctx.out, deep);
  Result<StatsView> v = read_stats(ctx.journal, deep);
  if (!v) return from_status(v.status());
  stats_table(ctx, v->st, v->counts).print(ctx.out, ctx.palette, /*with_header=*/false);
  return {};
}

// ---- ls ----------------------------------------------------------------------

namespace {

struct OwnerStatus {
  std::string status;  // "idle", "pending 3", a run's status, "damaged", or "-"
  std::uint64_t pending = 0;
  // Records that failed their checksum among those read for the status
  // (all of the owner's with --deep).
  std::uint64_t damaged = 0;
};

// Reads the end of the owner's records, from `from` on; `visit` sees each
// readable one, and `status->damaged` counts the others.
Status scan_end(Journal& journal, const OwnerInfo& o, std::uint64_t from, OwnerStatus* status,
                const std::function<void(const Record&)>& visit) {
  status->damaged = 0;
  return journal.scan_owner_skipping(
      o.owner, from,
      [&](const Record& r) {
        visit(r);
        return true;
      },
      [&](const JournalProblem&) { ++status->damaged; });
}

// An actor's unhandled INBOX records: those after its newest cursor and not
// marked handled (PROCESSED 0 right after an INBOX record). Reads
// a window at the end of its records, widened until it holds the newest
// cursor and the record that cursor names, so the work is proportional to
// the backlog, not to the owner's history.
Result<OwnerStatus> actor_status(Journal& journal, const OwnerInfo& o) {
  OwnerStatus s;
  for (std::uint64_t window = 8;; window *= 8) {
    const std::uint64_t from = o.last_seq > window ? o.last_seq - window + 1 : 1;
    std::optional<Lsn> cursor;
    std::optional<Lsn> first_lsn;
    std::vector<Lsn> inbox;
    KEEL_RETURN_IF_ERROR(scan_end(journal, o, from, &s, [&](const Record& r) {
      if (!first_lsn) first_lsn = r.lsn;
      if (r.kind == RecordKind::kInbox) inbox.push_back(r.lsn);
      std::optional<Lsn> c = cursor_of(r);
      if (c && *c == 0 && r.kind == RecordKind::kProcessed) {
        // A mark: the INBOX record just before it was journaled with its handling.
        if (!inbox.empty() && inbox.back() == r.lsn - 1) inbox.pop_back();
      } else if (c) {
        cursor = std::max(cursor.value_or(0), *c);
      }
    }));
    if (from == 1 || (cursor && first_lsn && *cursor >= *first_lsn) || (!cursor && inbox.empty())) {
      for (Lsn lsn : inbox) s.pending += lsn > cursor.value_or(0) ? 1 : 0;
      s.status = s.pending == 0 ? "idle" : "pending " + std::to_string(s.pending);
      return s;
    }
  }
}

// A run's status: that of its newest RUN record, found in a window at the
// end of its records widened until it holds one.
Result<OwnerStatus> workflow_status(Journal& journal, const OwnerInfo& o) {
  OwnerStatus s;
  for (std::uint64_t window = 8;; window *= 8) {
    const std::uint64_t from = o.last_seq > window ? o.last_seq - window + 1 : 1;
    std::optional<Record> run;
    KEEL_RETURN_IF_ERROR(scan_end(journal, o, from, &s, [&](const Record& r) {
      if (r.kind == RecordKind::kRun) run = r;
    }));
    if (run || from == 1) {
      std::optional<std::string> st = run ? status_field(*run) : std::nullopt;
      s.status = st.value_or("-");
      return s;
    }
  }
}

// The owner's status from the end of its records; with `deep`, damage is
// looked for in all of its records. An owner with a damaged record read is
// "damaged".
Result<OwnerStatus> status_of(Journal& journal, const OwnerInfo& o, bool deep) {
  const OwnerKind kind = owner_kind(o.owner);
  OwnerStatus s{"-", 0, 0};
  if (kind == OwnerKind::kActor) {
    KEEL_ASSIGN_OR_RETURN(s, actor_status(journal, o));
  } else if (kind == OwnerKind::kWorkflow) {
    KEEL_ASSIGN_OR_RETURN(s, workflow_status(journal, o));
  }
  if (deep) KEEL_RETURN_IF_ERROR(scan_end(journal, o, 1, &s, [](const Record&) {}));
  if (s.damaged != 0) s.status = "damaged";
  return s;
}

bool status_matches(const std::string& status, const std::string& wanted) {
  return wanted.empty() || status == wanted || status.substr(0, status.find(' ')) == wanted;
}

using OwnerVisitor = std::function<void(const OwnerInfo&, const std::string& kind, const OwnerStatus&)>;

// Calls `visit` for each owner that passes `filter`, in owners() order.
// Errors: kUsage (an unknown kind), kCorruptRecord (after every owner was
// visited: some had damaged records), and the journal's.
Outcome for_each_owner(Journal& journal, const OwnerFilter& filter, const OwnerVisitor& visit) {
  if (!filter.kind.empty() && filter.kind != "actor" && filter.kind != "workflow" && filter.kind != "other") {
    return Outcome::fail(ExitCode::kUsage, "--kind must be actor, workflow or other, not '" + filter.kind + "'");
  }
  Result<std::vector<OwnerInfo>> owners = journal.owners();
  if (!owners) return from_status(owners.status());
  std::uint64_t damaged = 0;  // owners listed with damaged records
  std::string first_damaged;
  for (const OwnerInfo& o : *owners) {
    const std::string kind(owner_kind_name(owner_kind(o.owner)));
    if (!filter.kind.empty() && kind != filter.kind) continue;
    Result<OwnerStatus> s = status_of(journal, o, filter.deep);
    if (!s) return from_status(s.status());
    if (!status_matches(s->status, filter.status)) continue;
    if (s->damaged != 0 && damaged++ == 0) first_damaged = o.owner;
    visit(o, kind, *s);
  }
  if (damaged == 0) return {};
  return Outcome::fail(ExitCode::kCorruptRecord,
                       damaged == 1 ? first_damaged + " has damaged records (keel journal show " + first_damaged +
                                          " names them)"
                                    : std::to_string(damaged) + " owners have damaged records, " + first_damaged +
                                          " first (keel journal verify names them)");
}

std::string ls_json(const OwnerInfo& o, const std::string& kind, const OwnerStatus& s) {
  return "{\"owner\":" + json_string(o.owner) + ",\"kind\":\"" + kind + "\",\"status\":" + json_string(s.status) +
         ",\"pending\":" + std::to_string(s.pending) + ",\"damaged\":" + std::to_string(s.damaged) +
         ",\"records\":" + std::to_string(o.records) +
         ",\"last_seq\":" + std::to_string(o.last_seq) + ",\"last_lsn\":" + std::to_string(o.last_lsn) +
         ",\"last_time\":\"" + rfc3339(o.last_time) + "\",\"last_time_ns\":" + std::to_string(unix_ns(o.last_time)) +
         "}";
}

std::vector<std::string> ls_row(const Palette& p, const OwnerInfo& o, const std::string& kind, const OwnerStatus& s) {
  std::string status = s.status;
  if (s.pending != 0) status = p.yellow(status);
  if (status == "idle") status = p.green(status);
  if (s.damaged != 0) status = p.red(status);
  return {o.owner, kind, status, std::to_string(o.records), std::to_string(o.last_lsn), rfc3339(o.last_time)};
}

}  // namespace

Outcome write_owners_json(Journal& journal, const OwnerFilter& filter, std::ostream& out) {
  std::string json;
  Outcome outcome = for_each_owner(journal, filter, [&](const OwnerInfo& o, const std::string& kind,
                                                        const OwnerStatus& s) {
    json += (json.empty() ? "" : ",") + ls_json(o, kind, s);
  });
  if (!outcome.ok() && outcome.code != ExitCode::kCorruptRecord) return outcome;
  out << "{\"owners\":[" << json << "]}\n";
  return outcome;
}

Outcome run_ls(Context& ctx) {
  const OwnerFilter filter{ctx.args.get("--kind"), ctx.args.get("--status"), ctx.args.has("--deep")};
  if (ctx.json) return write_owners_json(ctx.journal, filter, ctx.out);
  Table table({"OWNER", "KIND", "STATUS", "RECORDS", "LAST LSN", "LAST ACTIVITY"});
  Outcome outcome = for_each_owner(ctx.journal, filter, [&](const OwnerInfo& o, const std::string& kind,
                                                            const OwnerStatus& s) {
    table.add(ls_row(ctx.palette, o, kind, s));
  });
  if (!outcome.ok() && outcome.code != ExitCode::kCorruptRecord) return outcome;
  table.print(ctx.out, ctx.palette);
  return outcome;
}

// ---- show, tail, export ----------------------------------------------------------

namespace {

// Writes records to `out` as JSON (one per line when `lines`, else the
// elements of an array that the caller opened), or as the human rows of
// `human`'s timeline when `human` is not null. `capnp` may be null. The
// stream, `capnp` and `human` must outlive the printer.
class RecordPrinter {
 public:
  RecordPrinter(std::ostream& out, const CapnpRenderer* capnp, const Context* human, std::size_t width,
                bool with_owner, bool lines)
      : out_(out), capnp_(capnp), human_(human), width_(width), with_owner_(with_owner), lines_(lines) {}
  // As the context asks: JSON with --json, else human rows.
  RecordPrinter(const Context& ctx, std::size_t width, bool with_owner, bool lines)
      : RecordPrinter(ctx.out, ctx.capnp, ctx.json ? nullptr : &ctx, width, with_owner, lines) {}

  void record(const Record& r) {
    if (human_ == nullptr) {
      element(record_json(r, decode_payload(r, capnp_)));
    } else {
      out_ << timeline_row(*human_, r, width_, with_owner_) << "\n";
    }
    ++printed_;
  }
  void damaged(const JournalProblem& p) {
    ++damaged_;
    if (!first_damaged_) first_damaged_ = p.status;
    if (human_ == nullptr) {
      element(damaged_json(p));
    } else {
      out_ << pad_left(std::to_string(p.lsn), with_owner_ ? width_ : 2 * width_ + 2) << "  "
           << human_->palette.red("damaged: " + std::string(p.status.message())) << "\n";
    }
  }
  // Prints every record of `owner`, damaged ones included, in sequence order.
  Status print_owner(Journal& journal, const std::string& owner) {
    return journal.scan_owner_skipping(
        owner, 1,
        [&](const Record& r) {
          record(r);
          return true;
        },
        [&](const JournalProblem& p) { damaged(p); });
  }
  std::uint64_t printed() const { return printed_; }
  // kCorruptRecord naming the first damaged record, if any was printed.
  Outcome outcome() const {
    if (damaged_ == 0) return {};
    return Outcome::fail(ExitCode::kCorruptRecord,
                         std::string(first_damaged_->message()) +
                             (damaged_ > 1 ? " (and " + std::to_string(damaged_ - 1) + " more damaged records)" : ""));
  }

 private:
  void element(const std::string& json) {
    if (lines_) {
      out_ << json << "\n";
    } else {
      out_ << (first_ ? "\n" : ",\n") << json;
    }
    first_ = false;
  }

  std::ostream& out_;
  const CapnpRenderer* capnp_;
  const Context* human_;
  std::size_t width_;
  bool with_owner_;
  bool lines_;
  bool first_ = true;
  std::uint64_t printed_ = 0;
  std::uint64_t damaged_ = 0;
  std::optional<Status> first_damaged_;
};

Result<std::size_t> lsn_width(Journal& journal) {
  KEEL_ASSIGN_OR_RETURN(Lsn last, journal.last_lsn());
  return digits(last);
}

}  // namespace

Outcome write_owner_json(Journal& journal, const std::string& id, const CapnpRenderer* capnp, std::ostream& out) {
  Result<std::string> owner = resolve_owner(journal, id);
  if (!owner) return from_status(owner.status());
  RecordPrinter printer(out, capnp, nullptr, 0, false, false);
  out << "{\"owner\":" << json_string(*owner) << ",\"records\":[";
  Status s = printer.print_owner(journal, *owner);
  out << "\n]}\n";
  if (!s.is_ok()) return from_status(s);
  return printer.outcome();
}

Outcome run_show(Context& ctx) {
  if (ctx.json) return write_owner_json(ctx.journal, ctx.args.positional[0], ctx.capnp, ctx.out);
  Result<std::string> owner = resolve_owner(ctx.journal, ctx.args.positional[0]);
  if (!owner) return from_status(owner.status());
  Result<std::size_t> width = lsn_width(ctx.journal);
  if (!width) return from_status(width.status());
  const std::size_t w = std::max<std::size_t>(*width, 3);
  RecordPrinter printer(ctx, w, false, false);
  ctx.out << ctx.palette.bold(*owner) << "\n"
          << ctx.palette.bold(pad_left("SEQ", w) + "  " + pad_left("LSN", w) + "  " + pad("TIME", 30) + "  " +
                              pad("KIND", 9) + "  PAYLOAD")
          << "\n";
  Status s = printer.print_owner(ctx.journal, *owner);
  if (!s.is_ok()) return from_status(s);
  return printer.outcome();
}

namespace {

// The first LSN of the last `n` records of the journal (LSNs are gap-free).
Lsn tail_start(Lsn first, Lsn last, std::uint64_t n) {
  if (last == kNoLsn || n == 0) return last + 1;
  return last - first + 1 > n ? last - n + 1 : first;
}

Outcome follow(Context& ctx, RecordPrinter& printer, Lsn seen, const std::string& owner, std::uint64_t limit,
               std::chrono::milliseconds interval) {
  auto done = [&] {
    return (limit != 0 && printer.printed() >= limit) || (ctx.stop != nullptr && ctx.stop->load(std::memory_order_relaxed)) ||
           !ctx.out.good();
  };
  while (!done()) {
    Result<Lsn> last = ctx.journal.last_lsn();
    if (!last) return from_status(last.status());
    if (*last > seen) {
      Status s = ctx.journal.scan_lsn(seen + 1, *last, [&](const Record& r) {
        seen = r.lsn;
        if (owner.empty() || r.owner == owner) printer.record(r);
        return !done();
      });
      if (!s.is_ok()) return from_status(s);
      ctx.out.flush();
      continue;
    }
    std::this_thread::sleep_for(interval);  // polling: a reader cannot be woken by the writer's commits
  }
  return {};
}

}  // namespace

Outcome run_tail(Context& ctx) {
  Result<std::uint64_t> n = parse_u64(ctx.args.get("--lines", "10"), "-n");
  Result<std::uint64_t> limit = parse_u64(ctx.args.get("--limit", "0"), "--limit");
  Result<std::uint64_t> interval = parse_u64(ctx.args.get("--interval-ms", "100"), "--interval-ms");
  for (const Status& s : {n.status(), limit.status(), interval.status()}) {
    if (!s.is_ok()) return Outcome::fail(ExitCode::kUsage, std::string(s.message()));
  }
  std::string owner;
  if (ctx.args.has("--owner")) {
    Result<std::string> resolved = resolve_owner(ctx.journal, ctx.args.get("--owner"));
    if (!resolved) return from_status(resolved.status());
    owner = *resolved;
  }
  Result<Lsn> last = ctx.journal.last_lsn();
  if (!last) return from_status(last.status());
  const std::size_t w = std::max<std::size_t>(digits(*last) + 1, 4);
  RecordPrinter printer(ctx, w, true, true);
  auto print = [&](const Record& r) {
    printer.record(r);
    return limit.value() == 0 || printer.printed() < limit.value();
  };
  Status s;
  if (owner.empty()) {
    s = ctx.journal.scan_lsn(tail_start(1, *last, *n), *last, print);
  } else if (*n != 0) {
    Result<std::uint64_t> last_seq = last_seq_of(ctx.journal, owner);
    if (!last_seq) return from_status(last_seq.status());
    const std::uint64_t from = *last_seq > *n ? *last_seq - *n + 1 : 1;
    s = ctx.journal.scan_owner(owner, from, [&](const Record& r) { return r.lsn <= *last && print(r); });
  }
  if (!s.is_ok()) return from_status(s);
  ctx.out.flush();
  if (!ctx.args.has("--follow")) return {};
  return follow(ctx, printer, *last, owner, *limit, std::chrono::milliseconds(*interval));
}

Outcome run_export(Context& ctx) {
  Result<Lsn> last = ctx.journal.last_lsn();
  if (!last) return from_status(last.status());
  Result<std::uint64_t> from = parse_u64(ctx.args.get("--from", "1"), "--from");
  Result<std::uint64_t> to = parse_u64(ctx.args.get("--to", std::to_string(*last)), "--to");
  for (const Status& s : {from.status(), to.status()}) {
    if (!s.is_ok()) return Outcome::fail(ExitCode::kUsage, std::string(s.message()));
  }
  if (*from > *to) {
    return Outcome::fail(ExitCode::kUsage, "--from " + std::to_string(*from) + " is after --to " + std::to_string(*to));
  }
  // JSON lines only; a damaged record is a line of its own, and the export
  // goes on to the end of the range.
  RecordPrinter printer(ctx.out, ctx.capnp, nullptr, 0, true, true);
  auto damaged = [&](const JournalProblem& p) {
    if (p.lsn >= *from && p.lsn <= *to) printer.damaged(p);
  };
  Status s;
  if (ctx.args.has("--owner")) {
    Result<std::string> owner = resolve_owner(ctx.journal, ctx.args.get("--owner"));
    if (!owner) return from_status(owner.status());
    s = ctx.journal.scan_owner_skipping(
        *owner, 1,
        [&](const Record& r) {
          if (r.lsn > *to) return false;
          if (r.lsn >= *from) printer.record(r);
          return true;
        },
        damaged);
  } else {
    s = ctx.journal.scan_lsn_skipping(
        std::max<Lsn>(*from, 1), *to,
        [&](const Record& r) {
          printer.record(r);
          return true;
        },
        damaged);
  }
  if (!s.is_ok()) return from_status(s);
  return printer.outcome();
}

}  // namespace keel::internal
