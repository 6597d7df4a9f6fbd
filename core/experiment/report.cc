#include "core/experiment/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/experiment/results.h"
#include "core/util/filenames.h"
#include "core/experiment/statistics.h"
#include "core/experiment/svg_plot.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

namespace fs = std::filesystem;

// A metric as the report shows it: which per-example score, and the factor to its display unit.
struct Metric {
  std::string name;
  const char* unit;  // for the header
  double scale;
  std::function<ScoreColumn(const std::vector<ExampleScore>&)> column;
};

// BLEU, exact match and the task's own metric when its examples carry one.
std::vector<Metric> MetricsOf(const std::vector<RowResult>& results) {
  std::vector<Metric> metrics = {
      {"BLEU", "", 1.0,
       [](const std::vector<ExampleScore>& examples) {
         std::vector<BleuStatistics> statistics;
         for (const ExampleScore& example : examples) statistics.push_back(example.bleu);
         return ScoreColumn::Bleu(std::move(statistics));
       }},
      {"exact match", " %", 100.0,
       [](const std::vector<ExampleScore>& examples) {
         std::vector<double> values;
         for (const ExampleScore& example : examples) values.push_back(example.exact);
         return ScoreColumn::Mean(std::move(values));
       }},
  };
  for (const RowResult& row : results) {
    for (const SeedResult& seed : row.seeds) {
      if (seed.examples.empty() || seed.examples.front().task_metric.empty()) continue;
      metrics.push_back({seed.examples.front().task_metric, " %", 100.0, [](const std::vector<ExampleScore>& examples) {
                           std::vector<double> values;
                           for (const ExampleScore& example : examples) values.push_back(example.task_score);
                           return ScoreColumn::Mean(std::move(values));
                         }});
      return metrics;
    }
  }
  return metrics;
}

SeedColumns Columns(const RowResult& row, const Metric& metric) {
  SeedColumns columns;
  for (const SeedResult& seed : row.seeds) columns.push_back(metric.column(seed.examples));
  return columns;
}

double MeanOver(const RowResult& row, const std::function<double(const SeedResult&)>& value) {
  if (row.seeds.empty()) return NAN;
  double sum = 0.0;
  for (const SeedResult& seed : row.seeds) sum += value(seed);
  return sum / static_cast<double>(row.seeds.size());
}

std::string FormatEstimate(const Estimate& estimate, double scale, int decimals) {
  return absl::StrFormat("%.*f ± %.*f [%.*f, %.*f]", decimals, estimate.mean * scale, decimals, estimate.sd * scale,
                         decimals, estimate.low * scale, decimals, estimate.high * scale);
}

std::string FormatSigned(double value, int decimals) {
  return absl::StrFormat("%s%.*f", value >= 0 ? "+" : "−", decimals, std::fabs(value));
}

std::string FormatP(double p, int resamples) {
  const double floor = 2.0 / (resamples + 1);
  if (p <= floor * 1.0000001) return absl::StrFormat("< %.4f", floor * 1.0000001);
  return absl::StrFormat("%.3f", p);
}

std::string FormatCount(double value) {
  if (!std::isfinite(value)) return "–";
  if (value >= 1e6) return absl::StrFormat("%.2fM", value / 1e6);
  if (value >= 1e4) return absl::StrFormat("%.0fk", value / 1e3);
  return absl::StrFormat("%.0f", value);
}

std::string BudgetText(const BudgetSpec& budget) {
  switch (budget.kind) {
    case BudgetSpec::Kind::kJob: return "job's steps";
    case BudgetSpec::Kind::kSteps: return absl::StrCat(budget.value, " steps");
    case BudgetSpec::Kind::kTokens: return absl::StrCat(FormatCount(static_cast<double>(budget.value)), " tokens");
  }
  return "";
}

bool SameExamples(const RowResult& a, const RowResult& b) {
  if (a.seeds.empty() || b.seeds.empty()) return false;
  const auto& x = a.seeds.front().examples;
  const auto& y = b.seeds.front().examples;
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].reference != y[i].reference) return false;
  }
  return true;
}

std::string RelativeLink(const std::string& from_dir, const std::string& to_file) {
  std::string link = fs::relative(to_file, from_dir).generic_string();
  return link.empty() ? to_file : link;
}

class ReportWriter {
 public:
  ReportWriter(const ExperimentSpec& spec, const std::vector<ExperimentCell>& cells, const ReportOptions& options)
      : spec_(spec), cells_(cells), options_(options), results_(LoadResults(spec, cells)), metrics_(MetricsOf(results_)) {
    bootstrap_.resamples = spec.bootstrap.resamples;
    bootstrap_.seed = spec.bootstrap.seed;
    bootstrap_.confidence = spec.bootstrap.confidence;
  }

