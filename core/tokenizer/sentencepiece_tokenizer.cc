#include "core/tokenizer/sentencepiece_tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/tokenizer/sentencepiece_bridge.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

struct SentencePieceModule {
  sentencepiece_bridge::LoadFn load = nullptr;
  sentencepiece_bridge::TrainFn train = nullptr;
  absl::Status status;
};

std::vector<std::string> ModuleCandidates() {
  std::vector<std::string> candidates;
  if (const char* path = std::getenv("PROMPTINTERN_SENTENCEPIECE_MODULE"); path != nullptr && *path != '\0') {
    candidates.push_back(path);
  }
  std::error_code error;
  const std::filesystem::path exe_dir = std::filesystem::read_symlink("/proc/self/exe", error).parent_path();
  if (!error) {
    candidates.push_back((exe_dir / sentencepiece_bridge::kModuleFile).string());
    candidates.push_back((exe_dir / "../lib" / sentencepiece_bridge::kModuleFile).string());
    candidates.push_back((exe_dir / "../lib/promptintern" / sentencepiece_bridge::kModuleFile).string());
  }
  candidates.push_back(JoinPath(PROMPTINTERN_MODULE_DIR, sentencepiece_bridge::kModuleFile));
  candidates.push_back(JoinPath(PROMPTINTERN_INSTALL_MODULE_DIR, sentencepiece_bridge::kModuleFile));
  return candidates;
}

// Loaded once per process. RTLD_DEEPBIND makes SentencePiece bind to its own embedded protobuf
// instead of the system one that libtorch brought in (see core/CMakeLists.txt).
const SentencePieceModule& GetSentencePieceModule() {
  static SentencePieceModule module;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& candidate : ModuleCandidates()) {
      if (!PathExists(candidate)) {
        absl::StrAppend(&tried, " ", candidate);
        continue;
      }
      void* handle = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (handle == nullptr) {
        module.status = absl::InternalError(absl::StrCat("cannot load ", candidate, ": ", ::dlerror()));
        return;
      }
      module.load = reinterpret_cast<sentencepiece_bridge::LoadFn>(::dlsym(handle, sentencepiece_bridge::kLoadSymbol));
      module.train = reinterpret_cast<sentencepiece_bridge::TrainFn>(::dlsym(handle, sentencepiece_bridge::kTrainSymbol));
      if (module.load == nullptr || module.train == nullptr) {
        module.status = absl::InternalError(absl::StrCat(candidate, " lacks the SentencePiece bridge entry points"));
      }
      return;
    }
    module.status = absl::NotFoundError(absl::StrCat(
        "SentencePiece module ", sentencepiece_bridge::kModuleFile,
        " not found (set PROMPTINTERN_SENTENCEPIECE_MODULE); looked at:", tried));
  });
  return module;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  SentencePieceTokenizer(std::unique_ptr<sentencepiece_bridge::Processor> processor, std::string model_bytes)
      : Tokenizer({{kSentencePieceModelFile, std::move(model_bytes)}}, kSentencePieceModelFile,
                  SingleId(processor->BosId()), SingleId(processor->EosId()), processor->PadId()),
        processor_(std::move(processor)) {}

  absl::StatusOr<std::vector<int>> Encode(absl::string_view text) const override {
    std::vector<int> ids;
    std::string error;
    if (!processor_->Encode(std::string(text), &ids, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot tokenize text: ", error));
    }
    return ids;
  }

  // A SentencePiece model's template is BOS (when it has one) and the text.
  absl::StatusOr<std::vector<int>> EncodeWithSpecialTokens(absl::string_view text) const override {
    return EncodePrompt(text);
  }

  int vocab_size() const override { return processor_->PieceSize(); }
  int model_vocab_size() const override { return vocab_size(); }

 protected:
  absl::StatusOr<std::string> DecodeIds(const std::vector<int>& ids, SpecialTokens) const override {
    const int size = vocab_size();
    for (int id : ids) {
      if (id >= size) {
        return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is outside the vocabulary [0, ", size, ")"));
      }
    }
    std::string text;
    std::string error;
    if (!processor_->Decode(ids, &text, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot decode token ids: ", error));
    }
    return text;
  }

 private:
  static std::vector<int> SingleId(int id) { return id >= 0 ? std::vector<int>{id} : std::vector<int>(); }

  std::unique_ptr<sentencepiece_bridge::Processor> processor_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(std::string model_bytes,
                                                                       const std::string& source) {
  const SentencePieceModule& module = GetSentencePieceModule();
  if (!module.status.ok()) return module.status;
  std::string error;
  std::unique_ptr<sentencepiece_bridge::Processor> processor(module.load(model_bytes, &error));
  if (processor == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer ", source, " is not a SentencePiece model: ", error));
  }
  return std::make_unique<SentencePieceTokenizer>(std::move(processor), std::move(model_bytes));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> TrainBpeTokenizer(const std::vector<std::string>& corpus,
                                                             const BpeTrainingOptions& options) {
  if (corpus.empty()) return absl::InvalidArgumentError("cannot train a tokenizer on an empty corpus");
  if (options.vocab_size < 16) return absl::InvalidArgumentError("tokenizer vocab_size must be at least 16");
  std::unordered_map<std::string, std::string> flags = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"character_coverage", std::to_string(options.character_coverage)},
      {"max_sentence_length", std::to_string(options.max_sentence_length)},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", options.add_pad_piece ? "3" : "-1"},
      // Code and shell text need their spacing and digits kept exactly.
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"hard_vocab_limit", "false"},
      {"minloglevel", "2"},
      {"num_threads", "1"},
  };
  const SentencePieceModule& module = GetSentencePieceModule();
  if (!module.status.ok()) return module.status;
  std::string model_bytes;
  std::string error;
  if (!module.train(corpus, flags, &model_bytes, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer training failed: ", error));
  }
  return LoadSentencePieceTokenizer(std::move(model_bytes), "(trained BPE model)");
}

}  // namespace promptintern
