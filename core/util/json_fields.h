// Typed reads of the fields of a JSON object, shared by the readers of every record we store
// (job records and events, run progress and reports, promotion decisions).
//
// A missing field leaves the output as it was (the record's default) unless it is read with
// Require; a field of the wrong kind is DATA_LOSS naming the field, the kind expected and what was
// there (shortened). Numbers written by JsonNumber come back NaN from null. Nothing here throws.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace promptintern {

// A finite number as itself, NaN and infinities as null (JSON has no NaN).
nlohmann::json JsonNumber(double value);

// `value` dumped with `indent` (-1: one line); invalid UTF-8 becomes U+FFFD instead of throwing.
std::string DumpJson(const nlohmann::json& value, int indent);

// `text` parsed; DATA_LOSS when it is not JSON or not an object.
absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view text);

class JsonFields {
 public:
  // `object` must outlive this; a value that is not an object reads as one with no fields.
  explicit JsonFields(const nlohmann::json& object) : object_(object) {}

  absl::Status Read(const char* key, std::string* out) const;
  absl::Status Read(const char* key, int64_t* out) const;
  absl::Status Read(const char* key, int* out) const;
  absl::Status Read(const char* key, double* out) const;  // null reads as NaN
  absl::Status Read(const char* key, bool* out) const;
  absl::Status Read(const char* key, std::map<std::string, double>* out) const;
  absl::Status Read(const char* key, std::vector<std::string>* out) const;

  // Read, with a missing field an error too.
  template <typename T>
  absl::Status Require(const char* key, T* out) const {
    if (Find(key) == nullptr) return Missing(key);
    return Read(key, out);
  }

  // The field when it is an object (an array), null when it is missing.
  absl::StatusOr<const nlohmann::json*> Object(const char* key) const;
  absl::StatusOr<const nlohmann::json*> Array(const char* key) const;

  // A field holding one of `names`; missing is an error.
  template <typename Enum>
  absl::Status ReadName(const char* key, const std::vector<std::pair<Enum, absl::string_view>>& names,
                        Enum* out) const {
    const nlohmann::json* value = Find(key);
    if (value == nullptr) return Missing(key);
    if (value->is_string()) {
      for (const auto& [candidate, name] : names) {
        if (name == value->get<std::string>()) {
          *out = candidate;
          return absl::OkStatus();
        }
      }
    }
    return Wrong(key, "a known name", *value);
  }

 private:
  const nlohmann::json* Find(const char* key) const;
  static absl::Status Missing(const char* key);
  static absl::Status Wrong(const char* key, absl::string_view expected, const nlohmann::json& value);

  const nlohmann::json& object_;
};

}  // namespace promptintern
