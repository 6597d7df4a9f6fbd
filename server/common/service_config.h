// A service's settings from an optional YAML file (--config) and from flags; a flag given on the
// command line wins over the file. Each setting is bound once, with its YAML key and its flag.
#pragma once

#include <CLI/CLI.hpp>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace promptintern {

class ServiceConfig {
 public:
  explicit ServiceConfig(CLI::App& app) : app_(app) {
    app_.add_option("--config", config_path_, "YAML configuration file (flags override it)");
  }

  template <typename Value>
  void Bind(const std::string& key, const std::string& flag, Value& field, const std::string& help) {
    from_file_[key] = [&field](const YAML::Node& node) { field = node.as<Value>(); };
    app_.add_option_function<Value>(
        flag, [this, &field](const Value& value) { from_flags_.push_back([&field, value] { field = value; }); }, help);
  }

  // Call after parsing: applies the file, then the flags. Errors name the file and the key.
  absl::Status Apply() {
    if (!config_path_.empty()) {
      try {
        const YAML::Node root = YAML::LoadFile(config_path_);
        if (!root.IsMap()) return absl::InvalidArgumentError(config_path_ + ": not a YAML mapping");
        for (const auto& entry : root) {
          const std::string key = entry.first.as<std::string>();
          const auto setter = from_file_.find(key);
          if (setter == from_file_.end()) return absl::InvalidArgumentError(config_path_ + ": unknown field '" + key + "'");
          try {
            setter->second(entry.second);
          } catch (const YAML::Exception& e) {
            return absl::InvalidArgumentError(config_path_ + ": field '" + key + "': " + e.what());
          }
        }
      } catch (const YAML::Exception& e) {
        return absl::InvalidArgumentError(config_path_ + ": " + e.what());
      }
    }
    for (const auto& apply : from_flags_) apply();
    return absl::OkStatus();
  }

 private:
  CLI::App& app_;
  std::string config_path_;
  std::map<std::string, std::function<void(const YAML::Node&)>> from_file_;
  std::vector<std::function<void()>> from_flags_;
};

}  // namespace promptintern
