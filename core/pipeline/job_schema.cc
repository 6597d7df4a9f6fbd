#include "core/pipeline/job_schema.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "core/model/architecture.h"
#include "core/pipeline/promotion.h"
#include "core/task/task_kind.h"

namespace promptintern {
namespace {

// Sane limits: far beyond any job this trainer is for, far below what overflows or hangs it.
// examples/jobs/README.md ("Limits") lists them.
constexpr int64_t kMaxSteps = 100'000'000;
constexpr int64_t kMaxExamples = 10'000'000;
constexpr int64_t kMaxBatchSize = 65'536;
constexpr int64_t kMaxSequenceLength = 1 << 20;
constexpr int64_t kMaxNewTokens = 65'536;
constexpr int64_t kMaxModelWidth = 1 << 18;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxVocabSize = 1 << 20;
// SentencePiece's byte fallback reserves 256 byte pieces plus the special tokens.
constexpr int64_t kMinVocabSize = 300;
constexpr int64_t kMaxStages = 1000;
constexpr int64_t kMaxFewShotExamples = 1000;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr IntRule kNonNegativeInt64{0, kInt64Max, "a non-negative integer"};
constexpr IntRule kNonNegativeInt{0, kIntMax, "a non-negative integer"};
constexpr IntRule kStepCount{1, kMaxSteps, "a positive integer"};
constexpr IntRule kOptionalStepCount{0, kMaxSteps, "a non-negative integer"};
constexpr IntRule kExampleCount{1, kMaxExamples, "a positive integer"};
constexpr IntRule kOptionalExampleCount{0, kMaxExamples, "a non-negative integer"};
constexpr IntRule kBatchSize{1, kMaxBatchSize, "a positive integer"};
constexpr IntRule kModelWidth{1, kMaxModelWidth, "a positive integer"};

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr DoubleRule kAnyNumber{-kInfinity, false, kInfinity, false, "a finite number"};
constexpr DoubleRule kPositiveNumber{0.0, false, kInfinity, false, "a positive number"};
constexpr DoubleRule kNonNegativeNumber{0.0, true, kInfinity, false, "a non-negative number"};
constexpr DoubleRule kUnitClosed{0.0, true, 1.0, true, "a number in [0, 1]"};
constexpr DoubleRule kUnitHalfOpen{0.0, true, 1.0, false, "a number in [0, 1)"};

// The accessor of one JobSpec member, as a function pointer the table can hold.
#define JOB_MEMBER(member) [](JobSpec& spec) -> auto& { return spec.member; }

JobField Declared(std::string path, JobFieldType type, JobFieldAccess access, const char* doc) {
  JobField field{std::move(path), type, access};
  field.doc = doc;
  return field;
}

JobField Integer(std::string path, JobFieldAccess access, IntRule rule, const char* doc = "") {
  JobField field = Declared(std::move(path), JobFieldType::kInteger, access, doc);
  field.int_rule = rule;
  return field;
}
JobField Unsigned(std::string path, JobFieldAccess access, const char* doc = "") {
  return Declared(std::move(path), JobFieldType::kUnsigned, access, doc);
}
JobField Number(std::string path, JobFieldAccess access, DoubleRule rule, const char* doc = "") {
  JobField field = Declared(std::move(path), JobFieldType::kNumber, access, doc);
  field.number_rule = rule;
  return field;
}
JobField Text(std::string path, JobFieldAccess access, bool allow_empty, const char* doc = "") {
  JobField field = Declared(std::move(path), JobFieldType::kText, access, doc);
  field.allow_empty = allow_empty;
  return field;
}
JobField Word(std::string path, JobFieldAccess access, std::vector<std::string> (*choices)(const JobSpec&),
              const char* doc = "") {
  JobField field = Declared(std::move(path), JobFieldType::kWord, access, doc);
  field.choices = choices;
  return field;
}
JobField Path(std::string path, JobFieldAccess access, const char* doc = "") {
  return Declared(std::move(path), JobFieldType::kPath, access, doc);
}
JobField WordList(std::string path, JobFieldAccess access, std::vector<std::string> (*choices)(const JobSpec&),
                  const char* doc = "") {
  JobField field = Declared(std::move(path), JobFieldType::kWordList, access, doc);
  field.choices = choices;
  return field;
}
JobField NumberList(std::string path, JobFieldAccess access, DoubleRule rule, const char* doc = "") {
  JobField field = Declared(std::move(path), JobFieldType::kNumberList, access, doc);
  field.number_rule = rule;
  return field;
}
JobField IntegerList(std::string path, JobFieldAccess access, IntRule rule, const char* doc = "") {
  JobField field = Declared(std::move(path), JobFieldType::kIntegerList, access, doc);
  field.int_rule = rule;
  return field;
}

// Modifiers, so each table row reads as one declaration.
JobField ByCode(JobField field) {
  field.read_by_code = true;
  return field;
}
JobField WrittenIf(JobField field, bool (*written)(const JobSpec&)) {
  field.written = written;
  return field;
}
JobField RuleInDoc(JobField field) {
  field.doc_states_rule = true;
  return field;
}
JobField DefaultText(JobField field, const char* text) {
  field.default_text = text;
  return field;
}

std::vector<std::string> FinetuneChoices(const JobSpec&) { return {"full", "lora"}; }
std::vector<std::string> LoraModuleChoices(const JobSpec&) { return ProjectionShortNames(); }
std::vector<std::string> TaskKindChoices(const JobSpec&) { return TaskKindNames(); }
std::vector<std::string> TaskSourceChoices(const JobSpec&) { return {"synthetic", "jsonl"}; }
std::vector<std::string> TemplateChoices(const JobSpec&) {
  std::vector<std::string> names = BuiltinTemplateNames();
  names.insert(names.end(), {kKindTemplate, kNoTemplate});
  return names;
}
std::vector<std::string> CompressionChoices(const JobSpec&) { return {"self_information", "random", "none"}; }
std::vector<std::string> RetrievalChoices(const JobSpec&) { return {"bm25"}; }
std::vector<std::string> ScheduleKindChoices(const JobSpec&) {
  std::vector<std::string> names;
  for (int k = static_cast<int>(ScheduleKind::kLinear); k <= static_cast<int>(ScheduleKind::kTemplateOnly); ++k) {
    names.emplace_back(ScheduleKindName(static_cast<ScheduleKind>(k)));
  }
  return names;
}
std::vector<std::string> EvalModeChoices(const JobSpec&) { return {"query_only", "full_prompt", "compressed"}; }
std::vector<std::string> PromoteMetricChoices(const JobSpec& spec) {
  const TaskKind* kind = FindTaskKind(spec.task.kind);  // resolved before promote is read
  const TaskMetric* metric = kind == nullptr ? nullptr : MetricOf(*kind);
  return PromotionMetricNames(metric == nullptr ? "" : metric->name);
}

bool FromScratch(const JobSpec& spec) { return spec.model.from_scratch; }
bool HasBase(const JobSpec& spec) { return !spec.model.from_scratch && !spec.model.base.empty(); }
bool HasPretrainCorpus(const JobSpec& spec) {
  return spec.model.from_scratch && !spec.model.scratch.pretrain_corpus.empty();
}
// Written only when it is not its source's default, so that the canonical text of a job written
// before task kinds existed stays the same (a resumed run compares it with its job.yaml).
bool KindIsNotTheDefault(const JobSpec& spec) {
  if (spec.task.kind.empty()) return false;
  const TaskKind* by_source = DefaultTaskKind(spec.task.source);
  return by_source == nullptr || by_source->name != spec.task.kind;
}
// Unset names and paths are left out: an empty one is not a valid value in the file (it is
// empty only in a spec that was not parsed; the kind decides then).
bool HasTaskName(const JobSpec& spec) { return !spec.task.name.empty(); }
bool HasTrainPath(const JobSpec& spec) { return !spec.task.train_path.empty(); }
bool HasValidationPath(const JobSpec& spec) { return !spec.task.validation_path.empty(); }
bool HasPoolPath(const JobSpec& spec) { return !spec.task.pool_path.empty(); }
bool HasQueryField(const JobSpec& spec) { return !spec.task.query_field.empty(); }
bool HasAnswerField(const JobSpec& spec) { return !spec.task.answer_field.empty(); }
// A builtin with text already filled in (by the pipeline) is written as that text, which is what
// the run actually used.
bool TemplateIsBuiltin(const JobSpec& spec) {
  return !spec.task.template_builtin.empty() && spec.task.instruction.empty() && spec.task.document.empty();
}
bool TemplateIsText(const JobSpec& spec) { return !TemplateIsBuiltin(spec); }
// Files are read into the text fields at parse time; the file names are not kept.
bool Never(const JobSpec&) { return false; }
// The explicit lists are refused for the other kinds, so they are written only when used.
bool ScheduleIsExplicit(const JobSpec& spec) { return spec.schedule.kind == ScheduleKind::kExplicit; }
bool PromoteGiven(const JobSpec& spec) { return spec.promote.enabled; }
std::string ScheduleKindText(const JobSpec& spec) { return std::string(ScheduleKindName(spec.schedule.kind)); }

std::vector<JobField> BuildJobFields() {
  JobField schedule_kind{"schedule.kind", JobFieldType::kWord};
  schedule_kind.text = ScheduleKindText;
  schedule_kind.choices = ScheduleKindChoices;
  schedule_kind.read_by_code = true;

  return {
      ByCode(Text("name", JOB_MEMBER(name), false,
                  "Names a directory and a registry entry. Only `[A-Za-z0-9._-]`, at most 64 characters, and not "
                  "`.` or `..`.")),
      Unsigned("seed", JOB_MEMBER(seed)),
      Integer("threads", JOB_MEMBER(threads), kNonNegativeInt,
              "Compute threads. `0` means every core the process may use (its CPU affinity and cgroup CPU "
              "limit); more than that is refused."),

      WrittenIf(ByCode(Path("model.base", JOB_MEMBER(model.base),
                            "A Hugging Face checkpoint directory of a supported family (Llama 2/3.x, SmolLM2, "
                            "Mistral, Qwen2/2.5, Qwen3, Gemma 3 text; see the README), which must contain "
                            "`config.json`, its safetensors and its tokenizer, and whose weights (four copies for "
                            "full fine-tuning) fit in memory. Not with `scratch`. Prompts follow its tokenizer's "
                            "BOS convention and completions end with its EOS. `training.max_length` must fit its "
                            "`max_position_embeddings`. With `finetune: lora` the adapter is merged into `final/` "
                            "and also written alone, in PEFT's layout, to `<output>/adapter`.")),
                HasBase),
      WrittenIf(Integer("model.scratch.hidden_size", JOB_MEMBER(model.scratch.hidden_size), kModelWidth), FromScratch),
      WrittenIf(Integer("model.scratch.intermediate_size", JOB_MEMBER(model.scratch.intermediate_size), kModelWidth),
                FromScratch),
      WrittenIf(Integer("model.scratch.num_layers", JOB_MEMBER(model.scratch.num_layers),
                        IntRule{1, kMaxLayers, "a positive integer"}),
                FromScratch),
      WrittenIf(Integer("model.scratch.num_heads", JOB_MEMBER(model.scratch.num_heads), kModelWidth,
                        "Must divide `hidden_size`, and `hidden_size / num_heads` must be even (for rotary "
                        "embeddings)."),
                FromScratch),
      WrittenIf(Integer("model.scratch.num_kv_heads", JOB_MEMBER(model.scratch.num_kv_heads), kModelWidth,
                        "Must divide `num_heads`."),
                FromScratch),
      WrittenIf(Integer("model.scratch.context_length", JOB_MEMBER(model.scratch.context_length),
                        IntRule{1, kMaxSequenceLength, "a positive integer"},
                        "At least `training.max_length`."),
                FromScratch),
      WrittenIf(Integer("model.scratch.vocab_size", JOB_MEMBER(model.scratch.vocab_size),
                        IntRule{kMinVocabSize, kMaxVocabSize,
                                "an integer >= 300 (SentencePiece byte fallback takes 260 ids)"},
                        "The size of the SentencePiece BPE vocabulary trained on the task's text."),
                FromScratch),
      WrittenIf(Path("model.scratch.pretrain_corpus", JOB_MEMBER(model.scratch.pretrain_corpus),
                     "An optional text file with one document per line. It must exist."),
                HasPretrainCorpus),
      WrittenIf(Integer("model.scratch.pretrain_steps", JOB_MEMBER(model.scratch.pretrain_steps), kOptionalStepCount),
                FromScratch),
      Word("model.finetune", JOB_MEMBER(model.finetune), FinetuneChoices),
      Integer("model.lora.rank", JOB_MEMBER(model.lora_rank), IntRule{1, kMaxBatchSize, "a positive integer"}),
      Number("model.lora.alpha", JOB_MEMBER(model.lora_alpha), kPositiveNumber),
      Number("model.lora.dropout", JOB_MEMBER(model.lora_dropout), kUnitHalfOpen),
      DefaultText(WordList("model.lora.target_modules", JOB_MEMBER(model.lora_target_modules), LoraModuleChoices),
                  "all seven"),

      DefaultText(WrittenIf(ByCode(Word("task.kind", JOB_MEMBER(task.kind), TaskKindChoices,
                                        "The task kind (tasks/, one folder each), one of the kinds of the table "
                                        "below. The kind brings the data loader, the template `builtin` defaults "
                                        "to and the task's own metric.")),
                            KindIsNotTheDefault),
                  "the default of `source`"),
      DefaultText(WrittenIf(Text("task.name", JOB_MEMBER(task.name), false,
                                 "The task's label in reports and task.json."),
                            HasTaskName),
                  "the kind's name"),
      DefaultText(ByCode(Word("task.source", JOB_MEMBER(task.source), TaskSourceChoices,
                              "`synthetic` or `jsonl`. It must be the kind's source.")),
                  "the kind's, else `synthetic`"),
      Unsigned("task.synthetic.seed", JOB_MEMBER(task.synthetic_seed)),
      Integer("task.synthetic.train_size", JOB_MEMBER(task.synthetic_train_size), kExampleCount,
              "The examples, with validation and pool, must fit in memory."),
      Integer("task.synthetic.validation_size", JOB_MEMBER(task.synthetic_validation_size), kExampleCount),
      Integer("task.synthetic.pool_size", JOB_MEMBER(task.synthetic_pool_size), kExampleCount),
      WrittenIf(Path("task.jsonl.train", JOB_MEMBER(task.train_path), "Required when `source: jsonl`."), HasTrainPath),
      WrittenIf(Path("task.jsonl.validation", JOB_MEMBER(task.validation_path),
                     "Required when `source: jsonl`, except for kinds that split the train file themselves "
                     "(`mbpp`)."),
                HasValidationPath),
      DefaultText(WrittenIf(Path("task.jsonl.pool", JOB_MEMBER(task.pool_path),
                                 "Where few-shot examples are retrieved from."),
                            HasPoolPath),
                  "the train set"),
      DefaultText(WrittenIf(Text("task.jsonl.query_field", JOB_MEMBER(task.query_field), false,
                                 "The JSON key that holds the query."),
                            HasQueryField),
                  "the kind's (`query`; `text` for `mbpp`)"),
      DefaultText(WrittenIf(Text("task.jsonl.answer_field", JOB_MEMBER(task.answer_field), false,
                                 "The JSON key that holds the answer. It must differ from `query_field`."),
                            HasAnswerField),
                  "the kind's (`answer`; `code` for `mbpp`)"),
      Integer("task.jsonl.train_limit", JOB_MEMBER(task.train_limit), kNonNegativeInt64,
              "Use at most this many training examples. `0` means all."),
      Integer("task.jsonl.validation_limit", JOB_MEMBER(task.validation_limit), kNonNegativeInt64,
              "Use at most this many validation examples. `0` means all."),
      DefaultText(WrittenIf(ByCode(Word("task.template.builtin", JOB_MEMBER(task.template_builtin), TemplateChoices,
                                        "A built-in template: `bash` (the NL-to-bash instruction and command "
                                        "reference) or `python` (MBPP's instruction). `default` is the kind's "
                                        "own (`none` for a kind without one); `none` means no template. Not with "
                                        "instruction or document text.")),
                            TemplateIsBuiltin),
                  "`default`"),
      WrittenIf(ByCode(Text("task.template.instruction", JOB_MEMBER(task.instruction), true,
                            "Instruction text. Not with `instruction_file`.")),
                TemplateIsText),
      WrittenIf(ByCode(Path("task.template.instruction_file", JOB_MEMBER(task.instruction),
                            "A UTF-8 text file of at most 1 MiB whose content is the instruction.")),
                Never),
      WrittenIf(ByCode(Text("task.template.document", JOB_MEMBER(task.document), true,
                            "Reference document text. Not with `document_file`.")),
                TemplateIsText),
      WrittenIf(ByCode(Path("task.template.document_file", JOB_MEMBER(task.document),
                            "A UTF-8 text file of at most 1 MiB whose content is the document.")),
                Never),
      Text("task.format.query_prefix", JOB_MEMBER(task.format.query_prefix), true),
      Text("task.format.answer_prefix", JOB_MEMBER(task.format.answer_prefix), true),
      Text("task.format.example_separator", JOB_MEMBER(task.format.example_separator), true),
      Text("task.format.template_separator", JOB_MEMBER(task.format.template_separator), true),

      Word("compression.method", JOB_MEMBER(compression.method), CompressionChoices),
      Text("compression.scorer", JOB_MEMBER(compression.scorer), false,
           "Whose surprisal scores the tokens: `model` (the model being trained) or the path of a checkpoint "
           "that uses the same tokenizer. The path is checked only for `self_information`."),

      Word("retrieval.method", JOB_MEMBER(retrieval.method), RetrievalChoices),
      Number("retrieval.k1", JOB_MEMBER(retrieval.k1), kNonNegativeNumber),
      Number("retrieval.b", JOB_MEMBER(retrieval.b), kUnitClosed),

      schedule_kind,
      Integer("schedule.stages", JOB_MEMBER(schedule.num_stages), IntRule{1, kMaxStages, "a positive integer"},
              "Number of stages S. See the note below the table for how it is inferred."),
      Integer("schedule.max_examples", JOB_MEMBER(schedule.max_examples),
              IntRule{0, kMaxFewShotExamples, "a non-negative integer"},
              "K, the number of examples in the full prompt. Not used by `explicit`."),
      Number("schedule.alpha", JOB_MEMBER(schedule.alpha), kPositiveNumber,
             "Steepness of the (inverse) exponential kinds."),
      WrittenIf(NumberList("schedule.keep_ratios", JOB_MEMBER(schedule.keep_ratios), kAnyNumber,
                           "Only for `explicit`; an error with any other kind. Must not increase, and must end at 0."),
                ScheduleIsExplicit),
      WrittenIf(IntegerList("schedule.num_examples", JOB_MEMBER(schedule.num_examples),
                            IntRule{std::numeric_limits<int>::min(), kMaxFewShotExamples, "an integer"},
                            "Only for `explicit`; an error with any other kind. Must not increase, and must end at "
                            "0."),
                ScheduleIsExplicit),
      DefaultText(NumberList("schedule.step_shares", JOB_MEMBER(schedule.step_shares), kAnyNumber,
                             "Each stage's share of `training.steps`. The entries must be > 0 and sum to 1."),
                  "`[]` (equal)"),

      Integer("training.steps", JOB_MEMBER(training.steps), kStepCount, "Total optimizer steps."),
      Integer("training.batch_size", JOB_MEMBER(training.batch_size), kBatchSize),
      Integer("training.gradient_accumulation", JOB_MEMBER(training.gradient_accumulation), kBatchSize),
      Integer("training.max_length", JOB_MEMBER(training.max_length),
              IntRule{16, kMaxSequenceLength, "an integer >= 16"},
              "Tokens per sequence. At most `scratch.context_length` when training from scratch."),
      Number("training.learning_rate", JOB_MEMBER(training.learning_rate), kPositiveNumber),
      Integer("training.warmup_steps", JOB_MEMBER(training.warmup_steps), kOptionalStepCount,
              "Less than `steps`."),
      Number("training.min_lr_ratio", JOB_MEMBER(training.min_lr_ratio), kUnitClosed),
      Number("training.weight_decay", JOB_MEMBER(training.weight_decay), kNonNegativeNumber),
      Number("training.beta1", JOB_MEMBER(training.beta1), kUnitHalfOpen),
      Number("training.beta2", JOB_MEMBER(training.beta2), kUnitHalfOpen),
      Number("training.max_grad_norm", JOB_MEMBER(training.max_grad_norm), kNonNegativeNumber,
             "`0` turns clipping off."),
      Integer("training.checkpoint_every", JOB_MEMBER(training.checkpoint_every), kOptionalStepCount,
              "Steps between mid-stage checkpoints. `0` means checkpoints only at stage ends."),

      Integer("eval.limit", JOB_MEMBER(eval.limit), kOptionalExampleCount,
              "Validation examples for the final evaluation. `0` means all."),
      Integer("eval.stage_limit", JOB_MEMBER(eval.stage_limit), kOptionalExampleCount,
              "Validation examples evaluated at the end of each stage. `0` means all."),
      Integer("eval.max_new_tokens", JOB_MEMBER(eval.max_new_tokens), IntRule{1, kMaxNewTokens, "a positive integer"}),
      WordList("eval.modes", JOB_MEMBER(eval.modes), EvalModeChoices, "The inference modes compared at the end."),
      Number("eval.compressed_keep_ratio", JOB_MEMBER(eval.compressed_keep_ratio), kUnitClosed),
      Number("eval.prices.input_per_million", JOB_MEMBER(eval.input_price_per_million), kNonNegativeNumber,
             "Price per million input tokens."),
      Number("eval.prices.output_per_million", JOB_MEMBER(eval.output_price_per_million), kNonNegativeNumber,
             "Price per million output tokens."),

      DefaultText(WrittenIf(ByCode(Word("promote.alias", JOB_MEMBER(promote.alias), nullptr,
                                        "The alias to move, e.g. `production`: a registry alias name.")),
                            PromoteGiven),
                  "required"),
      WrittenIf(ByCode(Text("promote.reference", JOB_MEMBER(promote.reference), false,
                            "`full_prompt`: the internalized model itself with the full prompt. `base`: "
                            "`model.base` as it was before fine-tuning (not for a from-scratch job). "
                            "`NAME@VERSION` or `NAME@ALIAS`: a registry version (for `promptintern train`, of "
                            "`--registry-dir`).")),
                PromoteGiven),
      WrittenIf(RuleInDoc(Word("promote.metric", JOB_MEMBER(promote.metric), PromoteMetricChoices,
                               "`exact_match` (a fraction in [0, 1]), `bleu` (0 to 100), or the task kind's own "
                               "metric (a fraction; `structure` for the bash kinds, `code_match` for `mbpp`).")),
                PromoteGiven),
      WrittenIf(Number("promote.max_drop", JOB_MEMBER(promote.max_drop), kAnyNumber,
                       "The largest drop allowed, in the metric's units. Negative demands that the query-only model "
                       "beat its reference by that much."),
                PromoteGiven),

      ByCode(Text("output.dir", JOB_MEMBER(output_dir), false,
                  "The run directory, resolved against the job file's directory like any other path. If it "
                  "exists, it must be a directory.")),
  };
}

#undef JOB_MEMBER

std::string Capitalized(std::string text) {
  if (!text.empty()) text[0] = absl::ascii_toupper(static_cast<unsigned char>(text[0]));
  return text;
}

std::string Quoted(const std::string& text) {
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}, {"\t", "\\t"}}),
                      "\"");
}

