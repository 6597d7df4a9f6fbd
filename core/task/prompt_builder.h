// Renders a query into model input for one point of the schedule: the template compressed to the
// stage's keep-ratio, the k most relevant pool examples (BM25; never the query's own pair), then
// the query. Training, evaluation and the inference service all render through this class, so the
// text a model is trained on is the text it is served.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/retrieve/bm25.h"
#include "core/task/task.h"

namespace promptintern {

class PromptBuilder {
 public:
  static absl::StatusOr<std::unique_ptr<PromptBuilder>> Create(const PromptFormat& format,
                                                               std::vector<Example> pool, Bm25Params params);

  // `template_text` is the (already compressed) template; "" for none.
  std::string Render(const std::string& template_text, int num_examples, const std::string& query) const;
  std::vector<Example> RetrieveExamples(const std::string& query, int num_examples) const;

  const PromptFormat& format() const { return format_; }

 private:
  PromptBuilder(PromptFormat format, Bm25Retriever retriever) : format_(std::move(format)), retriever_(std::move(retriever)) {}
  PromptFormat format_;
  Bm25Retriever retriever_;
};

}  // namespace promptintern
