#include "core/registry/manifest.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxFileNameLength = 255;

// Names are echoed in errors; escaping keeps hostile bytes out of logs.
std::string Quoted(absl::string_view text) { return absl::StrCat("'", absl::CHexEscape(text), "'"); }

absl::Status ValidateSafeName(absl::string_view kind, absl::string_view name, size_t max_length) {
  const std::string rule =
      absl::StrCat("[A-Za-z0-9][A-Za-z0-9._-]{0,", max_length - 1, "} without \"..\"");
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(kind, " is empty"));
  if (name.size() > max_length) {
    return absl::InvalidArgumentError(absl::StrCat(kind, " ", Quoted(name), " is ", name.size(),
                                                   " characters long; the limit is ", max_length));
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name.front()))) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " ", Quoted(name), " must start with a letter or digit (", rule, ")"));
  }
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(kind, " ", Quoted(name), " contains ",
                                                     Quoted(absl::string_view(&c, 1)), " (", rule, ")"));
    }
  }
  if (absl::StrContains(name, "..")) {
    return absl::InvalidArgumentError(absl::StrCat(kind, " ", Quoted(name), " contains \"..\""));
  }
  return absl::OkStatus();
}

template <typename Predicate>
absl::StatusOr<const json*> Field(const json& object, const char* key, const char* expected, Predicate is_expected) {
  const auto it = object.find(key);
  if (it == object.end()) return absl::InvalidArgumentError(absl::StrCat("manifest: missing field \"", key, "\""));
  if (!is_expected(*it)) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: field \"", key, "\" must be ", expected, ", got ", it->type_name()));
  }
  return &*it;
}

absl::StatusOr<std::string> StringField(const json& object, const char* key) {
  ASSIGN_OR_RETURN(const json* value, Field(object, key, "a string", [](const json& v) { return v.is_string(); }));
  return value->get<std::string>();
}

absl::StatusOr<int64_t> IntegerField(const json& object, const char* key) {
  ASSIGN_OR_RETURN(const json* value,
                   Field(object, key, "an integer", [](const json& v) { return v.is_number_integer(); }));
  if (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: field \"", key, "\" is out of range"));
  }
  return value->get<int64_t>();
}

}  // namespace

absl::Status ValidateModelName(absl::string_view name) {
  return ValidateSafeName("model name", name, kMaxNameLength);
}

absl::Status ValidateAliasName(absl::string_view alias) {
  RETURN_IF_ERROR(ValidateSafeName("alias name", alias, kMaxNameLength));
  bool all_digits = true;
  for (const char c : alias) all_digits = all_digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (all_digits) {
    return absl::InvalidArgumentError(
        absl::StrCat("alias name ", Quoted(alias), " is all digits and would read as a version number"));
  }
  if (alias == "latest") {
    return absl::InvalidArgumentError("alias name 'latest' is reserved for the newest version");
  }
  return absl::OkStatus();
}

absl::Status ValidateVersionFileName(absl::string_view file_name) {
  return ValidateSafeName("file name", file_name, kMaxFileNameLength);
}

std::string FormatRfc3339Utc(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseRfc3339Utc(absl::string_view text) {
  absl::Time time;
  std::string error;
  if (text.empty() || text.back() != 'Z' ||
      !absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("time ", Quoted(text), " is not RFC 3339 UTC (like 2024-05-01T12:34:56Z)"));
  }
  return time;
}

const ManifestFile* Manifest::FindFile(absl::string_view file_name) const {
  for (const ManifestFile& file : files) {
    if (file.name == file_name) return &file;
  }
  return nullptr;
}

absl::Status Manifest::Validate() const {
  RETURN_IF_ERROR(ValidateModelName(model_name));
  if (version < 1) return absl::InvalidArgumentError(absl::StrCat("manifest: version must be >= 1, got ", version));
  if (absl::Status status = ValidateSafeName("payload token", payload, kMaxNameLength); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: ", status.message()));
  }
  if (files.empty()) return absl::InvalidArgumentError("manifest: a version needs at least one file");
  std::set<std::string> names;
  for (const ManifestFile& file : files) {
    if (absl::Status status = ValidateVersionFileName(file.name); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: ", status.message()));
    }
    if (!names.insert(file.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: file ", Quoted(file.name), " is listed twice"));
    }
    if (!IsSha256Hex(file.sha256)) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: file ", Quoted(file.name), " has sha256 ",
                                                     Quoted(file.sha256), ", not 64 lowercase hex digits"));
    }
  }
  if (!tokenizer.empty() && FindFile(tokenizer) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: tokenizer file ", Quoted(tokenizer), " is not among the version's files"));
  }
  if (FindFile(task_file) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: task file ", Quoted(task_file), " is not among the version's files"));
  }
  if (!schedule.is_object()) return absl::InvalidArgumentError("manifest: schedule must be a JSON object");
  if (!stage_metrics.is_array()) return absl::InvalidArgumentError("manifest: stage_metrics must be a JSON array");
  if (!token_statistics.is_object()) {
    return absl::InvalidArgumentError("manifest: token_statistics must be a JSON object");
  }
  if (!extra.is_object()) return absl::InvalidArgumentError("manifest: extra must be a JSON object");
  if (adapter_of) {
    if (absl::Status status = ValidateModelName(adapter_of->model); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: adapter_of.model: ", status.message()));
    }
    if (adapter_of->version < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest: adapter_of.version must be >= 1, got ", adapter_of->version));
    }
  }
  if (absl::Status status = ParseRfc3339Utc(created_at).status(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: created_at: ", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> Manifest::ToJson() const {
  RETURN_IF_ERROR(Validate());
  json file_list = json::array();
  for (const ManifestFile& file : files) {
    file_list.push_back({{"name", file.name}, {"size", file.size}, {"sha256", file.sha256}});
  }
  json value{{"format_version", kManifestFormatVersion},
              {"model", model_name},
              {"version", version},
              {"payload", payload},
              {"files", std::move(file_list)},
              {"base_model", base_model},
              {"tokenizer", tokenizer},
              {"task_file", task_file},
              {"schedule", schedule},
              {"stage_metrics", stage_metrics},
              {"token_statistics", token_statistics},
              {"job_id", job_id},
              {"idempotency_key", idempotency_key},
              {"created_at", created_at},
              {"extra", extra}};
  if (adapter_of) value["adapter_of"] = {{"model", adapter_of->model}, {"version", adapter_of->version}};
  return value;
}

absl::StatusOr<std::string> Manifest::Serialize() const {
  ASSIGN_OR_RETURN(const json value, ToJson());
  try {
    return value.dump(2) + "\n";
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("manifest cannot be serialized: ", error.what()));
  }
}

