// Fuzz target: a checkpoint's tokenizer.model, loaded as the services load it (Tokenizer::
// FromFiles, through the SentencePiece module; the module is built beside this target and
// found through PROMPTINTERN_SENTENCEPIECE_MODULE or the build's lib directory). SentencePiece
// itself is not instrumented (Debian's library), so coverage guides the search only through our
// side; crashes inside it are still caught. Checked beyond "no crash": a model that loads encodes
// and decodes text, and ids it produced are inside its vocabulary.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "core/util/filenames.h"

// The module is loaded with RTLD_DEEPBIND (see tests/sanitizers/deepbind_dlopen.cc): strings
// SentencePiece fills are allocated through libstdc++'s operator new, which ASan records as malloc.
extern "C" const char* __asan_default_options() { return "alloc_dealloc_mismatch=0"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  promptintern::TokenizerFiles files;
  files[promptintern::kSentencePieceModelFile] = std::string(reinterpret_cast<const char*>(data), size);
  auto tokenizer = promptintern::Tokenizer::FromFiles(std::move(files), "fuzz");
  if (!tokenizer.ok()) return 0;
  const int vocab = (*tokenizer)->vocab_size();
  auto ids = (*tokenizer)->Encode("find . -name '*.log' -mtime +7 | xargs rm -- caf\xc3\xa9 \xf0\x9f\x99\x82");
  if (ids.ok()) {
    for (int id : *ids) {
      if (id < 0 || id >= vocab) std::abort();
    }
    (void)(*tokenizer)->Decode(*ids);
  }
  std::vector<int> every;
  for (int id = 0; id < vocab && id < 64; ++id) every.push_back(id);
  (void)(*tokenizer)->Decode(every);
  (void)(*tokenizer)->Decode({-1, vocab});
  return 0;
}
