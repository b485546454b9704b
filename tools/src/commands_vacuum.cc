// keel journal vacuum: giving the space of removed records back to the file
// system (Journal::vacuum), offline: it opens the journal for writing, so a
// journal a live process holds is refused.
#include "command.h"
#include "keel/journal/pg_journal.h"
#include "text.h"

namespace keel::internal {

Outcome run_vacuum(Context& ctx, const std::function<void()>& close_reader) {
  close_reader();  // the path is a readable journal of a known version
  JournalOptions options;
  options.create_if_missing = false;
  options.pg_exclusive = true;  // refused beside a live PostgreSQL writer, not taking its journal over
  Result<std::unique_ptr<Journal>> journal = open_journal(ctx.path, options);
  if (!journal && journal.status().code() == StatusCode::kFailedPrecondition) {
    return Outcome::fail(ExitCode::kLiveWriter,
                         redacted_journal_path(ctx.path) + ": owned by a live process; vacuum refuses to run beside it (" +
                             std::string(journal.status().message()) + ")");
  }
  if (!journal) return from_status(journal.status());
  Result<JournalStats> before = (*journal)->stats();
  if (!before) return from_status(before.status());
  Status vacuumed = (*journal)->vacuum();
  if (!vacuumed.is_ok()) return from_status(vacuumed);
  Result<JournalStats> after = (*journal)->stats();
  if (!after) return from_status(after.status());
  if (ctx.json) {
    ctx.out << "{\"backend\":" << json_string(after->backend) << ",\"size_bytes_before\":" << before->size_bytes
            << ",\"size_bytes_after\":" << after->size_bytes << ",\"records\":" << after->records << "}\n";
    return {};
  }
  ctx.out << "vacuumed " << redacted_journal_path(ctx.path) << " (" << after->backend << "): " << before->size_bytes << " -> "
          << after->size_bytes << " bytes, " << after->records << " records\n";
  return {};
}

}  // namespace keel::internal
