// report.json, state/progress.json and the stage reports in both (and in a version's manifest):
// every field round-trips through its one writer and reader, and damage the reader meets is a
// DATA_LOSS status naming the source and the field, never an exception.
#include "core/pipeline/run_report.h"
#include "tests/status_matchers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/json_fields.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::MakeTempDir;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ModeReport SampleMode(const std::string& mode, double exact_match) {
  ModeReport report;
  report.mode = mode;
  report.requests = 12;
  report.exact_match = exact_match;
  report.bleu = 41.5;
  report.task_metric = "structure";
  report.task_score = 0.75;
  report.mean_input_tokens = 310.25;
  report.mean_output_tokens = 9.5;
  report.latency.p50 = 0.0125;
  report.latency.p90 = 0.03;
  report.cost_per_1k_requests_usd = 0.1625;
  report.predictions = {"ls -la", "wc -l notes.txt", "échec \"quoted\""};
  return report;
}

StageReport SampleStage(int index) {
  StageReport report;
  report.stage.index = index;
  report.stage.keep_ratio = 1.0 - 0.25 * index;
  report.stage.num_examples = 3 - index;
  report.stage.steps = 40 + index;
  report.template_tokens = 200 - 50 * index;
  report.train_tokens = 12345 + index;
  report.train_loss = 0.5 / (index + 1);
  report.validation = SampleMode("stage", 0.25 * index);
  return report;
}

PipelineReport SampleReport() {
  PipelineReport report;
  report.job = "tiny-bash";
  report.final_model_dir = "/runs/tiny/final";
  report.template_tokens = 412;
  report.stages = {SampleStage(0), SampleStage(1), SampleStage(2)};
  report.modes = {SampleMode("query_only", 0.5), SampleMode("full_prompt", kNaN)};
  report.train_seconds = 12.75;
  report.train_steps = 123;
  report.train_tokens = 45678;
  report.pretrain_tokens = 999;
  PromotionCheck check;
  check.alias = "production";
  check.reference = "full_prompt";
  check.metric = "exact_match";
  check.examples = 12;
  check.candidate = 0.5;
  check.reference_score = kNaN;
  check.drop = kNaN;
  check.max_drop = 0.05;
  check.passed = false;
  check.reason = "not comparable";
  report.promotion = check;
  return report;
}

// NaN == NaN for the purpose of a round trip.
void ExpectSameNumber(double expected, double actual, const std::string& what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what << ": " << actual;
  } else {
    EXPECT_EQ(expected, actual) << what;
  }
}

void ExpectSameMode(const ModeReport& expected, const ModeReport& actual) {
  EXPECT_EQ(expected.mode, actual.mode);
  EXPECT_EQ(expected.requests, actual.requests);
  ExpectSameNumber(expected.exact_match, actual.exact_match, "exact_match");
  ExpectSameNumber(expected.bleu, actual.bleu, "bleu");
  EXPECT_EQ(expected.task_metric, actual.task_metric);
  ExpectSameNumber(expected.task_score, actual.task_score, "structure");
  ExpectSameNumber(expected.mean_input_tokens, actual.mean_input_tokens, "mean_input_tokens");
  ExpectSameNumber(expected.mean_output_tokens, actual.mean_output_tokens, "mean_output_tokens");
  ExpectSameNumber(expected.latency.p50, actual.latency.p50, "p50");
  ExpectSameNumber(expected.latency.p90, actual.latency.p90, "p90");
  ExpectSameNumber(expected.cost_per_1k_requests_usd, actual.cost_per_1k_requests_usd, "cost");
  EXPECT_EQ(expected.predictions, actual.predictions);
}

void ExpectSameStage(const StageReport& expected, const StageReport& actual) {
  EXPECT_EQ(expected.stage.index, actual.stage.index);
  EXPECT_EQ(expected.stage.keep_ratio, actual.stage.keep_ratio);
  EXPECT_EQ(expected.stage.num_examples, actual.stage.num_examples);
  EXPECT_EQ(expected.stage.steps, actual.stage.steps);
  EXPECT_EQ(expected.template_tokens, actual.template_tokens);
  EXPECT_EQ(expected.train_tokens, actual.train_tokens);
  ExpectSameNumber(expected.train_loss, actual.train_loss, "train_loss");
  ExpectSameMode(expected.validation, actual.validation);
}

// Through text, as the files hold them.
json ThroughText(const json& value) { return json::parse(value.dump()); }

