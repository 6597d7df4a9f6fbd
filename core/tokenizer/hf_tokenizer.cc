#include "core/tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/tokenizer/hf_added_tokens.h"
#include "core/tokenizer/hf_bpe.h"
#include "core/tokenizer/hf_decoder.h"
#include "core/tokenizer/hf_json.h"
#include "core/tokenizer/hf_normalizer.h"
#include "core/tokenizer/hf_pre_tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/util/filenames.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using hf_json::json;

// The ids a post-processor puts around a single sequence when special tokens are added.
struct Template {
  std::vector<int> prefix;
  std::vector<int> suffix;
};

// Everything read from the files, before the tokenizer is built.
struct Parts {
  std::unique_ptr<Normalizer> normalizer;      // null: none
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // null: none
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Decoder> decoder;             // null: tokens joined with spaces, as there
  std::unique_ptr<std::vector<AddedToken>> added_tokens;  // stable addresses for the matchers
  Template templ;
  std::vector<int> eos_ids;
  int pad_id = -1;
};

absl::StatusOr<std::vector<AddedToken>> ReadAddedTokens(const json& root) {
  std::vector<AddedToken> tokens;
  const json* list = hf_json::Member(root, "added_tokens");
  if (list == nullptr) return tokens;
  if (!list->is_array()) return hf_json::FieldError("added_tokens", "expected an array");
  for (size_t i = 0; i < list->size(); ++i) {
    const json& node = (*list)[i];
    const std::string path = hf_json::Element("added_tokens", i);
    RETURN_IF_ERROR(hf_json::ExpectObject(node, path));
    AddedToken token;
    ASSIGN_OR_RETURN(token.content, hf_json::RequiredString(node, path, "content"));
    ASSIGN_OR_RETURN(const int64_t id, hf_json::OptionalInt(node, path, "id", -1));
    if (id < 0 || id >= (int64_t{1} << 30)) return hf_json::FieldError(hf_json::Child(path, "id"), "expected a token id in [0, 2^30)");
    token.id = static_cast<int>(id);
    ASSIGN_OR_RETURN(token.special, hf_json::OptionalBool(node, path, "special", false));
    ASSIGN_OR_RETURN(token.single_word, hf_json::OptionalBool(node, path, "single_word", false));
    ASSIGN_OR_RETURN(token.lstrip, hf_json::OptionalBool(node, path, "lstrip", false));
    ASSIGN_OR_RETURN(token.rstrip, hf_json::OptionalBool(node, path, "rstrip", false));
    ASSIGN_OR_RETURN(token.normalized, hf_json::OptionalBool(node, path, "normalized", !token.special));
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// A token id a template may add: an integer in [0, 2^30), the range of added tokens' ids.
bool IsTokenId(const json& value) {
  return value.is_number_integer() && value.get<int64_t>() >= 0 && value.get<int64_t>() < (int64_t{1} << 30);
}

// Adds the template of one post-processor section around `templ` (a Sequence's later steps wrap
// the earlier ones' output).
absl::Status ReadPostProcessor(const json& node, absl::string_view path, Template* templ) {
  ASSIGN_OR_RETURN(const std::string type, hf_json::TypeOf(node, path));
  if (type == "ByteLevel") return absl::OkStatus();  // offsets only
  if (type == "Sequence") {
    const std::string steps_path = hf_json::Child(path, "processors");
    const json* steps = hf_json::Member(node, "processors");
    if (steps == nullptr || !steps->is_array()) return hf_json::FieldError(steps_path, "expected an array");
    for (size_t i = 0; i < steps->size(); ++i) {
      RETURN_IF_ERROR(ReadPostProcessor((*steps)[i], hf_json::Element(steps_path, i), templ));
    }
    return absl::OkStatus();
  }
  Template outer;
  if (type == "TemplateProcessing") {
    const std::string single_path = hf_json::Child(path, "single");
    const json* single = hf_json::Member(node, "single");
    if (single == nullptr || !single->is_array()) return hf_json::FieldError(single_path, "expected an array");
    const json* specials = hf_json::Member(node, "special_tokens");
    bool seen_sequence = false;
    for (size_t i = 0; i < single->size(); ++i) {
      const json& piece = (*single)[i];
      const std::string piece_path = hf_json::Element(single_path, i);
      if (const json* sequence = hf_json::Member(piece, "Sequence")) {
        ASSIGN_OR_RETURN(const std::string id, hf_json::RequiredString(*sequence, hf_json::Child(piece_path, "Sequence"), "id"));
        if (id != "A" || seen_sequence) {
          return hf_json::FieldError(piece_path, "a single-sequence template takes sequence A exactly once");
        }
        seen_sequence = true;
      } else if (const json* special = hf_json::Member(piece, "SpecialToken")) {
        ASSIGN_OR_RETURN(const std::string id, hf_json::RequiredString(*special, hf_json::Child(piece_path, "SpecialToken"), "id"));
        const json* entry = specials == nullptr ? nullptr : hf_json::Member(*specials, id);
        const json* ids = entry == nullptr ? nullptr : hf_json::Member(*entry, "ids");
        if (ids == nullptr || !ids->is_array()) {
          return hf_json::FieldError(hf_json::Child(path, "special_tokens"), absl::StrCat("no ids for \"", id, "\""));
        }
        for (const json& value : *ids) {
          if (!IsTokenId(value)) {
            return hf_json::FieldError(hf_json::Child(path, "special_tokens"), absl::StrCat("bad id for \"", id, "\""));
          }
          (seen_sequence ? outer.suffix : outer.prefix).push_back(value.get<int>());
        }
      } else {
        return hf_json::FieldError(piece_path, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
    if (!seen_sequence) return hf_json::FieldError(single_path, "the template lacks sequence A");
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    // {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]}: cls A sep.
    for (const auto& [key, side] : {std::pair{"cls", &outer.prefix}, std::pair{"sep", &outer.suffix}}) {
      const json* pair = hf_json::Member(node, key);
      if (pair == nullptr || !pair->is_array() || pair->size() != 2 || !IsTokenId((*pair)[1])) {
        return hf_json::FieldError(hf_json::Child(path, key), "expected [token, id]");
      }
      side->push_back((*pair)[1].get<int>());
    }
  } else {
    return hf_json::FieldError(hf_json::Child(path, "type"),
                               absl::StrCat("unknown post-processor type \"", type,
                                            "\" (supported: TemplateProcessing, ByteLevel, Sequence, BertProcessing, "
                                            "RobertaProcessing)"));
  }
  templ->prefix.insert(templ->prefix.begin(), outer.prefix.begin(), outer.prefix.end());
  templ->suffix.insert(templ->suffix.end(), outer.suffix.begin(), outer.suffix.end());
  return absl::OkStatus();
}

// A token named by a config file: a string or {"content": "..."} (transformers' AddedToken form).
absl::StatusOr<std::optional<std::string>> ConfigToken(const json& config, absl::string_view key) {
  const json* value = hf_json::Member(config, key);
  if (value == nullptr) return std::optional<std::string>();
  if (value->is_string()) return std::optional<std::string>(value->get<std::string>());
  if (value->is_object()) {
    ASSIGN_OR_RETURN(std::string content, hf_json::RequiredString(*value, key, "content"));
    return std::optional<std::string>(std::move(content));
  }
  return hf_json::FieldError(key, "expected a token string or {\"content\": ...}");
}

class HfTokenizer : public Tokenizer {
 public:
  HfTokenizer(TokenizerFiles files, Parts parts)
      : Tokenizer(std::move(files), kHfTokenizerFile, parts.templ.prefix, parts.eos_ids, parts.pad_id),
        normalizer_(std::move(parts.normalizer)),
        pre_tokenizer_(std::move(parts.pre_tokenizer)),
        model_(std::move(parts.model)),
        decoder_(std::move(parts.decoder)),
        added_tokens_(std::move(parts.added_tokens)),
        template_(std::move(parts.templ)),
        raw_matcher_(RawPatterns()),
        normalized_matcher_({}) {
    vocab_size_ = model_->size();
    for (const AddedToken& token : *added_tokens_) {
      added_by_id_.emplace(token.id, &token);
      vocab_size_ = std::max(vocab_size_, token.id + 1);
    }
    // The template's ids are produced too, even one that names no token (Hugging Face emits it).
    for (const std::vector<int>* side : {&template_.prefix, &template_.suffix}) {
      for (int id : *side) vocab_size_ = std::max(vocab_size_, id + 1);
    }
  }

  absl::Status Init() {
    // Normalized added tokens are looked for in their normalized form.
    std::vector<AddedTokenMatcher::Pattern> normalized;
    for (const AddedToken& token : *added_tokens_) {
      if (!token.normalized) continue;
      std::string text = token.content;
      if (normalizer_ != nullptr) RETURN_IF_ERROR(normalizer_->Normalize(&text));
      normalized.push_back({std::move(text), &token});
    }
    normalized_matcher_ = AddedTokenMatcher(normalized);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<int>> Encode(absl::string_view text) const override {
    RETURN_IF_ERROR(utf8::Validate(text));
    std::vector<int> ids;
    ids.reserve(text.size() / 3 + 1);
    for (const AddedTokenMatcher::Piece& piece : raw_matcher_.Split(text)) {
      if (piece.token != nullptr) {
        ids.push_back(piece.token->id);
        continue;
      }
      std::string normalized(text.substr(piece.begin, piece.end - piece.begin));
      if (normalizer_ != nullptr) RETURN_IF_ERROR(normalizer_->Normalize(&normalized));
      for (const AddedTokenMatcher::Piece& part : normalized_matcher_.Split(normalized)) {
        if (part.token != nullptr) {
          ids.push_back(part.token->id);
          continue;
        }
        std::vector<PreToken> words = {
            {normalized.substr(part.begin, part.end - part.begin), piece.begin == 0 && part.begin == 0}};
        if (pre_tokenizer_ != nullptr) RETURN_IF_ERROR(pre_tokenizer_->PreTokenize(&words));
        for (const PreToken& word : words) model_->Tokenize(word.text, &ids);
      }
    }
    return ids;
  }

  absl::StatusOr<std::vector<int>> EncodeWithSpecialTokens(absl::string_view text) const override {
    ASSIGN_OR_RETURN(std::vector<int> ids, Encode(text));
    ids.insert(ids.begin(), template_.prefix.begin(), template_.prefix.end());
    ids.insert(ids.end(), template_.suffix.begin(), template_.suffix.end());
    return ids;
  }

  int vocab_size() const override { return vocab_size_; }
  int model_vocab_size() const override { return model_->size(); }

 protected:
  absl::StatusOr<std::string> DecodeIds(const std::vector<int>& ids, SpecialTokens special) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int id : ids) {
      if (const auto it = added_by_id_.find(id); it != added_by_id_.end()) {
        if (special == SpecialTokens::kSkip && it->second->special) continue;
        tokens.push_back(it->second->content);
      } else if (const std::string* token = model_->IdToToken(id)) {
        tokens.push_back(*token);
      }
    }
    if (decoder_ == nullptr) return absl::StrJoin(tokens, " ");
    RETURN_IF_ERROR(decoder_->DecodeChain(&tokens));
    return absl::StrJoin(tokens, "");
  }

 private:
  std::vector<AddedTokenMatcher::Pattern> RawPatterns() const {
    std::vector<AddedTokenMatcher::Pattern> patterns;
    for (const AddedToken& token : *added_tokens_) {
      if (!token.normalized) patterns.push_back({token.content, &token});
    }
    return patterns;
  }

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<std::vector<AddedToken>> added_tokens_;
  Template template_;
  AddedTokenMatcher raw_matcher_;
  AddedTokenMatcher normalized_matcher_;
  absl::flat_hash_map<int, const AddedToken*> added_by_id_;
  int vocab_size_ = 0;
};

// The id of a token string: an added token's, else the model's.
std::optional<int> TokenId(const Parts& parts, const std::string& token) {
  for (const AddedToken& added : *parts.added_tokens) {
    if (added.content == token) return added.id;
  }
  return parts.model->TokenToId(token);
}

absl::Status ReadTokenizerJson(absl::string_view text, Parts* parts) {
  ASSIGN_OR_RETURN(const json root, hf_json::Parse(text));
  RETURN_IF_ERROR(hf_json::ExpectObject(root, "(top level)"));
  const json* model = hf_json::Member(root, "model");
  if (model == nullptr) return hf_json::FieldError("model", "missing");
  RETURN_IF_ERROR(hf_json::ExpectObject(*model, "model"));
  ASSIGN_OR_RETURN(parts->model, BpeModel::Read(*model, "model"));
  ASSIGN_OR_RETURN(std::vector<AddedToken> added, ReadAddedTokens(root));
  parts->added_tokens = std::make_unique<std::vector<AddedToken>>(std::move(added));
  if (const json* node = hf_json::Member(root, "normalizer")) {
    ASSIGN_OR_RETURN(parts->normalizer, ReadNormalizer(*node, "normalizer"));
  }
  if (const json* node = hf_json::Member(root, "pre_tokenizer")) {
    ASSIGN_OR_RETURN(parts->pre_tokenizer, ReadPreTokenizer(*node, "pre_tokenizer"));
  }
  if (const json* node = hf_json::Member(root, "post_processor")) {
    RETURN_IF_ERROR(ReadPostProcessor(*node, "post_processor", &parts->templ));
  }
  if (const json* node = hf_json::Member(root, "decoder")) {
    ASSIGN_OR_RETURN(parts->decoder, ReadDecoder(*node, "decoder"));
  }
  if (const json* padding = hf_json::Member(root, "padding")) {
    ASSIGN_OR_RETURN(const int64_t pad_id, hf_json::OptionalInt(*padding, "padding", "pad_id", -1));
    parts->pad_id = static_cast<int>(pad_id);
  }
  return absl::OkStatus();
}

absl::Status ReadTokenizerConfig(absl::string_view text, Parts* parts) {
  ASSIGN_OR_RETURN(const json config, hf_json::Parse(text));
  RETURN_IF_ERROR(hf_json::ExpectObject(config, "(top level)"));
  const auto resolve = [&](absl::string_view key) -> absl::StatusOr<std::optional<int>> {
    ASSIGN_OR_RETURN(const std::optional<std::string> token, ConfigToken(config, key));
    if (!token) return std::optional<int>();
    const std::optional<int> id = TokenId(*parts, *token);
    if (!id) return hf_json::FieldError(key, absl::StrCat("\"", *token, "\" is not a token of tokenizer.json"));
    return id;
  };
  ASSIGN_OR_RETURN(const std::optional<int> bos, resolve("bos_token"));
  ASSIGN_OR_RETURN(const std::optional<int> eos, resolve("eos_token"));
  ASSIGN_OR_RETURN(const std::optional<int> pad, resolve("pad_token"));
  for (const auto& [key, token_key, token, side] :
       {std::tuple{"add_bos_token", "bos_token", bos, &parts->templ.prefix},
        std::tuple{"add_eos_token", "eos_token", eos, &parts->templ.suffix}}) {
    if (hf_json::Member(config, key) == nullptr) continue;
    ASSIGN_OR_RETURN(const bool add, hf_json::OptionalBool(config, "", key, false));
    if (add && !token) return hf_json::FieldError(key, absl::StrCat("is true but ", token_key, " is not set"));
    *side = add ? std::vector<int>{*token} : std::vector<int>();
  }
  if (eos) parts->eos_ids.insert(parts->eos_ids.begin(), *eos);
  if (pad) parts->pad_id = *pad;
  return absl::OkStatus();
}

absl::Status ReadGenerationConfig(absl::string_view text, Parts* parts) {
  ASSIGN_OR_RETURN(const json config, hf_json::Parse(text));
  RETURN_IF_ERROR(hf_json::ExpectObject(config, "(top level)"));
  const json* eos = hf_json::Member(config, "eos_token_id");
  if (eos == nullptr) return absl::OkStatus();
  const json list = eos->is_array() ? *eos : json::array({*eos});
  for (const json& id : list) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t{1} << 30)) {
      return hf_json::FieldError("eos_token_id", "expected a token id or a list of token ids");
    }
    parts->eos_ids.push_back(id.get<int>());
  }
  return absl::OkStatus();
}

absl::Status WithSource(const absl::Status& status, absl::string_view file) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(file, ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizer(TokenizerFiles files, const std::string& source) {
  const auto tokenizer_json = files.find(kHfTokenizerFile);
  if (tokenizer_json == files.end()) {
    return absl::InvalidArgumentError(absl::StrCat(source, " has no ", kHfTokenizerFile));
  }
  const std::string prefix = absl::StrCat(source, "/");
  Parts parts;
  RETURN_IF_ERROR(WithSource(ReadTokenizerJson(tokenizer_json->second, &parts), prefix + kHfTokenizerFile));
  // The template's suffix (an EOS it appends) is the fallback EOS when no config names one.
  if (const auto config = files.find(kHfTokenizerConfigFile); config != files.end()) {
    RETURN_IF_ERROR(WithSource(ReadTokenizerConfig(config->second, &parts), prefix + kHfTokenizerConfigFile));
  }
  if (const auto config = files.find(kGenerationConfigFile); config != files.end()) {
    RETURN_IF_ERROR(WithSource(ReadGenerationConfig(config->second, &parts), prefix + kGenerationConfigFile));
  }
  if (parts.eos_ids.empty() && !parts.templ.suffix.empty()) parts.eos_ids.push_back(parts.templ.suffix.back());
  std::vector<int> distinct;
  for (int id : parts.eos_ids) {
    if (std::find(distinct.begin(), distinct.end(), id) == distinct.end()) distinct.push_back(id);
  }
  parts.eos_ids = std::move(distinct);
  auto tokenizer = std::make_unique<HfTokenizer>(std::move(files), std::move(parts));
  RETURN_IF_ERROR(WithSource(tokenizer->Init(), prefix + kHfTokenizerFile));
  return tokenizer;
}

}  // namespace promptintern
