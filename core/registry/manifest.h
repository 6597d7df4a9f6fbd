// manifest.json of a registry version, and the registry's naming rules.
//
// A manifest is the version's commit record: it names every file of the version with its size and
// SHA-256, and carries what the inference service needs to use the checkpoint (base model,
// tokenizer file, the task file) and what produced it (schedule, per-stage metrics, token
// statistics, job). FromJson validates everything ToJson writes, so a manifest that parses is
// internally consistent (unique, safe file names; the tokenizer and task files among the files;
// well-formed checksums and timestamps). Unknown top-level keys are refused, so a typo in a
// hand-edited manifest is not silently dropped; free-form additions belong in `extra`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include <nlohmann/json.hpp>
#include "core/util/filenames.h"

namespace promptintern {

inline constexpr int kManifestFormatVersion = 1;

// Model and alias names: [A-Za-z0-9][A-Za-z0-9._-]{0,63} without "..". They become storage path
// components, so these rules are what keeps a name from escaping its directory.
absl::Status ValidateModelName(absl::string_view name);
// As model names, and not all digits (that would read as a version number in "name@3"), and not
// "latest" (reserved for "name@latest").
absl::Status ValidateAliasName(absl::string_view alias);
// Names of files inside a version: [A-Za-z0-9][A-Za-z0-9._-]{0,254} without "..", which covers
// config.json, model-00001-of-00004.safetensors, tokenizer.model, task.json, ...
absl::Status ValidateVersionFileName(absl::string_view file_name);

// RFC 3339 in UTC with a 'Z' suffix and whole seconds: "2024-05-01T12:34:56Z".
std::string FormatRfc3339Utc(absl::Time time);
// Accepts any RFC 3339 time ending in 'Z' (fractional seconds allowed).
absl::StatusOr<absl::Time> ParseRfc3339Utc(absl::string_view text);

struct ManifestFile {
  std::string name;    // File name inside the version (no directories).
  uint64_t size = 0;   // Bytes.
  std::string sha256;  // 64 lowercase hex characters.
};

// The base a LoRA adapter version applies to: a full (non-adapter) version of another model.
struct AdapterBase {
  std::string model;
  int64_t version = 0;
};

struct Manifest {
  std::string model_name;
  int64_t version = 0;  // 1, 2, 3, ...
  // Storage token of the immutable directory holding the files (see registry.h).
  std::string payload;
  std::vector<ManifestFile> files;  // Sorted by name.

  std::string base_model;      // Free text, e.g. a Hugging Face id or "scratch".
  std::string tokenizer;       // A file of `files`, or "" when the checkpoint ships none.
  std::string task_file = kTaskFile;  // A file of `files`: the checkpoint's task.json.
  nlohmann::json schedule = nlohmann::json::object();          // Free-form object.
  nlohmann::json stage_metrics = nlohmann::json::array();      // One entry per stage.
  nlohmann::json token_statistics = nlohmann::json::object();  // Full-prompt vs query-only tokens.
  std::string job_id;
  // Set when the version was published with an idempotency key (normally the job id).
  std::string idempotency_key;
  std::string created_at;  // RFC 3339 UTC.
  nlohmann::json extra = nlohmann::json::object();  // Anything else, free-form object.
  // Set for an adapter version: it holds a PEFT adapter (adapter_config.json and
  // adapter_model.safetensors) and the task, and is served over exactly this base version, whose
  // tokenizer it uses. Unset ("adapter_of" absent in the JSON) for a full checkpoint.
  std::optional<AdapterBase> adapter_of;

  // The entry for `file_name`, or null.
  const ManifestFile* FindFile(absl::string_view file_name) const;

  // INVALID_ARGUMENT naming the first offending field.
  absl::Status Validate() const;
  // Validate, then the JSON form. Never throws.
  absl::StatusOr<nlohmann::json> ToJson() const;
  // The manifest.json text (ToJson, pretty-printed); INVALID_ARGUMENT for strings that are not
  // valid UTF-8.
  absl::StatusOr<std::string> Serialize() const;
  // Type-checks every field, then Validate. Never throws.
  static absl::StatusOr<Manifest> FromJson(const nlohmann::json& json);
  // manifest.json text -> Manifest; INVALID_ARGUMENT for malformed JSON or an invalid manifest.
  static absl::StatusOr<Manifest> Parse(absl::string_view text);
};

}  // namespace promptintern
