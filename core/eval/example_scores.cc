#include "core/eval/example_scores.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/eval/metrics.h"
#include "core/task/task_kind.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

// The one task metric there was before task kinds named theirs (the bash tasks').
constexpr char kLegacyTaskMetric[] = "structure";

template <typename Array>
json CountsToJson(const Array& counts) {
  json values = json::array();
  for (int64_t count : counts) values.push_back(count);
  return values;
}

// A non-negative integer field of `object`; false when missing or of another type.
bool ReadCount(const json& object, const char* key, int64_t* out) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer() || it->get<int64_t>() < 0) return false;
  *out = it->get<int64_t>();
  return true;
}

bool ReadCounts(const json& object, const char* key, std::array<int64_t, kBleuMaxNgramOrder>* out) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_array() || it->size() != kBleuMaxNgramOrder) return false;
  for (size_t n = 0; n < kBleuMaxNgramOrder; ++n) {
    const json& value = (*it)[n];
    if (!value.is_number_integer() || value.get<int64_t>() < 0) return false;
    (*out)[n] = value.get<int64_t>();
  }
  return true;
}

bool ReadUnitScore(const json& object, const char* key, double* out) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return false;
  *out = it->get<double>();
  return std::isfinite(*out) && *out >= 0.0 && *out <= 1.0;
}

}  // namespace

BleuStatistics& BleuStatistics::operator+=(const BleuStatistics& other) {
  for (size_t n = 0; n < kBleuMaxNgramOrder; ++n) {
    matches[n] += other.matches[n];
    totals[n] += other.totals[n];
  }
  hyp_len += other.hyp_len;
  ref_len += other.ref_len;
  return *this;
}

double BleuStatistics::Score() const { return BleuFromStatistics(matches, totals, hyp_len, ref_len).score; }

absl::StatusOr<std::vector<ExampleScore>> ScoreExamples(const std::vector<std::string>& predictions,
                                                        const std::vector<std::string>& references,
                                                        const TaskMetric* task_metric) {
  if (predictions.empty()) return absl::InvalidArgumentError("per-example scores: no predictions");
  if (predictions.size() != references.size()) {
    return absl::InvalidArgumentError(absl::StrCat("per-example scores: ", predictions.size(),
                                                   " predictions but ", references.size(), " references"));
  }
  std::vector<ExampleScore> scores;
  scores.reserve(predictions.size());
  for (size_t i = 0; i < predictions.size(); ++i) {
    ExampleScore score;
    score.prediction = NormalizeWhitespace(predictions[i]);
    score.reference = NormalizeWhitespace(references[i]);
    score.exact = score.prediction == score.reference ? 1.0 : 0.0;
    if (task_metric != nullptr) {
      score.task_metric = task_metric->name;
      score.task_score = task_metric->score(score.prediction, score.reference);
    }
    absl::StatusOr<BleuScore> bleu = CorpusBleu({score.prediction}, {score.reference});
    if (!bleu.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("per-example scores: example ", i, ": ", bleu.status().message()));
    }
    score.bleu.matches = bleu->matches;
    score.bleu.totals = bleu->totals;
    score.bleu.hyp_len = bleu->hyp_len;
    score.bleu.ref_len = bleu->ref_len;
    scores.push_back(std::move(score));
  }
  return scores;
}

std::string ExampleScoresToJsonl(const std::vector<ExampleScore>& scores) {
  std::string text;
  for (size_t i = 0; i < scores.size(); ++i) {
    const ExampleScore& score = scores[i];
    json line = {{"index", i},
                 {"reference", score.reference},
                 {"prediction", score.prediction},
                 {"exact", score.exact},
                 {"bleu",
                  {{"matches", CountsToJson(score.bleu.matches)},
                   {"totals", CountsToJson(score.bleu.totals)},
                   {"hyp_len", score.bleu.hyp_len},
                   {"ref_len", score.bleu.ref_len}}}};
    if (!score.task_metric.empty()) {
      line["task_metric"] = score.task_metric;
      line[score.task_metric] = score.task_score;
    }
    // Model output may be any bytes; replace invalid UTF-8 rather than fail the whole report.
    absl::StrAppend(&text, line.dump(-1, ' ', false, json::error_handler_t::replace), "\n");
  }
  return text;
}

absl::StatusOr<std::vector<ExampleScore>> ExampleScoresFromJsonl(const std::string& text, const std::string& source) {
  std::vector<ExampleScore> scores;
  size_t begin = 0;
  int line_number = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.empty()) continue;
    const auto bad = [&](const std::string& what) {
      return absl::DataLossError(absl::StrCat(source, ": line ", line_number, ": ", what));
    };
    const json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded() || !object.is_object()) return bad("not a JSON object");
    int64_t index = 0;
    if (!ReadCount(object, "index", &index) || index != static_cast<int64_t>(scores.size())) {
      return bad(absl::StrCat("expected \"index\": ", scores.size()));
    }
    ExampleScore score;
    const auto reference = object.find("reference");
    const auto prediction = object.find("prediction");
    if (reference == object.end() || !reference->is_string() || prediction == object.end() ||
        !prediction->is_string()) {
      return bad("\"reference\" and \"prediction\" must be strings");
    }
    score.reference = reference->get<std::string>();
    score.prediction = prediction->get<std::string>();
    if (!ReadUnitScore(object, "exact", &score.exact)) return bad("\"exact\" must be a number in [0, 1]");
    if (const auto metric = object.find("task_metric"); metric != object.end()) {
      if (!metric->is_string() || metric->get<std::string>().empty()) return bad("\"task_metric\" must be a name");
      score.task_metric = metric->get<std::string>();
    } else if (object.contains(kLegacyTaskMetric)) {
      score.task_metric = kLegacyTaskMetric;
    }
    if (!score.task_metric.empty() && !ReadUnitScore(object, score.task_metric.c_str(), &score.task_score)) {
      return bad(absl::StrCat("\"", score.task_metric, "\" must be a number in [0, 1]"));
    }
    const auto bleu = object.find("bleu");
    if (bleu == object.end() || !bleu->is_object() || !ReadCounts(*bleu, "matches", &score.bleu.matches) ||
        !ReadCounts(*bleu, "totals", &score.bleu.totals) || !ReadCount(*bleu, "hyp_len", &score.bleu.hyp_len) ||
        !ReadCount(*bleu, "ref_len", &score.bleu.ref_len)) {
      return bad("\"bleu\" must hold matches and totals (4 non-negative integers each), hyp_len and ref_len");
    }
    for (size_t n = 0; n < kBleuMaxNgramOrder; ++n) {
      if (score.bleu.matches[n] > score.bleu.totals[n]) return bad("\"bleu\": more n-gram matches than n-grams");
    }
    scores.push_back(std::move(score));
  }
  if (scores.empty()) return absl::DataLossError(absl::StrCat(source, ": no examples"));
  return scores;
}

}  // namespace promptintern
