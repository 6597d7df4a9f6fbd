// Bring your own model, end to end: a PromptIntern job fine-tunes (LoRA) a Qwen3- and a
// Gemma-3-architecture checkpoint that carry the real tokenizers of those models, through every
// stage, on a real promptintern-trainer process; the version it publishes is served by a real
// promptintern-inference process on loopback. The models are tiny and random (what is under test
// is everything around the weights), the vocabularies are the real 151669 and 262144 ids.
//
// Checked against independent computations in this process: the served text is what the library
// generates from the published checkpoint, decoded without special tokens; the trainer's own
// evaluation (computed on the model in its memory before it was reloaded from anywhere) is
// reproduced exactly by the checkpoint read back from the registry; a save and reload keeps every
// logit; and the checkpoint is still a checkpoint of its family (config.json as Hugging Face
// writes it, EOS ids as the base had them).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "client/lib/inference_client.h"
#include "client/lib/trainer_client.h"
#include "core/checkpoint/checkpoint.h"
#include "core/eval/inference_eval.h"
#include "core/model/decoder.h"
#include "core/pipeline/job_spec.h"
#include "core/pipeline/task_builder.h"
#include "core/registry/registry.h"
#include "core/serve/engine.h"
#include "core/serve/output_processor.h"
#include "core/task/prompt_builder.h"
#include "core/task/task_json.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file.h"
#include "core/util/threads.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::ServiceProcess;
using ::promptintern::testing::SharedTokenizerDir;
using nlohmann::json;

struct Family {
  std::string name;            // test and model name
  std::string tokenizer;       // ../shared/tokenizers/<tokenizer>
  std::function<std::string(const Tokenizer&)> config_json;
  DType dtype;                 // of the base checkpoint
  std::string class_name;      // config.json "architectures"
  bool has_bos;                // the tokenizer's prompt prefix
  std::vector<std::string> special_tokens;  // never in served text
};

std::ostream& operator<<(std::ostream& out, const Family& family) { return out << family.name; }

std::vector<Family> Families() {
  return {
      {"qwen3", "qwen3",
       [](const Tokenizer& tokenizer) { return ::promptintern::testing::TinyQwen3ConfigJson(tokenizer.vocab_size()); },
       DType::kF32, "Qwen3ForCausalLM", /*has_bos=*/false, {"<|im_end|>", "<|endoftext|>", "<|im_start|>"}},
      // The real gemma-3-270m: 262144 embeddings, while the tokenizer's <image_soft_token> is 262144.
      {"gemma3", "gemma3",
       [](const Tokenizer& tokenizer) {
         return ::promptintern::testing::TinyGemma3ConfigJson(tokenizer.model_vocab_size());
       },
       DType::kBF16, "Gemma3ForCausalLM", /*has_bos=*/true, {"<bos>", "<eos>", "<end_of_turn>", "<start_of_turn>", "<pad>"}},
  };
}

std::string JobYaml(const std::string& name, const std::string& base) {
  return "name: " + name + R"(
seed: 3
threads: 1
model:
  base: )" + base + R"(
  finetune: lora
  lora: {rank: 4, alpha: 8}
task:
  synthetic: {seed: 1, train_size: 32, validation_size: 4, pool_size: 16}
  template:
    instruction: "Translate the request into a single bash command. Answer with the command only."
schedule: {kind: explicit, keep_ratios: [1, 0.5, 0], num_examples: [2, 1, 0]}
training: {steps: 6, batch_size: 2, max_length: 256, warmup_steps: 1, learning_rate: 5e-3}
eval: {limit: 2, stage_limit: 1, max_new_tokens: 6, modes: [query_only, full_prompt, compressed]}
)";
}

at::Tensor PromptLogits(const DecoderModel& model, const std::vector<int>& ids) {
  c10::InferenceMode guard;
  const at::Tensor tokens = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).view({1, -1});
  return *model.Logits(*model.Forward(tokens, {0}, nullptr));
}

class PretrainedFamilyTest : public ::testing::TestWithParam<Family> {};

