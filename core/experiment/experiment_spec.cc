#include "core/experiment/experiment_spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/util/file.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxExperimentFileBytes = size_t{1} << 20;
constexpr size_t kMaxNameLength = 64;
constexpr int64_t kMaxSeeds = 1000;
constexpr int kMaxResamples = 1000000;

const std::vector<std::string> kTopFields = {"name",      "description", "preamble", "seeds",  "budget", "overrides",
                                             "baseline",  "bootstrap",   "output",   "rows",   "tables"};
const std::vector<std::string> kRowFields = {"name", "label", "job", "mode", "budget", "overrides"};
const std::vector<std::string> kTableFields = {"title", "baseline", "rows"};
const std::vector<std::string> kBudgetFields = {"steps", "tokens"};
const std::vector<std::string> kBootstrapFields = {"resamples", "seed", "confidence"};

std::string Location(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return absl::StrFormat(" (line %d, column %d)", mark.line + 1, mark.column + 1);
}

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined()) return "nothing";
  if (node.IsScalar()) return absl::StrCat("'", node.Scalar().substr(0, 40), node.Scalar().size() > 40 ? "...'" : "'");
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

bool IsNameCharacter(char c, bool allow_upper_and_dot) {
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') return true;
  return allow_upper_and_dot && ((c >= 'A' && c <= 'Z') || c == '.');
}

// A field error in the experiment file.
absl::Status FieldError(const std::string& source, const std::string& path, const std::string& message,
                        const YAML::Mark& mark) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", path, ": ", message, Location(mark)));
}

// Where each override leaf sits in the experiment file, keyed by its job-file path ("eval.limit").
struct OverrideOrigin {
  std::string field;  // in the experiment file: "overrides.eval.limit" or "rows[2].overrides.eval.limit"
  YAML::Mark mark;
};
using OverrideOrigins = std::map<std::string, OverrideOrigin>;

// A patch that gives a mapping another `kind` (schedule: {kind: query_only}) replaces it: the old
// kind's options (keep_ratios, num_examples, ...) mean nothing to the new one.
bool ChangesKind(const YAML::Node& base, const YAML::Node& patch) {
  return patch["kind"] && base["kind"] && patch["kind"].IsScalar() && base["kind"].IsScalar() &&
         patch["kind"].Scalar() != base["kind"].Scalar();
}

// Merges `patch` into `base` (both mappings): mappings merge key by key (unless the patch changes
// their kind), anything else replaces. Records each replaced leaf's origin.
void MergeOverrides(YAML::Node base, const YAML::Node& patch, const std::string& job_path,
                    const std::string& field_path, OverrideOrigins& origins) {
  for (const auto& entry : patch) {
    const std::string key = entry.first.Scalar();
    const std::string job_key = job_path.empty() ? key : absl::StrCat(job_path, ".", key);
    const std::string field_key = absl::StrCat(field_path, ".", key);
    YAML::Node existing = base[key];
    if (entry.second.IsMap() && existing.IsMap() && !ChangesKind(existing, entry.second)) {
      MergeOverrides(existing, entry.second, job_key, field_key, origins);
      continue;
    }
    base[key] = YAML::Clone(entry.second);
    // A replaced subtree supersedes whatever was recorded under it.
    for (auto it = origins.lower_bound(job_key); it != origins.end() && absl::StartsWith(it->first, job_key);) {
      it = origins.erase(it);
    }
    origins[job_key] = {field_key, entry.first.Mark()};
  }
}

// The dotted field a job-spec error is about: "unknown field 'a.b'..." or "a.b: ...".
std::string JobErrorField(const std::string& message) {
  constexpr absl::string_view kUnknown = "unknown field '";
  if (absl::StartsWith(message, kUnknown)) {
    const size_t end = message.find('\'', kUnknown.size());
    return message.substr(kUnknown.size(), end == std::string::npos ? std::string::npos : end - kUnknown.size());
  }
  const size_t colon = message.find(": ");
  return colon == std::string::npos ? "" : message.substr(0, colon);
}

