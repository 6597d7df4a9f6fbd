// Compresses a template's text to a keep-ratio of its tokens under the model's tokenizer, with any
// TemplateCompressor ("none", "random", "self_information"), and returns the kept tokens as text.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/compress/token_selection.h"

namespace promptintern {

class Tokenizer;

// `surprisal` is needed (non-null) for "self_information" only.
absl::StatusOr<std::unique_ptr<TemplateCompressor>> MakeTemplateCompressor(const std::string& method, uint64_t seed,
                                                                            SurprisalFn surprisal);

struct CompressedTemplate {
  std::string text;
  int64_t original_tokens = 0;
  int64_t kept_tokens = 0;
};

// keep_ratio 0 removes the template whatever the method: the last stage is query-only.
absl::StatusOr<CompressedTemplate> CompressTemplate(TemplateCompressor& compressor, const Tokenizer& tokenizer,
                                                    const std::string& template_text, double keep_ratio);

}  // namespace promptintern
