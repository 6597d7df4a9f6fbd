#include "core/util/json_fields.h"

#include <cmath>
#include <limits>

#include "core/util/status_macros.h"

namespace promptintern {

using nlohmann::json;

json JsonNumber(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

std::string DumpJson(const json& value, int indent) {
  return value.dump(indent, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

absl::StatusOr<json> ParseJsonObject(absl::string_view text) {
  json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return absl::DataLossError("not valid JSON");
  if (!value.is_object()) return absl::DataLossError(absl::StrCat("expected a JSON object, got ", value.type_name()));
  return value;
}

absl::Status JsonFields::Read(const char* key, std::string* out) const {
  const json* value = Find(key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_string()) return Wrong(key, "a string", *value);
  *out = value->get<std::string>();
  return absl::OkStatus();
}

absl::Status JsonFields::Read(const char* key, int64_t* out) const {
  const json* value = Find(key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_number_integer() ||
      (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
    return Wrong(key, "a 64-bit integer", *value);
  }
  *out = value->get<int64_t>();
  return absl::OkStatus();
}

absl::Status JsonFields::Read(const char* key, int* out) const {
  int64_t wide = *out;
  RETURN_IF_ERROR(Read(key, &wide));
  if (wide < std::numeric_limits<int>::min() || wide > std::numeric_limits<int>::max()) {
    return absl::DataLossError(absl::StrCat("field \"", key, "\": ", wide, " is out of range"));
  }
  *out = static_cast<int>(wide);
  return absl::OkStatus();
}

absl::Status JsonFields::Read(const char* key, double* out) const {
  const json* value = Find(key);
  if (value == nullptr) return absl::OkStatus();
  if (value->is_null()) {
    *out = std::numeric_limits<double>::quiet_NaN();
    return absl::OkStatus();
  }
  if (!value->is_number()) return Wrong(key, "a number", *value);
  *out = value->get<double>();
  return absl::OkStatus();
}

absl::Status JsonFields::Read(const char* key, bool* out) const {
  const json* value = Find(key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_boolean()) return Wrong(key, "true or false", *value);
  *out = value->get<bool>();
  return absl::OkStatus();
}

absl::Status JsonFields::Read(const char* key, std::map<std::string, double>* out) const {
  const json* value = Find(key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_object()) return Wrong(key, "an object of numbers", *value);
  std::map<std::string, double> numbers;
  for (const auto& [name, number] : value->items()) {
    if (!number.is_number() && !number.is_null()) return Wrong(key, "an object of numbers", number);
    numbers[name] = number.is_null() ? std::numeric_limits<double>::quiet_NaN() : number.get<double>();
  }
  *out = std::move(numbers);
  return absl::OkStatus();
}

absl::Status JsonFields::Read(const char* key, std::vector<std::string>* out) const {
  const json* value = Find(key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_array()) return Wrong(key, "an array of strings", *value);
  std::vector<std::string> strings;
  for (const json& item : *value) {
    if (!item.is_string()) return Wrong(key, "an array of strings", item);
    strings.push_back(item.get<std::string>());
  }
  *out = std::move(strings);
  return absl::OkStatus();
}

absl::StatusOr<const json*> JsonFields::Object(const char* key) const {
  const json* value = Find(key);
  if (value != nullptr && !value->is_object()) return Wrong(key, "an object", *value);
  return value;
}

absl::StatusOr<const json*> JsonFields::Array(const char* key) const {
  const json* value = Find(key);
  if (value != nullptr && !value->is_array()) return Wrong(key, "an array", *value);
  return value;
}

const json* JsonFields::Find(const char* key) const {
  if (!object_.is_object()) return nullptr;
  const auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

absl::Status JsonFields::Missing(const char* key) {
  return absl::DataLossError(absl::StrCat("field \"", key, "\" is missing"));
}

absl::Status JsonFields::Wrong(const char* key, absl::string_view expected, const json& value) {
  std::string shown = DumpJson(value, -1);
  if (shown.size() > 40) shown = absl::StrCat(shown.substr(0, 40), "...");
  return absl::DataLossError(
      absl::StrCat("field \"", key, "\": expected ", expected, ", got ", value.type_name(), " ", shown));
}

}  // namespace promptintern
