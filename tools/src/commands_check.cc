// keel journal verify, at and compact: checking a journal, looking at a
// durable actor as of an LSN, and offline compaction.
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "command.h"
#include "keel/journal/pg_journal.h"
#include "keel/journal/format.h"
#include "keel/wire/envelope.h"
#include "keel/wire/value_tree.h"
#include "render.h"

namespace keel::internal {

// ---- verify ----------------------------------------------------------------------

namespace {

// Prints problems as they are found: lines for people, or the elements of
// the "problems" array of the JSON object.
class ProblemPrinter {
 public:
  explicit ProblemPrinter(Context& ctx) : ctx_(ctx) {}

  void report(Lsn lsn, const std::string& owner, std::string_view message) {
    if (ctx_.json) {
      ctx_.out << (count_ == 0 ? "\n" : ",\n") << "{\"lsn\":" << lsn << ",\"owner\":" << json_string(owner)
               << ",\"problem\":" << json_string(message) << "}";
    } else {
      // The journal's messages already name the record ("lsn N, owner O: ...").
      const bool named = message.rfind("lsn ", 0) == 0;
      ctx_.out << ctx_.palette.red("problem") << ": "
               << (named ? "" : "lsn " + std::to_string(lsn) + (owner.empty() ? "" : ", owner " + owner) + ": ")
               << message << "\n";
    }
    ++count_;
  }
  std::uint64_t count() const { return count_; }

 private:
  Context& ctx_;
  std::uint64_t count_ = 0;
};

// Checks the references inside one actor's records: every cursor
// (PROCESSED, SNAPSHOT) names one of the owner's INBOX records accepted
// before it and not before the previous cursor, every mark (PROCESSED 0)
// follows its INBOX record, and every INBOX envelope decodes. Memory: the
// INBOX records not yet covered by a cursor.
class ActorChecker {
 public:
  // `truncated`: the owner's older records were removed (its first seq is
  // above 1), so a cursor may name an INBOX record before its first kept one.
  ActorChecker(const std::string& owner, bool truncated, ProblemPrinter& problems)
      : owner_(owner), truncated_(truncated), problems_(problems) {}

  // A record that failed its checksum (reported by verify() already) may
  // have been an INBOX record: a cursor naming it is not dangling.
  void damaged(Lsn lsn) { open_.push_back(lsn); }

  void visit(const Record& r) {
    if (first_lsn_ == 0) first_lsn_ = r.lsn;
    if (r.kind == RecordKind::kInbox) {
      if (!r.compacted) {
        Result<wire::Envelope> e = wire::decode_envelope(r.payload);
        if (!e) report(r, "inbox envelope does not decode: " + std::string(e.status().message()));
      }
      open_.push_back(r.lsn);
      return;
    }
    if ((r.kind != RecordKind::kProcessed && r.kind != RecordKind::kSnapshot) || r.compacted) return;
    const std::string what(record_kind_name(r.kind));
    std::optional<Lsn> c = cursor_of(r);
    if (!c) {
      report(r, what + " payload does not hold a cursor");
      return;
    }
    if (r.kind == RecordKind::kProcessed && *c == 0) {
      // A mark: the INBOX record just before it, journaled with its handling.
      if (open_.empty() || open_.back() != r.lsn - 1) {
        report(r, "dangling reference: processed mark does not follow an INBOX record of this owner");
      } else {
        open_.pop_back();
        marked_.push_back(r.lsn - 1);
      }
      return;
    }
    if (*c == last_cursor_) return;  // names the same INBOX record again
    if (*c < last_cursor_) {
      report(r, what + " cursor " + std::to_string(*c) + " goes back from " + std::to_string(last_cursor_));
      return;
    }
    while (!open_.empty() && open_.front() < *c) open_.pop_front();
    while (!marked_.empty() && marked_.front() < *c) marked_.pop_front();
    if (!open_.empty() && open_.front() == *c) {
      open_.pop_front();
    } else if (!marked_.empty() && marked_.front() == *c) {
      marked_.pop_front();  // the cursor moved up to a marked message
    } else if (truncated_ && *c < first_lsn_) {
      // Names a removed record: compaction kept what the cursor needs.
    } else {
      report(r, "dangling reference: " + what + " cursor " + std::to_string(*c) +
                    " is not an INBOX record of this owner before it");
    }
    last_cursor_ = *c;
  }

