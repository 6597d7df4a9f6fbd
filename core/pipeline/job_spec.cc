#include "core/pipeline/job_spec.h"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/pipeline/job_schema.h"
#include "core/registry/manifest.h"
#include "core/task/task_kind.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"
#include "core/util/utf8.h"
#include "core/util/yaml_stream.h"

namespace promptintern {
namespace {

namespace fs = std::filesystem;

// Job files are a few kilobytes; anything this large is a wrong path, not a job.
constexpr size_t kMaxJobFileBytes = size_t{1} << 20;
constexpr size_t kMaxNameLength = 64;
constexpr int kMaxSuggestionDistance = 2;
// A template is part of every training prompt; a megabyte of it is already far past any context.
constexpr size_t kMaxTemplateFileBytes = size_t{1} << 20;
// What one in-memory example costs at least: its query and answer, the copy the deduplication
// keeps, and its rendering in the tokenizer's training corpus.
constexpr uint64_t kBytesPerExample = 512;

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, because a
// swapped pair of letters ("stpes") is the most common typo in a hand-written key.
int EditDistance(absl::string_view a, absl::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// The candidate closest to `name`, or "" when none is close enough to be a likely typo.
std::string ClosestName(absl::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  int best_distance = kMaxSuggestionDistance + 1;
  for (const std::string& candidate : candidates) {
    const int distance = EditDistance(name, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::string DidYouMean(absl::string_view name, const std::vector<std::string>& candidates) {
  const std::string closest = ClosestName(name, candidates);
  return closest.empty() ? "" : absl::StrCat("; did you mean '", closest, "'?");
}

// How a value appears in "expected X, got Y" messages.
std::string DescribeNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      constexpr size_t kMaxShown = 40;
      const std::string& text = node.Scalar();
      if (text.size() <= kMaxShown) return absl::StrCat("'", text, "'");
      return absl::StrCat("'", text.substr(0, kMaxShown), "...'");
    }
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// What the schema accepts at `path` (a kWord field), given the fields read so far.
std::vector<std::string> ChoicesOf(absl::string_view path, const JobSpec& spec) {
  return JobFieldAt(path).choices(spec);
}

bool Satisfies(double value, const DoubleRule& rule) {
  if (!std::isfinite(value)) return false;
  if (rule.min_inclusive ? value < rule.min : value <= rule.min) return false;
  if (rule.max_inclusive ? value > rule.max : value >= rule.max) return false;
  return true;
}

std::string FieldPath(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

// A mapping of the job file, its fields checked against the names that section allows.
struct Section {
  std::string path;  // dotted, "" for the top level
  bool given = false;
  std::map<std::string, YAML::Node> fields;

  bool Has(const std::string& key) const { return fields.count(key) > 0; }
  std::string Path(absl::string_view key) const { return FieldPath(path, key); }
};

class JobSpecParser {
 public:
  JobSpecParser(std::string base_dir, const JobSpecOptions& options) : base_dir_(std::move(base_dir)), options_(options) {
    for (const std::string& root : options.allowed_roots) {
      std::error_code error;
      const fs::path canonical = fs::weakly_canonical(fs::absolute(root, error), error);
      roots_.push_back(WithoutTrailingSlash(error ? fs::path(root).lexically_normal().string() : canonical.string()));
    }
  }

  absl::StatusOr<JobSpec> Parse(const YAML::Node& root);

 private:
  // " (line L, column C)" of `path` or its nearest enclosing section; "" when unknown.
  std::string LocationOf(const std::string& path) const;
  absl::Status Error(const std::string& path, absl::string_view message) const;
  absl::Status Expected(const std::string& path, absl::string_view what,
                        const YAML::Node& node) const {
    return Error(path, absl::StrCat("expected ", what, ", got ", DescribeNode(node)));
  }

  absl::StatusOr<Section> ReadMapping(const YAML::Node& node, const std::string& path,
                                      const std::vector<std::string>& known);
  // The sub-mapping `key` of `parent`, its keys checked against the schema's; an absent key yields
  // an empty, not-given section.
  absl::StatusOr<Section> ReadChild(const Section& parent, const std::string& key);

  // Each Read* leaves `*out` untouched when the key is absent, so struct defaults apply.
  absl::Status ReadInt64(const Section& section, const std::string& key, const IntRule& rule,
                         int64_t* out);
  absl::Status ReadInt(const Section& section, const std::string& key, const IntRule& rule,
                       int* out);
  absl::Status ReadUint64(const Section& section, const std::string& key, uint64_t* out);
  absl::Status ReadDouble(const Section& section, const std::string& key, const DoubleRule& rule,
                          double* out);
  absl::Status ReadString(const Section& section, const std::string& key, bool allow_empty,
                          std::string* out);
  absl::Status ReadChoice(const Section& section, const std::string& key,
                          const std::vector<std::string>& choices, std::string* out);
  // A non-empty path, resolved against the base directory.
  absl::Status ReadPath(const Section& section, const std::string& key, std::string* out);
  absl::Status ReadChoiceList(const Section& section, const std::string& key,
                              const std::vector<std::string>& choices,
                              std::vector<std::string>* out);
  absl::Status ReadDoubleList(const Section& section, const std::string& key,
                              const DoubleRule& rule, std::vector<double>* out);
  absl::Status ReadIntList(const Section& section, const std::string& key, const IntRule& rule,
                           std::vector<int>* out);

  absl::StatusOr<std::vector<YAML::Node>> ReadSequence(const Section& section,
                                                       const std::string& key);
  absl::StatusOr<int64_t> ParseInt(const YAML::Node& node, const std::string& path,
                                   const IntRule& rule);
  absl::StatusOr<double> ParseDouble(const YAML::Node& node, const std::string& path,
                                     const DoubleRule& rule);

  static std::string WithoutTrailingSlash(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
  }
  // `path` made absolute against the base directory, lexically ("a/../b" is "b").
  std::string Resolve(const std::string& path) const;
  // Resolve, then every symlink followed: the file that would actually be read. Refused (naming
  // `field`) when it lies outside the allowed roots.
  absl::StatusOr<std::string> ResolveInput(const std::string& field, const std::string& path) const;
  absl::Status CheckAllowed(const std::string& field, const std::string& named, const std::string& resolved) const;
  // A regular file of at most the input file limit.
  absl::Status CheckFile(const std::string& field, const std::string& path) const;
  // A checkpoint directory of regular files whose weights, times `weight_copies` (4 for full
  // fine-tuning: weights, gradients, two Adam moments), fit in memory.
  absl::Status CheckCheckpointDir(const std::string& field, const std::string& path, int weight_copies) const;
  // A regular file of at most kMaxTemplateFileBytes, read within the timeout, valid UTF-8.
  absl::StatusOr<std::string> LoadTextFile(const std::string& field, const std::string& path) const;
  uint64_t MaxInputFileBytes() const {
    return options_.max_input_file_bytes > 0 ? options_.max_input_file_bytes : options_.machine.memory_bytes / 8;
  }
  // Sizes against the machine's memory, as lower bounds (what is certainly needed): the model with
  // its optimizer state, the task's examples. Activations depend on the lengths of the sequences
  // actually drawn (max_length only caps them), so they are bounded by the fixed limits instead.
  absl::Status CheckMemory(const JobSpec& spec) const;

  // One declared field of `section` (core/pipeline/job_schema.h), by its type and bounds.
  absl::Status ReadField(const Section& section, const JobField& field, JobSpec& spec);
  // Every field the schema declares directly in `section` and does not leave to code.
  absl::Status ReadDeclaredFields(const Section& section, JobSpec& spec);
  // A validator's status whose message starts with the field it names ("task.source: ..."),
  // with where that field is in the file.
  absl::Status Located(const absl::Status& status) const;

  // Each reads one section: its declared fields, then the rules that join them.
  absl::Status ParseName(const Section& top, JobSpec& spec);
  absl::Status ParseModel(const Section& top, JobSpec& spec);
  absl::Status ParseTask(const Section& top, JobSpec& spec);
  absl::Status ParseTemplate(const Section& task_section, JobSpec& spec);
  absl::Status ParseCompression(const Section& top, JobSpec& spec);
  absl::Status ParseSchedule(const Section& top, JobSpec& spec);
  absl::Status ParseTraining(const Section& top, JobSpec& spec);
  absl::Status ParsePromote(const Section& top, JobSpec& spec);
  absl::Status ParseOutput(const Section& top, std::string& output_dir);

  std::string base_dir_;
  const JobSpecOptions& options_;
  std::vector<std::string> roots_;  // canonical
  // Where each field path was seen, so every error can point at its line.
  std::map<std::string, YAML::Mark> marks_;
};

std::string JobSpecParser::LocationOf(const std::string& path) const {
  // Fall back to the enclosing section for fields that are missing (e.g. a required key).
  std::string lookup = path;
  while (true) {
    auto it = marks_.find(lookup);
    if (it != marks_.end() && !it->second.is_null()) {
      return absl::StrFormat(" (line %d, column %d)", it->second.line + 1, it->second.column + 1);
    }
    if (lookup.empty()) return "";
    const size_t cut = lookup.find_last_of(".[");
    lookup.resize(cut == std::string::npos ? 0 : cut);
  }
}

absl::Status JobSpecParser::Error(const std::string& path, absl::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message, LocationOf(path)));
}

absl::StatusOr<Section> JobSpecParser::ReadMapping(const YAML::Node& node, const std::string& path,
                                                   const std::vector<std::string>& known) {
  Section section;
  section.path = path;
  section.given = true;
  if (!path.empty() && !node.IsNull()) marks_[path] = node.Mark();
  // A bare "model:" reads as null; treat it as an empty section that takes all defaults.
  if (node.IsNull()) return section;
  if (!node.IsMap()) return Expected(path, "a mapping of fields", node);
  for (const auto& entry : node) {
    const YAML::Node& key_node = entry.first;
    if (!key_node.IsScalar()) {
      marks_[path] = key_node.Mark();
      return Expected(path.empty() ? "job" : path, "a field name", key_node);
    }
    const std::string& key = key_node.Scalar();
    const std::string field_path = FieldPath(path, key);
    marks_[field_path] = key_node.Mark();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", field_path, "'", DidYouMean(key, known), LocationOf(field_path)));
    }
    if (!section.fields.emplace(key, entry.second).second) {
      return Error(field_path, "given more than once");
    }
    if (!entry.second.IsNull()) marks_[field_path] = entry.second.Mark();
  }
  return section;
}

absl::StatusOr<Section> JobSpecParser::ReadChild(const Section& parent, const std::string& key) {
  auto it = parent.fields.find(key);
  if (it == parent.fields.end()) {
    Section absent;
    absent.path = parent.Path(key);
    return absent;
  }
  return ReadMapping(it->second, parent.Path(key), JobSectionKeys(parent.Path(key)));
}

absl::StatusOr<int64_t> JobSpecParser::ParseInt(const YAML::Node& node, const std::string& path,
                                                const IntRule& rule) {
  int64_t value = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value) || value < rule.min) {
    return Expected(path, rule.description, node);
  }
  if (value > rule.max) return Error(path, absl::StrFormat("%d exceeds the limit of %d", value, rule.max));
  return value;
}

absl::StatusOr<double> JobSpecParser::ParseDouble(const YAML::Node& node, const std::string& path,
                                                  const DoubleRule& rule) {
  double value = 0.0;
  if (!node.IsScalar() || !absl::SimpleAtod(node.Scalar(), &value) || !Satisfies(value, rule)) {
    return Expected(path, rule.description, node);
  }
  return value;
}

absl::Status JobSpecParser::ReadInt64(const Section& section, const std::string& key,
                                      const IntRule& rule, int64_t* out) {
  auto it = section.fields.find(key);
  if (it == section.fields.end()) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, ParseInt(it->second, section.Path(key), rule));
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadInt(const Section& section, const std::string& key,
                                    const IntRule& rule, int* out) {
  int64_t value = *out;
  RETURN_IF_ERROR(ReadInt64(section, key, rule, &value));
  *out = static_cast<int>(value);  // every int rule stays within int's range
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadUint64(const Section& section, const std::string& key,
                                       uint64_t* out) {
  auto it = section.fields.find(key);
  if (it == section.fields.end()) return absl::OkStatus();
  const YAML::Node& node = it->second;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), out)) {
    return Expected(section.Path(key), "a non-negative integer", node);
  }
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadDouble(const Section& section, const std::string& key,
                                       const DoubleRule& rule, double* out) {
  auto it = section.fields.find(key);
  if (it == section.fields.end()) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, ParseDouble(it->second, section.Path(key), rule));
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadString(const Section& section, const std::string& key,
                                       bool allow_empty, std::string* out) {
  auto it = section.fields.find(key);
  if (it == section.fields.end()) return absl::OkStatus();
  const YAML::Node& node = it->second;
  if (node.IsNull()) {
    // A bare "key:" is more likely an unfinished edit than a request for the default.
    return Error(section.Path(key), allow_empty ? "expected a string, got nothing (write \"\" "
                                                  "for an empty string)"
                                                : "expected a non-empty string, got nothing");
  }
  if (!node.IsScalar()) {
    return Expected(section.Path(key), allow_empty ? "a string" : "a non-empty string", node);
  }
  if (!allow_empty && node.Scalar().empty()) {
    return Error(section.Path(key), "must not be empty");
  }
  *out = node.Scalar();
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadChoice(const Section& section, const std::string& key,
                                       const std::vector<std::string>& choices, std::string* out) {
  std::string value = *out;
  RETURN_IF_ERROR(ReadString(section, key, /*allow_empty=*/false, &value));
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    return Error(section.Path(key),
                 absl::StrCat("expected one of ", absl::StrJoin(choices, ", "), ", got '", value,
                              "'", DidYouMean(value, choices)));
  }
  *out = std::move(value);
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadPath(const Section& section, const std::string& key,
                                     std::string* out) {
  if (!section.Has(key)) return absl::OkStatus();
  std::string raw;
  RETURN_IF_ERROR(ReadString(section, key, /*allow_empty=*/false, &raw));
  ASSIGN_OR_RETURN(*out, ResolveInput(section.Path(key), raw));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<YAML::Node>> JobSpecParser::ReadSequence(const Section& section,
                                                                    const std::string& key) {
  const YAML::Node& node = section.fields.at(key);
  const std::string path = section.Path(key);
  if (!node.IsSequence()) return Expected(path, "a list", node);
  std::vector<YAML::Node> elements;
  for (const YAML::Node& element : node) {
    marks_[absl::StrCat(path, "[", elements.size(), "]")] = element.Mark();
    elements.push_back(element);
  }
  return elements;
}

absl::Status JobSpecParser::ReadChoiceList(const Section& section, const std::string& key,
                                           const std::vector<std::string>& choices,
                                           std::vector<std::string>* out) {
  if (!section.Has(key)) return absl::OkStatus();
  const std::string path = section.Path(key);
  ASSIGN_OR_RETURN(std::vector<YAML::Node> elements, ReadSequence(section, key));
  if (elements.empty()) {
    return Error(path, absl::StrCat("must list at least one of ", absl::StrJoin(choices, ", ")));
  }
  std::vector<std::string> values;
  for (size_t i = 0; i < elements.size(); ++i) {
    const std::string element_path = absl::StrCat(path, "[", i, "]");
    const YAML::Node& element = elements[i];
    const std::string text = element.IsScalar() ? element.Scalar() : "";
    if (std::find(choices.begin(), choices.end(), text) == choices.end()) {
      return Error(element_path,
                   absl::StrCat("expected one of ", absl::StrJoin(choices, ", "), ", got ",
                                DescribeNode(element), DidYouMean(text, choices)));
    }
    if (std::find(values.begin(), values.end(), text) != values.end()) {
      return Error(element_path, absl::StrCat("'", text, "' is listed twice"));
    }
    values.push_back(text);
  }
  *out = std::move(values);
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadDoubleList(const Section& section, const std::string& key,
                                           const DoubleRule& rule, std::vector<double>* out) {
  if (!section.Has(key)) return absl::OkStatus();
  const std::string path = section.Path(key);
  ASSIGN_OR_RETURN(std::vector<YAML::Node> elements, ReadSequence(section, key));
  std::vector<double> values;
  for (size_t i = 0; i < elements.size(); ++i) {
    ASSIGN_OR_RETURN(double value, ParseDouble(elements[i], absl::StrCat(path, "[", i, "]"), rule));
    values.push_back(value);
  }
  *out = std::move(values);
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadIntList(const Section& section, const std::string& key,
                                        const IntRule& rule, std::vector<int>* out) {
  if (!section.Has(key)) return absl::OkStatus();
  const std::string path = section.Path(key);
  ASSIGN_OR_RETURN(std::vector<YAML::Node> elements, ReadSequence(section, key));
  std::vector<int> values;
  for (size_t i = 0; i < elements.size(); ++i) {
    ASSIGN_OR_RETURN(int64_t value, ParseInt(elements[i], absl::StrCat(path, "[", i, "]"), rule));
    values.push_back(static_cast<int>(value));
  }
  *out = std::move(values);
  return absl::OkStatus();
}

std::string JobSpecParser::Resolve(const std::string& path) const {
  fs::path resolved(path);
  if (resolved.is_relative()) resolved = fs::path(base_dir_) / resolved;
  return resolved.lexically_normal().string();
}

absl::StatusOr<std::string> JobSpecParser::ResolveInput(const std::string& field, const std::string& path) const {
  const std::string lexical = Resolve(path);
  std::error_code error;
  const fs::path canonical = fs::weakly_canonical(lexical, error);
  if (error) return Error(field, absl::StrCat("cannot resolve ", lexical, ": ", error.message()));
  const std::string resolved = WithoutTrailingSlash(canonical.lexically_normal().string());
  RETURN_IF_ERROR(CheckAllowed(field, lexical, resolved));
  return resolved;
}

absl::Status JobSpecParser::CheckAllowed(const std::string& field, const std::string& named,
                                         const std::string& resolved) const {
  if (roots_.empty()) return absl::OkStatus();
  for (const std::string& root : roots_) {
    if (root == "/" || resolved == root || absl::StartsWith(resolved, absl::StrCat(root, "/"))) {
      return absl::OkStatus();
    }
  }
  const std::string what = named == resolved ? named : absl::StrCat(named, " (which resolves to ", resolved, ")");
  return Error(field, absl::StrCat(what, " is outside the trainer's allowed paths (", absl::StrJoin(roots_, ", "),
                                   "); a submitted job may only name files under allowed_paths"));
}

absl::Status JobSpecParser::CheckFile(const std::string& field, const std::string& path) const {
  // The path is resolved already, so a symlink in its last component now would be a swap.
  absl::StatusOr<int> fd = OpenRegularFile(path, /*follow_symlinks=*/false);
  if (!fd.ok()) return Error(field, fd.status().message());
  struct stat info;
  const bool stated = ::fstat(*fd, &info) == 0;
  ::close(*fd);
  if (!stated) return Error(field, absl::StrCat("cannot stat ", path));
  const uint64_t limit = MaxInputFileBytes();
  if (static_cast<uint64_t>(info.st_size) > limit) {
    return Error(field, absl::StrFormat("%s is %d bytes; a job's input file may be at most %d bytes here", path,
                                        info.st_size, limit));
  }
  return absl::OkStatus();
}

absl::Status JobSpecParser::CheckCheckpointDir(const std::string& field, const std::string& path,
                                               int weight_copies) const {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (!fs::exists(status)) return Error(field, absl::StrCat("directory not found: ", path));
  if (!fs::is_directory(status)) {
    return Error(field, absl::StrCat(path,
                                     " is not a directory; expected a Hugging Face "
                                     "checkpoint directory"));
  }
  if (!fs::exists(fs::path(path) / kConfigFile, error)) {
    return Error(field, absl::StrCat("no ", kConfigFile, " in ", path,
                                     "; expected a Hugging Face checkpoint directory"));
  }
  // The loader reads these files by name and follows links (a Hugging Face cache links each file
  // to a blob), so each must be a regular file under the allowed roots wherever it points.
  uint64_t weight_bytes = 0;
  fs::directory_iterator it(path, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    std::error_code entry_error;
    const fs::file_status target = it->status(entry_error);
    if (fs::is_directory(target)) continue;
    const std::string entry = it->path().string();
    const fs::path canonical = fs::weakly_canonical(it->path(), entry_error);
    if (entry_error) return Error(field, absl::StrCat("cannot resolve ", entry, ": ", entry_error.message()));
    RETURN_IF_ERROR(CheckAllowed(field, entry, canonical.string()));
    if (!fs::is_regular_file(target)) {
      return Error(field, absl::StrCat(entry, " is not a regular file; a checkpoint directory may hold only "
                                              "regular files and directories"));
    }
    if (absl::EndsWith(entry, kSafetensorsExtension)) weight_bytes += fs::file_size(it->path(), entry_error);
  }
  if (error) return Error(field, absl::StrCat("cannot list ", path, ": ", error.message()));
  const uint64_t needed = weight_bytes * static_cast<uint64_t>(weight_copies);
  if (needed > options_.machine.memory_bytes) {
    return Error(field, absl::StrFormat("the checkpoint's %d bytes of weights need at least %d bytes of memory "
                                        "here; this machine has %d",
                                        weight_bytes, needed, options_.machine.memory_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> JobSpecParser::LoadTextFile(const std::string& field,
                                                        const std::string& path) const {
  ReadLimits limits;
  limits.max_bytes = kMaxTemplateFileBytes;
  limits.timeout = options_.read_timeout;
  limits.follow_symlinks = false;
  absl::StatusOr<std::string> text = ReadFile(path, limits);
  if (!text.ok()) return Error(field, text.status().message());
  if (absl::Status utf8 = CheckUtf8(*text, path); !utf8.ok()) return Error(field, utf8.message());
  return text;
}

absl::Status JobSpecParser::CheckMemory(const JobSpec& spec) const {
  const uint64_t memory = options_.machine.memory_bytes;
  const auto gib = [](double bytes) { return absl::StrFormat("%.1f GiB", bytes / (1 << 30)); };
  const auto too_much = [&](const std::string& field, const std::string& what, double bytes) {
    return Error(field, absl::StrFormat("%s needs at least %s of memory; this machine has %s", what, gib(bytes),
                                        gib(static_cast<double>(memory))));
  };
  // Doubles: the products below overflow 64-bit integers for absurd sizes.
  const TaskSpec& task = spec.task;
  if (task.source == "synthetic") {
    const double examples = static_cast<double>(task.synthetic_train_size) + task.synthetic_validation_size +
                            task.synthetic_pool_size;
    if (examples * kBytesPerExample > memory) {
      return too_much("task.synthetic.train_size",
                      absl::StrFormat("a task of %.0f synthetic examples (train, validation and pool)", examples),
                      examples * kBytesPerExample);
    }
  }
  if (!spec.model.from_scratch) return absl::OkStatus();  // the checkpoint was sized by its files
  const ScratchModelSpec& m = spec.model.scratch;
  const double hidden = static_cast<double>(m.hidden_size);
  const double kv_width = hidden / m.num_heads * m.num_kv_heads;
  const double parameters =
      static_cast<double>(m.vocab_size) * hidden +
      m.num_layers * (2 * hidden * hidden + 2 * hidden * kv_width + 3 * hidden * m.intermediate_size + 2 * hidden);
  // Full fine-tuning keeps weights, gradients and two Adam moments in float32; LoRA the weights.
  const double parameter_bytes = parameters * (spec.model.finetune == "full" ? 16 : 4);
  if (parameter_bytes > memory) {
    return too_much("model.scratch",
                    absl::StrFormat("a model of %.3g parameters (with its optimizer state)", parameters),
                    parameter_bytes);
  }
  return absl::OkStatus();
}

absl::Status JobSpecParser::ReadField(const Section& section, const JobField& field, JobSpec& spec) {
  const std::string key = field.Key();
  return std::visit(
      [&](auto access) -> absl::Status {
        auto& value = access(spec);
        using Value = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<Value, int64_t>) {
          return ReadInt64(section, key, field.int_rule, &value);
        } else if constexpr (std::is_same_v<Value, int>) {
          return ReadInt(section, key, field.int_rule, &value);
        } else if constexpr (std::is_same_v<Value, uint64_t>) {
          return ReadUint64(section, key, &value);
        } else if constexpr (std::is_same_v<Value, double>) {
          return ReadDouble(section, key, field.number_rule, &value);
        } else if constexpr (std::is_same_v<Value, std::string>) {
          if (field.type == JobFieldType::kWord) return ReadChoice(section, key, field.choices(spec), &value);
          if (field.type == JobFieldType::kPath) return ReadPath(section, key, &value);
          return ReadString(section, key, field.allow_empty, &value);
        } else if constexpr (std::is_same_v<Value, std::vector<std::string>>) {
          return ReadChoiceList(section, key, field.choices(spec), &value);
        } else if constexpr (std::is_same_v<Value, std::vector<double>>) {
          return ReadDoubleList(section, key, field.number_rule, &value);
        } else {
          return ReadIntList(section, key, field.int_rule, &value);
        }
      },
      field.access);
}

absl::Status JobSpecParser::ReadDeclaredFields(const Section& section, JobSpec& spec) {
  for (const JobField& field : JobFields()) {
    if (field.read_by_code || field.ParentPath() != section.path || !section.Has(field.Key())) continue;
    RETURN_IF_ERROR(ReadField(section, field, spec));
  }
  return absl::OkStatus();
}

absl::Status JobSpecParser::Located(const absl::Status& status) const {
  const std::string message(status.message());
  return absl::Status(status.code(), absl::StrCat(message, LocationOf(message.substr(0, message.find(':')))));
}

absl::Status JobSpecParser::ParseName(const Section& top, JobSpec& spec) {
  RETURN_IF_ERROR(ReadString(top, "name", /*allow_empty=*/false, &spec.name));
  // The name becomes a directory and a registry key, so it must be one safe path component.
  const bool safe_characters = std::all_of(spec.name.begin(), spec.name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (!safe_characters || spec.name == "." || spec.name == "..") {
    return Error("name", absl::StrCat("'", spec.name,
                                      "' is not a valid job name; use only letters, digits, "
                                      "'.', '_' and '-' (it names a directory)"));
  }
  if (spec.name.size() > kMaxNameLength) {
    return Error("name", absl::StrFormat("'%s' is %d characters long; the limit is %d", spec.name,
                                         spec.name.size(), kMaxNameLength));
  }
  return absl::OkStatus();
}

absl::Status JobSpecParser::ParseModel(const Section& top, JobSpec& spec) {
  ModelSpec& model = spec.model;
  ASSIGN_OR_RETURN(Section section, ReadChild(top, "model"));
  if (section.Has("base") && section.Has("scratch")) {
    return Error("model.scratch",
                 "model.base and model.scratch are mutually exclusive; give base to fine-tune "
                 "a checkpoint or scratch to train a new model");
  }
  model.from_scratch = !section.Has("base");
  if (!model.from_scratch) {
    RETURN_IF_ERROR(ReadPath(section, "base", &model.base));
  } else {
    model.base.clear();
    ASSIGN_OR_RETURN(Section scratch_section, ReadChild(section, "scratch"));
    RETURN_IF_ERROR(ReadDeclaredFields(scratch_section, spec));
    const ScratchModelSpec& scratch = model.scratch;
    if (!scratch.pretrain_corpus.empty()) {
      RETURN_IF_ERROR(CheckFile("model.scratch.pretrain_corpus", scratch.pretrain_corpus));
    }
    if (scratch.hidden_size % scratch.num_heads != 0) {
      return Error("model.scratch.num_heads",
                   absl::StrFormat("%d does not divide model.scratch.hidden_size (%d)",
                                   scratch.num_heads, scratch.hidden_size));
    }
    if (scratch.num_heads % scratch.num_kv_heads != 0) {
      return Error("model.scratch.num_kv_heads",
                   absl::StrFormat("%d does not divide model.scratch.num_heads (%d)",
                                   scratch.num_kv_heads, scratch.num_heads));
    }
    const int64_t head_size = scratch.hidden_size / scratch.num_heads;
    if (head_size % 2 != 0) {
      // Rotary position embeddings rotate dimensions in pairs.
      return Error("model.scratch.num_heads",
                   absl::StrFormat("head size hidden_size / num_heads = %d / %d = %d must be "
                                   "even for rotary embeddings",
                                   scratch.hidden_size, scratch.num_heads, head_size));
    }
  }
  RETURN_IF_ERROR(ReadDeclaredFields(section, spec));
  if (!model.from_scratch) {
    RETURN_IF_ERROR(CheckCheckpointDir("model.base", model.base, model.finetune == "full" ? 4 : 1));
  }
  ASSIGN_OR_RETURN(Section lora, ReadChild(section, "lora"));
  return ReadDeclaredFields(lora, spec);
}

absl::Status JobSpecParser::ParseTask(const Section& top, JobSpec& spec) {
  TaskSpec& task = spec.task;
  ASSIGN_OR_RETURN(Section section, ReadChild(top, "task"));
  // The kind (tasks/) decides the source, the field names and the template a job does not name.
  if (section.Has("kind")) RETURN_IF_ERROR(ReadChoice(section, "kind", ChoicesOf("task.kind", spec), &task.kind));
  if (const TaskKind* named = FindTaskKind(task.kind); named != nullptr) task.source = named->source;
  RETURN_IF_ERROR(ReadChoice(section, "source", ChoicesOf("task.source", spec), &task.source));
  const absl::StatusOr<const TaskKind*> resolved = ResolveTaskKind(task);
  if (!resolved.ok()) return Located(resolved.status());
  const TaskKind& kind = **resolved;
  task.kind = kind.name;
  task.name = kind.name;
  task.query_field = kind.fields.query_field;
  task.answer_field = kind.fields.answer_field;
  RETURN_IF_ERROR(ReadDeclaredFields(section, spec));

  // Both source sections may be present so a job can switch source by editing one line;
  // the inactive one is still type-checked, but only the active one's files must exist.
  ASSIGN_OR_RETURN(Section synthetic, ReadChild(section, "synthetic"));
  RETURN_IF_ERROR(ReadDeclaredFields(synthetic, spec));
  ASSIGN_OR_RETURN(Section jsonl, ReadChild(section, "jsonl"));
  RETURN_IF_ERROR(ReadDeclaredFields(jsonl, spec));
  if (task.query_field == task.answer_field) {
    return Error("task.jsonl.answer_field",
                 absl::StrCat("'", task.answer_field, "' is also the query_field"));
  }
  if (task.source == "jsonl") {
    for (const auto& [key, path] :
         {std::pair<std::string, const std::string*>{"train", &task.train_path},
          {"validation", &task.validation_path},
          {"pool", &task.pool_path}}) {
      const std::string field = absl::StrCat("task.jsonl.", key);
      if (path->empty()) {
        if (key == "pool") continue;  // the pool defaults to the train set
        if (key == "validation" && !kind.needs_validation_file) continue;  // the kind splits train
        return Error(field, "required when task.source is 'jsonl'");
      }
      RETURN_IF_ERROR(CheckFile(field, *path));
    }
  }

  RETURN_IF_ERROR(ParseTemplate(section, spec));
  if (task.template_builtin == kKindTemplate) {
    task.template_builtin = kind.template_name.empty() ? kNoTemplate : kind.template_name;
  }
  ASSIGN_OR_RETURN(Section format, ReadChild(section, "format"));
  return ReadDeclaredFields(format, spec);
}

absl::Status JobSpecParser::ParseTemplate(const Section& task_section, JobSpec& spec) {
  TaskSpec& task = spec.task;
  ASSIGN_OR_RETURN(Section section, ReadChild(task_section, "template"));
  for (const char* part : {"instruction", "document"}) {
    const std::string file_key = absl::StrCat(part, "_file");
    if (section.Has(part) && section.Has(file_key)) {
      return Error(section.Path(file_key),
                   absl::StrCat("mutually exclusive with task.template.", part,
                                "; give the text inline or in a file, not both"));
    }
  }
  const bool has_custom_text = section.Has("instruction") || section.Has("instruction_file") ||
                               section.Has("document") || section.Has("document_file");
  if (!has_custom_text) {
    // The builtin template's text is filled in by the pipeline, not stored in the spec.
    RETURN_IF_ERROR(
        ReadChoice(section, "builtin", ChoicesOf("task.template.builtin", spec), &task.template_builtin));
    task.instruction.clear();
    task.document.clear();
    return absl::OkStatus();
  }
  if (section.Has("builtin")) {
    return Error(section.Path("builtin"),
                 "cannot be combined with instruction/document text; omit builtin to use "
                 "your own template");
  }
  task.template_builtin.clear();
  task.instruction.clear();
  task.document.clear();
  RETURN_IF_ERROR(ReadString(section, "instruction", /*allow_empty=*/true, &task.instruction));
  RETURN_IF_ERROR(ReadString(section, "document", /*allow_empty=*/true, &task.document));
  for (const auto& [key, text] : {std::pair<std::string, std::string*>{"instruction_file", &task.instruction},
                                  {"document_file", &task.document}}) {
    if (!section.Has(key)) continue;
    std::string path;
    RETURN_IF_ERROR(ReadPath(section, key, &path));
    ASSIGN_OR_RETURN(*text, LoadTextFile(section.Path(key), path));
  }
  return absl::OkStatus();
}

absl::Status JobSpecParser::ParseCompression(const Section& top, JobSpec& spec) {
  CompressionSpec& compression = spec.compression;
  ASSIGN_OR_RETURN(Section section, ReadChild(top, "compression"));
  RETURN_IF_ERROR(ReadDeclaredFields(section, spec));
  if (compression.scorer != "model") {
    ASSIGN_OR_RETURN(compression.scorer, ResolveInput("compression.scorer", compression.scorer));
    // Only self-information compression loads the scorer.
    if (compression.method == "self_information") {
      RETURN_IF_ERROR(CheckCheckpointDir("compression.scorer", compression.scorer, /*weight_copies=*/1));
    }
  }
  return absl::OkStatus();
}

absl::Status JobSpecParser::ParseSchedule(const Section& top, JobSpec& spec) {
  ScheduleSpec& schedule = spec.schedule;
  ASSIGN_OR_RETURN(Section section, ReadChild(top, "schedule"));
  if (section.Has("kind")) {
    std::string kind_name;
    RETURN_IF_ERROR(ReadString(section, "kind", /*allow_empty=*/false, &kind_name));
    absl::StatusOr<ScheduleKind> kind = ParseScheduleKind(kind_name);
    if (!kind.ok()) {
      const std::vector<std::string> kind_names = ChoicesOf("schedule.kind", spec);
      return Error("schedule.kind",
                   absl::StrCat("expected one of ", absl::StrJoin(kind_names, ", "), ", got '",
                                kind_name, "'", DidYouMean(kind_name, kind_names)));
    }
    schedule.kind = *kind;
  }
  const bool is_explicit = schedule.kind == ScheduleKind::kExplicit;
  if (!is_explicit) {
    for (const char* key : {"keep_ratios", "num_examples"}) {
      if (section.Has(key)) {
        return Error(section.Path(key),
                     absl::StrCat("only used when schedule.kind is explicit (kind is '",
                                  std::string(ScheduleKindName(schedule.kind)), "')"));
      }
    }
  }
  RETURN_IF_ERROR(ReadDeclaredFields(section, spec));
  if (!section.Has("stages")) {
    // The lists already say how many stages there are; making the user repeat it invites
    // a mismatch.
    if (is_explicit && section.Has("keep_ratios")) {
      schedule.num_stages = static_cast<int>(schedule.keep_ratios.size());
    } else if (is_explicit && section.Has("num_examples")) {
      schedule.num_stages = static_cast<int>(schedule.num_examples.size());
    } else if (!is_explicit && !schedule.step_shares.empty()) {
      schedule.num_stages = static_cast<int>(schedule.step_shares.size());
    }
  }
  const absl::Status status = ValidateScheduleSpec(schedule);
  if (status.ok()) return status;
  // The struct calls it num_stages; the job file calls it stages.
  std::string message(status.message());
  constexpr absl::string_view kStructName = "schedule.num_stages";
  if (absl::StartsWith(message, kStructName)) {
    message = absl::StrCat("schedule.stages", message.substr(kStructName.size()));
  }
  return Located(absl::Status(status.code(), message));
}

absl::Status JobSpecParser::ParseTraining(const Section& top, JobSpec& spec) {
  const TrainingSpec& training = spec.training;
  ASSIGN_OR_RETURN(Section section, ReadChild(top, "training"));
  RETURN_IF_ERROR(ReadDeclaredFields(section, spec));
  if (training.warmup_steps >= training.steps) {
    return Error("training.warmup_steps",
                 absl::StrFormat("%d must be less than training.steps (%d)", training.warmup_steps,
                                 training.steps));
  }
  if (spec.model.from_scratch && training.max_length > spec.model.scratch.context_length) {
    return Error("training.max_length",
                 absl::StrFormat("%d exceeds model.scratch.context_length (%d)",
                                 training.max_length, spec.model.scratch.context_length));
  }
  return absl::OkStatus();
}

absl::Status JobSpecParser::ParsePromote(const Section& top, JobSpec& spec) {
  PromoteSpec& promote = spec.promote;
  ASSIGN_OR_RETURN(Section section, ReadChild(top, "promote"));
  if (!section.given) return absl::OkStatus();
  promote.enabled = true;
  if (!section.Has("alias")) return Error("promote.alias", "is required: the alias to move onto a version that passes");
  RETURN_IF_ERROR(ReadString(section, "alias", /*allow_empty=*/false, &promote.alias));
  if (absl::Status valid = ValidateAliasName(promote.alias); !valid.ok()) return Error("promote.alias", valid.message());
  RETURN_IF_ERROR(ReadString(section, "reference", /*allow_empty=*/false, &promote.reference));
  if (promote.reference == "base" && spec.model.from_scratch) {
    return Error("promote.reference", "\"base\" needs model.base; this job trains from scratch");
  }
  if (promote.reference != "full_prompt" && promote.reference != "base") {
    const size_t at = promote.reference.find('@');
    const std::string model_name = promote.reference.substr(0, at);
    const std::string version = at == std::string::npos ? "" : promote.reference.substr(at + 1);
    const bool number = !version.empty() && version.find_first_not_of("0123456789") == std::string::npos;
    if (at == std::string::npos || !ValidateModelName(model_name).ok() ||
        (!number && !ValidateAliasName(version).ok())) {
      return Error("promote.reference",
                   absl::StrCat("expected full_prompt, base or a registry version NAME@VERSION or NAME@ALIAS, got \"",
                                promote.reference, "\""));
    }
  }
  // metric's choices include the task kind's own metric: the task is read before.
  return ReadDeclaredFields(section, spec);
}

absl::Status JobSpecParser::ParseOutput(const Section& top, std::string& output_dir) {
  ASSIGN_OR_RETURN(Section section, ReadChild(top, "output"));
  // The default is resolved too, so a job file without output.dir writes beside itself.
  std::string raw = output_dir;
  RETURN_IF_ERROR(ReadString(section, "dir", /*allow_empty=*/false, &raw));
  output_dir = Resolve(raw);
  // With allowed roots the caller (the trainer service) chooses the run directory itself: the
  // job's output.dir is not used, so it is not looked at either (no probing the server's files).
  if (!roots_.empty()) return absl::OkStatus();
  std::error_code error;
  const fs::file_status status = fs::status(output_dir, error);
  if (fs::exists(status) && !fs::is_directory(status)) {
    return Error("output.dir", absl::StrCat(output_dir, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobSpec> JobSpecParser::Parse(const YAML::Node& root) {
  ASSIGN_OR_RETURN(Section top, ReadMapping(root, "", JobSectionKeys("")));
  JobSpec spec;
  RETURN_IF_ERROR(ParseName(top, spec));
  RETURN_IF_ERROR(ReadDeclaredFields(top, spec));
  if (spec.threads > options_.machine.cores) {
    // More threads than cores only slows a job down, and a huge count hangs the thread pool.
    return Error("threads", absl::StrFormat("%d exceeds the %d cores this machine has; use at most %d (0 = all)",
                                            spec.threads, options_.machine.cores, options_.machine.cores));
  }
  RETURN_IF_ERROR(ParseModel(top, spec));
  RETURN_IF_ERROR(ParseTask(top, spec));
  RETURN_IF_ERROR(ParseCompression(top, spec));
  ASSIGN_OR_RETURN(Section retrieval, ReadChild(top, "retrieval"));
  RETURN_IF_ERROR(ReadDeclaredFields(retrieval, spec));
  RETURN_IF_ERROR(ParseSchedule(top, spec));
  RETURN_IF_ERROR(ParseTraining(top, spec));
  ASSIGN_OR_RETURN(Section eval, ReadChild(top, "eval"));
  RETURN_IF_ERROR(ReadDeclaredFields(eval, spec));
  ASSIGN_OR_RETURN(Section prices, ReadChild(eval, "prices"));
  RETURN_IF_ERROR(ReadDeclaredFields(prices, spec));
  RETURN_IF_ERROR(ParsePromote(top, spec));
  RETURN_IF_ERROR(ParseOutput(top, spec.output_dir));
  RETURN_IF_ERROR(CheckMemory(spec));
  return spec;
}

// Writes one field's value in the form ParseJobSpec reads back exactly.
void WriteValue(YAML::Emitter& out, const JobField& field, JobSpec& spec) {
  if (field.text != nullptr) {
    out << field.text(spec);
    return;
  }
  std::visit(
      [&](auto access) {
        const auto& value = access(spec);
        using Value = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<Value, uint64_t>) {
          out << absl::StrCat(value);
        } else if constexpr (std::is_same_v<Value, double>) {
          out << FormatJobNumber(value);
        } else if constexpr (std::is_same_v<Value, std::string>) {
          // Free text may hold newlines, leading spaces or words YAML would read as null or booleans.
          if (field.type == JobFieldType::kWord) {
            out << value;
          } else {
            out << YAML::DoubleQuoted << value;
          }
        } else if constexpr (std::is_same_v<Value, std::vector<double>>) {
          out << YAML::Flow << YAML::BeginSeq;
          for (double number : value) out << FormatJobNumber(number);
          out << YAML::EndSeq;
        } else if constexpr (std::is_same_v<Value, std::vector<std::string>> ||
                             std::is_same_v<Value, std::vector<int>>) {
          out << YAML::Flow << YAML::BeginSeq;
          for (const auto& element : value) out << element;
          out << YAML::EndSeq;
        } else {
          out << value;
        }
      },
      field.access);
}

}  // namespace

absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text, const std::string& base_dir,
                                     const JobSpecOptions& options) {
  if (yaml_text.size() > kMaxJobFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the job file is %d bytes; a job file may be at most %d bytes (1 MiB)",
                        yaml_text.size(), kMaxJobFileBytes));
  }
  // YAML is Unicode text, and every string of the spec ends up in JSON records and task files.
  RETURN_IF_ERROR(CheckUtf8(yaml_text, "the job file"));
  try {
    std::error_code error;
    fs::path base = base_dir.empty() ? fs::current_path(error) : fs::path(base_dir);
    if (!error) base = fs::absolute(base, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot resolve the base directory '", base_dir, "': ", error.message()));
    }
    // Not YAML::LoadAll, which never returns on some malformed files (core/util/yaml_stream.h).
    const int documents = CountYamlDocuments(yaml_text);
    if (documents > 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the job file holds %d YAML documents; expected exactly one", documents));
    }
    const YAML::Node root = documents == 0 ? YAML::Node() : YAML::Load(yaml_text);
    if (root.IsNull()) {
      return absl::InvalidArgumentError(
          "the job file is empty; expected a mapping of fields such as name, model, task, "
          "training");
    }
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the job file must be a mapping of fields (name: ..., model: ..., ...), "
                       "got ",
                       DescribeNode(root)));
    }
    JobSpecParser parser(base.lexically_normal().string(), options);
    return parser.Parse(root);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null())
      return absl::InvalidArgumentError(absl::StrCat("malformed YAML: ", e.msg));
    return absl::InvalidArgumentError(absl::StrFormat("malformed YAML at line %d, column %d: %s",
                                                      e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot parse the job file: ", e.what()));
  }
}

absl::StatusOr<JobSpec> LoadJobSpec(const std::string& path, const JobSpecOptions& options) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is a directory, not a job file"));
  }
  // Checked before reading so a wrong path to a huge file fails fast.
  const uintmax_t size = fs::file_size(path, error);
  if (!error && size > kMaxJobFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: the job file is %d bytes; a job file may be at most %d bytes (1 MiB)",
                        path, size, kMaxJobFileBytes));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  const fs::path absolute = fs::absolute(path, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve the job file path ", path, ": ", error.message()));
  }
  absl::StatusOr<JobSpec> spec = ParseJobSpec(text, absolute.parent_path().string(), options);
  if (!spec.ok()) {
    return absl::Status(spec.status().code(), absl::StrCat(path, ": ", spec.status().message()));
  }
  return spec;
}

std::string JobSpecToYaml(const JobSpec& spec) {
  JobSpec values = spec;  // the schema's accessors take a mutable spec; nothing is changed
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::vector<std::string> open;  // the sections being written, outermost first
  for (const JobField& field : JobFields()) {
    if (field.written != nullptr && !field.written(spec)) continue;
    const std::vector<std::string> parents = absl::StrSplit(field.ParentPath(), '.', absl::SkipEmpty());
    size_t common = 0;
    while (common < open.size() && common < parents.size() && open[common] == parents[common]) ++common;
    for (; open.size() > common; open.pop_back()) out << YAML::EndMap;
    for (; open.size() < parents.size(); open.push_back(parents[open.size()])) {
      out << YAML::Key << parents[open.size()] << YAML::Value << YAML::BeginMap;
    }
    out << YAML::Key << field.Key() << YAML::Value;
    WriteValue(out, field, values);
  }
  for (; !open.empty(); open.pop_back()) out << YAML::EndMap;
  out << YAML::EndMap;
  return absl::StrCat(out.c_str(), "\n");
}

}  // namespace promptintern
