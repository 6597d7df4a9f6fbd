// The parts of the Hugging Face tokenizer on small tokenizer.json files built here: added-token
// flags, SentencePiece-style and Metaspace pipelines, the regex translation, UTF-8 handling,
// streaming, and the errors bad files get. Expected ids come from Hugging Face's Rust library
// (npm tokenizers@0.23.2) run on the same files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "core/tokenizer/incremental_detokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode_regex.h"
#include "core/tokenizer/utf8.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using nlohmann::json;

json AddedTokenJson(int id, const std::string& content, bool special, bool normalized, bool single_word = false,
                    bool lstrip = false, bool rstrip = false) {
  return {{"id", id},          {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip},  {"normalized", normalized}, {"special", special}};
}

json BpeJson(const json& vocab, const json& merges) {
  return {{"type", "BPE"},      {"dropout", nullptr},     {"unk_token", nullptr}, {"fuse_unk", false},
          {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}};
}

std::unique_ptr<Tokenizer> Load(const json& tokenizer_json) {
  auto tokenizer = Tokenizer::FromFiles({{kHfTokenizerFile, tokenizer_json.dump()}}, "test");
  EXPECT_THAT(tokenizer, IsOk());
  return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
}

absl::Status LoadError(const std::string& tokenizer_json) {
  return Tokenizer::FromFiles({{kHfTokenizerFile, tokenizer_json}}, "dir").status();
}

// Characters only, two merges, a Lowercase normalizer and added tokens with every flag.
json FlagsTokenizerJson() {
  const std::vector<std::string> chars = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
                                          "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
                                          " ", ",", "-", "<", ">", "\t", "\u2000", "\u0330", "\u25cc"};
  json vocab = json::object();
  for (const std::string& c : chars) vocab[c] = vocab.size();
  vocab["ab"] = 35;
  vocab["abc"] = 36;
  json tokenizer = {{"added_tokens",
                     {AddedTokenJson(37, "<mask>", true, false, true, true, true), AddedTokenJson(38, "<s>", true, false),
                      AddedTokenJson(39, "my", false, true, false, true, false),
                      AddedTokenJson(40, "ony", false, true, true, false, false)}},
                    {"normalizer", {{"type", "Lowercase"}}},
                    {"post_processor",
                     {{"type", "TemplateProcessing"},
                      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {38}}, {"tokens", {"<s>"}}}}}}}},
                    {"model", BpeJson(vocab, {"a b", "ab c"})}};
  return tokenizer;
}