 private:
  void report(const Record& r, const std::string& message) { problems_.report(r.lsn, owner_, message); }

  const std::string& owner_;
  const bool truncated_;
  ProblemPrinter& problems_;
  Lsn first_lsn_ = 0;  // of the first record visited
  std::deque<Lsn> open_;    // unmarked INBOX LSNs after the last cursor, ascending
  std::deque<Lsn> marked_;  // marked INBOX LSNs after the last cursor, ascending
  Lsn last_cursor_ = 0;
};

}  // namespace

Outcome run_verify(Context& ctx) {
  Result<JournalStats> st = ctx.journal.stats();
  if (!st) return from_status(st.status());
  ProblemPrinter problems(ctx);
  if (ctx.json) ctx.out << "{\"problems\":[";
  Status s = ctx.journal.verify([&](const JournalProblem& p) { problems.report(p.lsn, p.owner, p.status.message()); });
  Result<std::vector<OwnerInfo>> owners = ctx.journal.owners();
  if (s.is_ok() && !owners) s = owners.status();
  for (std::size_t i = 0; s.is_ok() && i < owners->size(); ++i) {
    const std::string& owner = (*owners)[i].owner;
    if (owner_kind(owner) != OwnerKind::kActor) continue;
    ActorChecker checker(owner, (*owners)[i].first_seq > 1, problems);
    s = ctx.journal.scan_owner_skipping(
        owner, 1,
        [&](const Record& r) {
          checker.visit(r);
          return true;
        },
        [&](const JournalProblem& p) { checker.damaged(p.lsn); });
  }
  if (!s.is_ok()) {
    if (ctx.json) ctx.out << "\n]}\n";
    return from_status(s);
  }
  const std::uint64_t n = problems.count();
  if (ctx.json) {
    ctx.out << (n == 0 ? "" : "\n") << "],\"ok\":" << (n == 0 ? "true" : "false") << ",\"records\":" << st->records
            << ",\"owners\":" << owners->size() << ",\"last_lsn\":" << st->last_lsn << "}\n";
  } else if (n == 0) {
    ctx.out << ctx.palette.green("ok") << ": " << st->records << " records, " << owners->size()
            << " owners, no problems\n";
  }
  if (n == 0) return {};
  return Outcome::fail(ExitCode::kProblems, std::to_string(n) + (n == 1 ? " problem" : " problems") +
                                                " found in " + redacted_journal_path(ctx.path));
}

// ---- at ------------------------------------------------------------------------------

namespace {

// What the owner's records up to an LSN say: its newest snapshot and the
// newest cursor.
struct AsOf {
  std::string owner;
  Lsn lsn = kNoLsn;
  std::optional<Record> snapshot;
  std::optional<wire::Value> snapshot_value;  // (cursor, state, timers, ...)
  Lsn snapshot_cursor = 0;  // the INBOX record the snapshot covers up to
  Lsn cursor = 0;           // the newest handled INBOX record
  Lsn compacted_snapshot = kNoLsn;  // a newer snapshot whose payload compaction dropped
  // Messages journaled with their handling (marked) past the snapshot's
  // cursor: INBOX LSN -> the mark's LSN (before the snapshot record: in it).
  std::map<Lsn, Lsn> marked;

