// Fuzz target: a checkpoint's Hugging Face tokenizer files, loaded as the services load them
// (Tokenizer::FromFiles, core/tokenizer/hf_tokenizer.h). The input is tokenizer.json, then
// optionally a NUL byte and tokenizer_config.json. Seeds are the real GPT-2, Llama 3.2, Qwen3 and
// Gemma 3 files with their vocabularies and merges cut down to a few hundred entries. Checked
// beyond "no crash": a tokenizer that loads encodes text into ids below its vocab_size() and
// decodes them again; negative ids are refused.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "core/util/filenames.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  promptintern::TokenizerFiles files;
  files[promptintern::kHfTokenizerFile] = input.substr(0, nul);
  if (nul != std::string::npos) files[promptintern::kHfTokenizerConfigFile] = input.substr(nul + 1);
  auto tokenizer = promptintern::Tokenizer::FromFiles(std::move(files), "fuzz");
  if (!tokenizer.ok()) return 0;
  const int vocab = (*tokenizer)->vocab_size();
  for (const char* text : {"find . -name '*.log' -mtime +7 | xargs rm -- caf\xc3\xa9 \xf0\x9f\x99\x82",
                           "  <|im_start|>\tIT'S 12345\r\n\xe2\x80\xa8", "ok\xff"}) {
    for (const bool special : {false, true}) {
      auto ids = special ? (*tokenizer)->EncodeWithSpecialTokens(text) : (*tokenizer)->Encode(text);
      if (!ids.ok()) continue;
      for (int id : *ids) {
        if (id < 0 || id >= vocab) std::abort();
      }
      (void)(*tokenizer)->Decode(*ids);
      (void)(*tokenizer)->Decode(*ids, promptintern::SpecialTokens::kSkip);
    }
  }
  std::vector<int> every;
  for (int id = 0; id < vocab && id < 64; ++id) every.push_back(id);
  (void)(*tokenizer)->Decode(every);
  if ((*tokenizer)->Decode({-1}).ok()) std::abort();
  (void)(*tokenizer)->Decode({vocab, vocab + 1000000});
  return 0;
}
