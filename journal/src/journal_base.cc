#include "journal_base.h"

#include <future>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "record_format.h"

namespace keel::internal {
namespace {

bool is_known_kind(RecordKind kind) {
  auto k = static_cast<std::uint8_t>(kind);
  return k >= static_cast<std::uint8_t>(RecordKind::kInbox) &&
         k <= static_cast<std::uint8_t>(RecordKind::kDelivered);
}

// Wraps a checked-scan callback: stops with kCorruption at the first record
// that cannot be read or fails its checksum.
RawRecordFn checked(const std::function<bool(const Record&)>& fn, Status* failure) {
  return [&fn, failure](const Record& r, const Status& read) {
    *failure = read.is_ok() ? check_record(r) : read;
    if (!failure->is_ok()) return false;
    return fn(r);
  };
}

// Wraps a skipping-scan callback: a record that cannot be read or fails its
// checksum goes to `corrupt` (named by `owner` when its own is unknown) and
// the scan goes on; any other error stops it in *failure.
RawRecordFn skipping(const std::function<bool(const Record&)>& fn,
                     const std::function<void(const JournalProblem&)>& corrupt, std::string_view owner,
                     Status* failure) {
  return [&fn, &corrupt, owner, failure](const Record& r, const Status& read) {
    const Status bad = read.is_ok() ? check_record(r) : read;
    if (bad.is_ok()) return fn(r);
    if (bad.code() != StatusCode::kCorruption) {  // an I/O error still stops the scan
      *failure = bad;
      return false;
    }
    corrupt(JournalProblem{r.lsn, r.owner.empty() ? std::string(owner) : r.owner, bad});
    return true;
  };
}

}  // namespace

JournalBase::JournalBase(std::string path, const JournalOptions& options)
    : path_(std::move(path)),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : &system_clock_) {}

void JournalBase::start_writer(CommitTarget* target, Lsn last_lsn) {
  GroupCommitter::Limits limits;
  limits.max_group_records = options_.max_group_records;
  limits.max_group_bytes = options_.max_group_bytes;
  committer_ = std::make_unique<GroupCommitter>(target, limits, last_lsn, clock_);
}

void JournalBase::stop_writer() { committer_.reset(); }

Status JournalBase::check_append(const std::vector<NewRecord>& batch) const {
  if (committer_ == nullptr) {
    return Status::failed_precondition("journal " + path_ + " is open read-only");
  }
  if (batch.empty()) return Status::invalid_argument("append: empty batch");
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const NewRecord& r = batch[i];
    std::string where = "append: record " + std::to_string(i) + " of the batch";
    if (r.owner.empty()) return Status::invalid_argument(where + " has an empty owner");
    if (r.owner.find('\0') != std::string::npos) {
      return Status::invalid_argument(where + ": owner contains a NUL byte");
    }
    if (!is_known_kind(r.kind)) {
      return Status::invalid_argument(where + " has an unknown kind " +
                                      std::to_string(static_cast<int>(r.kind)));
    }
    if (r.payload.size() > options_.max_record_bytes) {
      return Status::invalid_argument(where + " has " + std::to_string(r.payload.size()) +
                                      " payload bytes, over max_record_bytes " +
                                      std::to_string(options_.max_record_bytes));
    }
  }
  return Status::ok();
}

