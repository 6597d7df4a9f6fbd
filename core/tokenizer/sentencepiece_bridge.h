// The interface of the promptintern_sentencepiece module, the only code that includes
// SentencePiece's headers. The module is loaded with dlopen (see core/CMakeLists.txt for why), so
// its entry points are extern "C" and everything crossing it uses std types; errors come back as
// strings and tokenizer.cc turns them into absl::Status.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace promptintern::sentencepiece_bridge {

class Processor {
 public:
  virtual ~Processor() = default;
  virtual bool Encode(const std::string& text, std::vector<int>* ids, std::string* error) const = 0;
  virtual bool Decode(const std::vector<int>& ids, std::string* text, std::string* error) const = 0;
  virtual int PieceSize() const = 0;
  virtual int BosId() const = 0;
  virtual int EosId() const = 0;
  virtual int PadId() const = 0;
  virtual int UnkId() const = 0;
  virtual std::string IdToPiece(int id) const = 0;
};

// Loads a serialized ModelProto (the bytes of a tokenizer.model file); null and `error` on failure.
using LoadFn = Processor* (*)(const std::string& model_bytes, std::string* error);

// Trains a model on `sentences` with SentencePiece trainer flags (model_type, vocab_size, ...) and
// returns its serialized ModelProto in `model_bytes`.
using TrainFn = bool (*)(const std::vector<std::string>& sentences,
                         const std::unordered_map<std::string, std::string>& flags, std::string* model_bytes,
                         std::string* error);

inline constexpr char kLoadSymbol[] = "promptintern_sentencepiece_load";
inline constexpr char kTrainSymbol[] = "promptintern_sentencepiece_train";
inline constexpr char kModuleFile[] = "libpromptintern_sentencepiece.so";

}  // namespace promptintern::sentencepiece_bridge
