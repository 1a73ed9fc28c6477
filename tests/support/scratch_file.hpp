// A scratch file for one test: a path in the test's temporary directory named after the
// running test, removed when created and when destroyed, so reruns start clean.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace spindle::test {

class ScratchFile {
 public:
  explicit ScratchFile(const std::string& suffix)
      : path_(std::filesystem::path(::testing::TempDir()) /
              (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
               suffix)) {
    std::filesystem::remove(path_);
  }
  ~ScratchFile() { std::filesystem::remove(path_); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const char* c_str() const { return path_.c_str(); }

 private:
  std::filesystem::path path_;
};

}  // namespace spindle::test
