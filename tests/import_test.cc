// `promptintern import`: an existing Hugging Face checkpoint becomes a registry version that the
// inference service serves, after it was checked to load and run; a broken one is refused with the
// problem named, and nothing is published.
#include "core/jobs/import_checkpoint.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/lib/inference_client.h"
#include "core/checkpoint/checkpoint.h"
#include "core/lora/lora.h"
#include "core/model/decoder.h"
#include "core/safetensors/safetensors.h"
#include "core/serve/output_processor.h"
#include "core/serve/served_model.h"
#include "core/task/task_json.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "core/util/threads.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

namespace fs = std::filesystem;
using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::ServiceProcess;
using ::promptintern::testing::SharedDir;
using ::promptintern::testing::SharedTokenizerDir;
using nlohmann::json;

std::string CopyOf(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  for (const auto& entry : fs::recursive_directory_iterator(to)) {
    fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
  }
  return to;
}

// Runs `promptintern import ...`; returns the exit code, with stdout and stderr in *out.
int RunImport(const std::string& arguments, const std::string& log, std::string* out) {
  const std::string command = BinaryDir() + "/promptintern import " + arguments + " > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  *out = ReadFile(log).value_or("");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A Qwen3 checkpoint as a Hugging Face cache snapshot holds it: BF16 shards behind an index,
// config.json a symbolic link, a README and an original/ folder beside. Imported without a task,
// it serves the query itself as the prompt.
TEST(ImportTest, ImportedCheckpointWithoutATaskServesTheQueryAsThePrompt) {
  const std::string tokenizer_dir = SharedTokenizerDir("qwen3");
  if (tokenizer_dir.empty()) GTEST_SKIP() << "../shared/tokenizers/qwen3 is absent";
  SetComputeThreads(1);
  const std::string dir = MakeTempDir("import_qwen3");
  const std::string checkpoint_dir = dir + "/Qwen3-tiny";
  ASSERT_TRUE(::promptintern::testing::WriteFamilyCheckpoint(
      checkpoint_dir, tokenizer_dir,
      [](const Tokenizer& tokenizer) { return ::promptintern::testing::TinyQwen3ConfigJson(tokenizer.vocab_size()); },
      DType::kBF16, 11, /*max_shard_bytes=*/4 << 20));
  ASSERT_TRUE(PathExists(checkpoint_dir + "/model.safetensors.index.json"));
  fs::rename(checkpoint_dir + "/config.json", dir + "/config.json.blob");
  fs::create_symlink(dir + "/config.json.blob", checkpoint_dir + "/config.json");
  ASSERT_THAT(WriteFileAtomic(checkpoint_dir + "/README.md", "# Qwen3-tiny\n"), IsOk());
  ASSERT_THAT(MakeDirectories(checkpoint_dir + "/original"), IsOk());
  ASSERT_THAT(WriteFileAtomic(checkpoint_dir + "/original/params.json", "{}"), IsOk());

  auto registry = ModelRegistry::OpenLocal(dir + "/registry");
  ASSERT_THAT(registry, IsOk());
  auto imported = ImportCheckpoint(**registry, "qwen3-tiny", checkpoint_dir);
  ASSERT_THAT(imported, IsOk());
  EXPECT_EQ(imported->published.version, 1);
  EXPECT_EQ(imported->model_type, "qwen3");
  EXPECT_EQ(imported->tokenizer, "tokenizer.json");
  EXPECT_FALSE(imported->has_task);
  EXPECT_EQ(imported->left_out, (std::vector<std::string>{"README.md", "original/"}));
  auto manifest = (*registry)->GetVersion("qwen3-tiny", 1);
  ASSERT_THAT(manifest, IsOk());
  EXPECT_EQ(manifest->tokenizer, "tokenizer.json");
  EXPECT_EQ(manifest->base_model, checkpoint_dir);
  EXPECT_NE(manifest->FindFile("model.safetensors.index.json"), nullptr);
  EXPECT_NE(manifest->FindFile("model-00002-of-00002.safetensors"), nullptr);
  EXPECT_NE(manifest->FindFile("tokenizer_config.json"), nullptr);
  EXPECT_EQ(manifest->FindFile("README.md"), nullptr);
  auto version_dir = (*registry)->Materialize("qwen3-tiny", 1);
  ASSERT_THAT(version_dir, IsOk());
  EXPECT_FALSE(fs::is_symlink(*version_dir + "/config.json"));
  EXPECT_EQ(*ReadFile(*version_dir + "/config.json"), *ReadFile(dir + "/config.json.blob"));

  ServiceProcess inference_process;
  ASSERT_TRUE(inference_process.Start(BinaryDir() + "/promptintern-inference",
                                      {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--registry-dir",
                                       dir + "/registry", "--model", "qwen3-tiny@1", "--poll-seconds", "0.2",
                                       "--threads", "1"},
                                      dir + "/inference.log"));
  InferenceClient client(inference_process.address());
  for (int i = 0; i < 600 && !client.GetModel().ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto info = client.GetModel();
  ASSERT_TRUE(info.ok()) << info.status() << "\n" << *ReadFile(dir + "/inference.log");
  EXPECT_EQ(info->template_tokens(), 0);
  EXPECT_EQ(info->full_prompt_examples(), 0);

  // The library on the same files, as the service loads them (BF16 kept).
  auto checkpoint = LoadCheckpointForServing(*version_dir);
  ASSERT_THAT(checkpoint, IsOk());
  EXPECT_EQ(checkpoint->model->storage(), WeightStorage::kBFloat16);
  const std::string query = "Give me a short introduction to large language models.";
  EngineRequest local;
  local.prompt_ids = *checkpoint->tokenizer->EncodePrompt(query);
  local.max_new_tokens = 6;
  OutputOptions output;
  output.tokenizer = checkpoint->tokenizer.get();
  auto generated = GenerateOffline(*checkpoint->model, {local}, output);
  ASSERT_THAT(generated, IsOk());
  // `promptintern generate` on the directory prints the same text; with no prompt and no BOS
  // there is nothing to generate from, which it says.
  const std::string generate = BinaryDir() + "/promptintern generate --model " + checkpoint_dir +
                               " --max-tokens 6 --temperature 0 --threads 1";
  ASSERT_EQ(std::system((generate + " --prompt '" + query + "' > " + dir + "/generated.txt 2>/dev/null").c_str()), 0);
  EXPECT_EQ(*ReadFile(dir + "/generated.txt"), generated->front().text + "\n");
  EXPECT_NE(std::system((generate + " > /dev/null 2> " + dir + "/no_prompt.txt").c_str()), 0);
  EXPECT_NE(ReadFile(dir + "/no_prompt.txt")->find("no BOS"), std::string::npos);

  for (const v1::PromptMode mode : {v1::PROMPT_MODE_QUERY_ONLY, v1::PROMPT_MODE_FULL, v1::PROMPT_MODE_COMPRESSED}) {
    v1::GenerateRequest request;
    request.set_query(query);
    request.set_max_tokens(6);
    request.set_prompt_mode(mode);
    auto served = client.Generate(request);
    ASSERT_THAT(served, IsOk());
    EXPECT_EQ(served->usage().input_tokens(), static_cast<int64_t>(local.prompt_ids.size())) << "the query alone";
    EXPECT_EQ(served->usage().baseline_input_tokens(), served->usage().input_tokens()) << "no baseline";
    EXPECT_EQ(served->usage().saved_input_tokens(), 0);
    EXPECT_EQ(served->text(), generated->front().text);
  }
}

// The CLI with a task file, on a SentencePiece checkpoint: the version serves that task.
TEST(ImportTest, CliImportsWithATaskFile) {
  const std::string stories = ::promptintern::testing::Stories260KDir();
  if (stories.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent";
  const std::string dir = MakeTempDir("import_cli");
  ServedTask task;
  task.task.name = "stories";
  task.task.instruction = "Continue the story in the style of a children's book, with short sentences.";
  task.task.example_pool = {{"Lily had a red ball.", "She played with it in the park."},
                            {"Tom saw a big dog.", "The dog was friendly and wagged its tail."}};
  task.full_prompt_examples = 1;
  const std::string task_file = dir + "/task.json";
  ASSERT_THAT(WriteFileAtomic(task_file, ServedTaskToJson(task)), IsOk());
  std::string out;
  ASSERT_EQ(RunImport("--model " + stories + " --name stories --registry-dir " + dir + "/registry --task " + task_file,
                      dir + "/import.log", &out),
            0)
      << out;
  EXPECT_NE(out.find("stories@1"), std::string::npos) << out;
  auto registry = ModelRegistry::OpenLocal(dir + "/registry");
  ASSERT_THAT(registry, IsOk());
  auto manifest = (*registry)->GetVersion("stories", 1);
  ASSERT_THAT(manifest, IsOk());
  EXPECT_EQ(manifest->tokenizer, "tokenizer.model");
  auto version_dir = (*registry)->Materialize("stories", 1);
  ASSERT_THAT(version_dir, IsOk());
  EXPECT_EQ(*ReadFile(*version_dir + "/task.json"), *ReadFile(task_file));

  ServingOptions options;
  options.engine.max_batch_size = 1;
  auto served = ServedModel::Load(**registry, "stories@1", options);
  ASSERT_THAT(served, IsOk());
  auto query_only = (*served)->base()->RenderPromptIds("Lily had a red ball.", PromptMode::kQueryOnly);
  auto full = (*served)->base()->RenderPromptIds("Lily had a red ball.", PromptMode::kFull);
  ASSERT_TRUE(query_only.ok() && full.ok());
  EXPECT_GT(full->size(), query_only->size() + 10);
  EXPECT_GT((*served)->base()->template_tokens(), 10);
}

// config.json of a two-layer llama of `hidden_size` for GPT-2's tokenizer (byte-level BPE, 50257 ids).
std::function<std::string(const Tokenizer&)> GptTwoLlamaConfig(int hidden_size) {
  return [hidden_size](const Tokenizer& tokenizer) {
    return json{{"model_type", "llama"},     {"hidden_size", hidden_size}, {"intermediate_size", 32},
                {"num_hidden_layers", 2},    {"num_attention_heads", 2},   {"num_key_value_heads", 1},
                {"vocab_size", tokenizer.vocab_size()}, {"max_position_embeddings", 64},
                {"bos_token_id", 50256},     {"eos_token_id", 50256}}
        .dump();
  };
}

class ImportRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_dir_ = SharedTokenizerDir("gpt2");
    if (tokenizer_dir_.empty()) GTEST_SKIP() << "../shared/tokenizers/gpt2 is absent";
    dir_ = MakeTempDir("import_refusals");
    good_ = dir_ + "/good";
    // A two-layer llama with GPT-2's tokenizer (byte-level BPE, 50257 ids).
    ASSERT_TRUE(::promptintern::testing::WriteFamilyCheckpoint(
        good_, tokenizer_dir_,
        GptTwoLlamaConfig(16),
        DType::kF32, 5));
    auto registry = ModelRegistry::OpenLocal(dir_ + "/registry");
    ASSERT_THAT(registry, IsOk());
    registry_ = std::move(registry).value();
  }

  // A copy of the good checkpoint for one case to break.
  std::string Broken(const std::string& name) { return CopyOf(good_, dir_ + "/" + name); }

  void ExpectRefused(const std::string& directory, const std::vector<std::string>& named,
                     const ImportOptions& options = {}) {
    auto imported = ImportCheckpoint(*registry_, "refused", directory, options);
    ASSERT_FALSE(imported.ok()) << directory << " was imported";
    for (const std::string& part : named) {
      EXPECT_NE(imported.status().message().find(part), std::string::npos)
          << "the error should name " << part << ": " << imported.status().message();
    }
  }

  std::string tokenizer_dir_;
  std::string dir_;
  std::string good_;
  std::unique_ptr<ModelRegistry> registry_;
};

TEST_F(ImportRefusalTest, BrokenCheckpointsAreRefusedNamingTheProblemAndNothingIsPublished) {
  {
    const std::string broken = Broken("truncated");
    std::string weights = *ReadFile(broken + "/model.safetensors");
    weights.resize(weights.size() / 2);
    ASSERT_THAT(WriteFileAtomic(broken + "/model.safetensors", weights), IsOk());
    ExpectRefused(broken, {"model.safetensors"});
  }
  {
    const std::string broken = Broken("missing_layer");
    json config = json::parse(*ReadFile(broken + "/config.json"));
    config["num_hidden_layers"] = 3;
    ASSERT_THAT(WriteFileAtomic(broken + "/config.json", config.dump()), IsOk());
    ExpectRefused(broken, {"missing tensor", "model.layers.2."});
  }
  {
    const std::string broken = Broken("phi3");
    json config = json::parse(*ReadFile(broken + "/config.json"));
    config["model_type"] = "phi3";
    ASSERT_THAT(WriteFileAtomic(broken + "/config.json", config.dump()), IsOk());
    ExpectRefused(broken, {"model_type", "phi3", "qkv_proj"});
  }
  {
    const std::string broken = Broken("wordpiece");
    json tokenizer = json::parse(*ReadFile(broken + "/tokenizer.json"));
    tokenizer["model"]["type"] = "WordPiece";
    ASSERT_THAT(WriteFileAtomic(broken + "/tokenizer.json", tokenizer.dump()), IsOk());
    ExpectRefused(broken, {"tokenizer.json", "WordPiece"});
  }
  {
    const std::string broken = Broken("no_tokenizer");
    fs::remove(broken + "/tokenizer.json");
    fs::remove(broken + "/tokenizer_config.json");
    ExpectRefused(broken, {"no tokenizer", "tokenizer.json", "tokenizer.model"});
  }
  {
    const std::string broken = Broken("nan");
    auto model = LoadModel(broken);
    ASSERT_THAT(model, IsOk());
    (*model)->final_norm().fill_(std::nanf(""));
    ASSERT_THAT(SaveModel(**model, nullptr, broken), IsOk());
    ExpectRefused(broken, {"not finite"});
  }
  {
    const std::string task_file = dir_ + "/bad_task.json";
    ASSERT_THAT(WriteFileAtomic(task_file, "{\"name\": \"x\"}"), IsOk());
    ImportOptions options;
    options.task_path = task_file;
    ExpectRefused(good_, {"bad_task.json"}, options);
  }
  {
    const std::string small_vocab = Broken("small_vocab");
    json config = json::parse(*ReadFile(small_vocab + "/config.json"));
    config["vocab_size"] = 1000;
    config["bos_token_id"] = 1;
    config["eos_token_id"] = 2;
    ASSERT_THAT(WriteFileAtomic(small_vocab + "/config.json", config.dump()), IsOk());
    ExpectRefused(small_vocab, {"50257", "1000", "does not belong"});
  }
  EXPECT_FALSE(ImportCheckpoint(*registry_, "../escape", good_).ok());
  EXPECT_THAT(ImportCheckpoint(*registry_, "nowhere", dir_ + "/absent"), StatusIs(absl::StatusCode::kNotFound));
  auto models = registry_->ListModels();
  ASSERT_THAT(models, IsOk());
  EXPECT_TRUE(models->empty()) << "a refused import published something";

  // Through the CLI: exit code 1, the problem named.
  std::string out;
  EXPECT_EQ(RunImport("--model " + dir_ + "/phi3 --name refused --registry-dir " + dir_ + "/registry",
                      dir_ + "/cli.log", &out),
            1);
  EXPECT_NE(out.find("phi3"), std::string::npos) << out;
  ASSERT_EQ(RunImport("--model " + good_ + " --name good --registry-dir " + dir_ + "/registry", dir_ + "/good.log",
                      &out),
            0)
      << out;
}

// A LoRA adapter (PEFT layout, as a LoRA job writes to <output>/adapter) becomes an adapter version
// of a registered base, served over it by name; an adapter that does not fit its base, or a base
// that is not a full checkpoint, is refused with the problem named and nothing is published.
TEST_F(ImportRefusalTest, AdapterIsPublishedOverItsBaseVersionAndMisfitsAreRefused) {
  ASSERT_THAT(ImportCheckpoint(*registry_, "base", good_), IsOk());
  const std::vector<std::string> targets = {"q_proj", "v_proj"};
  auto model = LoadModel(good_);
  ASSERT_THAT(model, IsOk());
  const std::string adapter = ::promptintern::testing::SaveRandomAdapter(**model, 7, targets);
  ASSERT_FALSE(adapter.empty());
  ServedTask task = QueryAsPromptTask("base-task");
  task.task.instruction = "Answer with one shell command.";
  ASSERT_THAT(WriteFileAtomic(adapter + "/task.json", ServedTaskToJson(task)), IsOk());

  auto imported = ImportAdapter(*registry_, "base-task", adapter, "base");
  ASSERT_THAT(imported, IsOk());
  EXPECT_EQ(imported->adapter_of, "base@1");
  EXPECT_TRUE(imported->has_task);
  EXPECT_GT(imported->parameters, 0);
  EXPECT_EQ(imported->files, (std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors", "task.json"}));
  auto manifest = registry_->GetVersion("base-task", 1);
  ASSERT_THAT(manifest, IsOk());
  ASSERT_TRUE(manifest->adapter_of.has_value());
  EXPECT_EQ(manifest->adapter_of->model, "base");
  EXPECT_EQ(manifest->adapter_of->version, 1);

  // The service that serves the base serves the adapter by name, with the adapter's task.
  ServingOptions options;
  options.engine.max_batch_size = 2;
  auto served = ServedModel::Load(*registry_, "base@1", options);
  ASSERT_THAT(served, IsOk());
  auto target = (*served)->Target("base-task");
  ASSERT_THAT(target, IsOk());
  EXPECT_NE((*target)->adapter(), nullptr);
  EXPECT_EQ((*target)->task().task.instruction, task.task.instruction);

  // The base named with a selector is resolved once and then follows the poll, as adapter
  // references do: after the alias moves it still serves until references are refreshed.
  ASSERT_THAT(ImportCheckpoint(*registry_, "base", good_), IsOk());  // base@2
  ASSERT_THAT(registry_->SetAlias("base", "production", 1, "test"), IsOk());
  EXPECT_THAT((*served)->Target("base@production"), IsOk());
  ASSERT_THAT(registry_->SetAlias("base", "production", 2, "test"), IsOk());
  auto cached = (*served)->Target("base@production");
  ASSERT_THAT(cached, IsOk()) << "resolved again on a request, not at the poll";
  EXPECT_EQ(*cached, (*served)->base());
  EXPECT_EQ((*served)->DropStaleReferences(), 1);
  EXPECT_THAT((*served)->Target("base@production"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*served)->Target("base@2"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*served)->Target("base@1"), IsOk());

  // Misfits.
  const auto expect_refused = [&](const std::string& directory, const std::string& base,
                                  const std::vector<std::string>& named) {
    auto refused = ImportAdapter(*registry_, "refused", directory, base);
    ASSERT_FALSE(refused.ok()) << directory << " over " << base << " was imported";
    for (const std::string& part : named) {
      EXPECT_NE(refused.status().message().find(part), std::string::npos)
          << "the error should name " << part << ": " << refused.status().message();
    }
  };
  expect_refused(adapter, "nobody", {"nobody"});
  expect_refused(adapter, "base-task", {"itself an adapter", "base@1"});
  {
    // An adapter trained on a wider model of the same family.
    const std::string wide = dir_ + "/wide";
    ASSERT_TRUE(::promptintern::testing::WriteFamilyCheckpoint(
        wide, tokenizer_dir_,
        GptTwoLlamaConfig(32),
        DType::kF32, 6));
    auto wide_model = LoadModel(wide);
    ASSERT_THAT(wide_model, IsOk());
    const std::string wide_adapter = ::promptintern::testing::SaveRandomAdapter(**wide_model, 8, targets);
    ASSERT_FALSE(wide_adapter.empty());
    expect_refused(wide_adapter, "base@1", {"does not fit base@1"});
  }
  {
    const std::string no_weights = CopyOf(adapter, dir_ + "/no_weights");
    fs::remove(no_weights + "/adapter_model.safetensors");
    expect_refused(no_weights, "base", {"adapter_model.safetensors"});
  }
  {
    // NaN updates.
    auto nan_model = LoadModel(good_);
    ASSERT_THAT(nan_model, IsOk());
    LoraConfig config;
    config.rank = 4;
    config.alpha = 8;
    config.target_modules = targets;
    ASSERT_THAT(AttachLora(**nan_model, config, 3), IsOk());
    {
      at::NoGradGuard no_grad;
      for (auto& [path, projection] : (*nan_model)->NamedProjections()) {
        if (projection->has_lora()) projection->lora_b.fill_(std::nanf(""));
      }
    }
    const std::string nan_adapter = dir_ + "/nan_adapter";
    ASSERT_THAT(SaveLoraAdapter(**nan_model, config, "test", nan_adapter), IsOk());
    expect_refused(nan_adapter, "base", {"not finite"});
  }
  EXPECT_FALSE(ImportAdapter(*registry_, "base", adapter, "base").ok()) << "an adapter named like its base";
  auto models = registry_->ListModels();
  ASSERT_THAT(models, IsOk());
  EXPECT_EQ(models->size(), 2u) << "a refused adapter published something";

  // Through the CLI.
  std::string out;
  ASSERT_EQ(RunImport("--adapter-of base@1 --model " + adapter + " --name base-cli --registry-dir " + dir_ +
                          "/registry",
                      dir_ + "/adapter_cli.log", &out),
            0)
      << out;
  EXPECT_NE(out.find("base-cli@1"), std::string::npos) << out;
  EXPECT_NE(out.find("LoRA adapter of base@1"), std::string::npos) << out;
  EXPECT_EQ(RunImport("--adapter-of nobody --model " + adapter + " --name base-cli --registry-dir " + dir_ +
                          "/registry",
                      dir_ + "/adapter_cli_refused.log", &out),
            1);
  EXPECT_NE(out.find("nobody"), std::string::npos) << out;
}

// An arch fixture (vocabulary 256) with a real tokenizer beside it: they do not belong together.
TEST(ImportTest, ArchFixtureWithAForeignTokenizerIsRefused) {
  const std::string fixture = SharedDir() + "/models/arch-fixtures/qwen3";
  const std::string tokenizer_dir = SharedTokenizerDir("qwen3");
  if (!PathExists(fixture + "/config.json") || tokenizer_dir.empty()) GTEST_SKIP() << "../shared fixtures absent";
  const std::string dir = MakeTempDir("import_fixture");
  const std::string checkpoint = CopyOf(fixture, dir + "/qwen3");
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(tokenizer_dir + "/" + file, checkpoint + "/" + file);
  }
  auto registry = ModelRegistry::OpenLocal(dir + "/registry");
  ASSERT_THAT(registry, IsOk());
  auto imported = ImportCheckpoint(**registry, "fixture", checkpoint);
  ASSERT_FALSE(imported.ok());
  EXPECT_NE(imported.status().message().find("vocab_size is 256"), std::string::npos) << imported.status();
}

}  // namespace
}  // namespace promptintern
