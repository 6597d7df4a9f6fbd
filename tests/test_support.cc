#include "tests/test_support.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/util/file.h"

namespace promptintern::testing {

std::string SharedDir() {
  if (const char* shared = std::getenv("PROMPTINTERN_SHARED"); shared != nullptr && *shared != '\0') return shared;
  return std::string(PROMPTINTERN_SOURCE_DIR) + "/../shared";
}

std::string Stories260KDir() {
  const std::string dir = SharedDir() + "/models/stories260K";
  return PathExists(dir + "/model.safetensors") ? dir : "";
}

std::string BinaryDir() { return std::string(PROMPTINTERN_BINARY_DIR) + "/bin"; }

std::string MakeTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::filesystem::path root = base != nullptr ? base : std::filesystem::temp_directory_path();
  const std::filesystem::path dir = root / ("promptintern_test_" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace promptintern::testing

#include "core/model/llama.h"

namespace promptintern::testing {

ModelConfig TinyConfig() {
  ModelConfig config;
  config.hidden_size = 32;
  config.intermediate_size = 64;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.vocab_size = 64;
  config.max_position_embeddings = 128;
  // Wide weights make the next-token distribution peaked, so greedy choices are not near-ties.
  config.initializer_range = 0.3;
  return config;
}

std::unique_ptr<LlamaModel> MakeRandomModel(uint64_t seed, const ModelConfig& config) {
  auto model = LlamaModel::Create(config);
  if (!model.ok()) return nullptr;
  if (!(*model)->InitializeRandom(seed).ok()) return nullptr;
  return std::move(model).value();
}

}  // namespace promptintern::testing
