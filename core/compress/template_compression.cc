#include "core/compress/template_compression.h"

#include "absl/strings/str_cat.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status_macros.h"

namespace promptintern {

absl::StatusOr<std::unique_ptr<TemplateCompressor>> MakeTemplateCompressor(const std::string& method, uint64_t seed,
                                                                            SurprisalFn surprisal) {
  if (method == "none") return std::make_unique<NoCompression>();
  if (method == "random") return std::make_unique<RandomCompression>(seed);
  if (method == "self_information") {
    if (!surprisal) return absl::InvalidArgumentError("self_information compression needs a scoring model");
    return std::make_unique<SelfInformationCompression>(std::move(surprisal));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("compression.method: unknown method '", method, "' (known: self_information, random, none)"));
}

absl::StatusOr<CompressedTemplate> CompressTemplate(TemplateCompressor& compressor, const Tokenizer& tokenizer,
                                                    const std::string& template_text, double keep_ratio) {
  RETURN_IF_ERROR(ValidateKeepRatio(keep_ratio));
  ASSIGN_OR_RETURN(std::vector<int> ids, tokenizer.Encode(template_text));
  CompressedTemplate result;
  result.original_tokens = static_cast<int64_t>(ids.size());
  if (keep_ratio == 0.0) return result;
  ASSIGN_OR_RETURN(std::vector<int> kept, compressor.Compress(ids, keep_ratio));
  result.kept_tokens = static_cast<int64_t>(kept.size());
  ASSIGN_OR_RETURN(result.text, tokenizer.Decode(kept));
  return result;
}

}  // namespace promptintern