// The message without its trailing " (line L, column C)": those point into the merged job, which
// exists only in memory.
std::string WithoutLocation(std::string message) {
  const size_t open = message.rfind(" (line ");
  if (open != std::string::npos && message.back() == ')') message.resize(open);
  return message;
}

bool Covers(const std::string& outer, const std::string& inner) {
  return inner == outer || absl::StartsWith(inner, absl::StrCat(outer, ".")) ||
         absl::StartsWith(inner, absl::StrCat(outer, "["));
}

class ExperimentParser {
 public:
  ExperimentParser(std::string base_dir, std::string source) : base_dir_(std::move(base_dir)), source_(std::move(source)) {}

  absl::StatusOr<ExperimentSpec> Parse(const std::string& yaml_text);

 private:
  // Reads through a const node: yaml-cpp's non-const operator[] may add the keys it looks up.
  absl::StatusOr<ExperimentSpec> ParseRoot(const YAML::Node& root, ExperimentSpec& spec);
  absl::Status Error(const std::string& path, const std::string& message, const YAML::Node& node) const {
    // A missing node has no position (and yaml-cpp throws on asking an invalid one).
    return FieldError(source_, path, message, node.IsDefined() ? node.Mark() : YAML::Mark::null_mark());
  }
  absl::Status Expected(const std::string& path, const std::string& what, const YAML::Node& node) const {
    return Error(path, absl::StrCat("expected ", what, ", got ", Describe(node)), node);
  }
  // Checks that `node` is a mapping whose keys are all in `known`.
  absl::Status CheckMapping(const YAML::Node& node, const std::string& path, const std::vector<std::string>& known);
  absl::StatusOr<std::string> ReadString(const YAML::Node& node, const std::string& path);
  absl::StatusOr<int64_t> ReadPositive(const YAML::Node& node, const std::string& path, int64_t max);
  absl::StatusOr<std::string> ReadName(const YAML::Node& node, const std::string& path, bool allow_upper_and_dot);
  std::string Resolve(const std::string& path) const;
  absl::StatusOr<BudgetSpec> ReadBudget(const YAML::Node& node, const std::string& path);
  absl::Status ReadSeeds(const YAML::Node& node, ExperimentSpec& spec);
  absl::Status ReadBootstrap(const YAML::Node& node, BootstrapSpec& bootstrap);
  absl::StatusOr<ExperimentRow> ReadRow(const YAML::Node& node, const std::string& path, const YAML::Node& overrides,
                                        const BudgetSpec& default_budget);
  absl::StatusOr<JobSpec> ResolveJob(const std::string& job_path, const std::string& field, const YAML::Node& job_node,
                                     const YAML::Node& overrides, const YAML::Node& row_overrides,
                                     const std::string& row_path);
  absl::Status ReadTables(const YAML::Node& node, ExperimentSpec& spec, const std::string& baseline,
                          const YAML::Node& baseline_node);

  std::string base_dir_;
  std::string source_;
};

absl::Status ExperimentParser::CheckMapping(const YAML::Node& node, const std::string& path,
                                            const std::vector<std::string>& known) {
  if (!node.IsMap()) return Expected(path.empty() ? "experiment" : path, "a mapping of fields", node);
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const std::string field = path.empty() ? entry.first.Scalar() : absl::StrCat(path, ".", entry.first.Scalar());
    if (!entry.first.IsScalar()) return Expected(path.empty() ? "experiment" : path, "a field name", entry.first);
    if (std::find(known.begin(), known.end(), entry.first.Scalar()) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": unknown field '", field, "'; expected one of ",
                                                     absl::StrJoin(known, ", "), Location(entry.first.Mark())));
    }
    if (!seen.insert(entry.first.Scalar()).second) return Error(field, "given more than once", entry.first);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ExperimentParser::ReadString(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar() || node.Scalar().empty()) return Expected(path, "a non-empty string", node);
  return node.Scalar();
}

absl::StatusOr<int64_t> ExperimentParser::ReadPositive(const YAML::Node& node, const std::string& path, int64_t max) {
  int64_t value = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value) || value < 1 || value > max) {
    return Expected(path, absl::StrCat("an integer in [1, ", max, "]"), node);
  }
  return value;
}