absl::StatusOr<Manifest> Manifest::FromJson(const nlohmann::json& value) {
  try {
    if (!value.is_object()) return absl::InvalidArgumentError("manifest: must be a JSON object");
    static const std::set<std::string> kKnownFields = {
        "format_version", "model",          "version",       "payload",          "files",
        "base_model",     "tokenizer",      "task_file",     "schedule",         "stage_metrics",
        "token_statistics", "job_id",       "idempotency_key", "created_at",     "extra",
        "adapter_of"};
    for (const auto& item : value.items()) {
      if (kKnownFields.count(item.key()) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("manifest: unknown field ", Quoted(item.key()), " (free-form data belongs in \"extra\")"));
      }
    }
    ASSIGN_OR_RETURN(const int64_t format_version, IntegerField(value, "format_version"));
    if (format_version != kManifestFormatVersion) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: format_version ", format_version,
                                                     " is not supported (expected ", kManifestFormatVersion, ")"));
    }
    Manifest manifest;
    ASSIGN_OR_RETURN(manifest.model_name, StringField(value, "model"));
    ASSIGN_OR_RETURN(manifest.version, IntegerField(value, "version"));
    ASSIGN_OR_RETURN(manifest.payload, StringField(value, "payload"));
    ASSIGN_OR_RETURN(const json* file_list,
                     Field(value, "files", "an array", [](const json& v) { return v.is_array(); }));
    for (const json& entry : *file_list) {
      if (!entry.is_object()) return absl::InvalidArgumentError("manifest: every entry of \"files\" must be an object");
      ManifestFile file;
      ASSIGN_OR_RETURN(file.name, StringField(entry, "name"));
      ASSIGN_OR_RETURN(const json* size, Field(entry, "size", "a non-negative integer", [](const json& v) {
                         return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
                       }));
      file.size = size->get<uint64_t>();
      ASSIGN_OR_RETURN(file.sha256, StringField(entry, "sha256"));
      manifest.files.push_back(std::move(file));
    }
    ASSIGN_OR_RETURN(manifest.base_model, StringField(value, "base_model"));
    ASSIGN_OR_RETURN(manifest.tokenizer, StringField(value, "tokenizer"));
    ASSIGN_OR_RETURN(manifest.task_file, StringField(value, "task_file"));
    ASSIGN_OR_RETURN(const json* schedule, Field(value, "schedule", "an object", [](const json& v) { return v.is_object(); }));
    manifest.schedule = *schedule;
    ASSIGN_OR_RETURN(const json* stage_metrics,
                     Field(value, "stage_metrics", "an array", [](const json& v) { return v.is_array(); }));
    manifest.stage_metrics = *stage_metrics;
    ASSIGN_OR_RETURN(const json* token_statistics,
                     Field(value, "token_statistics", "an object", [](const json& v) { return v.is_object(); }));
    manifest.token_statistics = *token_statistics;
    ASSIGN_OR_RETURN(manifest.job_id, StringField(value, "job_id"));
    if (value.contains("idempotency_key")) {
      ASSIGN_OR_RETURN(manifest.idempotency_key, StringField(value, "idempotency_key"));
    }
    ASSIGN_OR_RETURN(manifest.created_at, StringField(value, "created_at"));
    if (value.contains("extra")) {
      ASSIGN_OR_RETURN(const json* extra, Field(value, "extra", "an object", [](const json& v) { return v.is_object(); }));
      manifest.extra = *extra;
    }
    if (value.contains("adapter_of")) {
      ASSIGN_OR_RETURN(const json* base, Field(value, "adapter_of", "an object", [](const json& v) { return v.is_object(); }));
      AdapterBase adapter_of;
      ASSIGN_OR_RETURN(adapter_of.model, StringField(*base, "model"));
      ASSIGN_OR_RETURN(adapter_of.version, IntegerField(*base, "version"));
      manifest.adapter_of = std::move(adapter_of);
    }
    RETURN_IF_ERROR(manifest.Validate());
    return manifest;
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: ", error.what()));
  }
}

absl::StatusOr<Manifest> Manifest::Parse(absl::string_view text) {
  json value;
  try {
    value = json::parse(text.begin(), text.end());
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("manifest is not valid JSON: ", error.what()));
  }
  return FromJson(value);
}

}  // namespace promptintern