  absl::Status Write();

 private:
  const RowResult& Row(const std::string& name) const { return results_[spec_.RowIndex(name)]; }
  const ExperimentRow& Spec(const RowResult& row) const { return spec_.rows[row.row]; }
  // Estimates are computed once per row and metric.
  const absl::StatusOr<Estimate>& EstimateOf(const RowResult& row, size_t metric);
  std::string Header();
  std::string Table(const ExperimentTable& table);
  std::string Conclusions();
  std::string Plots(std::map<std::string, std::string>& files);
  int ConfidencePercent() const { return static_cast<int>(std::lround(spec_.bootstrap.confidence * 100)); }

  const ExperimentSpec& spec_;
  const std::vector<ExperimentCell>& cells_;
  const ReportOptions& options_;
  std::vector<RowResult> results_;
  std::vector<Metric> metrics_;
  BootstrapOptions bootstrap_;
  std::map<std::pair<int, size_t>, absl::StatusOr<Estimate>> estimates_;
  // Distinguishable and indistinguishable comparisons, for the conclusions.
  std::vector<std::string> distinguishable_;
  std::vector<std::string> indistinguishable_;
};

const absl::StatusOr<Estimate>& ReportWriter::EstimateOf(const RowResult& row, size_t metric) {
  const auto key = std::make_pair(row.row, metric);
  auto found = estimates_.find(key);
  if (found == estimates_.end()) {
    found = estimates_.emplace(key, EstimateMetric(Columns(row, metrics_[metric]), bootstrap_)).first;
  }
  return found->second;
}

std::string ReportWriter::Header() {
  std::string text = absl::StrCat("# ", spec_.name, "\n\n");
  if (!spec_.description.empty()) absl::StrAppend(&text, spec_.description, "\n\n");
  if (!spec_.preamble.empty()) absl::StrAppend(&text, spec_.preamble, spec_.preamble.back() == '\n' ? "\n" : "\n\n");
  int finished = 0;
  for (const ExperimentCell& cell : cells_) finished += CellFinished(cell) ? 1 : 0;
  absl::StrAppend(&text, "## How this was produced\n\n");
  absl::StrAppendFormat(&text, "- Matrix: %d rows x %d seeds (%s) = %d distinct training runs; **%d of %d finished**.\n",
                        spec_.rows.size(), spec_.seeds.size(),
                        absl::StrJoin(spec_.seeds, ", "), cells_.size(), finished, cells_.size());
  const nlohmann::json invocations = nlohmann::json::parse(options_.invocations_json, nullptr, false);
  if (invocations.is_array() && !invocations.empty()) {
    absl::StrAppend(&text, "- Invocations (the experiment is resumable; each one ran the cells still missing):\n");
    for (const auto& invocation : invocations) {
      if (!invocation.is_object()) continue;
      absl::StrAppendFormat(&text, "  - %s, on %s (%d cores): `%s`\n", invocation.value("started", "?"),
                            invocation.value("cpu", "?"), invocation.value("cores", 0),
                            invocation.value("command", "?"));
    }
  } else if (!options_.command.empty()) {
    absl::StrAppendFormat(&text, "- Command: `%s`\n", options_.command);
  }
  absl::StrAppendFormat(
      &text,
      "- Statistics: every figure is the mean over the finished seeds ± the standard deviation over seeds, then the "
      "%d%% bootstrap interval over evaluation examples and seeds (%d resamples, seed %d: each resample draws the "
      "examples and then the seeds with replacement; corpus BLEU is recomputed on each resample from per-example "
      "n-gram statistics). Comparisons with a table's baseline are paired on the same examples (one example "
      "resample for both, seeds drawn separately); **not distinguishable** means the %d%% interval of the difference "
      "includes 0 or p >= %.2f. See core/experiment/statistics.h.\n",
      ConfidencePercent(), spec_.bootstrap.resamples, spec_.bootstrap.seed, ConfidencePercent(),
      1.0 - spec_.bootstrap.confidence);
  absl::StrAppend(&text, "\n");
  return text;
}