absl::StatusOr<std::string> ExperimentParser::ReadName(const YAML::Node& node, const std::string& path,
                                                       bool allow_upper_and_dot) {
  ASSIGN_OR_RETURN(std::string name, ReadString(node, path));
  const bool valid = name.size() <= kMaxNameLength &&
                     std::all_of(name.begin(), name.end(), [&](char c) { return IsNameCharacter(c, allow_upper_and_dot); });
  if (!valid) {
    return Error(path,
                 absl::StrCat("'", name, "' must be at most ", kMaxNameLength, " characters of ",
                              allow_upper_and_dot ? "letters, digits, '.', '-' and '_'" : "a-z, 0-9, '-' and '_'"),
                 node);
  }
  return name;
}

std::string ExperimentParser::Resolve(const std::string& path) const {
  const fs::path value(path);
  return (value.is_absolute() ? value : fs::path(base_dir_) / value).lexically_normal().string();
}

absl::StatusOr<BudgetSpec> ExperimentParser::ReadBudget(const YAML::Node& node, const std::string& path) {
  RETURN_IF_ERROR(CheckMapping(node, path, kBudgetFields));
  if (node.size() != 1) return Error(path, "give exactly one of steps, tokens", node);
  BudgetSpec budget;
  if (node["steps"]) {
    budget.kind = BudgetSpec::Kind::kSteps;
    ASSIGN_OR_RETURN(budget.value, ReadPositive(node["steps"], absl::StrCat(path, ".steps"), int64_t{1} << 40));
  } else {
    budget.kind = BudgetSpec::Kind::kTokens;
    ASSIGN_OR_RETURN(budget.value, ReadPositive(node["tokens"], absl::StrCat(path, ".tokens"), int64_t{1} << 50));
  }
  return budget;
}

absl::Status ExperimentParser::ReadSeeds(const YAML::Node& node, ExperimentSpec& spec) {
  if (node.IsScalar()) {
    ASSIGN_OR_RETURN(const int64_t count, ReadPositive(node, "seeds", kMaxSeeds));
    for (int64_t seed = 1; seed <= count; ++seed) spec.seeds.push_back(static_cast<uint64_t>(seed));
    return absl::OkStatus();
  }
  if (!node.IsSequence() || node.size() == 0) return Expected("seeds", "a count or a non-empty list of seeds", node);
  if (node.size() > static_cast<size_t>(kMaxSeeds)) return Error("seeds", absl::StrCat("at most ", kMaxSeeds, " seeds"), node);
  std::set<uint64_t> seen;
  for (size_t i = 0; i < node.size(); ++i) {
    uint64_t seed = 0;
    const std::string path = absl::StrCat("seeds[", i, "]");
    if (!node[i].IsScalar() || !absl::SimpleAtoi(node[i].Scalar(), &seed)) {
      return Expected(path, "a non-negative integer", node[i]);
    }
    if (!seen.insert(seed).second) return Error(path, absl::StrCat("seed ", seed, " is listed twice"), node[i]);
    spec.seeds.push_back(seed);
  }
  return absl::OkStatus();
}

absl::Status ExperimentParser::ReadBootstrap(const YAML::Node& node, BootstrapSpec& bootstrap) {
  RETURN_IF_ERROR(CheckMapping(node, "bootstrap", kBootstrapFields));
  if (node["resamples"]) {
    ASSIGN_OR_RETURN(const int64_t resamples, ReadPositive(node["resamples"], "bootstrap.resamples", kMaxResamples));
    if (resamples < 100) return Error("bootstrap.resamples", "use at least 100 resamples", node["resamples"]);
    bootstrap.resamples = static_cast<int>(resamples);
  }
  if (node["seed"] && (!node["seed"].IsScalar() || !absl::SimpleAtoi(node["seed"].Scalar(), &bootstrap.seed))) {
    return Expected("bootstrap.seed", "a non-negative integer", node["seed"]);
  }
  if (node["confidence"]) {
    double confidence = 0.0;
    if (!node["confidence"].IsScalar() || !absl::SimpleAtod(node["confidence"].Scalar(), &confidence) ||
        !(confidence >= 0.5 && confidence < 1.0)) {
      return Expected("bootstrap.confidence", "a number in [0.5, 1)", node["confidence"]);
    }
    bootstrap.confidence = confidence;
  }
  return absl::OkStatus();
}

