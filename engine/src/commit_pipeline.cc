#include "keel/engine/detail/commit_pipeline.h"

#include <utility>

#include "keel/wire/value.h"

namespace keel::detail {

std::shared_ptr<CommitPipeline> CommitPipeline::create(Journal& journal, std::string owner) {
  return std::make_shared<CommitPipeline>(journal, std::move(owner));
}

CommitPipeline::CommitPipeline(Journal& journal, std::string owner)
    : journal_(journal), owner_(std::move(owner)) {}

Status CommitPipeline::refusal() const {
  if (failed_.code() == StatusCode::kOwnershipLost) return failed_;
  return Status::io_error("commit of " + owner_ + " not written: an earlier one failed");
}

void CommitPipeline::submit(Commit c, Done done) {
  Status refused;
  {
    MutexLock l(mu_);
    if (!failed_.is_ok()) {
      refused = refusal();
    } else {
      ++in_flight_;
      if (writing_) {
        waiting_.push_back(Waiting{std::move(c), std::move(done)});
        return;
      }
      writing_ = true;
    }
  }
  if (!refused.is_ok()) {
    done(refused);
    return;
  }
  std::vector<Waiting> parts;
  parts.push_back(Waiting{std::move(c), std::move(done)});
  write(std::move(parts));
}

void CommitPipeline::write(std::vector<Waiting> parts) {
  // A part's cursor is superseded by a later part's: a PROCESSED by any
  // later cursor (cursors are cumulative), a SNAPSHOT only by a later
  // SNAPSHOT (a later PROCESSED still needs it as its replay base).
  std::size_t last_cursor = 0, last_snapshot = 0;
  bool any_cursor = false, any_snapshot = false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const CursorKind kind = parts[i].commit.cursor_kind;
    if (kind != CursorKind::kNone) {
      last_cursor = i;
      any_cursor = true;
    }
    if (kind == CursorKind::kSnapshot) {
      last_snapshot = i;
      any_snapshot = true;
    }
  }
  std::vector<NewRecord> batch;
  std::vector<Layout> layout(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Commit& c = parts[i].commit;
    if (c.inbox) {
      batch.push_back(std::move(*c.inbox));
      batch.push_back(NewRecord{owner_, RecordKind::kProcessed, wire::encode_value(std::uint64_t{0})});
    }
    const bool drop = !c.inbox.has_value() &&
                      ((c.cursor_kind == CursorKind::kProcessed && any_cursor && i < last_cursor) ||
                       (c.cursor_kind == CursorKind::kSnapshot && any_snapshot && i < last_snapshot));
    layout[i] = Layout{c.inbox.has_value(), c.cursor.has_value() && !drop, c.records.size()};
    if (c.cursor && !drop) batch.push_back(std::move(*c.cursor));
    for (NewRecord& r : c.records) batch.push_back(std::move(r));
    c.records.clear();
  }
  journal_.append_async(std::move(batch), [self = shared_from_this(), parts = std::move(parts),
                                           layout = std::move(layout)](Result<LsnRange> r) mutable {
    self->finish(std::move(parts), r, layout);
  });
}

void CommitPipeline::finish(std::vector<Waiting> parts, const Result<LsnRange>& r,
                            const std::vector<Layout>& layout) {
  std::vector<Waiting> next;
  std::vector<Waiting> refused;
  Status not_written;
  {
    MutexLock l(mu_);
    if (!r && failed_.is_ok()) failed_ = r.status();
    if (!failed_.is_ok()) {
      refused.swap(waiting_);
      writing_ = false;
      not_written = refusal();
    } else if (!waiting_.empty()) {
      next.swap(waiting_);  // still writing
    } else {
      writing_ = false;
    }
  }
  // An append from a commit callback only queues the batch: it never blocks
  // the journal's thread.
  if (!next.empty()) write(std::move(next));
  Lsn lsn = r ? r->first : kNoLsn;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!r) {
      parts[i].done(r.status());
      continue;
    }
    const Layout& at_i = layout[i];
    CommitLsns at;
    if (at_i.inbox) {
      at.inbox = lsn;
      lsn += 2;  // the INBOX record and its mark
    }
    if (at_i.cursor) ++lsn;
    at.records = lsn;
    lsn += at_i.records;
    parts[i].done(at);
  }
  for (Waiting& w : refused) w.done(not_written);
  MutexLock l(mu_);
  in_flight_ -= static_cast<int>(parts.size() + refused.size());
  if (in_flight_ == 0) idle_.notify_all();
}

void CommitPipeline::wait_idle() {
  MutexLock l(mu_);
  idle_.wait(l, [&]() KEEL_REQUIRES(mu_) { return in_flight_ == 0; });
  if (failed_.code() != StatusCode::kOwnershipLost) failed_ = Status::ok();
}

Status CommitPipeline::failure() const {
  MutexLock l(mu_);
  return failed_;
}

}  // namespace keel::detail