Result<LsnRange> JournalBase::append(std::vector<NewRecord> batch) {
  KEEL_RETURN_IF_ERROR(check_append(batch));
  std::promise<Result<LsnRange>> promise;
  std::future<Result<LsnRange>> future = promise.get_future();
  committer_->submit(std::move(batch), nullptr,
                     [&promise](Result<LsnRange> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void JournalBase::append_async(std::vector<NewRecord> batch, AppendChain* chain,
                               UniqueFunction<void(Result<LsnRange>)> done) {
  Status s = check_append(batch);
  if (!s.is_ok()) {
    if (chain != nullptr) chain->fail(s);
    done(s);
    return;
  }
  committer_->submit(std::move(batch), chain, std::move(done));
}

Status JournalBase::scan_owner(std::string_view owner, std::uint64_t from_seq,
                               const std::function<bool(const Record&)>& fn) {
  Status failure;
  KEEL_RETURN_IF_ERROR(read_owner(owner, from_seq, checked(fn, &failure)));
  return failure;
}

Status JournalBase::scan_owner_skipping(std::string_view owner, std::uint64_t from_seq,
                                        const std::function<bool(const Record&)>& fn,
                                        const std::function<void(const JournalProblem&)>& corrupt) {
  Status failure;
  KEEL_RETURN_IF_ERROR(read_owner(owner, from_seq, skipping(fn, corrupt, owner, &failure)));
  return failure;
}

Status JournalBase::scan_lsn_skipping(Lsn first, Lsn last, const std::function<bool(const Record&)>& fn,
                                      const std::function<void(const JournalProblem&)>& corrupt) {
  Status failure;
  KEEL_RETURN_IF_ERROR(read_lsn(first, last, skipping(fn, corrupt, "", &failure)));
  return failure;
}

Status JournalBase::scan_lsn(Lsn first, Lsn last, const std::function<bool(const Record&)>& fn) {
  Status failure;
  KEEL_RETURN_IF_ERROR(read_lsn(first, last, checked(fn, &failure)));
  return failure;
}

Result<std::optional<Record>> JournalBase::latest(std::string_view owner, RecordKind kind) {
  std::optional<Record> found;
  Status failure;
  if (kind == RecordKind::kSnapshot) {
    KEEL_ASSIGN_OR_RETURN(bool indexed, read_latest_snapshot(owner, [&](const Record& r, const Status& read) {
      failure = read.is_ok() ? check_record(r) : read;
      if (failure.is_ok()) found = r;
      return false;
    }));
    if (indexed) {
      KEEL_RETURN_IF_ERROR(failure);
      return found;
    }
  }
  KEEL_RETURN_IF_ERROR(read_owner_backwards(owner, [&](const Record& r, const Status& read) {
    failure = read.is_ok() ? check_record(r) : read;
    if (!failure.is_ok()) return false;
    if (r.kind != kind) return true;
    found = r;
    return false;
  }));
  KEEL_RETURN_IF_ERROR(failure);
  return found;
}

Result<std::uint64_t> JournalBase::compact(std::string_view owner, std::uint64_t below_seq) {
  if (committer_ == nullptr) {
    return Status::failed_precondition("journal " + path_ + " is open read-only");
  }
  if (owner.empty()) return Status::invalid_argument("compact: empty owner");
  std::optional<Result<std::uint64_t>> result;
  committer_->run_on_writer([&] { result.emplace(compact_on_writer(owner, below_seq)); });
  return std::move(*result);
}

Status JournalBase::check_writable_owner(std::string_view owner, std::string_view what) const {
  if (committer_ == nullptr) {
    return Status::failed_precondition("journal " + path_ + " is open read-only");
  }
  if (owner.empty()) return Status::invalid_argument(std::string(what) + ": empty owner");
  return Status::ok();
}

Result<std::uint64_t> JournalBase::truncate(std::string_view owner, std::uint64_t below_seq) {
  KEEL_RETURN_IF_ERROR(check_writable_owner(owner, "truncate"));
  std::optional<Result<std::uint64_t>> result;
  committer_->run_on_writer([&] { result.emplace(remove_on_writer(owner, below_seq, false)); });
  return std::move(*result);
}

void JournalBase::truncate_async(std::string_view owner, std::uint64_t below_seq,
                                 UniqueFunction<void(Result<std::uint64_t>)> done) {
  Status s = check_writable_owner(owner, "truncate");
  if (!s.is_ok()) {
    done(s);
    return;
  }
  committer_->post_to_writer([this, owner = std::string(owner), below_seq, done = std::move(done)]() mutable {
    done(remove_on_writer(owner, below_seq, false));
  });
}

Result<std::uint64_t> JournalBase::remove_owner(std::string_view owner) {
  KEEL_RETURN_IF_ERROR(check_writable_owner(owner, "remove_owner"));
  std::optional<Result<std::uint64_t>> result;
  committer_->run_on_writer([&] {
    result.emplace(remove_on_writer(owner, std::numeric_limits<std::uint64_t>::max(), true));
    if (result->is_ok()) committer_->forget_owner(owner);
  });
  return std::move(*result);
}

Status JournalBase::vacuum() {
  if (committer_ == nullptr) {
    return Status::failed_precondition("journal " + path_ + " is open read-only");
  }
  Status result;
  committer_->run_on_writer([&] { result = vacuum_on_writer(); });
  return result;
}

// Removals made while verify() scans are told apart from damage by reading
// what removals left both before and after the scan: an LSN gap is damage
// only when the LSNs missing so far outnumber the records removed, and an
// owner's first sequence only when it is above the first kept one.
Status JournalBase::verify(const std::function<void(const JournalProblem&)>& problem) {
  KEEL_ASSIGN_OR_RETURN(Removals before, read_removals());
  Lsn expected = 1;
  std::uint64_t missing = 0;  // LSNs absent so far
  struct Gap {
    Lsn first, next;
    std::uint64_t missing_through;  // `missing` once this gap is counted
  };
  std::vector<Gap> unexplained;  // gaps beyond before.removed, judged after the scan
  std::unordered_map<std::string, std::uint64_t> last_seq;
  std::unordered_map<std::string, std::pair<std::uint64_t, Lsn>> first_seq;  // seq, lsn
  auto report = [&](Lsn lsn, const std::string& owner, std::string message) {
    problem(JournalProblem{lsn, owner, Status::corruption(message)});
  };
  Status scanned = read_lsn(1, std::numeric_limits<Lsn>::max(), [&](const Record& r, const Status& read) {
    if (r.lsn != expected) {
      missing += r.lsn - expected;
      if (missing > before.removed) unexplained.push_back(Gap{expected, r.lsn, missing});
    }
    expected = r.lsn + 1;
    if (!read.is_ok()) {
      problem(JournalProblem{r.lsn, r.owner, read});
      return true;
    }
    Status crc = check_record(r);
    if (!crc.is_ok()) problem(JournalProblem{r.lsn, r.owner, crc});
    auto [it, first] = last_seq.try_emplace(r.owner, 0);
    if (first) {
      first_seq.emplace(r.owner, std::make_pair(r.seq, r.lsn));
    } else if (r.seq != it->second + 1) {
      report(r.lsn, r.owner,
             "lsn " + std::to_string(r.lsn) + ", owner " + r.owner + ": sequence gap: expected seq " +
                 std::to_string(it->second + 1) + ", found " + std::to_string(r.seq));
    }
    it->second = r.seq;
    return true;
  });
  KEEL_RETURN_IF_ERROR(scanned);
  KEEL_ASSIGN_OR_RETURN(Removals after, read_removals());
  for (const Gap& g : unexplained) {
    if (g.missing_through <= after.removed) continue;
    std::string message = "lsn gap: lsn " + std::to_string(g.first) + ".." + std::to_string(g.next - 1) +
                          " missing before lsn " + std::to_string(g.next);
    if (after.removed != 0) {
      message += " (" + std::to_string(g.missing_through) + " lsns missing, " +
                 std::to_string(after.removed) + " records removed by truncate or remove_owner)";
    }
    report(g.next, "", message);
  }
  for (const auto& [owner, first] : first_seq) {
    auto kept = after.first_seq.find(owner);
    const std::uint64_t floor = kept == after.first_seq.end() ? 1 : kept->second;
    if (first.first == 1 || first.first <= floor) continue;
    report(first.second, owner,
           "lsn " + std::to_string(first.second) + ", owner " + owner + ": sequence gap: expected seq " +
               std::to_string(floor) + ", found " + std::to_string(first.first));
  }
  return Status::ok();
}

Result<JournalStats> JournalBase::stats() {
  KEEL_ASSIGN_OR_RETURN(JournalStats s, read_stats());
  if (committer_ != nullptr) {
    s.commits = committer_->commits();
    s.batches = committer_->batches();
  }
  return s;
}

}  // namespace keel::internal
