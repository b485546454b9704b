// Helpers shared by the `keel journal` commands.
#include "command.h"

#include "keel/journal/format.h"
#include "render.h"

namespace keel::internal {
namespace {

// Whether `owner` has a record at `seq` or later (a damaged one counts).
Result<bool> has_record_from(Journal& journal, const std::string& owner, std::uint64_t seq) {
  bool found = false;
  KEEL_RETURN_IF_ERROR(journal.scan_owner_skipping(
      owner, seq,
      [&](const Record&) {
        found = true;
        return false;
      },
      [&](const JournalProblem&) { found = true; }));
  return found;
}

}  // namespace

Result<std::string> resolve_owner(Journal& journal, const std::string& id) {
  for (const std::string& owner : {id, actor_owner(id), workflow_owner(id)}) {
    KEEL_ASSIGN_OR_RETURN(bool found, has_record_from(journal, owner, 1));
    if (found) return owner;
  }
  return Status::not_found("no owner '" + id + "' in the journal (keel journal ls lists them)");
}

Result<std::uint64_t> last_seq_of(Journal& journal, const std::string& owner) {
  KEEL_ASSIGN_OR_RETURN(bool any, has_record_from(journal, owner, 1));
  if (!any) return 0;
  // Sequence numbers are gap-free from 1: gallop to a missing one, then
  // bisect between the last present and the first missing.
  std::uint64_t present = 1;
  std::uint64_t missing = 2;
  for (;;) {
    KEEL_ASSIGN_OR_RETURN(bool found, has_record_from(journal, owner, missing));
    if (!found) break;
    present = missing;
    missing *= 2;
  }
  while (missing - present > 1) {
    const std::uint64_t mid = present + (missing - present) / 2;
    KEEL_ASSIGN_OR_RETURN(bool found, has_record_from(journal, owner, mid));
    (found ? present : missing) = mid;
  }
  return present;
}

std::size_t digits(std::uint64_t n) {
  std::size_t d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

std::string timeline_row(const Context& ctx, const Record& r, std::size_t width, bool with_owner) {
  const DecodedPayload p = decode_payload(r, ctx.capnp);
  std::string kind(record_kind_name(r.kind));
  kind = pad(kind, 9);
  switch (r.kind) {
    case RecordKind::kInbox: kind = ctx.palette.cyan(kind); break;
    case RecordKind::kSnapshot: kind = ctx.palette.green(kind); break;
    case RecordKind::kTimer: kind = ctx.palette.yellow(kind); break;
    default: break;
  }
  std::string row;
  if (with_owner) {
    row = pad_left(std::to_string(r.lsn), width) + "  " + ctx.palette.dim(rfc3339(r.time)) + "  " + kind + "  " +
          r.owner + "#" + std::to_string(r.seq) + "  ";
  } else {
    row = pad_left(std::to_string(r.seq), width) + "  " + pad_left(std::to_string(r.lsn), width) + "  " +
          ctx.palette.dim(rfc3339(r.time)) + "  " + kind + "  ";
  }
  row += p.format == "hex" || p.format == "none" ? ctx.palette.dim(p.summary) : p.summary;
  return row;
}

}  // namespace keel::internal