std::string Code(absl::string_view text) { return absl::StrCat("`", text, "`"); }

std::string CodeList(const std::vector<std::string>& words) {
  std::vector<std::string> coded;
  for (const std::string& word : words) coded.push_back(Code(word));
  if (coded.size() <= 1) return absl::StrJoin(coded, "");
  return absl::StrCat(absl::StrJoin(coded.begin(), coded.end() - 1, ", "), " or ", coded.back());
}

// The default column: the value of a default JobSpec, as a job file would write it.
std::string DefaultOf(const JobField& field) {
  if (field.default_text[0] != '\0') return field.default_text;
  JobSpec defaults;
  if (field.text != nullptr) return Code(field.text(defaults));
  return std::visit(
      [&](auto access) -> std::string {
        const auto& value = access(defaults);
        using Value = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<Value, std::string>) {
          if (value.empty()) return field.type == JobFieldType::kText && field.allow_empty ? "`\"\"`" : "none";
          return Code(field.type == JobFieldType::kWord ? value : Quoted(value));
        } else if constexpr (std::is_same_v<Value, double>) {
          return Code(FormatJobNumber(value));
        } else if constexpr (std::is_same_v<Value, std::vector<std::string>>) {
          return Code(absl::StrCat("[", absl::StrJoin(value, ", "), "]"));
        } else if constexpr (std::is_same_v<Value, std::vector<double>>) {
          std::vector<std::string> numbers;
          for (double number : value) numbers.push_back(FormatJobNumber(number));
          return Code(absl::StrCat("[", absl::StrJoin(numbers, ", "), "]"));
        } else if constexpr (std::is_same_v<Value, std::vector<int>>) {
          return Code(absl::StrCat("[", absl::StrJoin(value, ", "), "]"));
        } else {
          return Code(absl::StrCat(value));
        }
      },
      field.access);
}

