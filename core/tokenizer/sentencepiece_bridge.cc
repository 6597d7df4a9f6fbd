#include "core/tokenizer/sentencepiece_bridge.h"

#include <exception>
#include <memory>
#include <string>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace promptintern::sentencepiece_bridge {
namespace {

class SentencePieceProcessorAdapter : public Processor {
 public:
  bool Encode(const std::string& text, std::vector<int>* ids, std::string* error) const override {
    const auto status = processor_.Encode(text, ids);
    if (!status.ok()) *error = status.ToString();
    return status.ok();
  }
  bool Decode(const std::vector<int>& ids, std::string* text, std::string* error) const override {
    const auto status = processor_.Decode(ids, text);
    if (!status.ok()) *error = status.ToString();
    return status.ok();
  }
  int PieceSize() const override { return processor_.GetPieceSize(); }
  int BosId() const override { return processor_.bos_id(); }
  int EosId() const override { return processor_.eos_id(); }
  int PadId() const override { return processor_.pad_id(); }
  int UnkId() const override { return processor_.unk_id(); }
  std::string IdToPiece(int id) const override { return processor_.IdToPiece(id); }

  sentencepiece::SentencePieceProcessor processor_;
};

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

}  // namespace
}  // namespace promptintern::sentencepiece_bridge

using promptintern::sentencepiece_bridge::Processor;

// SentencePiece reports most bad models as a status, but its trie builder (Darts) throws on some
// (found by the sentencepiece_model fuzz target: a 30-byte model with a piece of NUL bytes). No
// exception may cross this C boundary: each entry point turns one into an error.
extern "C" __attribute__((visibility("default"))) Processor* promptintern_sentencepiece_load(
    const std::string& model_bytes, std::string* error) {
  try {
    auto adapter = std::make_unique<promptintern::sentencepiece_bridge::SentencePieceProcessorAdapter>();
    const auto status = adapter->processor_.LoadFromSerializedProto(model_bytes);
    if (!status.ok()) {
      *error = status.ToString();
      return nullptr;
    }
    return adapter.release();
  } catch (const std::exception& e) {
    *error = std::string("SentencePiece cannot build the model: ") + e.what();
  } catch (...) {
    *error = "SentencePiece cannot build the model (it threw)";
  }
  return nullptr;
}

extern "C" __attribute__((visibility("default"))) bool promptintern_sentencepiece_train(
    const std::vector<std::string>& sentences, const std::unordered_map<std::string, std::string>& flags,
    std::string* model_bytes, std::string* error) {
  try {
    promptintern::sentencepiece_bridge::VectorIterator iterator(sentences);
    const auto status = sentencepiece::SentencePieceTrainer::Train(flags, &iterator, model_bytes);
    if (!status.ok()) *error = status.ToString();
    return status.ok();
  } catch (const std::exception& e) {
    *error = std::string("SentencePiece training failed: ") + e.what();
  } catch (...) {
    *error = "SentencePiece training failed (it threw)";
  }
  return false;
}