// lstrip/rstrip take the surrounding whitespace (Unicode's, U+2000 included), single_word skips
// occurrences inside words (a combining mark counts as a word character), normalized tokens match
// after Lowercase. Without a decoder, tokens are joined with spaces.
TEST(HfTokenizerComponentsTest, AddedTokenFlagsMatchHuggingFace) {
  auto tokenizer = Load(FlagsTokenizerJson());
  ASSERT_NE(tokenizer, nullptr);
  struct Case {
    std::string text;
    std::vector<int> ids;
    std::string decoded;
  };
  const std::vector<Case> cases = {
      {"<mask> My name <mask> A<mask> <mask>ony <mask>",
       {37, 39, 26, 13, 0, 12, 4, 37, 0, 29, 12, 0, 18, 10, 30, 26, 29, 12, 0, 18, 10, 30, 40, 37},
       "<mask> my   n a m e <mask> a < m a s k >   < m a s k > ony <mask>"},
      {"Hi <mask> there\t<mask>\t<mask>\u2000", {7, 8, 37, 19, 7, 4, 17, 4, 37, 37}, "h i <mask> t h e r e <mask> <mask>"},
      {"<mask>, <mask>- \u25cc\u0330<mask>", {37, 27, 37, 28, 26, 34, 33, 29, 12, 0, 18, 10, 30},
       "<mask> , <mask> -   \u25cc \u0330 < m a s k >"},
      {"abc ab <s>abc", {36, 26, 35, 26, 38, 36}, "abc   ab   <s> abc"},
      {"MY name is ony, my tony", {39, 26, 13, 0, 12, 4, 26, 8, 18, 26, 40, 27, 39, 26, 19, 14, 13, 24},
       "my   n a m e   i s   ony , my   t o n y"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(*tokenizer->Encode(c.text), c.ids) << c.text;
    std::vector<int> special = c.ids;
    special.insert(special.begin(), 38);
    EXPECT_EQ(*tokenizer->EncodeWithSpecialTokens(c.text), special) << c.text;
    EXPECT_EQ(*tokenizer->Decode(c.ids), c.decoded) << c.text;
  }
  EXPECT_EQ(*tokenizer->Decode({37, 27, 38}, SpecialTokens::kSkip), ",");
  EXPECT_EQ(*tokenizer->EncodeWithSpecialTokens(""), std::vector<int>{38});
}

// Llama 2 / Mistral style: Prepend and Replace normalizers, byte fallback for unknown characters,
// a fused <unk>, and a decoder of Replace, ByteFallback, Fuse and Strip.
TEST(HfTokenizerComponentsTest, SentencePieceStyleByteFallbackPipeline) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) vocab[absl::StrFormat("<0x%02X>", b)] = vocab.size();
  for (const std::string t : {"a", "b", "c", "d", "e", "h", "l", "o", "r", "w", "\u2581", "\u2581h", "\u2581he", "ll",
                              "llo", "\u2581hello", "\u2581w", "or", "\u2581wor", "ld", "\u2581world"}) {
    vocab[t] = vocab.size();
  }
  const json merges = json::array({{"\u2581", "h"}, {"\u2581h", "e"}, {"l", "l"}, {"ll", "o"}, {"\u2581he", "llo"},
                                   {"\u2581", "w"}, {"o", "r"}, {"\u2581w", "or"}, {"l", "d"}, {"\u2581wor", "ld"}});
  json model = BpeJson(vocab, merges);
  model["unk_token"] = "<unk>";
  model["fuse_unk"] = true;
  model["byte_fallback"] = true;
  const json tokenizer_json = {
      {"added_tokens", {AddedTokenJson(0, "<unk>", true, false), AddedTokenJson(1, "<s>", true, false),
                        AddedTokenJson(2, "</s>", true, false)}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\u2581"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                    {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                    {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}}}, {"</s>", {{"id", "</s>"}, {"ids", {2}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model", model}};
  auto tokenizer = Load(tokenizer_json);
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<std::pair<std::string, std::vector<int>>> cases = {
      {"hello world", {274, 279}},
      {" hello  world", {269, 274, 269, 279}},
      {"h\u00e9llo w\u00f6rld", {270, 198, 172, 273, 275, 198, 185, 267, 278}},
      {"", {}},
      {"ab\u00e9 1", {269, 259, 260, 198, 172, 269, 52}},
  };
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(*tokenizer->Encode(text), ids) << text;
    EXPECT_EQ(*tokenizer->Decode(ids), text) << text;
  }
  EXPECT_EQ(*tokenizer->EncodeWithSpecialTokens("hello"), (std::vector<int>{1, 274, 2}));
  // The prompt takes the template's BOS but not its EOS; the EOS comes from the template too.
  EXPECT_EQ(*tokenizer->EncodePrompt("hello"), (std::vector<int>{1, 274}));
  EXPECT_EQ(tokenizer->eos_ids(), std::vector<int>{2});
  // A run of byte tokens that is not UTF-8 decodes to one U+FFFD per byte, as ByteFallback does.
  EXPECT_EQ(*tokenizer->Decode({198, 274}), "\xEF\xBF\xBD hello");
  // Streaming keeps what it returned: "é" is final before the broken run starts.
  IncrementalDetokenizer stream(*tokenizer);
  std::string streamed;
  for (int id : {270, 198, 172, 198, 274}) streamed += *stream.Add(id);
  streamed += *stream.Finish();
  EXPECT_EQ(streamed, "h\u00e9\xEF\xBF\xBD hello");
}

