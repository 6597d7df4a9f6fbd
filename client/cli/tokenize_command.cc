// `promptintern tokenize --model DIR [--add-special-tokens]`: one JSON string per line on stdin,
// one JSON array of token ids per line on stdout. With --decode, the reverse: a JSON array of ids
// per line in, a JSON string out. A line that cannot be read or tokenized prints `null` (so that
// output lines stay aligned with input lines), its error goes to stderr, and the exit code is 1.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status_macros.h"

namespace promptintern::cli {
namespace {

using nlohmann::json;

struct TokenizeFlags {
  std::string model_dir;
  bool add_special_tokens = false;
  bool decode = false;
  bool skip_special_tokens = false;
};

absl::StatusOr<json> ParseLine(const std::string& line) {
  json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  return value;
}

absl::StatusOr<std::string> EncodeLine(const Tokenizer& tokenizer, const TokenizeFlags& flags,
                                       const std::string& line) {
  ASSIGN_OR_RETURN(const json value, ParseLine(line));
  if (!value.is_string()) return absl::InvalidArgumentError("expected a JSON string");
  const std::string& text = value.get_ref<const std::string&>();
  ASSIGN_OR_RETURN(const std::vector<int> ids,
                   flags.add_special_tokens ? tokenizer.EncodeWithSpecialTokens(text) : tokenizer.Encode(text));
  return json(ids).dump();
}

absl::StatusOr<std::string> DecodeLine(const Tokenizer& tokenizer, const TokenizeFlags& flags,
                                       const std::string& line) {
  ASSIGN_OR_RETURN(const json value, ParseLine(line));
  if (!value.is_array()) return absl::InvalidArgumentError("expected a JSON array of token ids");
  std::vector<int> ids;
  for (const json& id : value) {
    if (!id.is_number_integer() || id.get<int64_t>() < INT32_MIN || id.get<int64_t>() > INT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat("not a token id: ", id.dump()));
    }
    ids.push_back(id.get<int>());
  }
  ASSIGN_OR_RETURN(const std::string text, tokenizer.Decode(ids, flags.skip_special_tokens ? SpecialTokens::kSkip
                                                                                             : SpecialTokens::kKeep));
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

int RunTokenize(const TokenizeFlags& flags) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::LoadFromDirectory(flags.model_dir);
  if (!tokenizer.ok()) {
    std::cerr << "promptintern tokenize: " << tokenizer.status().message() << "\n";
    return 1;
  }
  std::ios::sync_with_stdio(false);
  int exit_code = 0;
  std::string line;
  for (int64_t number = 1; std::getline(std::cin, line); ++number) {
    const absl::StatusOr<std::string> out =
        flags.decode ? DecodeLine(**tokenizer, flags, line) : EncodeLine(**tokenizer, flags, line);
    if (out.ok()) {
      std::cout << *out << "\n";
    } else {
      std::cerr << "promptintern tokenize: line " << number << ": " << out.status().message() << "\n";
      std::cout << "null\n";
      exit_code = 1;
    }
  }
  std::cout.flush();
  return exit_code;
}

}  // namespace

void RegisterTokenizeCommand(CLI::App& app, std::function<int()>* run) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* command = app.add_subcommand(
      "tokenize", "Token ids of JSON strings on stdin, one per line (or, with --decode, text of JSON id arrays)");
  command->add_option("--model", flags->model_dir, "Checkpoint directory with tokenizer.json or tokenizer.model")
      ->required();
  CLI::Option* special =
      command->add_flag("--add-special-tokens", flags->add_special_tokens, "Apply the tokenizer's template (BOS, ...)");
  CLI::Option* decode = command->add_flag("--decode", flags->decode, "Decode JSON arrays of ids into JSON strings");
  command->add_flag("--skip-special-tokens", flags->skip_special_tokens, "With --decode: drop special tokens")
      ->needs(decode);
  special->excludes(decode);
  command->callback([flags, run] { *run = [flags] { return RunTokenize(*flags); }; });
}

}  // namespace promptintern::cli