std::string ReportWriter::Table(const ExperimentTable& table) {
  std::string text = absl::StrCat("## ", table.title, "\n\n");
  absl::StrAppend(&text, "| row | seeds |");
  for (const Metric& metric : metrics_) absl::StrAppend(&text, " ", metric.name, metric.unit, " |");
  absl::StrAppend(&text, "\n| --- | --- |");
  for (size_t m = 0; m < metrics_.size(); ++m) absl::StrAppend(&text, " --- |");
  absl::StrAppend(&text, "\n");
  for (const std::string& name : table.rows) {
    const RowResult& row = Row(name);
    absl::StrAppendFormat(&text, "| %s | %d of %d |", Spec(row).label, row.seeds.size(), spec_.seeds.size());
    for (size_t m = 0; m < metrics_.size(); ++m) {
      const absl::StatusOr<Estimate>& estimate = EstimateOf(row, m);
      absl::StrAppend(&text, " ", estimate.ok() ? FormatEstimate(*estimate, metrics_[m].scale, m == 0 ? 2 : 1) : "–",
                      " |");
    }
    absl::StrAppend(&text, "\n");
  }
  absl::StrAppend(&text, "\n");

  absl::StrAppend(&text,
                  "| row | budget | steps | training tokens | input tokens/request | $ per 1k requests | p50 ms | "
                  "training s |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const std::string& name : table.rows) {
    const RowResult& row = Row(name);
    absl::StrAppendFormat(
        &text, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", Spec(row).label, BudgetText(Spec(row).budget),
        FormatCount(MeanOver(row, [](const SeedResult& s) { return static_cast<double>(s.run.train_steps); })),
        FormatCount(MeanOver(row, [](const SeedResult& s) { return static_cast<double>(s.run.train_tokens); })),
        row.seeds.empty() ? "–" : absl::StrFormat("%.1f", MeanOver(row, [](const SeedResult& s) { return s.mode.mean_input_tokens; })),
        row.seeds.empty() ? "–"
                          : absl::StrFormat("%.4f", MeanOver(row, [](const SeedResult& s) { return s.mode.cost_per_1k_requests_usd; })),
        row.seeds.empty() ? "–" : absl::StrFormat("%.1f", 1000 * MeanOver(row, [](const SeedResult& s) { return s.mode.latency.p50; })),
        row.seeds.empty() ? "–" : absl::StrFormat("%.0f", MeanOver(row, [](const SeedResult& s) { return s.run.train_seconds; })));
  }
  absl::StrAppend(&text, "\n");

  if (table.baseline.empty()) return text;
  const RowResult& baseline = Row(table.baseline);
  absl::StrAppendFormat(&text, "Paired with **%s** on the same examples (difference, %d%% interval, p):\n\n",
                        Spec(baseline).label, ConfidencePercent());
  absl::StrAppend(&text, "| row |");
  for (const Metric& metric : metrics_) absl::StrAppend(&text, " Δ ", metric.name, metric.unit, " |");
  absl::StrAppend(&text, "\n| --- |");
  for (size_t m = 0; m < metrics_.size(); ++m) absl::StrAppend(&text, " --- |");
  absl::StrAppend(&text, "\n");
  for (const std::string& name : table.rows) {
    if (name == table.baseline) continue;
    const RowResult& row = Row(name);
    absl::StrAppendFormat(&text, "| %s |", Spec(row).label);
    for (size_t m = 0; m < metrics_.size(); ++m) {
      const Metric& metric = metrics_[m];
      if (row.seeds.empty() || baseline.seeds.empty()) {
        absl::StrAppend(&text, " no finished seeds yet |");
        continue;
      }
      if (!SameExamples(row, baseline)) {
        absl::StrAppend(&text, " not comparable: evaluated on different examples |");
        continue;
      }
      absl::StatusOr<Comparison> comparison = CompareMethods(Columns(row, metric), Columns(baseline, metric), bootstrap_);
      if (!comparison.ok()) {
        absl::StrAppend(&text, " ", comparison.status().message(), " |");
        continue;
      }
      const int decimals = m == 0 ? 2 : 1;
      const std::string verdict = comparison->distinguishable
                                      ? (comparison->difference > 0 ? "**higher**" : "**lower**")
                                      : "not distinguishable";
      absl::StrAppendFormat(&text, " %s [%s, %s], p %s: %s |", FormatSigned(comparison->difference * metric.scale, decimals),
                            FormatSigned(comparison->low * metric.scale, decimals),
                            FormatSigned(comparison->high * metric.scale, decimals),
                            FormatP(comparison->p_value, bootstrap_.resamples), verdict);
      const std::string sentence = absl::StrFormat(
          "%s vs %s, %s: %s [%s, %s] (%d vs %d seeds)", Spec(row).label, Spec(baseline).label, metric.name,
          FormatSigned(comparison->difference * metric.scale, decimals), FormatSigned(comparison->low * metric.scale, decimals),
          FormatSigned(comparison->high * metric.scale, decimals), row.seeds.size(), baseline.seeds.size());
      (comparison->distinguishable ? distinguishable_ : indistinguishable_).push_back(sentence);
    }
    absl::StrAppend(&text, "\n");
  }
  absl::StrAppend(&text, "\n");
  return text;
}

