// Paths and small fixtures shared by the tests.
#pragma once

#include <string>

namespace promptintern::testing {

// ../shared beside the checkout (override with PROMPTINTERN_SHARED).
std::string SharedDir();
// The stories260K fixture directory, or "" when ../shared is absent.
std::string Stories260KDir();
// build/bin of this build.
std::string BinaryDir();
// A fresh, empty directory under the test temp dir.
std::string MakeTempDir(const std::string& name);

}  // namespace promptintern::testing

#include <memory>

#include "core/model/config.h"

namespace promptintern {
class LlamaModel;
}

namespace promptintern::testing {

// A few-thousand-parameter config: 2 layers, GQA (4 heads, 2 KV heads), vocab 64.
ModelConfig TinyConfig();
// TinyConfig (or `config`) with random weights from `seed`.
std::unique_ptr<LlamaModel> MakeRandomModel(uint64_t seed, const ModelConfig& config = TinyConfig());

}  // namespace promptintern::testing
