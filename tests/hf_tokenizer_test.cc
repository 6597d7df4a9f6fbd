// Hugging Face tokenizer.json support against the real tokenizers in ../shared/tokenizers, whose
// 472 cases each hold the ids and decoded text of Hugging Face's own Rust library: through the
// library and through `promptintern tokenize`.
#include "core/tokenizer/hf_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/incremental_detokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using nlohmann::json;
using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::SharedDir;

struct Case {
  std::string text;
  std::vector<int> ids;
  std::vector<int> ids_special;
  std::string decoded;
};

std::string FixtureDir(const std::string& name) { return JoinPath(SharedDir(), "tokenizers/" + name); }

bool HaveFixtures() { return PathExists(JoinPath(SharedDir(), "tokenizers/gpt2/tokenizer.json")); }

std::vector<Case> ReadCases(const std::string& name) {
  std::vector<Case> cases;
  std::ifstream in(JoinPath(FixtureDir(name), "cases.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json record = json::parse(line);
    cases.push_back({record["text"], record["ids"], record["ids_special"], record["decoded"]});
  }
  return cases;
}

// Each real tokenizer is loaded once for the whole suite (Gemma's file is 33 MB).
const Tokenizer& Fixture(const std::string& name) {
  static auto* loaded = new std::map<std::string, std::unique_ptr<Tokenizer>>();
  auto& slot = (*loaded)[name];
  if (slot == nullptr) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::LoadFromDirectory(FixtureDir(name));
    EXPECT_THAT(tokenizer, IsOk());
    if (tokenizer.ok()) slot = std::move(tokenizer).value();
  }
  return *slot;
}

std::string Show(const std::vector<int>& ids) { return json(ids).dump(); }

class HfTokenizerFixtureTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!HaveFixtures()) GTEST_SKIP() << "../shared/tokenizers is absent; skipping the real-tokenizer fixtures";
    cases_ = ReadCases(GetParam());
    ASSERT_EQ(cases_.size(), 472u);
  }
  std::vector<Case> cases_;
};

TEST_P(HfTokenizerFixtureTest, EncodesAndDecodesEveryCaseAsHuggingFace) {
  const Tokenizer& tokenizer = Fixture(GetParam());
  EXPECT_EQ(tokenizer.file_name(), kHfTokenizerFile);
  int failures = 0;
  for (size_t i = 0; i < cases_.size() && failures < 5; ++i) {
    const Case& c = cases_[i];
    const std::string which = absl::StrCat("case ", i, " ", json(c.text).dump());
    absl::StatusOr<std::vector<int>> ids = tokenizer.Encode(c.text);
    absl::StatusOr<std::vector<int>> ids_special = tokenizer.EncodeWithSpecialTokens(c.text);
    absl::StatusOr<std::string> decoded = tokenizer.Decode(c.ids);
    ASSERT_TRUE(ids.ok() && ids_special.ok() && decoded.ok()) << which;
    const bool ok = *ids == c.ids && *ids_special == c.ids_special && *decoded == c.decoded;
    EXPECT_EQ(Show(*ids), Show(c.ids)) << which;
    EXPECT_EQ(Show(*ids_special), Show(c.ids_special)) << which;
    EXPECT_EQ(*decoded, c.decoded) << which;
    failures += ok ? 0 : 1;
  }
}

// Streaming the ids of every case one at a time gives the text of one Decode call, and no chunk
// ever shows a U+FFFD that the whole text does not have (emoji, CJK and accented text split
// across byte-level and byte-fallback tokens).
TEST_P(HfTokenizerFixtureTest, StreamsEveryCaseWithoutReplacementCharacters) {
  const Tokenizer& tokenizer = Fixture(GetParam());
  for (size_t i = 0; i < cases_.size(); ++i) {
    const Case& c = cases_[i];
    IncrementalDetokenizer stream(tokenizer, SpecialTokens::kKeep);
    std::string text;
    for (int id : c.ids) {
      absl::StatusOr<std::string> chunk = stream.Add(id);
      ASSERT_THAT(chunk, IsOk());
      if (c.decoded.find(utf8::kReplacementCharacter) == std::string::npos) {
        ASSERT_EQ(chunk->find(utf8::kReplacementCharacter), std::string::npos) << "case " << i << " after id " << id;
      }
      text += *chunk;
    }
    absl::StatusOr<std::string> rest = stream.Finish();
    ASSERT_THAT(rest, IsOk());
    EXPECT_EQ(text + *rest, c.decoded) << "case " << i;
  }
}

