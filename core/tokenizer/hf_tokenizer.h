// A Hugging Face tokenizer.json, encoded and decoded the way the Rust `tokenizers` library does:
//   1. added tokens with normalized=false are cut out of the raw text (hf_added_tokens.h);
//   2. each remaining piece is normalized (hf_normalizer.h), then the other added tokens are cut
//      out of it;
//   3. what remains is pre-tokenized into words (hf_pre_tokenizer.h) and each word goes through
//      the BPE model (hf_bpe.h);
//   4. with special tokens, the post-processor's template adds its tokens around the ids.
// Decoding maps ids to token strings (added tokens by content) and runs the decoder (hf_decoder.h).
//
// tokenizer_config.json, when present, may override the template (add_bos_token and
// add_eos_token each decide their side when given, as transformers' Llama and Gemma tokenizers
// do) and names the EOS and pad tokens; generation_config.json's eos_token_id (an int or a list)
// adds to the EOS set. Truncation and padding settings of tokenizer.json are not applied:
// sequence lengths are the pipeline's business.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"

namespace promptintern {

// `files` must hold kHfTokenizerFile and may hold kHfTokenizerConfigFile and
// kGenerationConfigFile; `source` names them in errors.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizer(TokenizerFiles files, const std::string& source);

}  // namespace promptintern