// Digits and Metaspace in a Sequence; prepend_scheme "first" prepends only to the piece at the
// start of the text; unknown characters fuse into one <unk>.
TEST(HfTokenizerComponentsTest, MetaspaceAndDigitsPreTokenizers) {
  json vocab = {{"<unk>", 0}};
  for (const std::string t : {"a", "b", "c", "d", "e", "h", "l", "o", "r", "w", "0", "1", "2", "3", "4", "5", "6",
                              "7", "8", "9", "\u2581", "\u2581h", "\u2581he", "\u25811"}) {
    vocab[t] = vocab.size();
  }
  json model = BpeJson(vocab, {"\u2581 h", "\u2581h e", "\u2581 1"});
  model["unk_token"] = "<unk>";
  model["fuse_unk"] = true;
  const json metaspace = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", true}};
  const json tokenizer_json = {
      {"pre_tokenizer",
       {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, metaspace}}}},
      {"decoder", metaspace},
      {"model", model}};
  auto tokenizer = Load(tokenizer_json);
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<std::tuple<std::string, std::vector<int>, std::string>> cases = {
      {"hello 123 world", {23, 7, 7, 8, 21, 12, 13, 14, 21, 10, 8, 9, 7, 4}, "hello 123 world"},
      {"he12 xyz", {23, 12, 13, 21, 0}, "he12 <unk>"},
      {"  he", {21, 23}, " he"},
      {"1he", {24, 6, 5}, "1he"},
      {"ab cd", {21, 1, 2, 21, 3, 4}, "ab cd"},
  };
  for (const auto& [text, ids, decoded] : cases) {
    EXPECT_EQ(*tokenizer->Encode(text), ids) << text;
    EXPECT_EQ(*tokenizer->Decode(ids), decoded) << text;
  }
  EXPECT_EQ(tokenizer->bos_id(), -1);
  EXPECT_TRUE(tokenizer->eos_ids().empty());
}

TEST(HfTokenizerComponentsTest, RegexesMeanWhatOnigurumaMeans) {
  const auto matches = [](const std::string& pattern, const std::string& text) {
    auto regex = UnicodeRegex::Compile(pattern);
    EXPECT_THAT(regex, IsOk());
    return *(*regex)->FindAll(text);
  };
  using Ranges = std::vector<std::pair<size_t, size_t>>;
  // U+180E is not White_Space (Unicode 6.3 on); PCRE2's own \s would take it.
  EXPECT_EQ(matches(R"(\s+)", "a\u180e b"), (Ranges{{4, 5}}));
  EXPECT_EQ(matches(R"([^\s\p{L}]+)", "a\u180e b"), (Ranges{{1, 4}}));
  EXPECT_EQ(matches(R"(\s)", "\u3000\u2028\u0085\t"), (Ranges{{0, 3}, {3, 6}, {6, 8}, {8, 9}}));
  // Marks are word characters, other numbers are not.
  EXPECT_EQ(matches(R"(\w+)", "e\u0301\u00bd_x"), (Ranges{{0, 3}, {5, 7}}));
  EXPECT_EQ(matches(R"(\p{N}{1,3})", "12345"), (Ranges{{0, 3}, {3, 5}}));
  EXPECT_EQ(matches(R"((?i:'s|'t))", "IT'S it's"), (Ranges{{2, 4}, {7, 9}}));
  EXPECT_EQ(matches(R"(a++b|(?>ab|a)c)", "aab ac"), (Ranges{{0, 3}, {4, 6}}));
  EXPECT_EQ(matches(R"(\\s)", R"(a\sb s)"), (Ranges{{1, 3}}));
  // An empty match moves on one character, never inside one.
  EXPECT_EQ(matches("x*", "\u00e9x"), (Ranges{{0, 0}, {2, 3}, {3, 3}}));
  EXPECT_EQ(*(*UnicodeRegex::Literal("a.b"))->ReplaceAll("a.b axb", "_"), "_ axb");
  const absl::Status bad = UnicodeRegex::Compile("(unclosed").status();
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(bad.message().find("(unclosed"), std::string::npos) << bad;
  EXPECT_FALSE(UnicodeRegex::Compile(R"([\W])").ok());
}