// Runs `promptintern tokenize` once over all the lines of `input`; returns its stdout lines.
std::vector<std::string> RunTokenizeCommand(const std::string& dir, const std::string& flags,
                                            const std::vector<std::string>& input, int* exit_code) {
  const std::string work = MakeTempDir("tokenize_command");
  std::string joined;
  for (const std::string& line : input) joined += line + "\n";
  EXPECT_THAT(WriteFileAtomic(JoinPath(work, "in.jsonl"), joined), IsOk());
  const std::string command = absl::StrCat(BinaryDir(), "/promptintern tokenize --model ", dir, " ", flags, " < ",
                                           JoinPath(work, "in.jsonl"), " > ", JoinPath(work, "out.jsonl"), " 2> ",
                                           JoinPath(work, "err.txt"));
  const int status = std::system(command.c_str());
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::vector<std::string> lines;
  std::istringstream out(ReadFile(JoinPath(work, "out.jsonl")).value_or(""));
  for (std::string line; std::getline(out, line);) lines.push_back(line);
  return lines;
}

TEST_P(HfTokenizerFixtureTest, TokenizeCommandMatchesEveryCase) {
  std::vector<std::string> texts, id_lists;
  for (const Case& c : cases_) {
    texts.push_back(json(c.text).dump());
    id_lists.push_back(Show(c.ids));
  }
  int exit_code = -1;
  const std::vector<std::string> ids = RunTokenizeCommand(FixtureDir(GetParam()), "", texts, &exit_code);
  EXPECT_EQ(exit_code, 0);
  const std::vector<std::string> special =
      RunTokenizeCommand(FixtureDir(GetParam()), "--add-special-tokens", texts, &exit_code);
  EXPECT_EQ(exit_code, 0);
  const std::vector<std::string> decoded = RunTokenizeCommand(FixtureDir(GetParam()), "--decode", id_lists, &exit_code);
  EXPECT_EQ(exit_code, 0);
  ASSERT_EQ(ids.size(), cases_.size());
  ASSERT_EQ(special.size(), cases_.size());
  ASSERT_EQ(decoded.size(), cases_.size());
  for (size_t i = 0; i < cases_.size(); ++i) {
    EXPECT_EQ(json::parse(ids[i]).get<std::vector<int>>(), cases_[i].ids) << "case " << i;
    EXPECT_EQ(json::parse(special[i]).get<std::vector<int>>(), cases_[i].ids_special) << "case " << i;
    EXPECT_EQ(json::parse(decoded[i]).get<std::string>(), cases_[i].decoded) << "case " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, HfTokenizerFixtureTest,
                         ::testing::Values("gpt2", "qwen2_5", "qwen3", "llama3_2", "gemma3"));

TEST(HfTokenizerTest, SpecialIdsFollowEachModelsConvention) {
  if (!HaveFixtures()) GTEST_SKIP() << "../shared/tokenizers is absent";
  struct Expected {
    std::string name;
    int bos;
    std::vector<int> eos;
    int pad;
  };
  for (const Expected& e : std::vector<Expected>{{"gpt2", -1, {50256}, -1},
                                                 {"qwen2_5", -1, {151645}, 151643},
                                                 {"qwen3", -1, {151645}, 151643},
                                                 {"llama3_2", 128000, {128009}, -1},
                                                 {"gemma3", 2, {106}, 0}}) {
    const Tokenizer& tokenizer = Fixture(e.name);
    EXPECT_EQ(tokenizer.bos_id(), e.bos) << e.name;
    EXPECT_EQ(tokenizer.eos_ids(), e.eos) << e.name;
    EXPECT_EQ(tokenizer.pad_id(), e.pad) << e.name;
    // A prompt starts with the template's BOS, and never ends with anything the template appends.
    const std::vector<int> text = *tokenizer.Encode("list files");
    std::vector<int> prompt = text;
    if (e.bos >= 0) prompt.insert(prompt.begin(), e.bos);
    EXPECT_EQ(*tokenizer.EncodePrompt("list files"), prompt) << e.name;
  }
  EXPECT_EQ(Fixture("gemma3").vocab_size(), 262145);
  EXPECT_EQ(Fixture("qwen3").vocab_size(), 151669);
}

// Special tokens stay in Decode by default and go with kSkip; ids the vocabulary lacks (the
// padding rows of Qwen's embedding) decode to nothing, as in Hugging Face.
TEST(HfTokenizerTest, DecodeKeepsOrSkipsSpecialTokens) {
  if (!HaveFixtures()) GTEST_SKIP() << "../shared/tokenizers is absent";
  const Tokenizer& qwen = Fixture("qwen3");
  const std::vector<int> ids = *qwen.Encode("<|im_start|>user\nhi<|im_end|><think>");
  EXPECT_EQ(*qwen.Decode(ids), "<|im_start|>user\nhi<|im_end|><think>");
  EXPECT_EQ(*qwen.Decode(ids, SpecialTokens::kSkip), "user\nhi<think>");  // <think> is not special
  EXPECT_EQ(*qwen.Decode({151900, 6023}), *qwen.Decode({6023}));
  EXPECT_FALSE(qwen.Decode({-1}).ok());
  const Tokenizer& gemma = Fixture("gemma3");
  std::vector<int> hello = *gemma.Encode("Hello");
  const std::string text = *gemma.Decode(hello);
  hello.insert(hello.begin(), 2);
  hello.push_back(1);
  EXPECT_EQ(*gemma.Decode(hello, SpecialTokens::kSkip), text);
  EXPECT_EQ(*gemma.Decode(hello), "<bos>" + text + "<eos>");
}

TEST(HfTokenizerTest, SavesSerializesAndReloadsWithItsCompanionFiles) {
  if (!HaveFixtures()) GTEST_SKIP() << "../shared/tokenizers is absent";
  const Tokenizer& llama = Fixture("llama3_2");
  const std::string dir = MakeTempDir("hf_tokenizer_save");
  // A stale SentencePiece model in the directory must not shadow or survive the saved tokenizer.
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, kSentencePieceModelFile), "stale"), IsOk());
  ASSERT_THAT(llama.Save(dir), IsOk());
  EXPECT_FALSE(PathExists(JoinPath(dir, kSentencePieceModelFile)));
  EXPECT_TRUE(PathExists(JoinPath(dir, kHfTokenizerConfigFile)));
  EXPECT_EQ(TokenizerFileIn(dir), kHfTokenizerFile);
  const std::string text = "Tiếng Việt: Tôi có nhiều việc <|eot_id|>";
  std::vector<absl::StatusOr<std::unique_ptr<Tokenizer>>> reloaded;
  reloaded.push_back(Tokenizer::LoadFromDirectory(dir));
  reloaded.push_back(Tokenizer::Deserialize(llama.Serialize(), "bytes"));
  for (const auto& loaded : reloaded) {
    ASSERT_THAT(loaded, IsOk());
    EXPECT_EQ(*(*loaded)->EncodeWithSpecialTokens(text), *llama.EncodeWithSpecialTokens(text));
    EXPECT_EQ((*loaded)->eos_ids(), llama.eos_ids());
  }
  std::string truncated = llama.Serialize();
  truncated.resize(truncated.size() / 2);
  const absl::Status status = Tokenizer::Deserialize(truncated, "bytes").status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(status.message().find("truncated"), std::string::npos) << status;
}