absl::StatusOr<JobSpec> ExperimentParser::ResolveJob(const std::string& job_path, const std::string& field,
                                                     const YAML::Node& job_node, const YAML::Node& overrides,
                                                     const YAML::Node& row_overrides, const std::string& row_path) {
  // The job as written first, so that its own mistakes point at its own lines.
  absl::StatusOr<JobSpec> plain = LoadJobSpec(job_path);
  if (!plain.ok()) {
    return absl::Status(plain.status().code(),
                        absl::StrCat(source_, ": ", field, Location(job_node.Mark()), ": ", plain.status().message()));
  }
  if (!overrides && !row_overrides) return plain;
  ASSIGN_OR_RETURN(std::string text, ReadFile(job_path));
  YAML::Node merged;
  try {
    merged = YAML::Load(text);
  } catch (const YAML::Exception& error) {  // LoadJobSpec accepted it, so this cannot happen
    return absl::InvalidArgumentError(absl::StrCat(job_path, ": ", error.what()));
  }
  if (merged.IsNull()) merged = YAML::Node(YAML::NodeType::Map);
  OverrideOrigins origins;
  if (overrides) MergeOverrides(merged, overrides, "", "overrides", origins);
  if (row_overrides) MergeOverrides(merged, row_overrides, "", absl::StrCat(row_path, ".overrides"), origins);
  YAML::Emitter emitter;
  emitter << merged;
  const std::string base_dir = fs::path(job_path).parent_path().string();
  absl::StatusOr<JobSpec> job = ParseJobSpec(emitter.c_str(), base_dir);
  if (job.ok()) return job;
  // The merged job is invalid while the job file alone is not: an override is to blame. Point at
  // the override that covers the failing field, or at the overrides as a whole.
  const std::string message = WithoutLocation(std::string(job.status().message()));
  const std::string job_field = JobErrorField(message);
  const OverrideOrigin* blamed = nullptr;
  size_t blamed_length = 0;
  for (const auto& [path, origin] : origins) {
    if ((Covers(path, job_field) || Covers(job_field, path)) && path.size() >= blamed_length) {
      blamed = &origin;
      blamed_length = path.size();
    }
  }
  if (blamed != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": ", blamed->field, ": in ", job_path, ": ", message, Location(blamed->mark)));
  }
  const bool row_level = static_cast<bool>(row_overrides);
  return absl::InvalidArgumentError(absl::StrCat(
      source_, ": ", row_level ? absl::StrCat(row_path, ".overrides") : std::string("overrides"), ": in ", job_path,
      ": ", message, Location(row_level ? row_overrides.Mark() : overrides.Mark())));
}