std::string ReportWriter::Conclusions() {
  std::string text = "## What the intervals support\n\n";
  if (distinguishable_.empty()) {
    absl::StrAppend(&text, "No row differs from its table's baseline beyond the intervals on any metric.\n\n");
  } else {
    absl::StrAppend(&text, "Differences from the baseline that the intervals support:\n\n");
    for (const std::string& line : distinguishable_) absl::StrAppend(&text, "- ", line, "\n");
    absl::StrAppend(&text, "\n");
  }
  if (!indistinguishable_.empty()) {
    absl::StrAppend(&text, "Not distinguishable from the baseline (no conclusion either way):\n\n");
    for (const std::string& line : indistinguishable_) absl::StrAppend(&text, "- ", line, "\n");
    absl::StrAppend(&text, "\n");
  }
  bool any_problem = false;
  for (const RowResult& row : results_) {
    for (const std::string& problem : row.problems) {
      if (!any_problem) absl::StrAppend(&text, "Cells that finished but could not be read:\n\n");
      any_problem = true;
      absl::StrAppend(&text, "- ", Spec(row).name, ": ", problem, "\n");
    }
  }
  if (any_problem) absl::StrAppend(&text, "\n");
  return text;
}

std::string ReportWriter::Plots(std::map<std::string, std::string>& files) {
  // Rows in the order they first appear in a table, each once.
  std::vector<const RowResult*> rows;
  std::set<std::string> seen;
  for (const ExperimentTable& table : spec_.tables) {
    for (const std::string& name : table.rows) {
      if (seen.insert(name).second && !Row(name).seeds.empty()) rows.push_back(&Row(name));
    }
  }
  const std::string cl = absl::StrCat(ConfidencePercent(), "%");

  std::vector<PlotSeries> accuracy;
  for (const RowResult* row : rows) {
    const absl::StatusOr<Estimate>& bleu = EstimateOf(*row, 0);
    if (!bleu.ok()) continue;
    PlotPoint point;
    point.x = MeanOver(*row, [](const SeedResult& s) { return s.mode.mean_input_tokens; });
    point.y = bleu->mean;
    point.has_interval = true;
    point.low = bleu->low;
    point.high = bleu->high;
    point.label = absl::StrFormat("%s: BLEU %.2f [%.2f, %.2f] at %.1f input tokens, %d seeds", Spec(*row).label, bleu->mean,
                                  bleu->low, bleu->high, point.x, bleu->seeds);
    accuracy.push_back({Spec(*row).label, {point}});
  }
  PlotSpec accuracy_spec;
  accuracy_spec.kind = PlotSpec::Kind::kScatter;
  accuracy_spec.title = "Accuracy against input tokens per request";
  accuracy_spec.x_label = "input tokens per request (log scale)";
  accuracy_spec.y_label = absl::StrCat("BLEU (", cl, " interval)");
  accuracy_spec.log_x = true;
  files[kAccuracyPlot] = RenderSvgPlot(accuracy_spec, accuracy);

  // Stage curves: one series per distinct job (rows that share their cells share a curve).
  std::vector<PlotSeries> stages;
  std::vector<PlotSeries> losses;
  std::set<std::string> jobs;
  for (const RowResult* row : rows) {
    if (!jobs.insert(row->seeds.front().cell_id).second) continue;
    const size_t count = row->seeds.front().run.stages.size();
    PlotSeries stage_series{Spec(*row).label, {}};
    PlotSeries loss_series{Spec(*row).label, {}};
    for (size_t s = 0; s < count; ++s) {
      std::vector<double> bleu;
      std::vector<double> loss;
      for (const SeedResult& seed : row->seeds) {
        if (seed.run.stages.size() != count) continue;
        if (seed.run.stages[s].validation.requests > 0) bleu.push_back(seed.run.stages[s].validation.bleu);
        loss.push_back(seed.run.stages[s].train_loss);
      }
      const auto point = [&](const std::vector<double>& values, const char* what) {
        PlotPoint p;
        p.x = static_cast<double>(s + 1);
        double sum = 0.0;
        for (double v : values) sum += v;
        p.y = sum / static_cast<double>(values.size());
        const double sd = SampleStandardDeviation(values);
        p.has_interval = values.size() > 1;
        p.low = p.y - sd;
        p.high = p.y + sd;
        p.label = absl::StrFormat("%s, stage %d: %s %.3f ± %.3f (%d seeds)", Spec(*row).label, s + 1, what, p.y, sd,
                                  values.size());
        return p;
      };
      if (!bleu.empty()) stage_series.points.push_back(point(bleu, "validation BLEU"));
      if (!loss.empty()) loss_series.points.push_back(point(loss, "training loss"));
    }
    if (!stage_series.points.empty()) stages.push_back(std::move(stage_series));
    if (!loss_series.points.empty()) losses.push_back(std::move(loss_series));
  }
  PlotSpec stage_spec;
  stage_spec.kind = PlotSpec::Kind::kLines;
  stage_spec.title = "Validation score after each stage";
  stage_spec.x_label = "stage";
  stage_spec.y_label = "validation BLEU (± 1 SD over seeds)";
  files[kStagesPlot] = RenderSvgPlot(stage_spec, stages);
  PlotSpec loss_spec = stage_spec;
  loss_spec.title = "Training loss at the end of each stage";
  loss_spec.y_label = "training loss per token (± 1 SD over seeds)";
  files[kLossPlot] = RenderSvgPlot(loss_spec, losses);

  PlotSpec cost_spec;
  cost_spec.kind = PlotSpec::Kind::kBars;
  cost_spec.title = "Cost per 1,000 requests";
  cost_spec.x_label = "US$ per 1k requests (input and output tokens at the jobs' prices)";
  PlotSeries cost{"$ per 1k requests", {}};
  for (const RowResult* row : rows) {
    PlotPoint point;
    point.y = MeanOver(*row, [](const SeedResult& s) { return s.mode.cost_per_1k_requests_usd; });
    point.label = absl::StrFormat("%s: $%.4f per 1k requests", Spec(*row).label, point.y);
    cost.points.push_back(point);
    cost_spec.categories.push_back(Spec(*row).label);
  }
  files[kCostPlot] = RenderSvgPlot(cost_spec, {cost});

  const std::string markdown_dir = fs::path(options_.markdown_path).parent_path().string();
  const auto link = [&](const char* file) { return RelativeLink(markdown_dir, JoinPath(options_.plots_dir, file)); };
  std::string text = "## Plots\n\n";
  absl::StrAppendFormat(&text,
                        "Accuracy against input tokens per request (the savings/quality trade-off; bars: the %s "
                        "interval):\n\n![BLEU against input tokens per request](%s)\n\n",
                        cl, link(kAccuracyPlot));
  absl::StrAppendFormat(&text,
                        "Validation BLEU after each stage (a small validation sample, eval.stage_limit) and training loss "
                        "at the end of each stage:\n\n![Validation BLEU per stage](%s)\n\n![Training loss per stage](%s)\n\n",
                        link(kStagesPlot), link(kLossPlot));
  absl::StrAppendFormat(&text, "Cost per 1,000 requests at the jobs' token prices:\n\n![Cost per 1k requests](%s)\n\n",
                        link(kCostPlot));
  return text;
}