TEST(RunReportTest, StageReportRoundTrips) {
  StageReport stage = SampleStage(1);
  stage.train_loss = kNaN;
  stage.validation.bleu = kNaN;
  absl::StatusOr<StageReport> back = StageReportFromJson(ThroughText(StageReportToJson(stage)), "test");
  ASSERT_THAT(back, IsOk());
  ExpectSameStage(stage, *back);
}

TEST(RunReportTest, PipelineReportRoundTripsAndNamesEachModesExamplesFile) {
  const PipelineReport report = SampleReport();
  const json written = ThroughText(PipelineReportToJson(report));
  EXPECT_EQ(written["modes"][1]["examples_file"], ExamplesFile("full_prompt"));
  EXPECT_TRUE(written["modes"][1]["exact_match"].is_null()) << "NaN is written as null";
  absl::StatusOr<PipelineReport> back = PipelineReportFromJson(written, "report.json");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->job, report.job);
  EXPECT_EQ(back->final_model_dir, report.final_model_dir);
  EXPECT_EQ(back->template_tokens, report.template_tokens);
  EXPECT_EQ(back->train_seconds, report.train_seconds);
  EXPECT_EQ(back->train_steps, report.train_steps);
  EXPECT_EQ(back->train_tokens, report.train_tokens);
  EXPECT_EQ(back->pretrain_tokens, report.pretrain_tokens);
  ASSERT_EQ(back->stages.size(), report.stages.size());
  for (size_t i = 0; i < report.stages.size(); ++i) ExpectSameStage(report.stages[i], back->stages[i]);
  ASSERT_EQ(back->modes.size(), report.modes.size());
  for (size_t i = 0; i < report.modes.size(); ++i) ExpectSameMode(report.modes[i], back->modes[i]);
  ASSERT_TRUE(back->promotion.has_value());
  EXPECT_EQ(back->promotion->alias, "production");
  EXPECT_TRUE(std::isnan(back->promotion->drop));
  EXPECT_EQ(back->promotion->max_drop, 0.05);
  EXPECT_EQ(PipelineReportToJson(*back).dump(), written.dump()) << "a second trip changes nothing";
}

TEST(RunReportTest, RunProgressRoundTripsThroughText) {
  RunProgress progress;
  progress.global_step = 77;
  progress.train_tokens = 5000;
  progress.pretrain_tokens = 1200;
  progress.stage_templates = {{0, "Translate to bash:\n"}, {2, "bash:"}, {11, ""}};
  progress.stage_reports = {SampleStage(0), SampleStage(1)};
  const std::string text = RunProgressToText(progress);
  absl::StatusOr<RunProgress> back = RunProgressFromText(text, "progress.json");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->global_step, 77);
  EXPECT_EQ(back->train_tokens, 5000);
  EXPECT_EQ(back->pretrain_tokens, 1200);
  EXPECT_EQ(back->stage_templates, progress.stage_templates);
  ASSERT_EQ(back->stage_reports.size(), 2u);
  for (size_t i = 0; i < 2; ++i) ExpectSameStage(progress.stage_reports[i], back->stage_reports[i]);
  EXPECT_EQ(RunProgressToText(*back), text);
}

TEST(RunReportTest, ATemplateThatIsNotUtf8IsStillWrittenReplaced) {
  RunProgress progress;
  progress.stage_templates = {{1, std::string("cut \xE2\x82", 6)}};
  absl::StatusOr<RunProgress> back = RunProgressFromText(RunProgressToText(progress), "progress.json");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->stage_templates.at(1), "cut \xEF\xBF\xBD");
}

// Each damage, and the words the status must hold (the source and the field).
struct Damage {
  const char* what;
  std::function<void(json&)> apply;
  std::vector<std::string> named;
};

