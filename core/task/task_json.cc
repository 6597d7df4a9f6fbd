#include "core/task/task_json.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace promptintern {

using nlohmann::json;

ServedTask QueryAsPromptTask(const std::string& name) {
  ServedTask served;
  served.task.name = name;
  served.task.format = {/*query_prefix=*/"", /*answer_prefix=*/"", /*example_separator=*/"", /*template_separator=*/""};
  served.full_prompt_examples = 0;
  served.compression_method = "none";
  return served;
}

std::string ServedTaskToJson(const ServedTask& served) {
  json pool = json::array();
  for (const Example& example : served.task.example_pool) pool.push_back({{"query", example.query}, {"answer", example.answer}});
  const PromptFormat& format = served.task.format;
  const json root = {
      {"name", served.task.name},
      {"kind", served.task.kind},
      {"instruction", served.task.instruction},
      {"document", served.task.document},
      {"format",
       {{"query_prefix", format.query_prefix},
        {"answer_prefix", format.answer_prefix},
        {"example_separator", format.example_separator},
        {"template_separator", format.template_separator}}},
      {"full_prompt_examples", served.full_prompt_examples},
      {"retrieval", {{"method", "bm25"}, {"k1", served.retrieval.k1}, {"b", served.retrieval.b}}},
      {"compression",
       {{"method", served.compression_method},
        {"keep_ratio", served.compressed_keep_ratio},
        {"template", served.compressed_template}}},
      {"example_pool", pool},
  };
  return root.dump(1) + "\n";
}

absl::StatusOr<ServedTask> ServedTaskFromJson(const std::string& json_text, const std::string& source) {
  const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  auto error = [&](absl::string_view what) { return absl::DataLossError(absl::StrCat(source, ": ", what)); };
  if (root.is_discarded() || !root.is_object()) return error("not a JSON object");
  try {
    ServedTask served;
    served.task.name = root.at("name").get<std::string>();
    served.task.kind = root.value("kind", "");  // absent in versions published before task kinds
    served.task.instruction = root.at("instruction").get<std::string>();
    served.task.document = root.at("document").get<std::string>();
    const json& format = root.at("format");
    served.task.format.query_prefix = format.at("query_prefix").get<std::string>();
    served.task.format.answer_prefix = format.at("answer_prefix").get<std::string>();
    served.task.format.example_separator = format.at("example_separator").get<std::string>();
    served.task.format.template_separator = format.at("template_separator").get<std::string>();
    served.full_prompt_examples = root.at("full_prompt_examples").get<int>();
    served.retrieval.k1 = root.at("retrieval").at("k1").get<double>();
    served.retrieval.b = root.at("retrieval").at("b").get<double>();
    served.compression_method = root.at("compression").at("method").get<std::string>();
    served.compressed_keep_ratio = root.at("compression").at("keep_ratio").get<double>();
    served.compressed_template = root.at("compression").value("template", "");
    for (const json& example : root.at("example_pool")) {
      served.task.example_pool.push_back({example.at("query").get<std::string>(), example.at("answer").get<std::string>()});
    }
    if (served.full_prompt_examples < 0) return error("full_prompt_examples is negative");
    return served;
  } catch (const json::exception& e) {
    return error(absl::StrCat("malformed task file: ", e.what()));
  }
}

}  // namespace promptintern
