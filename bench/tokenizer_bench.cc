// Tokenizer throughput: load time, then Encode over a JSONL corpus (the "nl" and "bash" fields of
// NL2Bash by default) with an empty word cache and again with a warm one, and streaming decode.
//
//   ./build/bin/tokenizer_bench --model ../shared/tokenizers/qwen3 --corpus ../shared/data/nl2bash/train.jsonl
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/platform/blas_dispatch.h"
#include "core/tokenizer/incremental_detokenizer.h"
#include "core/tokenizer/tokenizer.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "tokenizer_bench");
  CLI::App app{"Tokenizer load, encode and streaming-decode throughput"};
  std::string model_dir, corpus_path;
  std::vector<std::string> fields = {"nl", "bash"};
  app.add_option("--model", model_dir, "Directory with tokenizer.json or tokenizer.model")->required();
  app.add_option("--corpus", corpus_path, "JSONL file")->required();
  app.add_option("--fields", fields, "String fields of each record to encode");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> texts;
  size_t bytes = 0;
  std::ifstream in(corpus_path);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    for (const std::string& field : fields) {
      if (record.is_object() && record.contains(field) && record[field].is_string()) {
        texts.push_back(record[field]);
        bytes += texts.back().size();
      }
    }
  }
  if (texts.empty()) {
    std::fprintf(stderr, "no texts in %s\n", corpus_path.c_str());
    return 1;
  }

  auto start = std::chrono::steady_clock::now();
  auto tokenizer = promptintern::Tokenizer::LoadFromDirectory(model_dir);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
    return 1;
  }
  std::printf("%s: loaded in %.2f s; %zu texts, %.1f MB\n", model_dir.c_str(), Seconds(start), texts.size(), bytes / 1e6);

  std::vector<std::vector<int>> encoded(texts.size());
  for (const char* pass : {"cold cache", "warm cache"}) {
    start = std::chrono::steady_clock::now();
    size_t tokens = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      encoded[i] = *(*tokenizer)->Encode(texts[i]);
      tokens += encoded[i].size();
    }
    const double seconds = Seconds(start);
    std::printf("encode (%s): %.2f MB/s, %.0f tokens/s (%zu tokens)\n", pass, bytes / 1e6 / seconds, tokens / seconds,
                tokens);
  }
  start = std::chrono::steady_clock::now();
  size_t tokens = 0;
  for (const std::vector<int>& ids : encoded) {
    promptintern::IncrementalDetokenizer stream(**tokenizer);
    for (int id : ids) (void)*stream.Add(id);
    (void)*stream.Finish();
    tokens += ids.size();
  }
  std::printf("streaming decode: %.0f tokens/s\n", tokens / Seconds(start));
  return 0;
}