absl::StatusOr<ExperimentRow> ExperimentParser::ReadRow(const YAML::Node& node, const std::string& path,
                                                        const YAML::Node& overrides, const BudgetSpec& default_budget) {
  RETURN_IF_ERROR(CheckMapping(node, path, kRowFields));
  ExperimentRow row;
  if (!node["name"]) return Error(path, "a row needs a name", node);
  ASSIGN_OR_RETURN(row.name, ReadName(node["name"], absl::StrCat(path, ".name"), /*allow_upper_and_dot=*/false));
  row.label = row.name;
  if (node["label"]) {
    ASSIGN_OR_RETURN(row.label, ReadString(node["label"], absl::StrCat(path, ".label")));
    if (row.label.find_first_of("|\n") != std::string::npos) {
      return Error(absl::StrCat(path, ".label"), "must not contain '|' or a line break (it is a table cell)",
                   node["label"]);
    }
  }
  if (!node["job"]) return Error(path, "a row needs a job file", node);
  const std::string job_field = absl::StrCat(path, ".job");
  ASSIGN_OR_RETURN(const std::string job, ReadString(node["job"], job_field));
  row.job_path = Resolve(job);
  if (!PathExists(row.job_path)) return Error(job_field, absl::StrCat("no such job file: ", row.job_path), node["job"]);
  const YAML::Node row_overrides = node["overrides"];
  if (row_overrides && !row_overrides.IsMap()) {
    return Expected(absl::StrCat(path, ".overrides"), "a mapping of job fields", row_overrides);
  }
  ASSIGN_OR_RETURN(row.job, ResolveJob(row.job_path, job_field, node["job"], overrides, row_overrides, path));
  row.budget = default_budget;
  if (node["budget"]) {
    ASSIGN_OR_RETURN(row.budget, ReadBudget(node["budget"], absl::StrCat(path, ".budget")));
  }
  const std::vector<std::string>& modes = row.job.eval.modes;
  if (node["mode"]) {
    const std::string mode_field = absl::StrCat(path, ".mode");
    ASSIGN_OR_RETURN(row.mode, ReadString(node["mode"], mode_field));
    if (std::find(modes.begin(), modes.end(), row.mode) == modes.end()) {
      return Error(mode_field,
                   absl::StrCat("the job evaluates ", absl::StrJoin(modes, ", "), " (eval.modes), not '", row.mode, "'"),
                   node["mode"]);
    }
  } else {
    row.mode = std::find(modes.begin(), modes.end(), "query_only") != modes.end() ? "query_only" : modes.front();
  }
  return row;
}

absl::Status ExperimentParser::ReadTables(const YAML::Node& node, ExperimentSpec& spec, const std::string& baseline,
                                          const YAML::Node& baseline_node) {
  if (!node) {
    ExperimentTable table;
    table.title = "Results";
    for (const ExperimentRow& row : spec.rows) table.rows.push_back(row.name);
    table.baseline = baseline;
    spec.tables.push_back(std::move(table));
    return absl::OkStatus();
  }
  if (!node.IsSequence() || node.size() == 0) return Expected("tables", "a non-empty list of tables", node);
  for (size_t t = 0; t < node.size(); ++t) {
    const std::string path = absl::StrCat("tables[", t, "]");
    const YAML::Node& entry = node[t];
    RETURN_IF_ERROR(CheckMapping(entry, path, kTableFields));
    ExperimentTable table;
    if (!entry["title"]) return Error(path, "a table needs a title", entry);
    ASSIGN_OR_RETURN(table.title, ReadString(entry["title"], absl::StrCat(path, ".title")));
    const YAML::Node& rows = entry["rows"];
    if (!rows || !rows.IsSequence() || rows.size() == 0) {
      return Expected(absl::StrCat(path, ".rows"), "a non-empty list of row names", rows ? rows : entry);
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::string row_path = absl::StrCat(path, ".rows[", r, "]");
      ASSIGN_OR_RETURN(std::string name, ReadString(rows[r], row_path));
      if (spec.RowIndex(name) < 0) return Error(row_path, absl::StrCat("no row is called '", name, "'"), rows[r]);
      if (std::find(table.rows.begin(), table.rows.end(), name) != table.rows.end()) {
        return Error(row_path, absl::StrCat("'", name, "' is listed twice"), rows[r]);
      }
      table.rows.push_back(std::move(name));
    }
    table.baseline = baseline;
    // The table's own baseline, else the experiment's. (No YAML::Node assignment here: it would
    // write through to the node, not rebind the variable.)
    const bool own_baseline = static_cast<bool>(entry["baseline"]);
    const std::string field = own_baseline ? absl::StrCat(path, ".baseline") : std::string("baseline");
    if (own_baseline) {
      ASSIGN_OR_RETURN(table.baseline, ReadString(entry["baseline"], field));
    }
    if (!table.baseline.empty() &&
        std::find(table.rows.begin(), table.rows.end(), table.baseline) == table.rows.end()) {
      return Error(field, absl::StrCat("the baseline '", table.baseline, "' is not one of the rows of '", table.title, "'"),
                   own_baseline ? entry["baseline"] : baseline_node);
    }
    spec.tables.push_back(std::move(table));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExperimentSpec> ExperimentParser::Parse(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": not valid YAML: ", error.msg, Location(error.mark)));
  }
  ExperimentSpec spec;
  spec.source = source_;
  // Every access above is checked; this is the net under a yaml-cpp call that throws anyway.
  try {
    return ParseRoot(root, spec);
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", error.msg, Location(error.mark)));
  }
}