  // Compaction keeps the newest snapshot, so a compacted one newer than the
  // snapshot found means the state as of `lsn` is gone.
  bool compacted() const { return compacted_snapshot > (snapshot ? snapshot->lsn : kNoLsn); }
  // The INBOX records past the snapshot's cursor that were marked handled
  // before the snapshot was written: its state includes them too.
  std::vector<Lsn> marked_in_snapshot() const {
    std::vector<Lsn> out;
    for (const auto& [inbox, mark] : marked) {
      if (snapshot && mark < snapshot->lsn) out.push_back(inbox);
    }
    return out;
  }
};

// What the snapshot's state covers, after "which covers ": its cursor's
// messages and those marked handled before it.
std::string coverage_text(const AsOf& a) {
  const std::vector<Lsn> marked = a.marked_in_snapshot();
  std::string text = a.snapshot_cursor != 0 ? "the messages up to lsn " + std::to_string(a.snapshot_cursor) : "";
  if (!marked.empty()) {
    text += (text.empty() ? "" : " and ") +
            (marked.size() == 1 ? "the message at lsn " + std::to_string(marked[0]) +
                                      ", marked handled with its handling"
                                : "the " + std::to_string(marked.size()) +
                                      " messages marked handled with their handling, the last at lsn " +
                                      std::to_string(marked.back()));
  }
  return text.empty() ? "no message" : text;
}

Status parse_snapshot(AsOf& a) {
  if (!a.snapshot) return Status::ok();
  Result<wire::Value> v = wire::parse_value(a.snapshot->payload);
  if (v && (v->kind != wire::ValueKind::kTuple || v->items.size() < 3)) {
    v = Status::corruption("not a (cursor, state, timers, ...) tuple");
  }
  if (!v) return v.status().with_context("lsn " + std::to_string(a.snapshot->lsn) + ", owner " + a.owner);
  a.snapshot_value = std::move(*v);
  return Status::ok();
}

Result<AsOf> read_as_of(Journal& journal, const std::string& owner, Lsn lsn) {
  AsOf a;
  a.owner = owner;
  a.lsn = lsn;
  Status bad;
  KEEL_RETURN_IF_ERROR(journal.scan_owner(owner, 1, [&](const Record& r) {
    if (r.lsn > lsn) return false;
    std::optional<Lsn> c = cursor_of(r);
    if (r.kind == RecordKind::kProcessed && c && *c == 0) {
      a.marked[r.lsn - 1] = r.lsn;
      return true;
    }
    if (c) a.cursor = std::max(a.cursor, *c);
    if (r.kind == RecordKind::kSnapshot && r.compacted) a.compacted_snapshot = r.lsn;
    if (r.kind == RecordKind::kSnapshot && !r.compacted) {
      if (!c) {
        bad = Status::corruption("lsn " + std::to_string(r.lsn) + ", owner " + owner +
                                 ": snapshot payload is not (cursor, state, timers)");
        return false;
      }
      a.snapshot = r;
      a.snapshot_cursor = *c;
      a.marked.erase(a.marked.begin(), a.marked.upper_bound(*c));
    }
    return true;
  }));
  KEEL_RETURN_IF_ERROR(bad);
  KEEL_RETURN_IF_ERROR(parse_snapshot(a));
  return a;
}

constexpr std::string_view kReplayNote =
    "the state is the snapshot's; the messages applied after it are listed, not replayed "
    "(replaying them needs the actor's program)";

std::string json_lsns(const std::vector<Lsn>& lsns) {
  std::string out = "[";
  for (Lsn lsn : lsns) out += (out.size() == 1 ? "" : ",") + std::to_string(lsn);
  return out + "]";
}

// Everything before the message lists: the snapshot, the state and the note.
void print_state(Context& ctx, const AsOf& a) {
  const std::optional<wire::Value>& snap = a.snapshot_value;
  if (ctx.json) {
    ctx.out << "{\"owner\":" << json_string(a.owner) << ",\"lsn\":" << a.lsn << ",\"snapshot\":"
            << (a.snapshot ? record_json(*a.snapshot, decode_payload(*a.snapshot, nullptr)) : "null")
            << ",\"state\":" << (snap ? snap->items[1].to_json() : "null")
            << ",\"timers\":" << (snap ? snap->items[2].to_json() : "[]")
            << ",\"compacted_snapshot\":" << (a.compacted() ? std::to_string(a.compacted_snapshot) : "null")
            << ",\"snapshot_cursor\":" << a.snapshot_cursor
            << ",\"snapshot_marked\":" << json_lsns(a.marked_in_snapshot())
            << ",\"cursor\":" << a.cursor
            << ",\"note\":" << json_string(kReplayNote) << ",\"applied_after_snapshot\":[";
    return;
  }
  ctx.out << ctx.palette.bold(a.owner + " as of lsn " + std::to_string(a.lsn)) << "\n";
  if (a.snapshot) {
    ctx.out << "state: from the snapshot at lsn " << a.snapshot->lsn << " (seq " << a.snapshot->seq << ", "
            << rfc3339(a.snapshot->time) << "), which covers " << coverage_text(a) << ":\n  "
            << snap->items[1].to_json() << "\n"
            << "pending durable timers in that snapshot: " << snap->items[2].to_json() << "\n";
  } else if (a.compacted()) {
    ctx.out << "state: unknown: the newest snapshot at or before lsn " << a.lsn << " (lsn " << a.compacted_snapshot
            << ") was compacted\n";
  } else {
    ctx.out << "state: no snapshot at or before lsn " << a.lsn
            << ": the actor's default state, then the messages below\n";
  }
  ctx.out << ctx.palette.dim("note: " + std::string(kReplayNote)) << "\n"
          << "messages applied after the snapshot, up to lsn " << a.lsn << ":\n";
}

// The INBOX records after the snapshot's cursor up to the LSN, in LSN
// order: first those handled (covered by the newest cursor), then the
// others. A second pass over the owner's records, so nothing is kept.
Status print_messages(Context& ctx, const AsOf& a, std::size_t width) {
  bool first = true;
  bool in_pending = false;
  auto section = [&](bool pending) {
    if (pending == in_pending) return;
    if (!ctx.json && first) ctx.out << "  (none)\n";
    in_pending = true;
    first = true;
    if (ctx.json) {
      ctx.out << "],\"pending\":[";
    } else {
      ctx.out << "messages accepted but not handled as of lsn " << a.lsn << ":\n";
    }
  };
  KEEL_RETURN_IF_ERROR(ctx.journal.scan_owner(a.owner, 1, [&](const Record& r) {
    if (r.lsn > a.lsn) return false;
    if (r.kind != RecordKind::kInbox || r.compacted || r.lsn <= a.snapshot_cursor) return true;
    auto mark = a.marked.find(r.lsn);
    if (mark != a.marked.end() && a.snapshot && mark->second < a.snapshot->lsn) return true;  // in the snapshot
    section(r.lsn > a.cursor && mark == a.marked.end());
    if (ctx.json) {
      ctx.out << (first ? "" : ",") << "\n" << record_json(r, decode_payload(r, ctx.capnp));
    } else {
      ctx.out << "  " << timeline_row(ctx, r, width, false) << "\n";
    }
    first = false;
    return true;
  }));
  section(true);
  ctx.out << (ctx.json ? "]}\n" : first ? "  (none)\n" : "");
  return Status::ok();
}

// Why the state of `owner` before its first kept snapshot is unknown, when
// compaction (Journal::truncate) removed its first records; nullopt when
// its history is whole, so that no snapshot means the default state.
Result<std::optional<std::string>> removed_history(Journal& journal, const std::string& owner) {
  std::optional<Record> first;
  std::optional<Lsn> first_snapshot;
  KEEL_RETURN_IF_ERROR(journal.scan_owner(owner, 1, [&](const Record& r) {
    if (!first) first = r;
    if (r.kind == RecordKind::kSnapshot && !r.compacted) {
      first_snapshot = r.lsn;
      return false;
    }
    return true;
  }));
  if (!first || first->seq <= 1) return std::optional<std::string>();
  std::string why = "its records before seq " + std::to_string(first->seq) + " (lsn " + std::to_string(first->lsn) +
                    ") were removed by compaction (docs/durable.md, \"Compaction\")";
  why += first_snapshot ? ", and its state is known from its first kept snapshot on, at lsn " +
                              std::to_string(*first_snapshot)
                        : ", and it has no snapshot left";
  return std::optional<std::string>(std::move(why));
}

}  // namespace

Outcome run_at(Context& ctx) {
  Result<std::string> owner = resolve_owner(ctx.journal, ctx.args.positional[0]);
  if (!owner) return from_status(owner.status());
  Result<std::uint64_t> lsn = parse_u64(ctx.args.positional[1], "LSN");
  if (!lsn) return Outcome::fail(ExitCode::kUsage, std::string(lsn.status().message()));
  Result<Lsn> last = ctx.journal.last_lsn();
  if (!last) return from_status(last.status());
  if (*lsn == 0 || *lsn > *last) {
    return Outcome::fail(ExitCode::kUnknownId,
                         "lsn " + std::to_string(*lsn) + " is not in the journal (1.." + std::to_string(*last) + ")");
  }
  const OwnerKind kind = owner_kind(*owner);
  if (kind == OwnerKind::kWorkflow) return run_workflow_at(ctx, *owner, *lsn);
  if (kind != OwnerKind::kActor) {
    return Outcome::fail(ExitCode::kUsage, "at shows a durable actor or a workflow run, and " + *owner +
                                               " is neither (keel journal show " + *owner + " lists its records)");
  }
  Result<AsOf> a = read_as_of(ctx.journal, *owner, *lsn);
  if (!a) return from_status(a.status());
  if (!a->snapshot && !a->compacted()) {
    Result<std::optional<std::string>> removed = removed_history(ctx.journal, *owner);
    if (!removed) return from_status(removed.status());
    if (*removed) {
      return Outcome::fail(ExitCode::kUnknownId, "the state of " + *owner + " as of lsn " + std::to_string(*lsn) +
                                                     " is not in the journal: " + **removed);
    }
  }
  print_state(ctx, *a);
  Status s = print_messages(ctx, *a, std::max<std::size_t>(digits(*last), 3));
  if (!s.is_ok()) return from_status(s);
  return {};
}

// ---- compact ------------------------------------------------------------------------

namespace {

struct Compacted {
  std::string owner;
  std::uint64_t below_seq = 0;
  std::uint64_t records = 0;
};

// Compacts `owner` below the INBOX record its newest snapshot names, as a
// durable actor with compact_every does (docs/durable.md). nullopt when
// the owner has no snapshot.
Result<std::optional<Compacted>> compact_actor(Journal& journal, const std::string& owner) {
  KEEL_ASSIGN_OR_RETURN(std::optional<Record> snap, journal.latest(owner, RecordKind::kSnapshot));
  if (!snap) return std::optional<Compacted>();
  std::optional<Lsn> cursor = cursor_of(*snap);
  if (!cursor) {
    return Status::corruption("lsn " + std::to_string(snap->lsn) + ", owner " + owner +
                              ": snapshot payload is not (cursor, state, timers)");
  }
  std::optional<std::uint64_t> seq;
  KEEL_RETURN_IF_ERROR(journal.scan_lsn(*cursor, *cursor, [&](const Record& r) {
    if (r.owner == owner) seq = r.seq;
    return false;
  }));
  if (!seq) {
    return Status::corruption("lsn " + std::to_string(snap->lsn) + ", owner " + owner + ": snapshot names lsn " +
                              std::to_string(*cursor) + ", which is not one of its records");
  }
  KEEL_ASSIGN_OR_RETURN(std::uint64_t n, journal.compact(owner, *seq));
  return std::optional<Compacted>(Compacted{owner, *seq, n});
}

}  // namespace

Outcome run_compact(Context& ctx, const std::function<void()>& close_reader) {
  close_reader();  // the path is a readable journal of a known version
  JournalOptions options;
  options.create_if_missing = false;
  options.pg_exclusive = true;  // refused beside a live PostgreSQL writer, not taking its journal over
  Result<std::unique_ptr<Journal>> journal = open_journal(ctx.path, options);
  if (!journal && journal.status().code() == StatusCode::kFailedPrecondition) {
    return Outcome::fail(ExitCode::kLiveWriter, "owned by a live process, beside which compact refuses to run: " +
                                                    std::string(journal.status().message()));
  }
  if (!journal) return from_status(journal.status());
  Result<std::vector<OwnerInfo>> owners = (*journal)->owners();
  if (!owners) return from_status(owners.status());
  std::vector<Compacted> done;
  std::uint64_t total = 0;
  for (const OwnerInfo& o : *owners) {
    if (owner_kind(o.owner) != OwnerKind::kActor) continue;
    Result<std::optional<Compacted>> c = compact_actor(**journal, o.owner);
    if (!c) return from_status(c.status());
    if (!*c) continue;
    total += (*c)->records;
    done.push_back(std::move(**c));
  }
  if (ctx.json) {
    ctx.out << "{\"owners\":[";
    for (std::size_t i = 0; i < done.size(); ++i) {
      ctx.out << (i == 0 ? "" : ",") << "{\"owner\":" << json_string(done[i].owner)
              << ",\"below_seq\":" << done[i].below_seq << ",\"compacted\":" << done[i].records << "}";
    }
    ctx.out << "],\"compacted\":" << total << "}\n";
    return {};
  }
  Table t({"OWNER", "BELOW SEQ", "COMPACTED"});
  for (const Compacted& c : done) t.add({c.owner, std::to_string(c.below_seq), std::to_string(c.records)});
  t.print(ctx.out, ctx.palette);
  ctx.out << "compacted " << total << " records of " << done.size() << " actors\n";
  return {};
}

}  // namespace keel::internal
