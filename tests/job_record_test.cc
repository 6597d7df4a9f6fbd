// job.json and events.jsonl: every field round-trips through its one writer and reader, and any
// damage the reader meets is a status naming the field or line, never an exception.
#include "core/jobs/job_record.h"
#include "tests/status_matchers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace promptintern {
namespace {

JobRecord SampleRecord() {
  JobRecord record;
  record.id = "job-20240501-123456-abcdef";
  record.name = "tiny-bash";
  record.state = JobState::kRunning;
  record.yaml = "name: tiny\ntraining: {steps: 8}\n# ünïcode\n";
  record.base_dir = "/srv/jobs";
  record.created_unix_ms = 1714566896000;
  record.started_unix_ms = 1714566897000;
  record.finished_unix_ms = 0;
  record.stage = -1;
  record.num_stages = 3;
  record.step = 42;
  record.total_steps = 400;
  record.loss = 1.25;
  record.error = "";
  record.model_name = "tiny-bash";
  record.model_version = 7;
  record.unfinished_runs = 2;
  return record;
}

JobEvent SampleEvent(int64_t sequence) {
  JobEvent event;
  event.sequence = sequence;
  event.kind = JobEvent::Kind::kEvaluation;
  event.unix_ms = 1714566899000 + sequence;
  event.pipeline.stage = 2;
  event.pipeline.num_stages = 3;
  event.pipeline.step = 8;
  event.pipeline.total_steps = 8;
  event.pipeline.loss = 0.5;
  event.pipeline.learning_rate = 3e-3;
  event.pipeline.tokens_per_second = 1234.5;
  event.pipeline.eta_seconds = 0.25;
  event.pipeline.keep_ratio = 0.5;
  event.pipeline.num_examples = 1;
  event.pipeline.metrics = {{"bleu", 41.5}, {"exact_match", 0.25}};
  event.message = "query_only";
  event.model_name = "m";
  event.model_version = 3;
  return event;
}

TEST(JobRecordTest, RecordRoundTripsEveryField) {
  const JobRecord record = SampleRecord();
  const absl::StatusOr<JobRecord> parsed = ParseJobRecord(SerializeJobRecord(record));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->id, record.id);
  EXPECT_EQ(parsed->name, record.name);
  EXPECT_EQ(parsed->state, record.state);
  EXPECT_EQ(parsed->yaml, record.yaml);
  EXPECT_EQ(parsed->base_dir, record.base_dir);
  EXPECT_EQ(parsed->created_unix_ms, record.created_unix_ms);
  EXPECT_EQ(parsed->started_unix_ms, record.started_unix_ms);
  EXPECT_EQ(parsed->finished_unix_ms, record.finished_unix_ms);
  EXPECT_EQ(parsed->stage, record.stage);
  EXPECT_EQ(parsed->num_stages, record.num_stages);
  EXPECT_EQ(parsed->step, record.step);
  EXPECT_EQ(parsed->total_steps, record.total_steps);
  EXPECT_EQ(parsed->loss, record.loss);
  EXPECT_EQ(parsed->error, record.error);
  EXPECT_EQ(parsed->model_name, record.model_name);
  EXPECT_EQ(parsed->model_version, record.model_version);
  EXPECT_EQ(parsed->unfinished_runs, record.unfinished_runs);
  for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                         JobState::kCancelled}) {
    JobRecord other = record;
    other.state = state;
    EXPECT_EQ(ParseJobRecord(SerializeJobRecord(other))->state, state) << JobStateName(state);
  }
}

TEST(JobRecordTest, EventRoundTripsEveryFieldAndKind) {
  const JobEvent event = SampleEvent(0);
  const std::string line = SerializeJobEvent(event);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one event is one line";
  const absl::StatusOr<JobEvent> parsed = ParseJobEvent(line.substr(0, line.size() - 1));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->sequence, event.sequence);
  EXPECT_EQ(parsed->kind, event.kind);
  EXPECT_EQ(parsed->unix_ms, event.unix_ms);
  EXPECT_EQ(parsed->pipeline.stage, event.pipeline.stage);
  EXPECT_EQ(parsed->pipeline.num_stages, event.pipeline.num_stages);
  EXPECT_EQ(parsed->pipeline.step, event.pipeline.step);
  EXPECT_EQ(parsed->pipeline.total_steps, event.pipeline.total_steps);
  EXPECT_EQ(parsed->pipeline.loss, event.pipeline.loss);
  EXPECT_EQ(parsed->pipeline.learning_rate, event.pipeline.learning_rate);
  EXPECT_EQ(parsed->pipeline.tokens_per_second, event.pipeline.tokens_per_second);
  EXPECT_EQ(parsed->pipeline.eta_seconds, event.pipeline.eta_seconds);
  EXPECT_EQ(parsed->pipeline.keep_ratio, event.pipeline.keep_ratio);
  EXPECT_EQ(parsed->pipeline.num_examples, event.pipeline.num_examples);
  EXPECT_EQ(parsed->pipeline.metrics, event.pipeline.metrics);
  EXPECT_EQ(parsed->message, event.message);
  EXPECT_EQ(parsed->model_name, event.model_name);
  EXPECT_EQ(parsed->model_version, event.model_version);
  using Kind = JobEvent::Kind;
  for (Kind kind : {Kind::kQueued, Kind::kStarted, Kind::kStageStarted, Kind::kProgress, Kind::kEvaluation,
                    Kind::kCheckpoint, Kind::kPublished, Kind::kSucceeded, Kind::kFailed, Kind::kCancelled}) {
    JobEvent other = event;
    other.kind = kind;
    const std::string text = SerializeJobEvent(other);
    EXPECT_EQ(ParseJobEvent(text.substr(0, text.size() - 1))->kind, kind) << JobEventKindName(kind);
  }
}

