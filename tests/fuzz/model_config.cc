// Fuzz target: config.json of a checkpoint (core/model/config.h). Checked beyond "no crash": an
// accepted config is valid, and writing it out and parsing that again gives the same config.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = promptintern::ParseModelConfig(text, "fuzz");
  if (!config.ok()) return 0;
  if (!config->Validate().ok()) std::abort();
  const std::string written = promptintern::ModelConfigToJson(*config);
  auto again = promptintern::ParseModelConfig(written, "fuzz (written again)");
  if (!again.ok() || promptintern::ModelConfigToJson(*again) != written) std::abort();
  return 0;
}
