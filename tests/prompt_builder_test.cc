#include "core/task/prompt_builder.h"

#include <gtest/gtest.h>

#include "core/task/task.h"
#include "core/task/task_json.h"
#include "tests/status_matchers.h"

namespace promptintern {
namespace {

std::vector<Example> Pool() {
  return {{"list files in the current directory", "ls"},
          {"count lines in notes.txt", "wc -l notes.txt"},
          {"show disk usage of /var", "du -sh /var"},
          {"list files with details", "ls -l"}};
}

TEST(PromptBuilderTest, QueryOnlyRenderingIsTheQueryLine) {
  auto builder = PromptBuilder::Create(PromptFormat{}, Pool(), {});
  ASSERT_THAT(builder, IsOk());
  EXPECT_EQ((*builder)->Render("", 0, "print the date"), "Input: print the date\nOutput:");
  // The last stage (r = 0, k = 0) renders exactly what query-only inference sends.
  EXPECT_EQ((*builder)->Render("", 0, "print the date"), RenderPrompt(PromptFormat{}, "", {}, "print the date"));
}

TEST(PromptBuilderTest, FullPromptHasTemplateThenRetrievedExamplesThenQuery) {
  auto builder = PromptBuilder::Create(PromptFormat{}, Pool(), {});
  ASSERT_THAT(builder, IsOk());
  const std::string prompt = (*builder)->Render("Translate to bash.", 1, "count lines in todo.txt");
  EXPECT_EQ(prompt,
            "Translate to bash.\n\n"
            "Input: count lines in notes.txt\nOutput: wc -l notes.txt\n\n"
            "Input: count lines in todo.txt\nOutput:");
}

TEST(PromptBuilderTest, NeverRetrievesTheQueryItself) {
  auto builder = PromptBuilder::Create(PromptFormat{}, Pool(), {});
  ASSERT_THAT(builder, IsOk());
  for (const Example& example : Pool()) {
    for (const Example& retrieved : (*builder)->RetrieveExamples(example.query, 4)) {
      EXPECT_NE(retrieved.query, example.query);
    }
    EXPECT_EQ((*builder)->RetrieveExamples(example.query, 10).size(), 3u);
  }
}

TEST(PromptBuilderTest, MostRelevantExampleSitsNearestTheQuery) {
  auto builder = PromptBuilder::Create(PromptFormat{}, Pool(), {});
  ASSERT_THAT(builder, IsOk());
  const auto examples = (*builder)->RetrieveExamples("list files with details please", 2);
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(examples.back().answer, "ls -l");
}

TEST(ServedTaskTest, RoundTripsThroughJson) {
  ServedTask served;
  served.task.name = "t";
  served.task.instruction = "Do \"this\"\nwell.";
  served.task.document = "ref";
  served.task.example_pool = Pool();
  served.task.format.answer_prefix = "\nA:";
  served.full_prompt_examples = 3;
  served.retrieval = {1.2, 0.5};
  served.compression_method = "random";
  served.compressed_keep_ratio = 0.25;
  auto back = ServedTaskFromJson(ServedTaskToJson(served), "mem");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->task.instruction, served.task.instruction);
  EXPECT_EQ(back->task.example_pool, served.task.example_pool);
  EXPECT_EQ(back->task.format.answer_prefix, "\nA:");
  EXPECT_EQ(back->full_prompt_examples, 3);
  EXPECT_DOUBLE_EQ(back->retrieval.k1, 1.2);
  EXPECT_EQ(back->compression_method, "random");
  EXPECT_FALSE(ServedTaskFromJson("{\"name\": 1}", "bad").ok());
}

}  // namespace
}  // namespace promptintern