absl::Status ReportWriter::Write() {
  std::string markdown = Header();
  for (const ExperimentTable& table : spec_.tables) absl::StrAppend(&markdown, Table(table));
  std::map<std::string, std::string> files;
  absl::StrAppend(&markdown, Plots(files));
  absl::StrAppend(&markdown, Conclusions());
  RETURN_IF_ERROR(MakeDirectories(options_.plots_dir));
  for (const auto& [name, svg] : files) RETURN_IF_ERROR(WriteFileAtomic(JoinPath(options_.plots_dir, name), svg));
  RETURN_IF_ERROR(MakeDirectories(fs::path(options_.markdown_path).parent_path().string()));
  return WriteFileAtomic(options_.markdown_path, markdown);
}

}  // namespace

ReportOptions DefaultReportOptions(const std::string& output_dir) {
  ReportOptions options;
  options.markdown_path = JoinPath(output_dir, kExperimentReportFile);
  options.plots_dir = JoinPath(output_dir, kExperimentPlotsDir);
  return options;
}

ReportOptions ReportOptionsFor(const std::string& markdown_path) {
  ReportOptions options;
  options.markdown_path = markdown_path;
  std::string stem = fs::path(markdown_path).stem().string();
  std::transform(stem.begin(), stem.end(), stem.begin(), [](unsigned char c) { return std::tolower(c); });
  options.plots_dir = (fs::path(markdown_path).parent_path() / stem).string();
  return options;
}

absl::Status WriteExperimentReport(const ExperimentSpec& spec, const std::vector<ExperimentCell>& cells,
                                   const ReportOptions& options) {
  return ReportWriter(spec, cells, options).Write();
}

}  // namespace promptintern
