#include "group_commit.h"

#include <future>
#include <utility>

#include "record_format.h"

namespace keel::internal {

GroupCommitter::GroupCommitter(CommitTarget* target, Limits limits, Lsn last_lsn, Clock* clock)
    : target_(target), limits_(limits), clock_(clock), next_lsn_(last_lsn + 1) {
  {
    MutexLock lock(mu_);
    committed_lsn_ = last_lsn;
  }
  thread_ = std::thread([this] { run(); });
}

GroupCommitter::~GroupCommitter() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

void GroupCommitter::submit(std::vector<NewRecord> batch, AppendCallback done) {
  Pending p;
  for (const NewRecord& r : batch) p.bytes += r.owner.size() + r.payload.size();
  p.batch = std::move(batch);
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
  Pending p;
  p.task = [&task, &ran]() mutable {
    task();
    ran.set_value();
  };
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(p));
  }
  work_cv_.notify_one();
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
}

bool GroupCommitter::take_group(std::vector<Pending>* group) {
  MutexLock lock(mu_);
  work_cv_.wait(lock, [this]() KEEL_REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
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

Status GroupCommitter::assign(std::vector<Pending>& group, std::vector<Record>* records,
                              std::vector<LsnRange>* ranges) {
  const WallTime now = clock_->wall_now();
  for (Pending& p : group) {
    LsnRange range{next_lsn_, next_lsn_ + p.batch.size() - 1};
    for (NewRecord& in : p.batch) {
      auto it = last_seq_.find(in.owner);
      if (it == last_seq_.end()) {
        KEEL_ASSIGN_OR_RETURN(std::uint64_t stored, target_->load_last_seq(in.owner));
        it = last_seq_.emplace(in.owner, stored).first;
      }
      seq_undo_.emplace_back(in.owner, it->second);
      Record r;
      r.lsn = next_lsn_++;
      r.seq = ++it->second;
      r.owner = std::move(in.owner);
      r.kind = in.kind;
      r.time = now;
      r.format_version = kJournalFormatVersion;
      r.payload = std::move(in.payload);
      r.crc = record_checksum(r);
      records->push_back(std::move(r));
    }
    ranges->push_back(range);
  }
  return Status::ok();
}

void GroupCommitter::roll_back(Lsn first_unused) {
  next_lsn_ = first_unused;
  // Reverse order restores each owner's value from before the group.
  for (auto it = seq_undo_.rbegin(); it != seq_undo_.rend(); ++it) last_seq_[it->first] = it->second;
}

void GroupCommitter::commit_group(std::vector<Pending>* group) {
  const Lsn first = next_lsn_;
  std::vector<Record> records;
  std::vector<LsnRange> ranges;
  seq_undo_.clear();
  Status s = assign(*group, &records, &ranges);
  if (s.is_ok()) s = target_->write_group(records);
  if (!s.is_ok()) roll_back(first);
  seq_undo_.clear();
  {
    MutexLock lock(mu_);
    ++commits_;
    if (s.is_ok()) committed_lsn_ = next_lsn_ - 1;
  }
  for (std::size_t i = 0; i < group->size(); ++i) {
    Pending& p = (*group)[i];
    if (s.is_ok()) {
      p.done(ranges[i]);
    } else {
      p.done(s);
    }
  }
}

}  // namespace keel::internal
