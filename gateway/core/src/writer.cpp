#include "spindle/gateway/writer.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <future>
#include <utility>

namespace spindle::gateway {
namespace {

// A job that throws (a Store implementation that does, a std::bad_alloc) is a failed
// write: it must not end the writer thread, and with it the gateway.
Status run_job(const Writer::Work& work, Store& store) {
  try {
    return work(store);
  } catch (const std::exception& e) {
    spdlog::error("store: a write job threw: {}", e.what());
  } catch (...) {
    spdlog::error("store: a write job threw a non-standard exception");
  }
  return Error::kIoError;
}

void report(const Writer::Done& done, Status status) {
  if (!done) return;
  try {
    done(status);
  } catch (const std::exception& e) {
    spdlog::error("store: a write completion threw: {}", e.what());
  } catch (...) {
    spdlog::error("store: a write completion threw a non-standard exception");
  }
}

}  // namespace

Writer::Writer(std::unique_ptr<Store> store, Metrics& metrics, std::size_t max_queue,
               std::size_t max_group)
    : store_(std::move(store)),
      metrics_(metrics),
      max_queue_(max_queue),
      max_group_(max_group),
      thread_([this] { loop(); }) {}

Writer::~Writer() {
  stop();
}

Status Writer::submit(Work work, Done done) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) return Error::kUnavailable;
    if (queue_.size() >= max_queue_) return Error::kFull;
    queue_.push_back(Job{std::move(work), std::move(done)});
    metrics_.set_write_queue_depth(queue_.size());
  }
  wake_.notify_one();
  return kOk;
}

Status Writer::run(Work work) {
  std::promise<Status> committed;
  auto result = committed.get_future();
  SPINDLE_TRY(
      submit(std::move(work), [&committed](Status status) { committed.set_value(status); }));
  return result.get();
}

void Writer::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Writer::loop() {
  std::vector<Job> group;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything accepted is committed
      const std::size_t take = std::min(queue_.size(), max_group_);
      group.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(take)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
      metrics_.set_write_queue_depth(queue_.size());
    }
    commit_group(group);
    group.clear();
  }
}

void Writer::commit_group(std::vector<Job>& group) {
  std::vector<Status> results(group.size(), Status(Error::kIoError));
  Status transaction = store_->begin();
  if (transaction.ok()) {
    for (std::size_t i = 0; i < group.size(); ++i) {
      Status savepoint = store_->savepoint();
      if (!savepoint.ok()) {
        results[i] = savepoint;
        continue;
      }
      results[i] = run_job(group[i].work, *store_);
      const Status end =
          results[i].ok() ? store_->release_savepoint() : store_->rollback_to_savepoint();
      if (!end.ok()) results[i] = end;
    }
    transaction = store_->commit();
    if (!transaction.ok()) (void)store_->rollback();
  }
  if (!transaction.ok()) {
    spdlog::error("store: group commit of {} jobs failed ({})", group.size(), transaction.name());
    for (auto& result : results)
      result = transaction;
  } else {
    metrics_.count_commit(group.size());
  }
  for (std::size_t i = 0; i < group.size(); ++i)
    report(group[i].done, results[i]);
}

}  // namespace spindle::gateway
