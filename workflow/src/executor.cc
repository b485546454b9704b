#include "executor.h"

#include <utility>

namespace keel::internal {

void Strand::post(UniqueFunction<void()> task) {
  executor_.on_task_posted_();
  bool schedule = false;
  {
    MutexLock l(mu_);
    queue_.push_back(std::move(task));
    if (!scheduled_) scheduled_ = schedule = true;
  }
  if (schedule) executor_.schedule(this);
}

bool Strand::run_some(int budget) {
  std::vector<UniqueFunction<void()>> batch;
  {
    MutexLock l(mu_);
    batch.swap(queue_);
  }
  std::size_t i = 0;
  for (; i < batch.size() && budget-- > 0; ++i) {
    batch[i]();
    batch[i] = nullptr;
    executor_.on_task_done_();
  }
  MutexLock l(mu_);
  if (i < batch.size()) {  // over budget: put the rest back in front
    std::vector<UniqueFunction<void()>> rest;
    rest.reserve(batch.size() - i + queue_.size());
    for (std::size_t j = i; j < batch.size(); ++j) rest.push_back(std::move(batch[j]));
    for (auto& t : queue_) rest.push_back(std::move(t));
    queue_.swap(rest);
  }
  if (queue_.empty()) {
    scheduled_ = false;
    queue_.shrink_to_fit();  // an idle run keeps no queue memory
    return false;
  }
  return true;
}

Executor::Executor(int threads, std::function<void()> on_task_posted,
                   std::function<void()> on_task_done)
    : on_task_posted_(std::move(on_task_posted)), on_task_done_(std::move(on_task_done)) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

Executor::~Executor() { stop(); }

void Executor::stop() {
  {
    MutexLock l(mu_);
    stopped_ = true;
    ready_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void Executor::schedule(Strand* strand) {
  {
    MutexLock l(mu_);
    if (stopped_) return;
    ready_.push_back(strand);
  }
  cv_.notify_one();
}

void Executor::loop() {
  for (;;) {
    Strand* strand = nullptr;
    {
      MutexLock l(mu_);
      cv_.wait(l, [&]() KEEL_REQUIRES(mu_) { return stopped_ || !ready_.empty(); });
      if (stopped_) return;
      strand = ready_.front();
      ready_.pop_front();
    }
    if (strand->run_some(64)) schedule(strand);
  }
}

}  // namespace keel::internal
