#include "spindle/gateway/writer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <stdexcept>

namespace spindle::gateway {
namespace {

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("writer_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> open() {
    auto store = open_sqlite_store(dir_);
    EXPECT_TRUE(store.ok());
    return std::move(store).value();
  }

  std::filesystem::path dir_;
  Metrics metrics_;
};

TEST_F(WriterTest, RunReturnsOnceTheWriteIsVisibleToAnotherConnection) {
  Writer writer(open(), metrics_);
  ASSERT_TRUE(writer.run([](Store& s) { return s.add_device("node-1", 1); }).ok());
  auto reader = open();
  EXPECT_TRUE(reader->get_device("node-1").ok());
}

TEST_F(WriterTest, AFailingJobIsUndoneAloneAndTheRestOfItsGroupCommits) {
  Writer writer(open(), metrics_);
  ASSERT_TRUE(writer.run([](Store& s) { return s.add_device("node-1", 1); }).ok());
  std::promise<Status> first;
  std::promise<Status> second;
  std::promise<Status> third;
  // Three jobs submitted back to back usually land in one group; the outcome must not
  // depend on that.
  ASSERT_TRUE(writer
                  .submit([](Store& s) { return s.add_device("node-2", 1); },
                          [&](Status st) { first.set_value(st); })
                  .ok());
  ASSERT_TRUE(writer
                  .submit(
                      [](Store& s) -> Status {
                        SPINDLE_TRY(s.add_device("node-3", 1));
                        return s.add_device("node-1", 1);  // duplicate: the job fails
                      },
                      [&](Status st) { second.set_value(st); })
                  .ok());
  ASSERT_TRUE(writer
                  .submit([](Store& s) { return s.add_device("node-4", 1); },
                          [&](Status st) { third.set_value(st); })
                  .ok());
  EXPECT_TRUE(first.get_future().get().ok());
  EXPECT_EQ(second.get_future().get(), Error::kAlreadyExists);
  EXPECT_TRUE(third.get_future().get().ok());
  auto reader = open();
  EXPECT_TRUE(reader->get_device("node-2").ok());
  EXPECT_EQ(reader->get_device("node-3").status(), Error::kNotFound);  // undone with its job
  EXPECT_TRUE(reader->get_device("node-4").ok());
}

TEST_F(WriterTest, StopCommitsEveryAcceptedJobAndThenRefusesNewOnes) {
  auto writer = std::make_unique<Writer>(open(), metrics_);
  std::atomic<int> done{0};
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(writer
                    ->submit([i](Store& s) { return s.add_device("n-" + std::to_string(i), 1); },
                             [&](Status st) {
                               if (st.ok()) ++done;
                             })
                    .ok());
  }
  writer->stop();
  EXPECT_EQ(done.load(), 200);
  EXPECT_EQ(writer->submit([](Store&) { return Status(kOk); }, nullptr), Error::kUnavailable);
  writer.reset();
  auto reader = open();
  EXPECT_EQ(reader->list_devices()->size(), 200u);
}

TEST_F(WriterTest, AFullQueueRefusesWithFull) {
  Writer writer(open(), metrics_, /*max_queue=*/1, /*max_group=*/1);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::promise<void> started;
  // The first job blocks the writer thread so that later jobs queue up.
  ASSERT_TRUE(writer
                  .submit(
                      [&started, gate](Store&) {
                        started.set_value();
                        gate.wait();
                        return Status(kOk);
                      },
                      nullptr)
                  .ok());
  started.get_future().wait();
  EXPECT_TRUE(writer.submit([](Store&) { return Status(kOk); }, nullptr).ok());
  EXPECT_EQ(writer.submit([](Store&) { return Status(kOk); }, nullptr), Error::kFull);
  release.set_value();
  writer.stop();
}

TEST_F(WriterTest, AJobThatThrowsFailsWithIoErrorAloneAndTheWriterKeepsCommitting) {
  Writer writer(open(), metrics_);
  std::promise<Status> thrown;
  ASSERT_TRUE(writer
                  .submit(
                      [](Store& s) -> Status {
                        SPINDLE_TRY(s.add_device("node-1", 1));
                        throw std::runtime_error("store exploded");
                      },
                      [&thrown](Status status) { thrown.set_value(status); })
                  .ok());
  EXPECT_EQ(thrown.get_future().get(), Status(Error::kIoError));
  ASSERT_TRUE(writer.run([](Store& s) { return s.add_device("node-2", 1); }).ok());
  auto reader = open();
  EXPECT_EQ(reader->get_device("node-1").status(), Status(Error::kNotFound));  // undone
  EXPECT_TRUE(reader->get_device("node-2").ok());
}

TEST_F(WriterTest, ACompletionThatThrowsDoesNotStopTheWriter) {
  Writer writer(open(), metrics_);
  ASSERT_TRUE(writer
                  .submit([](Store& s) { return s.add_device("node-1", 1); },
                          [](Status) { throw std::runtime_error("completion exploded"); })
                  .ok());
  EXPECT_TRUE(writer.run([](Store& s) { return s.add_device("node-2", 1); }).ok());
}

}  // namespace
}  // namespace spindle::gateway
