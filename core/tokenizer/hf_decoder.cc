#include "core/tokenizer/hf_decoder.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/hf_pre_tokenizer.h"
#include "core/tokenizer/unicode_regex.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using hf_json::json;

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& step : steps_) RETURN_IF_ERROR(step->DecodeChain(tokens));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// Byte-level characters back to bytes, all tokens at once (a character may span tokens). A token
// with a character outside the alphabet (an added token such as "<|im_start|>" is inside it;
// one with a space is not) contributes its own UTF-8 instead.
class ByteLevelDecoder : public Decoder {
 public:
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::string bytes;
    for (const std::string& token : *tokens) {
      std::string token_bytes;
      bool in_alphabet = true;
      for (size_t i = 0; i < token.size() && in_alphabet;) {
        size_t length = 0;
        const std::optional<uint8_t> byte = byte_level::ByteOf(utf8::DecodeChar(token, i, &length));
        if (byte) token_bytes.push_back(static_cast<char>(*byte));
        in_alphabet = byte.has_value();
        i += length;
      }
      bytes += in_alphabet ? token_bytes : token;
    }
    *tokens = {utf8::DecodeLossy(bytes)};
    return absl::OkStatus();
  }
};

// Runs of <0xNN> tokens become the text of their bytes, or one U+FFFD per byte when the run is
// not valid UTF-8.
class ByteFallbackDecoder : public Decoder {
 public:
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string run;
    size_t run_length = 0;
    const auto flush = [&] {
      if (run_length == 0) return;
      if (utf8::Validate(run).ok()) {
        out.push_back(run);
      } else {
        for (size_t k = 0; k < run_length; ++k) out.push_back(utf8::kReplacementCharacter);
      }
      run.clear();
      run_length = 0;
    };
    for (std::string& token : *tokens) {
      if (const std::optional<uint8_t> byte = ByteToken(token)) {
        run.push_back(static_cast<char>(*byte));
        ++run_length;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    *tokens = std::move(out);
    return absl::OkStatus();
  }

 private:
  // "<0xNN>" (Rust's u8::from_str_radix(NN, 16), which also takes "+N").
  static std::optional<uint8_t> ByteToken(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
    const auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int high = token[3] == '+' ? 0 : hex(token[3]);
    const int low = hex(token[4]);
    if (high < 0 || low < 0) return std::nullopt;
    return static_cast<uint8_t>(high * 16 + low);
  }
};

class FuseDecoder : public Decoder {
 public:
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::string joined;
    for (const std::string& token : *tokens) joined += token;
    *tokens = {std::move(joined)};
    return absl::OkStatus();
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, int64_t start, int64_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& token : *tokens) {
      size_t begin = 0, end = token.size();
      for (int64_t k = 0; k < start_ && token.compare(begin, content_.size(), content_) == 0 && begin < end; ++k) {
        begin += content_.size();
      }
      for (int64_t k = 0; k < stop_ && end >= begin + content_.size() &&
                          token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++k) {
        end -= content_.size();
      }
      token = token.substr(begin, end - begin);
    }
    return absl::OkStatus();
  }

 private:
  std::string content_;
  int64_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<UnicodeRegex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& token : *tokens) {
      ASSIGN_OR_RETURN(token, pattern_->ReplaceAll(token, content_));
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<UnicodeRegex> pattern_;
  std::string content_;
};

// The replacement character becomes a space, except in the first token when the pre-tokenizer
// prepends one (there it is dropped).
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, PrependScheme scheme)
      : replacement_(std::move(replacement)), scheme_(scheme) {}
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      const std::string with = i == 0 && scheme_ != PrependScheme::kNever ? "" : " ";
      (*tokens)[i] = absl::StrReplaceAll((*tokens)[i], {{replacement_, with}});
    }
    return absl::OkStatus();
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> ReadDecoder(const json& node, absl::string_view path) {
  ASSIGN_OR_RETURN(const std::string type, hf_json::TypeOf(node, path));
  if (type == "Sequence") {
    const std::string steps_path = hf_json::Child(path, "decoders");
    const json* steps = hf_json::Member(node, "decoders");
    if (steps == nullptr || !steps->is_array()) return hf_json::FieldError(steps_path, "expected an array");
    std::vector<std::unique_ptr<Decoder>> decoders;
    for (size_t i = 0; i < steps->size(); ++i) {
      ASSIGN_OR_RETURN(auto step, ReadDecoder((*steps)[i], hf_json::Element(steps_path, i)));
      decoders.push_back(std::move(step));
    }
    return std::make_unique<SequenceDecoder>(std::move(decoders));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    ASSIGN_OR_RETURN(const char32_t content, hf_json::RequiredChar(node, path, "content"));
    ASSIGN_OR_RETURN(const int64_t start, hf_json::OptionalInt(node, path, "start", 0));
    ASSIGN_OR_RETURN(const int64_t stop, hf_json::OptionalInt(node, path, "stop", 0));
    std::string content_text;
    utf8::AppendChar(content, &content_text);
    return std::make_unique<StripDecoder>(std::move(content_text), start, stop);
  }
  if (type == "Replace") {
    ASSIGN_OR_RETURN(auto pattern, hf_json::Pattern(node, path, "pattern"));
    ASSIGN_OR_RETURN(std::string content, hf_json::RequiredString(node, path, "content"));
    return std::make_unique<ReplaceDecoder>(std::move(pattern), std::move(content));
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(const char32_t replacement, hf_json::RequiredChar(node, path, "replacement"));
    ASSIGN_OR_RETURN(const PrependScheme scheme, ReadPrependScheme(node, path));
    std::string replacement_text;
    utf8::AppendChar(replacement, &replacement_text);
    return std::make_unique<MetaspaceDecoder>(std::move(replacement_text), scheme);
  }
  return hf_json::FieldError(hf_json::Child(path, "type"),
                             absl::StrCat("unknown decoder type \"", type,
                                          "\" (supported: Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, "
                                          "Metaspace)"));
}

}  // namespace promptintern
