// Fuzz target: one entry of a model's alias audit log, models/<name>/audit/<sequence>.json, as the
// registry reads it (JSON, then AliasMove::FromJson; core/registry/registry.h). Checked beyond "no
// crash": an accepted entry converts back to JSON that reads as the same entry.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "core/registry/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json value = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return 0;
  auto move = promptintern::AliasMove::FromJson(value);
  if (!move.ok()) return 0;
  auto written = move->ToJson();
  if (!written.ok()) std::abort();
  auto again = promptintern::AliasMove::FromJson(*written);
  if (!again.ok()) std::abort();
  auto rewritten = again->ToJson();
  if (!rewritten.ok() || *rewritten != *written) std::abort();
  return 0;
}
