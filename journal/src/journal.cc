// The backend-independent parts of keel/journal/journal.h: record kind names,
// AppendChain and open_journal's backend detection.
#include "keel/journal/journal.h"

#include <sys/stat.h>

#include <array>

#include "journal_internal.h"
#include "keel/journal/pg_journal.h"

namespace keel {
namespace {

constexpr std::array<std::string_view, kRecordKindSlots> kKindNames = {
    "", "inbox", "processed", "event", "snapshot", "outbox", "timer", "step", "run", "delivered"};

}  // namespace

std::string_view record_kind_name(RecordKind kind) {
  auto k = static_cast<std::size_t>(kind);
  return k > 0 && k < kKindNames.size() ? kKindNames[k] : "unknown";
}

std::optional<RecordKind> record_kind_from_name(std::string_view name) {
  for (std::size_t k = 1; k < kKindNames.size(); ++k) {
    if (kKindNames[k] == name) return static_cast<RecordKind>(k);
  }
  return std::nullopt;
}

Status AppendChain::failure() const {
  if (!failed_any_.load(std::memory_order_acquire)) return Status::ok();
  MutexLock l(mu_);
  return failed_;
}

void AppendChain::fail(const Status& why) {
  MutexLock l(mu_);
  if (!failed_.is_ok() || why.is_ok()) return;
  failed_ = why;
  failed_any_.store(true, std::memory_order_release);
}

void AppendChain::clear() {
  MutexLock l(mu_);
  failed_ = Status::ok();
  failed_any_.store(false, std::memory_order_release);
}

Result<std::unique_ptr<Journal>> open_journal(const std::string& path,
                                              const JournalOptions& options) {
  if (is_pg_conninfo(path)) return open_pg_journal(path, options);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return open_rocks_journal(path, options);
  }
  return open_sqlite_journal(path, options);
}

}  // namespace keel
