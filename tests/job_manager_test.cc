// JobManager in process: whatever a job throws fails that job only, and the worker goes on.
#include "core/jobs/job_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::TinyJobYaml;

JobRecord WaitForEnd(JobManager& jobs, const std::string& id) {
  EXPECT_THAT(jobs.Watch(id, [](const JobEvent&) { return true; }, nullptr), IsOk());
  return *jobs.Get(id);
}

TEST(JobManagerTest, AnExceptionFailsItsJobAndTheWorkerRunsTheNext) {
  JobManagerOptions options;
  options.data_dir = MakeTempDir("JobManagerThrows");
  std::atomic<int> publishes{0};
  auto jobs = JobManager::Start(options, [&](const JobRecord&, const JobSpec& spec,
                                             const PipelineReport&) -> absl::StatusOr<PublishedVersion> {
    if (publishes.fetch_add(1) == 0) throw std::runtime_error("the registry client blew up");
    return PublishedVersion{spec.name, 1};
  });
  ASSERT_THAT(jobs, IsOk());
  auto first = (*jobs)->Submit(TinyJobYaml("throws", 4), "");
  ASSERT_THAT(first, IsOk());
  const JobRecord failed = WaitForEnd(**jobs, first->id);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_NE(failed.error.find("publishing failed with an exception: the registry client blew up"), std::string::npos)
      << failed.error;

  auto second = (*jobs)->Submit(TinyJobYaml("after", 4), "");
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(WaitForEnd(**jobs, second->id).state, JobState::kSucceeded);
  EXPECT_TRUE((*jobs)->Shutdown());

  // What it recorded reads back: the failure is durable, so the job is not run again.
  jobs->reset();
  auto restarted = JobManager::Start(options, [](const JobRecord&, const JobSpec& spec, const PipelineReport&) {
    return absl::StatusOr<PublishedVersion>(PublishedVersion{spec.name, 1});
  });
  ASSERT_THAT(restarted, IsOk());
  EXPECT_EQ((*restarted)->Get(first->id)->state, JobState::kFailed);
  EXPECT_EQ((*restarted)->Get(second->id)->state, JobState::kSucceeded);
}

TEST(JobManagerTest, TrainerThreadsAreBoundedByTheCores) {
  JobManagerOptions options;
  options.data_dir = MakeTempDir("JobManagerThreads");
  options.default_threads = options.spec_options.machine.cores + 1;
  auto jobs = JobManager::Start(options, nullptr);
  EXPECT_THAT(jobs, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(std::string(jobs.status().message()).find("threads:"), std::string::npos) << jobs.status();
}

}  // namespace
}  // namespace promptintern
