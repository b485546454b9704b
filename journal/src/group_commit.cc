#include "group_commit.h"

#include <future>
#include <utility>

#include "crc32c.h"
#include "record_format.h"

namespace keel::internal {
namespace {

// The pool keeps spent batches of at most this many records in all (about
// one large group's worth)...
constexpr std::size_t kMaxPooledRecords = 8192;
// ...and no string of theirs larger than this (a large payload's storage
// goes back to the allocator instead of staying in the pool), so it holds
// at most about 8192 * 2 KiB.
constexpr std::size_t kMaxPooledBytes = 1024;

void trim(std::string* s) {
  if (s->capacity() > kMaxPooledBytes) {
    std::string().swap(*s);
  } else {
    s->clear();
  }
}

// What a batch gets when an earlier batch on its chain failed with
// `failed` (ok: nothing failed, the batch is written). The code tells the
// appender what to do: kOwnershipLost (write no more) and kUnavailable
// (retry once the server is back) carry over; anything else is kIoError.
Status chain_refusal(const Status& failed) {
  if (failed.is_ok() || failed.code() == StatusCode::kOwnershipLost) return failed;
  const std::string why = "not written: an earlier batch of its appender failed (" + failed.to_string() + ")";
  if (failed.code() == StatusCode::kUnavailable) return Status::unavailable(why);
  return Status::io_error(why);
}

}  // namespace

GroupCommitter::GroupCommitter(CommitTarget* target, Limits limits, Lsn last_lsn, Clock* clock)
    : target_(target), limits_(limits), clock_(clock), next_lsn_(last_lsn + 1) {
  {
    MutexLock lock(mu_);
    committed_lsn_ = last_lsn;
  }
  completer_ = std::thread([this] { run_completions(); });
  thread_ = std::thread([this] { run(); });
}

GroupCommitter::~GroupCommitter() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
  completer_.join();
}

GroupCommitter::Batch GroupCommitter::take_spare() {
  MutexLock lock(pool_mu_);
  if (pool_.empty()) return Batch();
  Batch b = std::move(pool_.back());
  pool_.pop_back();
  pooled_records_ -= b.size();
  return b;
}

void GroupCommitter::give_back(std::vector<Pending>* group) {
  for (Pending& p : *group) {
    for (StagedRecord& r : p.batch) {
      trim(&r.record.owner);
      trim(&r.record.payload);
      trim(&r.value);
    }
  }
  MutexLock lock(pool_mu_);
  for (Pending& p : *group) {
    if (p.batch.empty() || pooled_records_ + p.batch.size() > kMaxPooledRecords) continue;
    pooled_records_ += p.batch.size();
    pool_.push_back(std::move(p.batch));
  }
}

void GroupCommitter::submit(std::vector<NewRecord> batch, AppendChain* chain, AppendCallback done) {
  Pending p;
  p.batch = take_spare();
  // Reused records keep their strings' storage: copying into it allocates
  // nothing, and the appender frees its own strings, on its own thread.
  p.batch.resize(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    NewRecord& in = batch[i];
    StagedRecord& r = p.batch[i];
    r.record.owner.assign(in.owner);
    r.record.kind = in.kind;
    r.record.compacted = false;
    if (r.record.payload.capacity() >= in.payload.size()) {
      r.record.payload.assign(in.payload);
    } else {
      r.record.payload = std::move(in.payload);
    }
    r.payload_size = r.record.payload.size();
    r.payload_crc = crc32c::value(r.record.payload);
    r.payload_shift = crc32c::shift_for(r.payload_size);
    p.bytes += r.record.owner.size() + r.payload_size;
    target_->stage(&r);
  }
  p.chain = chain;
  p.done = std::move(done);
  {
    MutexLock lock(mu_);
    ++batches_;
    queue_.push_back(std::move(p));
  }
  work_cv_.notify_one();
}

void GroupCommitter::post_to_writer(UniqueFunction<void()> task) {
  Pending p;
  p.task = std::move(task);
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(p));
  }
  work_cv_.notify_one();
}

void GroupCommitter::run_on_writer(UniqueFunction<void()> task) {
  std::promise<void> ran;
  std::future<void> ran_future = ran.get_future();
  post_to_writer([&task, &ran]() mutable {
    task();
    ran.set_value();
  });
  ran_future.wait();
}

std::uint64_t GroupCommitter::commits() const {
  MutexLock lock(mu_);
  return commits_;
}

std::uint64_t GroupCommitter::batches() const {
  MutexLock lock(mu_);
  return batches_;
}

Lsn GroupCommitter::last_lsn() const {
  MutexLock lock(mu_);
  return committed_lsn_;
}

void GroupCommitter::run() {
  std::vector<Pending> group;
  while (take_group(&group)) {
    if (group.front().task) {
      group.front().task();
    } else {
      commit_group(&group);
    }
    group.clear();
  }
  {
    MutexLock lock(mu_);
    writer_done_ = true;
  }
  done_cv_.notify_all();
}

void GroupCommitter::run_completions() {
  for (;;) {
    Completion c;
    {
      MutexLock lock(mu_);
      done_cv_.wait(lock, [this]() KEEL_REQUIRES(mu_) { return writer_done_ || !completions_.empty(); });
      if (completions_.empty()) return;  // the writer finished, and so did every callback
      c = std::move(completions_.front());
      completions_.pop_front();
      completing_ = true;
    }
    complete(&c);
    bool idle;
    {
      MutexLock lock(mu_);
      completing_ = false;
      idle = completions_.empty();
    }
    // A stopping writer waits for the callbacks, which may have submitted.
    if (idle) work_cv_.notify_all();
  }
}

