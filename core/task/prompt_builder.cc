#include "core/task/prompt_builder.h"

#include "core/util/status_macros.h"

namespace promptintern {

absl::StatusOr<std::unique_ptr<PromptBuilder>> PromptBuilder::Create(const PromptFormat& format,
                                                                     std::vector<Example> pool, Bm25Params params) {
  ASSIGN_OR_RETURN(Bm25Retriever retriever, Bm25Retriever::Build(std::move(pool), params));
  return std::unique_ptr<PromptBuilder>(new PromptBuilder(format, std::move(retriever)));
}

std::vector<Example> PromptBuilder::RetrieveExamples(const std::string& query, int num_examples) const {
  std::vector<Example> examples;
  if (num_examples <= 0) return examples;
  // Most relevant last, nearest the query, as few-shot prompts usually order them.
  const std::vector<size_t> top = retriever_.TopK(query, static_cast<size_t>(num_examples));
  for (auto it = top.rbegin(); it != top.rend(); ++it) examples.push_back(retriever_.example(*it));
  return examples;
}

std::string PromptBuilder::Render(const std::string& template_text, int num_examples, const std::string& query) const {
  return RenderPrompt(format_, template_text, RetrieveExamples(query, num_examples), query);
}

}  // namespace promptintern