// generation_config.json's eos_token_id (an int or a list) joins the EOS set after the primary
// EOS of tokenizer_config.json; add_bos_token and add_eos_token decide the template's sides.
TEST(HfTokenizerTest, ConfigFilesSetTheEosSetAndTheTemplate) {
  if (!HaveFixtures()) GTEST_SKIP() << "../shared/tokenizers is absent";
  TokenizerFiles files = Fixture("llama3_2").files();
  files[kGenerationConfigFile] = R"({"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]})";
  auto llama = Tokenizer::FromFiles(files, "llama");
  ASSERT_THAT(llama, IsOk());
  EXPECT_EQ((*llama)->eos_ids(), (std::vector<int>{128009, 128001, 128008}));
  EXPECT_EQ((*llama)->eos_id(), 128009);
  EXPECT_TRUE((*llama)->IsEos(128001));
  EXPECT_FALSE((*llama)->IsEos(128000));

  files[kGenerationConfigFile] = R"({"eos_token_id": 128001})";
  files[kHfTokenizerConfigFile] =
      R"({"add_bos_token": false, "add_eos_token": true, "eos_token": {"content": "<|end_of_text|>"}})";
  llama = Tokenizer::FromFiles(files, "llama");
  ASSERT_THAT(llama, IsOk());
  EXPECT_EQ((*llama)->bos_id(), -1);
  EXPECT_EQ((*llama)->eos_ids(), (std::vector<int>{128001}));
  const std::vector<int> ids = *(*llama)->Encode("hi");
  std::vector<int> with_eos = ids;
  with_eos.push_back(128001);
  EXPECT_EQ(*(*llama)->EncodeWithSpecialTokens("hi"), with_eos);
  EXPECT_EQ(*(*llama)->EncodePrompt("hi"), ids);

  files[kHfTokenizerConfigFile] = R"({"add_bos_token": true, "bos_token": null})";
  const absl::Status status = Tokenizer::FromFiles(files, "llama").status();
  EXPECT_NE(status.message().find("tokenizer_config.json: add_bos_token: is true but bos_token is not set"),
            std::string::npos)
      << status;
  files[kHfTokenizerConfigFile] = R"({"eos_token": "<|no such token|>"})";
  EXPECT_NE(Tokenizer::FromFiles(files, "llama").status().message().find("eos_token"), std::string::npos);
  files[kHfTokenizerConfigFile] = "{}";
  files[kGenerationConfigFile] = R"({"eos_token_id": "two"})";
  EXPECT_NE(Tokenizer::FromFiles(files, "llama").status().message().find("generation_config.json: eos_token_id"),
            std::string::npos);
}

}  // namespace
}  // namespace promptintern