TEST_P(PretrainedFamilyTest, LoraJobRunsEveryStagePublishesAndIsServed) {
  const Family& family = GetParam();
  const std::string tokenizer_dir = SharedTokenizerDir(family.tokenizer);
  if (tokenizer_dir.empty()) GTEST_SKIP() << "../shared/tokenizers/" << family.tokenizer << " is absent";
  SetComputeThreads(1);  // as the services run: the same arithmetic, so greedy choices agree
  const std::string dir = MakeTempDir("family_" + family.name);
  const std::string base = dir + "/base";
  ASSERT_TRUE(::promptintern::testing::WriteFamilyCheckpoint(base, tokenizer_dir, family.config_json, family.dtype, 7));
  const std::string name = family.name + "-bash";

  // The job, on the trainer service.
  ServiceProcess trainer_process;
  ASSERT_TRUE(trainer_process.Start(BinaryDir() + "/promptintern-trainer",
                                    {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", dir + "/data",
                                     "--registry-dir", dir + "/registry", "--threads", "1", "--allowed-paths", dir},
                                    dir + "/trainer.log"));
  TrainerClient trainer(trainer_process.address());
  const std::string yaml = JobYaml(name, base);
  auto job = trainer.SubmitJob(yaml);
  ASSERT_THAT(job, IsOk());
  int stage_starts = 0;
  ASSERT_THAT(trainer
                  .WatchJob(job->job_id(),
                            [&](const v1::JobEvent& event) {
                              stage_starts += event.kind() == v1::JobEvent::KIND_STAGE_STARTED;
                              return true;
                            })
                  , IsOk());
  auto finished = trainer.GetJob(job->job_id());
  ASSERT_THAT(finished, IsOk());
  ASSERT_EQ(finished->state(), v1::JOB_STATE_SUCCEEDED) << finished->error() << "\n" << *ReadFile(dir + "/trainer.log");
  EXPECT_EQ(stage_starts, 3);
  ASSERT_EQ(finished->model_version(), 1);
  ASSERT_THAT(trainer.SetAlias(name, "production", 1, "test"), IsOk());

  // The published checkpoint, read back here.
  auto registry = ModelRegistry::OpenLocal(dir + "/registry");
  ASSERT_THAT(registry, IsOk());
  auto version_dir = (*registry)->Materialize(name, 1);
  ASSERT_THAT(version_dir, IsOk());
  auto manifest = (*registry)->GetVersion(name, 1);
  ASSERT_THAT(manifest, IsOk());
  EXPECT_EQ(manifest->tokenizer, "tokenizer.json");
  EXPECT_EQ(manifest->base_model, base);
  auto checkpoint = LoadCheckpoint(*version_dir);
  ASSERT_THAT(checkpoint, IsOk());
  const DecoderModel& model = *checkpoint->model;
  const Tokenizer& tokenizer = *checkpoint->tokenizer;

  // Still a checkpoint of its family, with the base's EOS ids (the tokenizer's are not written in).
  const json config = json::parse(*ReadFile(*version_dir + "/config.json"));
  const json base_config = json::parse(*ReadFile(base + "/config.json"));
  EXPECT_EQ(config["architectures"][0], family.class_name);
  EXPECT_EQ(config["model_type"], base_config["model_type"]);
  EXPECT_EQ(config["eos_token_id"], base_config["eos_token_id"]);
  EXPECT_EQ(config["vocab_size"], base_config["vocab_size"]);
  // LoRA was merged into the projections; embeddings (BF16 in Gemma's base) are exactly the base's.
  auto base_model = LoadModel(base);
  ASSERT_THAT(base_model, IsOk());
  EXPECT_TRUE(at::equal(checkpoint->model->embed_tokens(), (*base_model)->embed_tokens()));
  EXPECT_FALSE(at::equal(checkpoint->model->layers()[0].q_proj.weight, (*base_model)->layers()[0].q_proj.weight));

  // The trainer evaluated the model it held in memory; the checkpoint read back gives the very
  // same answers, token for token.
  auto spec = ParseJobSpec(yaml, dir);
  ASSERT_THAT(spec, IsOk());
  auto task = BuildTask(spec->task);
  ASSERT_THAT(task, IsOk());
  auto served_task = ServedTaskFromJson(*ReadFile(*version_dir + "/task.json"), "task.json");
  ASSERT_THAT(served_task, IsOk());
  auto prompts = PromptBuilder::Create(served_task->task.format, served_task->task.example_pool, served_task->retrieval);
  ASSERT_THAT(prompts, IsOk());
  const json report = json::parse(*ReadFile(dir + "/data/jobs/" + job->job_id() + "/run/report.json"));
  ASSERT_EQ(report["modes"][0]["mode"], "query_only");
  std::vector<EvalItem> items;
  for (int i = 0; i < 2; ++i) {
    items.push_back({(*prompts)->Render("", 0, task->validation[i].query), task->validation[i].answer});
  }
  EvalOptions options;
  options.max_new_tokens = 6;
  options.stop_strings = {task->format.example_separator};
  EngineOptions engine_options;
  engine_options.max_batch_size = 1;  // as the trainer evaluates
  auto engine = Engine::Start(model, engine_options);
  ASSERT_THAT(engine, IsOk());
  auto reevaluated = EvaluatePrompts(**engine, tokenizer, items, options, "query_only");
  ASSERT_THAT(reevaluated, IsOk());
  EXPECT_EQ(reevaluated->predictions, report["modes"][0]["predictions"].get<std::vector<std::string>>());
  EXPECT_EQ(reevaluated->mean_input_tokens, report["modes"][0]["mean_input_tokens"].get<double>());

  // Saved and loaded again: the same logits, exactly.
  const std::string query = "count the lines of notes.txt";
  auto prompt_ids = tokenizer.EncodePrompt((*prompts)->Render("", 0, query));
  ASSERT_THAT(prompt_ids, IsOk());
  EXPECT_EQ(!prompt_ids->empty() && prompt_ids->front() == tokenizer.bos_id(), family.has_bos);
  ASSERT_THAT(SaveModel(model, nullptr, dir + "/resaved"), IsOk());
  auto resaved = LoadModel(dir + "/resaved");
  ASSERT_THAT(resaved, IsOk());
  EXPECT_TRUE(at::equal(PromptLogits(model, *prompt_ids), PromptLogits(**resaved, *prompt_ids)));

  // Served by the inference service.
  ServiceProcess inference_process;
  ASSERT_TRUE(inference_process.Start(BinaryDir() + "/promptintern-inference",
                                      {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--registry-dir",
                                       dir + "/registry", "--model", name + "@production", "--poll-seconds", "0.2",
                                       "--threads", "1", "--max-batch-size", "2"},
                                      dir + "/inference.log"));
  InferenceClient client(inference_process.address());
  for (int i = 0; i < 600 && !client.GetModel().ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto info = client.GetModel();
  ASSERT_TRUE(info.ok()) << info.status() << "\n" << *ReadFile(dir + "/inference.log");
  EXPECT_EQ(info->version(), 1);
  EXPECT_EQ(info->parameters(), model.config().NumParameters());

  v1::GenerateRequest request;
  request.set_query(query);
  request.set_max_tokens(8);
  auto served = client.Generate(request);
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ(served->usage().input_tokens(), static_cast<int64_t>(prompt_ids->size()));
  EXPECT_GT(served->usage().baseline_input_tokens(), served->usage().input_tokens());
  EngineRequest local;
  local.prompt_ids = *prompt_ids;
  local.max_new_tokens = 8;
  OutputOptions output;
  output.tokenizer = &tokenizer;
  auto generated = GenerateOffline(model, {local}, output);
  ASSERT_THAT(generated, IsOk());
  EXPECT_EQ(served->text(), generated->front().text);
  auto skipped = tokenizer.Decode(generated->front().token_ids, SpecialTokens::kSkip);
  ASSERT_THAT(skipped, IsOk());
  EXPECT_EQ(served->text(), *skipped);
  for (const std::string& special : family.special_tokens) {
    EXPECT_EQ(served->text().find(special), std::string::npos) << special << " leaked into " << served->text();
  }
  std::string streamed;
  auto last = client.GenerateStream(request, [&](const v1::GenerateResponse& chunk) { streamed += chunk.text(); });
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(streamed, served->text());
}

INSTANTIATE_TEST_SUITE_P(Families, PretrainedFamilyTest, ::testing::ValuesIn(Families()),
                         [](const ::testing::TestParamInfo<Family>& info) { return info.param.name; });

}  // namespace
}  // namespace promptintern