TEST(RunReportTest, DamagedProgressIsDataLossNamingTheField) {
  RunProgress progress;
  progress.global_step = 3;
  progress.stage_templates = {{0, "t"}};
  progress.stage_reports = {SampleStage(0)};
  const json good = json::parse(RunProgressToText(progress));
  const std::vector<Damage> damages = {
      {"no global_step", [](json& v) { v.erase("global_step"); }, {"global_step", "missing"}},
      {"global_step text", [](json& v) { v["global_step"] = "abc"; }, {"global_step", "integer"}},
      {"negative step", [](json& v) { v["global_step"] = -1; }, {"global_step", "negative"}},
      {"templates array", [](json& v) { v["stage_templates"] = json::array(); }, {"stage_templates", "object"}},
      {"template key", [](json& v) { v["stage_templates"]["x"] = "t"; }, {"stage_templates", "'x'"}},
      {"template number", [](json& v) { v["stage_templates"]["1"] = 5; }, {"stage_templates", "'1'"}},
      {"reports object", [](json& v) { v["stage_reports"] = json::object(); }, {"stage_reports", "array"}},
      {"report text", [](json& v) { v["stage_reports"][0] = "x"; }, {"stage_reports[0]", "object"}},
      {"report index", [](json& v) { v["stage_reports"][0]["index"] = "one"; }, {"stage_reports[0]", "index"}},
      {"huge index", [](json& v) { v["stage_reports"][0]["index"] = int64_t{1} << 40; }, {"index", "range"}},
      {"validation", [](json& v) { v["stage_reports"][0]["validation"] = 3; }, {"validation", "object"}},
      {"predictions", [](json& v) { v["stage_reports"][0]["validation"]["predictions"] = {1}; },
       {"stage_reports[0] validation", "predictions"}},
      {"requests", [](json& v) { v["stage_reports"][0]["validation"]["requests"] = -4; }, {"requests", "negative"}},
  };
  for (const Damage& damage : damages) {
    json damaged = good;
    damage.apply(damaged);
    absl::StatusOr<RunProgress> read = RunProgressFromText(damaged.dump(), "/runs/x/state/progress.json");
    EXPECT_THAT(read, StatusIs(absl::StatusCode::kDataLoss)) << damage.what;
    if (read.ok()) continue;
    EXPECT_THAT(std::string(read.status().message()), HasSubstr("/runs/x/state/progress.json")) << damage.what;
    for (const std::string& word : damage.named) {
      EXPECT_THAT(std::string(read.status().message()), HasSubstr(word)) << damage.what;
    }
  }
  for (const std::string text : {"", "{", "[]", "null", "{\"global_step\": 1,}"}) {
    EXPECT_THAT(RunProgressFromText(text, "p.json"), StatusIs(absl::StatusCode::kDataLoss)) << text;
  }
}

TEST(RunReportTest, ReadPipelineReportNamesTheFileOfADamagedReport) {
  const std::string dir = MakeTempDir("run_report");
  const std::string path = JoinPath(dir, kReportFile);
  const std::string text = DumpJson(PipelineReportToJson(SampleReport()), 2);
  ASSERT_THAT(WriteFileAtomic(path, text), IsOk());
  absl::StatusOr<PipelineReport> read = ReadPipelineReport(dir);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->output_dir, dir);
  EXPECT_EQ(read->modes.size(), 2u);

  ASSERT_THAT(WriteFileAtomic(path, text.substr(0, text.size() / 2)), IsOk());
  EXPECT_THAT(ReadPipelineReport(dir), StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr(path), HasSubstr("not a run report"))));
  json wrong = PipelineReportToJson(SampleReport());
  wrong["modes"][1]["bleu"] = "high";
  ASSERT_THAT(WriteFileAtomic(path, wrong.dump()), IsOk());
  EXPECT_THAT(ReadPipelineReport(dir), StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("modes[1]"), HasSubstr("bleu"))));
  wrong = PipelineReportToJson(SampleReport());
  wrong["promotion"].erase("passed");
  ASSERT_THAT(WriteFileAtomic(path, wrong.dump()), IsOk());
  EXPECT_THAT(ReadPipelineReport(dir), StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("promotion"), HasSubstr("passed"))));
}

// `promptintern report RUN_DIR`: exit code and what it printed (stdout and stderr).
int RunReportCommand(const std::string& run_dir, std::string* out) {
  const std::string log = JoinPath(run_dir, "command.log");
  const int status = std::system((BinaryDir() + "/promptintern report '" + run_dir + "' > " + log + " 2>&1").c_str());
  *out = ReadFile(log).value_or("");
  return WEXITSTATUS(status);
}

TEST(RunReportTest, ReportCommandPrintsTheRunsTableOrNamesTheDamage) {
  const std::string dir = MakeTempDir("report_command");
  const PipelineReport report = SampleReport();
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, kReportFile), PipelineReportToJson(report).dump()), IsOk());
  std::string out;
  ASSERT_EQ(RunReportCommand(dir, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(FormatModeTable(report)));
  EXPECT_THAT(out, HasSubstr("query_only: 12 validation examples scored"));
  EXPECT_THAT(out, HasSubstr("promotion gate: not comparable"));

  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, kReportFile), "{\"modes\": 3}"), IsOk());
  EXPECT_EQ(RunReportCommand(dir, &out), 1);
  EXPECT_THAT(out, AllOf(HasSubstr(JoinPath(dir, kReportFile)), HasSubstr("modes")));
}

}  // namespace
}  // namespace promptintern
