// tools/host/files: a written file reads back whole; a secret is 0600 from the start; a
// create-only write keeps what is there; replacing is atomic and leaves no temporary;
// failures name the file; trimmed text loses only its surrounding whitespace.
#include "spindle/host/files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

namespace spindle::host {
namespace {

class HostFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("spindle-host-files-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string text_of(const std::string& name) const {
    const auto bytes = read_file(path(name));
    EXPECT_TRUE(bytes.ok());
    return {bytes->begin(), bytes->end()};
  }
  std::size_t entries() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_))
      ++n;
    return n;
  }

  std::filesystem::path dir_;
};

TEST_F(HostFilesTest, AWrittenFileReadsBackWholeAndLeavesNoTemporary) {
  ASSERT_TRUE(write_text_file(path("a.txt"), "first").ok());
  ASSERT_TRUE(write_text_file(path("a.txt"), "second, longer").ok());
  EXPECT_EQ(text_of("a.txt"), "second, longer");
  EXPECT_EQ(entries(), 1U);
}

TEST_F(HostFilesTest, ASecretIsReadableByItsOwnerOnly) {
  ASSERT_TRUE(write_text_file(path("key"), "00", Visibility::kSecret).ok());
  struct stat info {};
  ASSERT_EQ(::stat(path("key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);
}

TEST_F(HostFilesTest, ACreateOnlyWriteKeepsAnExistingFile) {
  ASSERT_TRUE(
      write_text_file(path("secret"), "original", Visibility::kSecret, Existing::kKeep).ok());
  std::string problem;
  EXPECT_EQ(
      write_text_file(path("secret"), "other", Visibility::kSecret, Existing::kKeep, &problem),
      Status(Error::kAlreadyExists));
  EXPECT_NE(problem.find(path("secret")), std::string::npos) << problem;
  EXPECT_EQ(text_of("secret"), "original");
  EXPECT_EQ(entries(), 1U);
}

TEST_F(HostFilesTest, TrimmedTextLosesOnlyItsSurroundingWhitespace) {
  ASSERT_TRUE(write_text_file(path("token"), "  a b\r\n").ok());
  const auto text = read_trimmed_text(path("token"));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "a b");
  EXPECT_EQ(read_trimmed_text(path("absent")).status(), Status(Error::kNotFound));
}

TEST_F(HostFilesTest, AMissingFileIsNotFoundAndTheErrorNamesIt) {
  std::string problem;
  EXPECT_EQ(read_file(path("absent"), &problem).status(), Status(Error::kNotFound));
  EXPECT_NE(problem.find(path("absent")), std::string::npos) << problem;
}

TEST_F(HostFilesTest, AWriteIntoAMissingFolderFailsNamingTheFile) {
  std::string problem;
  EXPECT_EQ(write_text_file(path("no/such/folder/file"), "x", Visibility::kPublic,
                            Existing::kReplace, &problem),
            Status(Error::kIoError));
  EXPECT_NE(problem.find("no/such/folder/file"), std::string::npos) << problem;
}

}  // namespace
}  // namespace spindle::host
