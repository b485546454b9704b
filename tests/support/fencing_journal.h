// fencing_journal.h: a Journal over a real one that refuses, on demand, the
// commits of chosen owners with kOwnershipLost, as a shared journal does
// once another writer has taken an owner over (or with another error, to
// stand for a failed write). A refused batch writes nothing; everything
// else is passed through. It can also hold the asynchronous batches of an
// owner (a commit that takes as long as the test wants) until released.
//
//   FencingJournal j(*sqlite);
//   j.fence("actor/a");  // from now on, a batch with a record of actor/a fails
//   j.hold("actor/b");   // batches of actor/b wait ...
//   j.wait_held(1);      // ... (one is waiting now) ...
//   j.release();         // ... and go to the inner journal, in order
//
// Thread-safe. The inner journal must outlive it (or be owned by it).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <map>
#include <string>
#include <vector>

#include "keel/journal/journal.h"
#include "support/durable_fixture.h"

namespace keel::testing {

class FencingJournal : public Journal {
 public:
  explicit FencingJournal(Journal& inner) : inner_(inner) {}
  explicit FencingJournal(std::unique_ptr<Journal> owned) : owned_(std::move(owned)), inner_(*owned_) {}

  Journal& inner() { return inner_; }

  // Refuses every later batch that holds a record of `owner`, with `why`.
  void fence(const std::string& owner, Status why = Status()) {
    std::lock_guard<std::mutex> l(mu_);
    fenced_[owner] = why.is_ok() ? Status::ownership_lost(owner + " is owned by another writer") : why;
  }
  void unfence(const std::string& owner) {
    std::lock_guard<std::mutex> l(mu_);
    fenced_.erase(owner);
  }
  // Holds every later append_async batch with a record of `owner` until
  // release().
  void hold(const std::string& owner) {
    std::lock_guard<std::mutex> l(mu_);
    holding_ = owner;
  }
  // Waits until `n` batches are held; false if that took over 10 s.
  bool wait_held(std::size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    return held_cv_.wait_for(l, std::chrono::seconds(10), [&] { return held_.size() >= n; });
  }
  // Batches held now.
  std::size_t held() {
    std::lock_guard<std::mutex> l(mu_);
    return held_.size();
  }
  // Stops holding, and passes the held batches on in the order they came
  // (a batch appended meanwhile by another thread may go before them).
  void release() {
    std::vector<Held> held;
    {
      std::lock_guard<std::mutex> l(mu_);
      holding_.clear();
      held.swap(held_);
    }
    for (Held& h : held) inner_.append_async(std::move(h.batch), h.chain, std::move(h.done));
  }
  // Stops holding, and fails the held batches with `why` (written: none),
  // as a write that failed would.
  void fail_held(const Status& why) {
    std::vector<Held> held;
    {
      std::lock_guard<std::mutex> l(mu_);
      holding_.clear();
      held.swap(held_);
    }
    for (Held& h : held) {
      if (h.chain != nullptr) h.chain->fail(why);
      h.done(why);
    }
  }
  // Batches refused so far (relaxed: a statistic read after the fact).
  int refused() const { return refused_.load(std::memory_order_relaxed); }

  Result<LsnRange> append(std::vector<NewRecord> batch) override {
    if (Status s = check(batch); !s.is_ok()) return s;
    return inner_.append(std::move(batch));
  }
  using Journal::append_async;
  void append_async(std::vector<NewRecord> batch, AppendChain* chain,
                    UniqueFunction<void(Result<LsnRange>)> done) override {
    if (Status s = check(batch); !s.is_ok()) {
      if (chain != nullptr) chain->fail(s);
      done(s);
      return;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!holding_.empty()) {
        for (const NewRecord& r : batch) {
          if (r.owner != holding_) continue;
          held_.push_back(Held{std::move(batch), chain, std::move(done)});
          held_cv_.notify_all();
          return;
        }
      }
    }
    inner_.append_async(std::move(batch), chain, std::move(done));
  }
  Status scan_owner(std::string_view owner, std::uint64_t from_seq,
                    const std::function<bool(const Record&)>& fn) override {
    return inner_.scan_owner(owner, from_seq, fn);
  }
  Status scan_owner_skipping(std::string_view owner, std::uint64_t from_seq,
                             const std::function<bool(const Record&)>& fn,
                             const std::function<void(const JournalProblem&)>& problem) override {
    return inner_.scan_owner_skipping(owner, from_seq, fn, problem);
  }
  Status scan_lsn(Lsn first, Lsn last, const std::function<bool(const Record&)>& fn) override {
    return inner_.scan_lsn(first, last, fn);
  }
  Status scan_lsn_skipping(Lsn first, Lsn last, const std::function<bool(const Record&)>& fn,
                           const std::function<void(const JournalProblem&)>& problem) override {
    return inner_.scan_lsn_skipping(first, last, fn, problem);
  }
  Result<std::optional<Record>> latest(std::string_view owner, RecordKind kind) override {
    return inner_.latest(owner, kind);
  }
  Result<std::vector<OwnerInfo>> owners() override { return inner_.owners(); }
  Result<Lsn> last_lsn() override { return inner_.last_lsn(); }
  Result<std::uint64_t> compact(std::string_view owner, std::uint64_t below_seq) override {
    return inner_.compact(owner, below_seq);
  }
  Result<std::uint64_t> truncate(std::string_view owner, std::uint64_t below_seq) override {
    return inner_.truncate(owner, below_seq);
  }
  void truncate_async(std::string_view owner, std::uint64_t below_seq,
                      UniqueFunction<void(Result<std::uint64_t>)> done) override {
    inner_.truncate_async(owner, below_seq, std::move(done));
  }
  Result<std::uint64_t> remove_owner(std::string_view owner) override { return inner_.remove_owner(owner); }
  Status vacuum() override { return inner_.vacuum(); }
  Status verify(const std::function<void(const JournalProblem&)>& problem) override {
    return inner_.verify(problem);
  }
  Result<JournalStats> stats() override { return inner_.stats(); }

 protected:
  Status check(const std::vector<NewRecord>& batch) {
    std::lock_guard<std::mutex> l(mu_);
    for (const NewRecord& r : batch) {
      auto it = fenced_.find(r.owner);
      if (it != fenced_.end()) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return it->second;
      }
    }
    return Status::ok();
  }

 private:
  std::unique_ptr<Journal> owned_;  // null when borrowed
  Journal& inner_;
  struct Held {
    std::vector<NewRecord> batch;
    AppendChain* chain;
    UniqueFunction<void(Result<LsnRange>)> done;
  };
  std::mutex mu_;
  std::condition_variable held_cv_;
  std::string holding_;     // the owner whose batches are held; empty: none
  std::vector<Held> held_;  // in arrival order
  std::map<std::string, Status, std::less<>> fenced_;
  std::atomic<int> refused_{0};
};

// A durable-actor test (support/durable_fixture.h) whose systems can run on
// a FencingJournal over the test's journal: fenced_config().
class FencedDurableTest : public DurableJournalTest {
 protected:
  void SetUp() override {
    DurableJournalTest::SetUp();
    fencing_ = std::make_unique<FencingJournal>(*journal_);
  }
  void TearDown() override {
    fencing_.reset();
    DurableJournalTest::TearDown();
  }
  SystemConfig fenced_config() {
    SystemConfig c = config();
    c.journal = fencing_.get();
    return c;
  }

  std::unique_ptr<FencingJournal> fencing_;
};

}  // namespace keel::testing