// A diverged run's NaN loss must not make its own record unreadable at the next start.
TEST(JobRecordTest, NonFiniteNumbersAndBrokenUtf8AreWrittenAndReadBack) {
  JobRecord record = SampleRecord();
  record.loss = std::nan("");
  record.error = "template.txt is not valid UTF-8: \xff\xfe here";
  const absl::StatusOr<JobRecord> parsed = ParseJobRecord(SerializeJobRecord(record));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE(std::isnan(parsed->loss));
  EXPECT_NE(parsed->error.find("template.txt is not valid UTF-8"), std::string::npos);
  EXPECT_NE(parsed->error.find("\xef\xbf\xbd"), std::string::npos) << "U+FFFD replaces the broken bytes";

  JobEvent event = SampleEvent(0);
  event.pipeline.loss = std::numeric_limits<double>::infinity();
  event.pipeline.metrics["bleu"] = std::nan("");
  const std::string line = SerializeJobEvent(event);
  const absl::StatusOr<JobEvent> parsed_event = ParseJobEvent(line.substr(0, line.size() - 1));
  ASSERT_THAT(parsed_event, IsOk());
  EXPECT_TRUE(std::isnan(parsed_event->pipeline.loss));
  EXPECT_TRUE(std::isnan(parsed_event->pipeline.metrics.at("bleu")));
}

TEST(JobRecordTest, DamagedRecordsAreDataLossNamingTheField) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {R"({"id": "job-1", "state": "running", "step": "abc"})", "\"step\""},
      {R"({"id": "job-1", "state": "running", "stage": 4294967296})", "\"stage\""},
      {R"({"id": "job-1", "state": "running", "step": 1e300})", "\"step\""},
      {R"({"id": "job-1", "state": "running", "model_version": 18446744073709551615})", "\"model_version\""},
      {R"({"id": "job-1", "state": "exploded"})", "\"state\""},
      {R"({"id": "job-1", "state": 7})", "\"state\""},
      {R"({"id": "job-1"})", "\"state\" is missing"},
      {R"({"id": 12, "state": "queued"})", "\"id\""},
      {R"({"state": "queued"})", "\"id\""},
      {R"({"id": "job-1", "state": "queued", "yaml": ["a"]})", "\"yaml\""},
      {R"({"id": "job-1", "state": "queued", "unfinished_runs": -1})", "\"unfinished_runs\""},
      {R"({"id": "job-1", "state": "queued", "loss": "low"})", "\"loss\""},
      {R"([1, 2])", "expected a JSON object"},
      {R"({"id": "job-1", "state": "queu)", "not valid JSON"},
      {"", "not valid JSON"},
  };
  for (const Case& c : cases) {
    const absl::StatusOr<JobRecord> parsed = ParseJobRecord(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kDataLoss)) << c.text;
    EXPECT_NE(std::string(parsed.status().message()).find(c.expected), std::string::npos)
        << c.text << " -> " << parsed.status();
  }
  // Missing optional fields take their defaults; unknown ones are ignored.
  const absl::StatusOr<JobRecord> minimal = ParseJobRecord(R"({"id": "job-1", "state": "queued", "future": 1})");
  ASSERT_THAT(minimal, IsOk());
  EXPECT_EQ(minimal->step, 0);
  EXPECT_EQ(minimal->unfinished_runs, 0);
}

TEST(JobRecordTest, DamagedEventsAreDataLossNamingTheField) {
  for (const std::string line : {R"({"kind": 7})", R"({"kind": "progress", "step": "abc"})",
                                 R"({"kind": "teleported"})", R"({"kind": "progress", "metrics": [1]})",
                                 R"({"kind": "progress", "metrics": {"bleu": "high"}})", R"("progress")"}) {
    const absl::StatusOr<JobEvent> parsed = ParseJobEvent(line);
    ASSERT_FALSE(parsed.ok()) << line;
    EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kDataLoss)) << line;
  }
  EXPECT_NE(std::string(ParseJobEvent(R"({"kind": 7})").status().message()).find("\"kind\""), std::string::npos);
}

TEST(JobRecordTest, EventLogStopsAtDamageAndDropsATornLastLine) {
  std::string text;
  for (int64_t i = 0; i < 3; ++i) text += SerializeJobEvent(SampleEvent(i));
  const size_t whole = text.size();
  {
    const JobEventLog log = ParseJobEventLog(text);
    EXPECT_THAT(log.damage, IsOk());
    EXPECT_EQ(log.events.size(), 3u);
    EXPECT_EQ(log.valid_bytes, whole);
  }
  {
    // A crash cut the fourth append short: not damage, just not there.
    const std::string fourth = SerializeJobEvent(SampleEvent(3));
    const JobEventLog log = ParseJobEventLog(text + fourth.substr(0, fourth.size() / 2));
    EXPECT_THAT(log.damage, IsOk());
    EXPECT_EQ(log.events.size(), 3u);
    EXPECT_EQ(log.valid_bytes, whole);
  }
  {
    const JobEventLog log = ParseJobEventLog(text + "{\"kind\": 7}\n" + SerializeJobEvent(SampleEvent(4)));
    EXPECT_THAT(log.damage, StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_NE(std::string(log.damage.message()).find("line 4"), std::string::npos) << log.damage;
    EXPECT_EQ(log.events.size(), 3u) << "the events before the damage are kept";
    EXPECT_EQ(log.valid_bytes, whole);
  }
  {
    const JobEventLog log = ParseJobEventLog(text + SerializeJobEvent(SampleEvent(7)));
    EXPECT_THAT(log.damage, StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_NE(std::string(log.damage.message()).find("sequence 7, expected 3"), std::string::npos) << log.damage;
  }
}

}  // namespace
}  // namespace promptintern
