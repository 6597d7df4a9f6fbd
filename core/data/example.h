// The unit of data everywhere in PromptIntern: one query and the answer the model should produce.
// Data sets, the synthetic generator, few-shot pools, training and evaluation all exchange
// `Example`s; anything task-specific (field names, prompt text) lives elsewhere.
#pragma once

#include <string>

namespace promptintern {

struct Example {
  std::string query;
  std::string answer;

  friend bool operator==(const Example& a, const Example& b) {
    return a.query == b.query && a.answer == b.answer;
  }
  friend bool operator!=(const Example& a, const Example& b) { return !(a == b); }
};

}  // namespace promptintern