// The sentence the type and bounds say; read_by_code fields state their rule in their doc.
std::string RuleOf(const JobField& field) {
  if (field.read_by_code || field.doc_states_rule) return "";
  const JobSpec defaults;
  switch (field.type) {
    case JobFieldType::kInteger: {
      const IntRule& rule = field.int_rule;
      const bool int_type = std::holds_alternative<int& (*)(JobSpec&)>(field.access);
      const bool bounded = rule.max < (int_type ? kIntMax : kInt64Max);
      return absl::StrCat(Capitalized(rule.description), bounded ? absl::StrCat(", at most ", rule.max) : "", ".");
    }
    case JobFieldType::kUnsigned:
      return "A non-negative integer.";
    case JobFieldType::kNumber:
      return absl::StrCat(Capitalized(field.number_rule.description), ".");
    case JobFieldType::kText:
      return field.allow_empty ? "Text; may be empty." : "Non-empty text.";
    case JobFieldType::kWord: {
      if (field.choices == nullptr) return "";
      const std::vector<std::string> choices = field.choices(defaults);
      if (choices.size() == 1) return absl::StrCat(Code(choices[0]), ", the only choice so far.");
      return absl::StrCat("One of ", CodeList(choices), ".");
    }
    case JobFieldType::kPath:
      return "A path, relative to the job file's directory.";
    case JobFieldType::kWordList:
      return absl::StrCat("A non-empty list without repeats, taken from ", CodeList(field.choices(defaults)), ".");
    case JobFieldType::kNumberList:
      return "A list of numbers.";
    case JobFieldType::kIntegerList:
      return "A list of integers.";
  }
  return "";
}

