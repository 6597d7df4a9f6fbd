// Reading files that someone else named: only regular files, bounded in size and time, and
// UTF-8 checked where text is expected.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/util/file.h"
#include "core/util/machine.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeTempDir;

std::string Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(ReadFileTest, RefusesFifosDevicesAndDirectoriesWithoutBlocking) {
  const std::string dir = MakeTempDir("ReadFileRefuses");
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const auto start = std::chrono::steady_clock::now();
  const absl::StatusOr<std::string> from_fifo = ReadFile(fifo);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << "open(2) must not wait for a writer";
  EXPECT_THAT(from_fifo, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(from_fifo.status().message()).find("a FIFO"), std::string::npos) << from_fifo.status();

  const absl::StatusOr<std::string> from_zero = ReadFile("/dev/zero");
  EXPECT_THAT(from_zero, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(from_zero.status().message()).find("character device"), std::string::npos);
  EXPECT_THAT(ReadFile(dir), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ReadFile(dir + "/missing"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ReadFileTest, EnforcesTheSizeLimitAndTheSymlinkRule) {
  const std::string dir = MakeTempDir("ReadFileLimits");
  const std::string file = Write(dir + "/text", std::string(1000, 'x'));
  ReadLimits limits;
  limits.max_bytes = 1000;
  EXPECT_EQ(ReadFile(file, limits)->size(), 1000u);
  limits.max_bytes = 999;
  const absl::StatusOr<std::string> too_big = ReadFile(file, limits);
  EXPECT_THAT(too_big, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_NE(std::string(too_big.status().message()).find("the limit is 999 bytes"), std::string::npos);
  // Files whose size the kernel reports as 0 are bounded while reading.
  limits.max_bytes = 16;
  EXPECT_THAT(ReadFile("/proc/self/maps", limits), StatusIs(absl::StatusCode::kResourceExhausted));

  const std::string link = dir + "/link";
  std::filesystem::create_symlink(file, link);
  EXPECT_THAT(ReadFile(link), IsOk());
  ReadLimits no_follow;
  no_follow.follow_symlinks = false;
  const absl::StatusOr<std::string> through_link = ReadFile(link, no_follow);
  EXPECT_THAT(through_link, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(through_link.status().message()).find("symlink"), std::string::npos);
}

TEST(ReadFileTest, ErrnoStatusMapsAFullDiskToResourceExhausted) {
  EXPECT_THAT(ErrnoStatus("cannot write", "/x", ENOSPC), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(ErrnoStatus("cannot write", "/x", EDQUOT), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(ErrnoStatus("cannot open", "/x", EACCES), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(ErrnoStatus("cannot open", "/x", ENOENT), StatusIs(absl::StatusCode::kNotFound));
}

TEST(MachineLimitsTest, DetectsCoresAndMemory) {
  const MachineLimits machine = MachineLimits::Detect();
  EXPECT_GE(machine.cores, 1);
  EXPECT_LE(machine.cores, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_GT(machine.memory_bytes, uint64_t{64} << 20);
}

}  // namespace
}  // namespace promptintern