bool GroupCommitter::take_group(std::vector<Pending>* group) {
  MutexLock lock(mu_);
  // Stopping, the writer still waits for running callbacks: they may append.
  work_cv_.wait(lock, [this]() KEEL_REQUIRES(mu_) {
    return !queue_.empty() || (stopping_ && completions_.empty() && !completing_);
  });
  if (queue_.empty()) return false;  // stopping, and everything submitted is done
  group->push_back(std::move(queue_.front()));
  queue_.pop_front();
  if (group->front().task) return true;  // a task runs alone
  std::size_t records = group->front().batch.size();
  std::size_t bytes = group->front().bytes;
  while (!queue_.empty() && !queue_.front().task) {
    const Pending& next = queue_.front();
    if (records + next.batch.size() > limits_.max_group_records ||
        bytes + next.bytes > limits_.max_group_bytes) {
      break;
    }
    records += next.batch.size();
    bytes += next.bytes;
    group->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return true;
}

Status GroupCommitter::assign(std::vector<Pending>& group) {
  const WallTime now = clock_->wall_now();
  for (Pending& p : group) {
    if (!p.refused.is_ok()) continue;
    p.range = LsnRange{next_lsn_, next_lsn_ + p.batch.size() - 1};
    for (StagedRecord& staged : p.batch) {
      Record& r = staged.record;
      auto it = last_seq_.find(r.owner);
      if (it == last_seq_.end()) {
        KEEL_ASSIGN_OR_RETURN(std::uint64_t stored, target_->load_last_seq(r.owner));
        it = last_seq_.emplace(r.owner, stored).first;
      }
      seq_undo_.emplace_back(&it->second, it->second);
      r.lsn = next_lsn_++;
      r.seq = ++it->second;
      r.time = now;
      r.format_version = kJournalFormatVersion;
      r.crc = record_checksum(r, staged.payload_size, staged.payload_crc, staged.payload_shift);
      records_.push_back(&staged);
    }
  }
  return Status::ok();
}

std::size_t GroupCommitter::admit(std::vector<Pending>& group) {
  std::size_t refused = 0;
  for (Pending& p : group) {
    if (!p.refused.is_ok()) continue;
    // A chain's failure is recorded before the next group is taken (or by
    // an earlier batch of this group), so a batch behind a failed one on
    // its chain is refused here, unwritten.
    p.refused = p.chain != nullptr ? chain_refusal(p.chain->failure()) : Status::ok();
    if (p.refused.is_ok()) p.refused = target_->admit(p.batch);
    if (p.refused.is_ok()) continue;
    ++refused;
    if (p.chain != nullptr) p.chain->fail(p.refused);
  }
  return refused;
}

Status GroupCommitter::write(std::vector<Pending>& group) {
  Status s = assign(group);
  if (s.is_ok() && !records_.empty()) s = target_->write_group(records_);
  if (!s.is_ok() || records_.empty()) return s;
  // The target may have numbered the records again.
  for (Pending& p : group) {
    if (p.refused.is_ok()) p.range = LsnRange{p.batch.front().record.lsn, p.batch.back().record.lsn};
  }
  next_lsn_ = records_.back()->record.lsn + 1;
  return s;
}

void GroupCommitter::roll_back(Lsn first_unused) {
  next_lsn_ = first_unused;
  // Reverse order restores each owner's value from before the group.
  for (auto it = seq_undo_.rbegin(); it != seq_undo_.rend(); ++it) *it->first = it->second;
}

void GroupCommitter::commit_group(std::vector<Pending>* group) {
  const Lsn first = next_lsn_;
  records_.clear();
  seq_undo_.clear();
  admit(*group);
  Status s = write(*group);
  // Fenced on some shards: written again without the batches that lost
  // theirs, as long as each attempt leaves out more of them.
  while (s.code() == StatusCode::kOwnershipLost && admit(*group) > 0) {
    roll_back(first);
    records_.clear();
    seq_undo_.clear();
    s = write(*group);
  }
  if (!s.is_ok()) {
    roll_back(first);
    for (Pending& p : *group) {
      if (p.chain != nullptr && p.refused.is_ok()) p.chain->fail(s);
    }
  }
  const bool wrote = !records_.empty() || !s.is_ok();  // a commit attempted
  seq_undo_.clear();
  records_.clear();
  Completion c{std::move(*group), s};
  bool inline_callbacks;
  {
    MutexLock lock(mu_);
    if (wrote) ++commits_;
    if (s.is_ok()) committed_lsn_ = next_lsn_ - 1;
    // With nothing else to do, the writer runs the callbacks itself (no
    // thread hand-off on an idle journal); with work waiting, the completion
    // thread runs them while the writer commits the next group. Callbacks
    // stay in commit order: inline only when no earlier group's are pending.
    inline_callbacks = queue_.empty() && completions_.empty() && !completing_;
    if (!inline_callbacks) completions_.push_back(std::move(c));
  }
  if (inline_callbacks) {
    complete(&c);
  } else {
    done_cv_.notify_one();
  }
}

void GroupCommitter::complete(Completion* c) {
  for (Pending& p : c->group) {
    if (!p.refused.is_ok()) {
      p.done(p.refused);
    } else if (c->status.is_ok()) {
      p.done(p.range);
    } else {
      p.done(c->status);
    }
    p.done = nullptr;  // its captures go now, on this thread
  }
  give_back(&c->group);
}

}  // namespace keel::internal
