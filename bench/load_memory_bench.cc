// Resident memory of loading one 16-bit checkpoint, three ways, each in a fresh child process:
//   float32   LoadModel: every matrix widened to float32 (what training holds)
//   as stored LoadModelForServing: the matrices kept in the checkpoint's 16-bit form (serving)
//   int8      LoadModelForServing with int8 weights: the packed int8 forms alone (the unpacked
//             matrices released, as the inference service holds them)
// Each child reads VmRSS from /proc/self/status after libtorch is up, resets its peak (VmHWM,
// through /proc/self/clear_refs), loads, and reports the resident memory after loading and the
// peak during it, both minus that baseline. Loading is meant to stay near the model's own size:
// the safetensors file is memory-mapped and its pages are dropped as they are copied.
//
//   build/bin/load_memory_bench                 # a ~70M-parameter BF16 Llama written to a temp dir
//   build/bin/load_memory_bench --hidden 1024 --layers 16 --intermediate 2816 --dtype f16
//   build/bin/load_memory_bench --model DIR     # an existing 16-bit checkpoint
#include <CLI/CLI.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "bench/bench_support.h"
#include "core/checkpoint/checkpoint.h"
#include "core/platform/blas_dispatch.h"
#include "core/model/decoder.h"
#include "core/util/file.h"
#include "core/util/filenames.h"

namespace promptintern {
namespace {

// The child: prints "<after_kb> <peak_kb>" (above the baseline) on stdout.
int RunChild(const std::string& mode, const std::string& directory) {
  // libtorch's lazy start-up (allocator, thread pool) belongs to the baseline, not to the load.
  { const at::Tensor warm = at::ones({64, 64}).matmul(at::ones({64, 64})); (void)warm; }
  const int64_t baseline = bench::ProcStatusKb("VmRSS");
  { std::ofstream("/proc/self/clear_refs") << "5"; }  // VmHWM := VmRSS
  auto model = mode == "float32" ? LoadModel(directory)
               : mode == "stored" ? LoadModelForServing(directory)
                                  : LoadModelForServing(directory, WeightFormat::kInt8);
  if (!model.ok()) {
    std::cerr << "load_memory_bench: " << model.status() << "\n";
    return 1;
  }
  std::printf("%ld %ld\n", bench::ProcStatusKb("VmRSS") - baseline, bench::ProcStatusKb("VmHWM") - baseline);
  return 0;
}

struct Measurement {
  double after_mb = 0;
  double peak_mb = 0;
};

bool Measure(const std::string& mode, const std::string& directory, Measurement* out) {
  std::unique_ptr<bench::ChildProcess> child = bench::ChildProcess::Start({"--child", mode, "--model", directory});
  std::string line;
  if (child == nullptr || !child->ReadLine(&line) || !child->Wait()) return false;
  std::istringstream fields(line);
  int64_t after_kb = 0, peak_kb = 0;
  if (!(fields >> after_kb >> peak_kb)) return false;
  out->after_mb = after_kb / 1024.0;
  out->peak_mb = peak_kb / 1024.0;
  return true;
}

}  // namespace
}  // namespace promptintern

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "load_memory_bench");
  using namespace promptintern;
  CLI::App app{"Resident memory of loading a 16-bit checkpoint as float32 and as stored"};
  std::string child_mode;
  std::string model_dir;
  ModelConfig config;
  config.hidden_size = 640;
  config.num_hidden_layers = 10;
  config.intermediate_size = 1728;
  config.num_attention_heads = 10;
  config.num_key_value_heads = 5;
  config.vocab_size = 32000;
  config.max_position_embeddings = 1024;
  config.tie_word_embeddings = false;
  std::string dtype_name = "bf16";
  app.add_option("--child", child_mode, "(internal) load in this process: float32, stored or int8");
  app.add_option("--model", model_dir, "An existing 16-bit checkpoint (default: write one to a temp dir)");
  app.add_option("--hidden", config.hidden_size, "Hidden size of the written model");
  app.add_option("--layers", config.num_hidden_layers, "Layers of the written model");
  app.add_option("--intermediate", config.intermediate_size, "MLP size of the written model");
  app.add_option("--heads", config.num_attention_heads, "Attention heads of the written model");
  app.add_option("--kv-heads", config.num_key_value_heads, "KV heads of the written model");
  app.add_option("--vocab", config.vocab_size, "Vocabulary of the written model");
  app.add_option("--dtype", dtype_name, "Dtype of the written model")->check(CLI::IsMember({"bf16", "f16"}));
  CLI11_PARSE(app, argc, argv);
  if (!child_mode.empty()) return RunChild(child_mode, model_dir);

  std::string temp_dir;
  if (model_dir.empty()) {
    temp_dir = (std::filesystem::temp_directory_path() / ("load_memory_bench_" + std::to_string(getpid()))).string();
    model_dir = temp_dir;
    auto model = DecoderModel::Create(config);
    if (!model.ok() || !(*model)->InitializeRandom(1).ok()) {
      std::cerr << "cannot create the model: " << model.status() << "\n";
      return 1;
    }
    SaveOptions options;
    options.dtype = dtype_name == "bf16" ? DType::kBF16 : DType::kF16;
    if (absl::Status saved = SaveModel(**model, nullptr, model_dir, options); !saved.ok()) {
      std::cerr << "cannot save the model: " << saved << "\n";
      return 1;
    }
  }
  auto loaded_config = LoadModelConfig(JoinPath(model_dir, kConfigFile));
  if (!loaded_config.ok()) {
    std::cerr << loaded_config.status() << "\n";
    return 1;
  }
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(model_dir)) {
    if (entry.path().extension() == ".safetensors") bytes += entry.file_size();
  }
  std::printf("checkpoint: %.1fM parameters, %s, %.1f MB of safetensors (%s)\n",
              loaded_config->NumParameters() / 1e6, loaded_config->torch_dtype.c_str(), bytes / 1048576.0,
              model_dir.c_str());
  Measurement as_float32, as_stored, as_int8;
  if (!Measure("float32", model_dir, &as_float32) || !Measure("stored", model_dir, &as_stored) ||
      !Measure("int8", model_dir, &as_int8)) {
    std::cerr << "a child process failed\n";
    return 1;
  }
  std::printf("%-40s %16s %18s\n", "load", "resident after", "peak during load");
  std::printf("%-40s %13.1f MB %15.1f MB\n", "float32 (LoadModel)", as_float32.after_mb, as_float32.peak_mb);
  std::printf("%-40s %13.1f MB %15.1f MB\n", "as stored (LoadModelForServing)", as_stored.after_mb, as_stored.peak_mb);
  std::printf("%-40s %13.1f MB %15.1f MB\n", "int8 packed (LoadModelForServing)", as_int8.after_mb, as_int8.peak_mb);
  std::printf("as stored / float32: %.3fx resident after, %.3fx peak\n", as_stored.after_mb / as_float32.after_mb,
              as_stored.peak_mb / as_float32.peak_mb);
  if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir);
  return 0;
}
