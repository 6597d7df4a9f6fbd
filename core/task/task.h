// A task to internalize: the recurring template (instruction plus an optional reference
// document), the pool that few-shot examples are retrieved from, the train and validation sets,
// and the prompt format that renders (template, examples, query) into model input.
//
// Rendered prompt, every part optional except the query:
//   <template><template_separator>
//   <query_prefix><example query><answer_prefix> <example answer><example_separator>   (k times)
//   <query_prefix><query><answer_prefix>
// The model learns to continue with " <answer>" and EOS. With no template and no examples the
// prompt is just the query line: exactly what inference sends in query-only mode.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/data/example.h"

namespace promptintern {

struct PromptFormat {
  std::string query_prefix = "Input: ";
  std::string answer_prefix = "\nOutput:";
  std::string example_separator = "\n\n";
  std::string template_separator = "\n\n";
};

struct Task {
  std::string name;
  std::string kind;  // the task kind it was built by (core/task/task_kind.h); empty if unknown
  std::string instruction;
  std::string document;
  std::vector<Example> example_pool;
  std::vector<Example> train;
  std::vector<Example> validation;
  PromptFormat format;
};

// Instruction and document joined by a blank line (either may be empty).
std::string TemplateText(const Task& task);

std::string RenderPrompt(const PromptFormat& format, absl::string_view template_text,
                         const std::vector<Example>& examples, absl::string_view query);

// The text the model is trained to produce after the prompt (EOS is added as a token).
std::string RenderCompletion(absl::string_view answer);

}  // namespace promptintern