absl::StatusOr<ExperimentSpec> ExperimentParser::ParseRoot(const YAML::Node& root, ExperimentSpec& spec) {
  RETURN_IF_ERROR(CheckMapping(root, "", kTopFields));
  if (!root["name"]) return Error("name", "an experiment needs a name", root);
  ASSIGN_OR_RETURN(spec.name, ReadName(root["name"], "name", /*allow_upper_and_dot=*/true));
  if (root["description"]) {
    ASSIGN_OR_RETURN(spec.description, ReadString(root["description"], "description"));
  }
  if (root["preamble"]) {
    ASSIGN_OR_RETURN(const std::string preamble, ReadString(root["preamble"], "preamble"));
    absl::StatusOr<std::string> text = ReadFile(Resolve(preamble));
    if (!text.ok()) return Error("preamble", std::string(text.status().message()), root["preamble"]);
    spec.preamble = *std::move(text);
  }
  if (root["seeds"]) {
    RETURN_IF_ERROR(ReadSeeds(root["seeds"], spec));
  } else {
    spec.seeds = {1};
  }
  BudgetSpec budget;
  if (root["budget"]) {
    ASSIGN_OR_RETURN(budget, ReadBudget(root["budget"], "budget"));
  }
  const YAML::Node overrides = root["overrides"];
  if (overrides && !overrides.IsMap()) return Expected("overrides", "a mapping of job fields", overrides);
  if (root["bootstrap"]) RETURN_IF_ERROR(ReadBootstrap(root["bootstrap"], spec.bootstrap));
  spec.output_dir = Resolve(absl::StrCat("runs/experiments/", spec.name));
  if (root["output"]) {
    ASSIGN_OR_RETURN(const std::string output, ReadString(root["output"], "output"));
    spec.output_dir = Resolve(output);
  }
  const YAML::Node& rows = root["rows"];
  if (!rows) return Error("rows", "an experiment needs rows", root);
  if (!rows.IsSequence() || rows.size() == 0) return Expected("rows", "a non-empty list of rows", rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string path = absl::StrCat("rows[", i, "]");
    ASSIGN_OR_RETURN(ExperimentRow row, ReadRow(rows[i], path, overrides, budget));
    if (spec.RowIndex(row.name) >= 0) {
      return Error(absl::StrCat(path, ".name"), absl::StrCat("another row is already called '", row.name, "'"),
                   rows[i]["name"]);
    }
    spec.rows.push_back(std::move(row));
  }
  std::string baseline;
  if (root["baseline"]) {
    ASSIGN_OR_RETURN(baseline, ReadString(root["baseline"], "baseline"));
    if (spec.RowIndex(baseline) < 0) {
      return Error("baseline", absl::StrCat("no row is called '", baseline, "'"), root["baseline"]);
    }
  }
  RETURN_IF_ERROR(ReadTables(root["tables"], spec, baseline, root["baseline"]));
  return spec;
}

}  // namespace

int ExperimentSpec::RowIndex(const std::string& row_name) const {
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].name == row_name) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<ExperimentSpec> ParseExperimentSpec(const std::string& yaml_text, const std::string& base_dir,
                                                   const std::string& source) {
  std::error_code error;
  const fs::path base = base_dir.empty() ? fs::current_path(error) : fs::absolute(base_dir, error);
  if (error) return absl::InvalidArgumentError(absl::StrCat(source, ": cannot resolve ", base_dir, ": ", error.message()));
  return ExperimentParser(base.string(), source).Parse(yaml_text);
}

absl::StatusOr<ExperimentSpec> LoadExperimentSpec(const std::string& path) {
  std::error_code error;
  const uintmax_t size = fs::file_size(path, error);
  if (error) return absl::NotFoundError(absl::StrCat(path, ": ", error.message()));
  if (size > kMaxExperimentFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", size, " bytes is too large for an experiment file"));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseExperimentSpec(text, fs::path(path).parent_path().string(), path);
}

}  // namespace promptintern
