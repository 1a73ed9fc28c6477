// Logging: line format, level filtering, truncation, parsing, and whole lines from
// concurrent threads. stderr is redirected into a pipe that a reader thread drains.
#include "spindle/os/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "spindle/os/thread.hpp"

namespace spindle::os {
namespace {

// Captures everything written to file descriptor 2 between construction and finish().
class StderrCapture {
 public:
  StderrCapture() {
    int fds[2];
    if (pipe(fds) != 0) ADD_FAILURE() << "pipe failed";
    read_end_ = fds[0];
    saved_ = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    reader_ = std::thread([this] {
      char buffer[4096];
      ssize_t got = 0;
      while ((got = read(read_end_, buffer, sizeof(buffer))) > 0) {
        text_.append(buffer, static_cast<std::size_t>(got));
      }
    });
  }
  ~StderrCapture() { finish(); }

  // Restores stderr and returns what was captured, split into lines.
  std::vector<std::string> finish() {
    if (saved_ >= 0) {
      dup2(saved_, STDERR_FILENO);  // closes the pipe's last write end: the reader sees EOF
      close(saved_);
      saved_ = -1;
      reader_.join();
      close(read_end_);
    }
    std::vector<std::string> lines;
    std::istringstream stream(text_);
    for (std::string line; std::getline(stream, line);)
      lines.push_back(line);
    return lines;
  }
  const std::string& text() const { return text_; }

 private:
  int read_end_ = -1;
  int saved_ = -1;
  std::thread reader_;
  std::string text_;
};

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { set_log_level(LogLevel::kInfo); }
  void TearDown() override { set_log_level(LogLevel::kInfo); }
};

TEST_F(LogTest, WritesOneLineWithUptimeLevelAndModule) {
  StderrCapture capture;
  SPINDLE_LOG_INF("net", "registered after %d tries", 3);
  SPINDLE_LOG_ERR("flash", "no arguments");
  const auto lines = capture.finish();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\[\d\d:\d\d:\d\d\.\d{3}\] <inf> net: registered after 3 tries)")))
      << lines[0];
  EXPECT_TRUE(std::regex_match(
      lines[1], std::regex(R"(\[\d\d:\d\d:\d\d\.\d{3}\] <err> flash: no arguments)")))
      << lines[1];
  EXPECT_EQ(capture.text().back(), '\n');
}

TEST_F(LogTest, LevelFiltersOutMoreVerboseMessages) {
  set_log_level(LogLevel::kWarning);
  StderrCapture capture;
  SPINDLE_LOG_ERR("m", "e");
  SPINDLE_LOG_WRN("m", "w");
  SPINDLE_LOG_INF("m", "i");
  SPINDLE_LOG_DBG("m", "d");
  const auto lines = capture.finish();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("<err> m: e"), std::string::npos);
  EXPECT_NE(lines[1].find("<wrn> m: w"), std::string::npos);
}

TEST_F(LogTest, DebugLevelWritesEverything) {
  set_log_level(LogLevel::kDebug);
  EXPECT_EQ(log_level(), LogLevel::kDebug);
  StderrCapture capture;
  SPINDLE_LOG_DBG("m", "d");
  SPINDLE_LOG_INF("m", "i");
  const auto lines = capture.finish();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("<dbg> m: d"), std::string::npos);
}

TEST_F(LogTest, FilteredMessagesDoNotEvaluateTheirArguments) {
  set_log_level(LogLevel::kError);
  int evaluations = 0;
  StderrCapture capture;
  SPINDLE_LOG_DBG("m", "%d", ++evaluations);
  SPINDLE_LOG_INF("m", "%d", ++evaluations);
  EXPECT_TRUE(capture.finish().empty());
  EXPECT_EQ(evaluations, 0);
}

TEST_F(LogTest, LongMessagesAreCutWithAnEllipsis) {
  const std::string long_text(3 * kLogLineMax, 'x');
  StderrCapture capture;
  SPINDLE_LOG_INF("m", "%s", long_text.c_str());
  const auto lines = capture.finish();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].size() + 1, kLogLineMax);  // + the newline
  EXPECT_EQ(lines[0].substr(lines[0].size() - 4), "x...");
}

TEST_F(LogTest, ConcurrentThreadsNeverInterleaveWithinALine) {
  constexpr int kThreads = 4;
  constexpr int kLines = 300;
  StderrCapture capture;
  Thread threads[kThreads];
  for (auto& thread : threads) {
    ASSERT_EQ(thread.start(
                  [](void*) {
                    for (int i = 0; i < kLines; ++i) {
                      SPINDLE_LOG_INF("conc", "line %03d of a message long enough to tear", i);
                    }
                  },
                  nullptr, "logger", 4096, 0),
              kOk);
  }
  for (auto& thread : threads)
    ASSERT_EQ(thread.join(), kOk);
  const auto lines = capture.finish();
  ASSERT_EQ(lines.size(), std::size_t{kThreads * kLines});
  const std::regex shape(
      R"(\[\d\d:\d\d:\d\d\.\d{3}\] <inf> conc: line \d{3} of a message long enough to tear)");
  for (const auto& line : lines)
    ASSERT_TRUE(std::regex_match(line, shape)) << line;
}

TEST(LogLevelParsing, AcceptsShortAndLongNamesInAnyCase) {
  const struct {
    const char* text;
    LogLevel level;
  } cases[] = {
      {"err", LogLevel::kError},    {"ERROR", LogLevel::kError},     {"wrn", LogLevel::kWarning},
      {"Warn", LogLevel::kWarning}, {"warning", LogLevel::kWarning}, {"inf", LogLevel::kInfo},
      {"info", LogLevel::kInfo},    {"dbg", LogLevel::kDebug},       {"DEBUG", LogLevel::kDebug},
  };
  for (const auto& c : cases) {
    LogLevel level = c.level == LogLevel::kError ? LogLevel::kDebug : LogLevel::kError;
    EXPECT_TRUE(parse_log_level(c.text, &level)) << c.text;
    EXPECT_EQ(level, c.level) << c.text;
  }
}

TEST(LogLevelParsing, RejectsAnythingElseAndLeavesTheLevelAlone) {
  LogLevel level = LogLevel::kWarning;
  for (const char* text : {"", "verbose", "infos", "in", "3", " info"}) {
    EXPECT_FALSE(parse_log_level(text, &level)) << text;
    EXPECT_EQ(level, LogLevel::kWarning);
  }
  EXPECT_FALSE(parse_log_level("info", nullptr));
}

}  // namespace
}  // namespace spindle::os
