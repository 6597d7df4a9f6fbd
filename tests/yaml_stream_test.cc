// CountYamlDocuments against yaml-cpp 0.7's LoadAll loop (jbeder/yaml-cpp#1040), found by the
// job_yaml fuzz target: a job file that starts with ',' used to make the trainer allocate until
// memory ran out; now it is refused at once, by ParseJobSpec and by the real trainer.
#include "core/util/yaml_stream.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "client/lib/trainer_client.h"
#include "core/pipeline/job_spec.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::ServiceProcess;

TEST(CountYamlDocumentsTest, CountsDocumentsAndStopsAtTheFirstEmptyOne) {
  EXPECT_EQ(CountYamlDocuments("a: 1\n"), 1);
  EXPECT_EQ(CountYamlDocuments("--- 1\n--- [2]\n--- {c: 3}\n"), 3);
  EXPECT_EQ(CountYamlDocuments(""), 0);
  EXPECT_EQ(CountYamlDocuments("# only a comment\n"), 0);
  EXPECT_EQ(CountYamlDocuments("a: 1\n--- ~\n--- b: 2\n"), 1) << "stops at the empty second document";
  EXPECT_EQ(CountYamlDocuments("&x a\n"), 1);
  EXPECT_THROW(CountYamlDocuments("a: [1, 2\n"), YAML::Exception);
}

TEST(CountYamlDocumentsTest, ReturnsOnStreamsThatLoadAllNeverFinishes) {
  for (const std::string text : {",", ", ", ",a", "# c\n, x", "---\n,"}) {
    EXPECT_EQ(CountYamlDocuments(text), 0) << text;
  }
  EXPECT_EQ(CountYamlDocuments("\"x\" ,"), 1) << "the scalar, then the endless empty documents";
}

TEST(CountYamlDocumentsTest, AJobFileThatStartsWithACommaIsRefusedAsEmpty) {
  const std::string dir = MakeTempDir("yaml_leading_comma");
  auto spec = ParseJobSpec(",\n", dir);
  EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(spec.status().message().find("the job file is empty"), std::string::npos) << spec.status();
  EXPECT_EQ(ParseJobSpec("name: a\n---\nname: b\n", dir).status().message(),
            "the job file holds 2 YAML documents; expected exactly one");
}

TEST(CountYamlDocumentsTest, TheTrainerRefusesSuchAJobAndStaysUp) {
  const std::string dir = MakeTempDir("yaml_leading_comma_trainer");
  ServiceProcess trainer_process;
  ASSERT_TRUE(trainer_process.Start(BinaryDir() + "/promptintern-trainer",
                                    {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", dir + "/data",
                                     "--registry-dir", dir + "/registry", "--threads", "1"},
                                    dir + "/trainer.log"));
  TrainerClient trainer(trainer_process.address());
  auto job = trainer.SubmitJob(",");
  EXPECT_THAT(job, StatusIs(absl::StatusCode::kInvalidArgument)) << job.status();
  EXPECT_TRUE(trainer.ListJobs().ok()) << "the trainer is still up";
}

}  // namespace
}  // namespace promptintern
