#include "keel/engine/detail/commit_pipeline.h"

#include <utility>

#include "keel/wire/value.h"

namespace keel::detail {

std::shared_ptr<CommitPipeline> CommitPipeline::create(Journal& journal, std::string owner,
                                                       OnFailure on_failure, std::shared_ptr<CommitStats> stats) {
  return std::make_shared<CommitPipeline>(journal, std::move(owner), on_failure, std::move(stats));
}

CommitPipeline::CommitPipeline(Journal& journal, std::string owner, OnFailure on_failure,
                               std::shared_ptr<CommitStats> stats)
    : journal_(journal), owner_(std::move(owner)), on_failure_(on_failure), stats_(std::move(stats)) {}

Status CommitPipeline::refusal() const {
  if (failed_.code() == StatusCode::kOwnershipLost) return failed_;
  const std::string why = "commit of " + owner_ + " not written: an earlier one failed";
  // A journal's server away (kUnavailable) is for retrying once it is back.
  if (failed_.code() == StatusCode::kUnavailable) return Status::unavailable(why + " (" + failed_.to_string() + ")");
  return Status::io_error(why);
}

namespace {
// Writes of one owner in the journal at a time: a second one lets a commit
// submitted while the first is in flight share its group, or the next.
constexpr int kMaxWrites = 2;
}  // namespace

void CommitPipeline::submit(Commit c, Done done) {
  const auto submitted = stats_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  Status refused;
  {
    MutexLock l(mu_);
    if (!failed_.is_ok()) {
      refused = refusal();
    } else {
      ++in_flight_;
      if (writes_ >= kMaxWrites) {
        waiting_.push_back(Waiting{std::move(c), std::move(done), submitted});
        return;
      }
      ++writes_;
      std::vector<Waiting> parts;
      parts.push_back(Waiting{std::move(c), std::move(done), submitted});
      ready_.push_back(std::move(parts));
      if (launching_) return;  // that thread sends it, in order
      launching_ = true;
    }
  }
  if (!refused.is_ok()) {
    done(refused);
    return;
  }
  launch();
}

void CommitPipeline::launch() {
  for (;;) {
    std::vector<Waiting> parts;
    {
      MutexLock l(mu_);
      if (ready_.empty()) {
        launching_ = false;
        return;
      }
      parts = std::move(ready_.front());
      ready_.pop_front();
    }
    // Outside the lock: a write refused at once calls finish() on this
    // thread, which queues any next write for this loop.
    write(std::move(parts));
  }
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
  AppendChain* chain = on_failure_ == OnFailure::kRefuseLater ? &chain_ : nullptr;
  journal_.append_async(std::move(batch), chain, [self = shared_from_this(), parts = std::move(parts),
                                           layout = std::move(layout)](Result<LsnRange> r) mutable {
    self->finish(std::move(parts), r, layout);
  });
}

void CommitPipeline::finish(std::vector<Waiting> parts, const Result<LsnRange>& r,
                            const std::vector<Layout>& layout) {
  std::vector<Waiting> refused;
  Status not_written;
  bool launch_here = false;
  {
    MutexLock l(mu_);
    --writes_;
    if (!r && failed_.is_ok() && on_failure_ == OnFailure::kRefuseLater) failed_ = r.status();
    if (!failed_.is_ok()) {
      // Writes already in ready_ or the journal are refused by the chain.
      refused.swap(waiting_);
      not_written = refusal();
    } else if (!waiting_.empty()) {
      ++writes_;
      ready_.push_back(std::move(waiting_));
      waiting_.clear();
      launch_here = !launching_;
      launching_ = true;
    }
  }
  // An append from a commit callback only queues the batch: it never blocks
  // the journal's thread.
  if (launch_here) launch();
  if (r && stats_) count_durable(parts, *r);
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

void CommitPipeline::count_durable(const std::vector<Waiting>& parts, const LsnRange& written) {
  const auto now = std::chrono::steady_clock::now();
  stats_->commits.add();
  stats_->records.add(written.first == kNoLsn ? 0 : written.last - written.first + 1);
  for (const Waiting& w : parts) stats_->seconds.observe(std::chrono::duration<double>(now - w.submitted).count());
}

void CommitPipeline::wait_idle() {
  MutexLock l(mu_);
  idle_.wait(l, [&]() KEEL_REQUIRES(mu_) { return in_flight_ == 0; });
  if (failed_.code() != StatusCode::kOwnershipLost) {
    failed_ = Status::ok();
    chain_.clear();
  }
}

Status CommitPipeline::failure() const {
  MutexLock l(mu_);
  return failed_;
}

}  // namespace keel::detail