TEST(HfTokenizerComponentsTest, Utf8LossyDecodingReplacesMaximalSubparts) {
  EXPECT_EQ(utf8::DecodeLossy("a\xE2\x82"), "a\xEF\xBF\xBD");                      // truncated: one U+FFFD
  EXPECT_EQ(utf8::DecodeLossy("\xE2\x82x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(utf8::DecodeLossy("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");             // complete emoji
  EXPECT_EQ(utf8::DecodeLossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");             // overlong: per byte
  EXPECT_EQ(utf8::DecodeLossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_THAT(utf8::Validate("caf\xC3\xA9"), IsOk());
  const absl::Status bad = utf8::Validate("ok\xFF");
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(bad.message().find("offset 2"), std::string::npos) << bad;
  auto tokenizer = Load(FlagsTokenizerJson());
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(tokenizer->Encode("ab\xC3"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Each bad file names what is wrong, and where.
TEST(HfTokenizerComponentsTest, BadFilesGiveErrorsNamingTheField) {
  const json good = FlagsTokenizerJson();
  const auto with = [&](const std::string& pointer, const json& value) {
    json changed = good;
    changed[json::json_pointer(pointer)] = value;
    return changed.dump();
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"model\": {", "dir/tokenizer.json: not valid JSON"},
      {good.dump().substr(0, good.dump().size() / 2), "dir/tokenizer.json: not valid JSON"},
      {"[1, 2]", "(top level): expected an object"},
      {"{}", "dir/tokenizer.json: model: missing"},
      {with("/model/type", "Unigram"), "model.type: unknown model type \"Unigram\""},
      {with("/normalizer", {{"type", "Precompiled"}}), "normalizer.type: unknown normalizer type \"Precompiled\""},
      {with("/pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespacey"}}}}}),
       "pre_tokenizer.pretokenizers[0].type: unknown pre-tokenizer type \"Whitespacey\""},
      {with("/decoder", {{"type", "WordPiece"}}), "decoder.type: unknown decoder type \"WordPiece\""},
      {with("/post_processor/type", "Nope"), "post_processor.type: unknown post-processor type \"Nope\""},
      {with("/model/merges", {"a b", "q x"}), "model.merges[1]: token \"qx\" is not in the vocabulary"},
      {with("/model/merges", {"a b", "ab zz"}), "model.merges[1]: token \"zz\" is not in the vocabulary"},
      {with("/model/merges", {"a b c"}), "model.merges[0]: expected \"left right\" with one space"},
      {with("/model/merges", {{"a"}}), "model.merges[0]: expected \"left right\" or [\"left\", \"right\"]"},
      {with("/model/vocab/a", "zero"), "model.vocab.a: expected a token id"},
      {with("/model/unk_token", "<nope>"), "model.unk_token: \"<nope>\" is not in the vocabulary"},
      {with("/pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(a"}}}, {"behavior", "Isolated"}}),
       "pre_tokenizer.pattern: regex (a does not compile"},
      {with("/pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}}),
       "pre_tokenizer.behavior: unknown split behavior \"Sideways\""},
      {with("/added_tokens/0/id", -4), "added_tokens[0].id: expected a token id"},
      {with("/post_processor/single", json::array()), "post_processor.single: the template lacks sequence A"},
      {with("/post_processor/special_tokens/<s>/ids", {int64_t{1} << 40}), "post_processor.special_tokens: bad id for \"<s>\""},
      {with("/post_processor", {{"type", "RobertaProcessing"}, {"cls", {"<s>", -1}}, {"sep", {"</s>", 2}}}),
       "post_processor.cls: expected [token, id]"},
  };
  for (const auto& [text, expected] : cases) {
    const absl::Status status = LoadError(text);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument)) << expected;
    EXPECT_NE(status.message().find(expected), std::string::npos) << "wanted \"" << expected << "\", got " << status;
  }
  EXPECT_THAT(Tokenizer::FromFiles({}, "dir"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Tokenizer::LoadFromDirectory(::promptintern::testing::MakeTempDir("no_tokenizer")), StatusIs(absl::StatusCode::kNotFound));
}