bool InTopLevelSection(const JobField& field, absl::string_view section) {
  if (section.empty()) return field.path.find('.') == std::string::npos;
  return absl::StartsWith(field.path, absl::StrCat(section, "."));
}

// The markers around each generated table in a Markdown file ("top" names the top-level fields).
constexpr std::string_view kMarkerOpen = "<!-- job-fields: ";
constexpr std::string_view kMarkerEnd = " -->";
constexpr std::string_view kMarkerClose = "<!-- /job-fields -->";
constexpr char kTopLevelName[] = "top";

}  // namespace

const std::vector<JobField>& JobFields() {
  static const auto* fields = new std::vector<JobField>(BuildJobFields());
  return *fields;
}

const JobField& JobFieldAt(absl::string_view path) {
  for (const JobField& field : JobFields()) {
    if (field.path == path) return field;
  }
  std::abort();  // only job_spec.cc calls this, with paths the table declares
}

std::vector<std::string> JobSectionKeys(absl::string_view section) {
  std::vector<std::string> keys;
  const std::string prefix = section.empty() ? "" : absl::StrCat(section, ".");
  for (const JobField& field : JobFields()) {
    if (!absl::StartsWith(field.path, prefix)) continue;
    const std::string rest = field.path.substr(prefix.size());
    const std::string key = rest.substr(0, rest.find('.'));
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  return keys;
}

std::string FormatJobNumber(double value) {
  for (int precision = 1; precision < 17; ++precision) {
    const std::string text = absl::StrFormat("%.*g", precision, value);
    double parsed = 0.0;
    if (absl::SimpleAtod(text, &parsed) && parsed == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

std::vector<std::string> JobReferenceSections() {
  std::vector<std::string> sections = {""};
  for (const std::string& key : JobSectionKeys("")) {
    if (key != "name" && key != "seed" && key != "threads" &&
        std::find(sections.begin(), sections.end(), key) == sections.end()) {
      sections.push_back(key);
    }
  }
  return sections;
}

std::string JobFieldReference(absl::string_view section) {
  std::string table = "| Field | Default | Meaning |\n|---|---|---|\n";
  const size_t strip = section.empty() ? 0 : section.size() + 1;
  for (const JobField& field : JobFields()) {
    if (!InTopLevelSection(field, section)) continue;
    const std::string rule = RuleOf(field);
    const std::string meaning =
        rule.empty() ? field.doc : (field.doc[0] == '\0' ? rule : absl::StrCat(rule, " ", field.doc));
    absl::StrAppend(&table, "| ", Code(field.path.substr(strip)), " | ", DefaultOf(field), " | ", meaning, " |\n");
  }
  return table;
}

absl::StatusOr<std::string> UpdateJobFieldReference(const std::string& markdown) {
  const std::vector<std::string> sections = JobReferenceSections();
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = markdown.find(kMarkerOpen, at);
    if (open == std::string::npos) break;
    const size_t name_start = open + kMarkerOpen.size();
    const size_t name_end = markdown.find(kMarkerEnd, name_start);
    if (name_end == std::string::npos) return absl::InvalidArgumentError("a job-fields marker is not closed by -->");
    const std::string name = markdown.substr(name_start, name_end - name_start);
    const std::string section = name == kTopLevelName ? "" : name;
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown job-fields section '", name, "'; known: ", kTopLevelName,
                                                     ", ", absl::StrJoin(sections.begin() + 1, sections.end(), ", ")));
    }
    const size_t body = markdown.find('\n', name_end);
    const size_t close = markdown.find(kMarkerClose, name_end);
    if (body == std::string::npos || close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("job-fields: ", name, " has no ", std::string(kMarkerClose)));
    }
    absl::StrAppend(&out, markdown.substr(at, body + 1 - at), JobFieldReference(section));
    at = close;
  }
  absl::StrAppend(&out, markdown.substr(at));
  return out;
}

}  // namespace promptintern
