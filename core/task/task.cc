#include "core/task/task.h"

#include "absl/strings/str_cat.h"

namespace promptintern {

std::string TemplateText(const Task& task) {
  if (task.document.empty()) return task.instruction;
  if (task.instruction.empty()) return task.document;
  return absl::StrCat(task.instruction, "\n\n", task.document);
}

std::string RenderPrompt(const PromptFormat& format, absl::string_view template_text,
                         const std::vector<Example>& examples, absl::string_view query) {
  std::string prompt;
  if (!template_text.empty()) absl::StrAppend(&prompt, template_text, format.template_separator);
  for (const Example& example : examples) {
    absl::StrAppend(&prompt, format.query_prefix, example.query, format.answer_prefix, RenderCompletion(example.answer),
                    format.example_separator);
  }
  absl::StrAppend(&prompt, format.query_prefix, query, format.answer_prefix);
  return prompt;
}

std::string RenderCompletion(absl::string_view answer) { return absl::StrCat(" ", answer); }

}  // namespace promptintern
