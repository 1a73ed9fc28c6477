// The storage writer: one thread that owns the writing Store connection and commits the
// jobs submitted from other threads in groups (one transaction, one fsync, many jobs).
//
// A job's `done` callback runs on the writer thread after its group committed (or failed),
// so a caller acknowledges a request only once what it wrote is durable. Each job runs
// inside its own savepoint: a job that fails is undone alone and reports its error, the
// rest of its group still commits. A job that throws is a failed job (kIoError, logged),
// and a `done` that throws is logged: neither ends the writer thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "spindle/gateway/metrics.hpp"
#include "spindle/gateway/store.hpp"

namespace spindle::gateway {

class Writer {
 public:
  using Work = std::function<Status(Store&)>;
  using Done = std::function<void(Status)>;

  // `max_queue` bounds the jobs waiting (memory under a flood); `max_group` the jobs per
  // transaction (latency of the first job in a group).
  Writer(std::unique_ptr<Store> store, Metrics& metrics, std::size_t max_queue = 20000,
         std::size_t max_group = 1024);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues a job. `done` may be empty. Errors: kFull (the queue holds max_queue jobs; the
  // caller should answer "try later"), kUnavailable (stop() has begun).
  Status submit(Work work, Done done);

  // Queues a job and waits for its commit. Errors: submit()'s, then the job's own (kIoError
  // when it threw) or the commit's (kIoError).
  Status run(Work work);

  // Stops accepting jobs, commits every job already accepted, calls their `done`, joins
  // the thread. Idempotent.
  void stop();

 private:
  struct Job {
    Work work;
    Done done;
  };

  void loop();
  void commit_group(std::vector<Job>& group);

  std::unique_ptr<Store> store_;
  Metrics& metrics_;
  const std::size_t max_queue_;
  const std::size_t max_group_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace spindle::gateway