// vocab_size() covers every id the tokenizer produces: a template id that names no token (found by
// the tokenizer_json fuzz target) is emitted, as Hugging Face does, and counted.
TEST(HfTokenizerComponentsTest, TemplateIdsBeyondTheVocabularyAreCountedInVocabSize) {
  json tokenizer_json = FlagsTokenizerJson();
  tokenizer_json["post_processor"]["special_tokens"]["<s>"]["ids"] = {1000};
  auto tokenizer = Load(tokenizer_json);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 1001);
  auto ids = tokenizer->EncodeWithSpecialTokens("ab");
  ASSERT_THAT(ids, IsOk());
  EXPECT_EQ(*ids, (std::vector<int>{1000, 35}));
}

// A line that is not what the mode reads prints null (output stays aligned) and the exit code is 1.
TEST(HfTokenizerComponentsTest, TokenizeCommandReportsBadLines) {
  const std::string dir = ::promptintern::testing::MakeTempDir("tokenize_bad_lines");
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, kHfTokenizerFile), FlagsTokenizerJson().dump()), IsOk());
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, "in.jsonl"), "\"abc\"\n[1, 2]\nnot json\n\"ab\\u00ff\"\n"), IsOk());
  const std::string binary = ::promptintern::testing::BinaryDir() + "/promptintern";
  const std::string command = binary + " tokenize --model " + dir + " < " + JoinPath(dir, "in.jsonl") + " > " +
                              JoinPath(dir, "out.jsonl") + " 2> " + JoinPath(dir, "err.txt");
  const int status = std::system(command.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1);
  // (A character without a token, and no unk or byte fallback, is dropped, as Hugging Face does.)
  EXPECT_EQ(*ReadFile(JoinPath(dir, "out.jsonl")), "[36]\nnull\nnull\n[35]\n");
  const std::string errors = *ReadFile(JoinPath(dir, "err.txt"));
  EXPECT_NE(errors.find("line 2: expected a JSON string"), std::string::npos) << errors;
  EXPECT_NE(errors.find("line 3: not valid JSON"), std::string::npos) << errors;
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, "ids.jsonl"), "[36, 38]\n[-3]\n"), IsOk());
  const std::string decode = binary + " tokenize --decode --model " + dir + " < " + JoinPath(dir, "ids.jsonl") +
                             " > " + JoinPath(dir, "out.jsonl") + " 2> " + JoinPath(dir, "err.txt");
  EXPECT_EQ(WEXITSTATUS(std::system(decode.c_str())), 1);
  EXPECT_EQ(*ReadFile(JoinPath(dir, "out.jsonl")), "\"abc <s>\"\nnull\n");
  EXPECT_NE(WEXITSTATUS(std::system((binary + " tokenize --model /nonexistent < /dev/null 2> /dev/null").c_str())), 0);
}

TEST(HfTokenizerComponentsTest, StreamsSentencePieceText) {
  const std::string dir = ::promptintern::testing::Stories260KDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/models/stories260K is absent";
  auto tokenizer = Tokenizer::LoadFromDirectory(dir);
  ASSERT_THAT(tokenizer, IsOk());
  const std::string text = "Once upon a time, there was a little girl named Lily.";
  const std::vector<int> ids = *(*tokenizer)->Encode(text);
  IncrementalDetokenizer stream(**tokenizer);
  std::string streamed;
  for (int id : ids) streamed += *stream.Add(id);
  streamed += *stream.Finish();
  EXPECT_EQ(streamed, *(*tokenizer)->Decode(ids));
  EXPECT_EQ(streamed, text);
}

}  // namespace
}  // namespace promptintern
