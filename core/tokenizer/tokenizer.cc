#include "core/tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/tokenizer/hf_tokenizer.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

// Serialize(): this line, then for each file its name, a newline, its size in decimal, a newline
// and its bytes.
constexpr absl::string_view kSerializedHeader = "promptintern-tokenizer 1\n";

constexpr const char* kKnownFiles[] = {kHfTokenizerFile, kHfTokenizerConfigFile, kGenerationConfigFile,
                                       kSentencePieceModelFile};

}  // namespace

Tokenizer::Tokenizer(TokenizerFiles files, std::string file_name, std::vector<int> prompt_prefix,
                     std::vector<int> eos_ids, int pad_id)
    : files_(std::move(files)),
      file_name_(std::move(file_name)),
      prompt_prefix_(std::move(prompt_prefix)),
      eos_ids_(std::move(eos_ids)),
      pad_id_(pad_id) {}

Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromDirectory(const std::string& directory) {
  const std::string main_file = TokenizerFileIn(directory);
  if (main_file.empty()) {
    return absl::NotFoundError(absl::StrCat("no tokenizer in ", directory, ": neither ", kHfTokenizerFile, " nor ",
                                            kSentencePieceModelFile));
  }
  const std::vector<const char*> names =
      main_file == kHfTokenizerFile
          ? std::vector<const char*>{kHfTokenizerFile, kHfTokenizerConfigFile, kGenerationConfigFile}
          : std::vector<const char*>{kSentencePieceModelFile};
  TokenizerFiles files;
  for (const char* name : names) {
    const std::string path = JoinPath(directory, name);
    if (name != main_file && !PathExists(path)) continue;
    ASSIGN_OR_RETURN(files[name], ReadFile(path));
  }
  return FromFiles(std::move(files), directory);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFiles(TokenizerFiles files, const std::string& source) {
  if (files.count(kHfTokenizerFile) > 0) return LoadHfTokenizer(std::move(files), source);
  const auto model = files.find(kSentencePieceModelFile);
  if (model != files.end()) {
    return LoadSentencePieceTokenizer(std::move(model->second), JoinPath(source, kSentencePieceModelFile));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": neither ", kHfTokenizerFile, " nor ", kSentencePieceModelFile, " among the files"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Deserialize(absl::string_view bytes, const std::string& source) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(source, " is not a serialized tokenizer: ", why));
  };
  if (bytes.substr(0, kSerializedHeader.size()) != kSerializedHeader) return bad("wrong header");
  bytes.remove_prefix(kSerializedHeader.size());
  TokenizerFiles files;
  while (!bytes.empty()) {
    const size_t name_end = bytes.find('\n');
    if (name_end == absl::string_view::npos) return bad("truncated file name");
    const std::string name(bytes.substr(0, name_end));
    bytes.remove_prefix(name_end + 1);
    const size_t size_end = bytes.find('\n');
    size_t size = 0;
    if (size_end == absl::string_view::npos || !absl::SimpleAtoi(bytes.substr(0, size_end), &size)) {
      return bad(absl::StrCat("no size for ", name));
    }
    bytes.remove_prefix(size_end + 1);
    if (size > bytes.size()) return bad(absl::StrCat(name, " is truncated"));
    if (std::find(std::begin(kKnownFiles), std::end(kKnownFiles), name) == std::end(kKnownFiles)) {
      return bad(absl::StrCat("unknown file ", name));
    }
    files[name] = std::string(bytes.substr(0, size));
    bytes.remove_prefix(size);
  }
  return FromFiles(std::move(files), source);
}

std::string Tokenizer::Serialize() const {
  std::string out(kSerializedHeader);
  for (const auto& [name, bytes] : files_) absl::StrAppend(&out, name, "\n", bytes.size(), "\n", bytes);
  return out;
}

absl::Status Tokenizer::Save(const std::string& directory) const {
  RETURN_IF_ERROR(MakeDirectories(directory));
  for (const auto& [name, bytes] : files_) RETURN_IF_ERROR(WriteFileAtomic(JoinPath(directory, name), bytes));
  // A stale main file of the other kind would be read instead (tokenizer.json wins) or mislead.
  for (const char* other : {kHfTokenizerFile, kSentencePieceModelFile}) {
    if (files_.count(other) > 0) continue;
    std::error_code error;
    std::filesystem::remove(JoinPath(directory, other), error);
    if (error) return absl::InternalError(absl::StrCat("cannot remove ", JoinPath(directory, other), ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> Tokenizer::EncodePrompt(absl::string_view text) const {
  ASSIGN_OR_RETURN(std::vector<int> ids, Encode(text));
  ids.insert(ids.begin(), prompt_prefix_.begin(), prompt_prefix_.end());
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(const std::vector<int>& ids, SpecialTokens special) const {
  for (int id : ids) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is negative"));
  }
  return DecodeIds(ids, special);
}

bool Tokenizer::IsEos(int id) const { return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end(); }

std::string TokenizerFileIn(const std::string& directory) {
  for (const char* name : {kHfTokenizerFile, kSentencePieceModelFile}) {
    if (PathExists(JoinPath(directory, name))) return name;
  }
  return "";
}

}  // namespace promptintern
