// The on-disk names of a tokenizer's files inside a checkpoint directory, in one place. A
// directory holds either a Hugging Face tokenizer (tokenizer.json, with tokenizer_config.json and
// generation_config.json beside it when the model ships them) or a SentencePiece tokenizer.model.
#pragma once

namespace promptintern {

// Hugging Face `tokenizers` serialization: normalizer, pre-tokenizer, model, decoder, added tokens.
inline constexpr char kHfTokenizerFile[] = "tokenizer.json";
// transformers' settings beside it: add_bos_token / add_eos_token, bos/eos/pad tokens.
inline constexpr char kHfTokenizerConfigFile[] = "tokenizer_config.json";
// transformers' generation settings: eos_token_id (an int or a list: the EOS set).
inline constexpr char kGenerationConfigFile[] = "generation_config.json";
// A serialized SentencePiece ModelProto (Llama 2 and the tokenizers trained here).
inline constexpr char kSentencePieceModelFile[] = "tokenizer.model";

}  // namespace promptintern
