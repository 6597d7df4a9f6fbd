// Fuzz target: a registry version's manifest.json (core/registry/manifest.h). Checked beyond "no
// crash": an accepted manifest serializes, and that text parses back to the same serialization.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/registry/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifest = promptintern::Manifest::Parse(text);
  if (!manifest.ok()) return 0;
  auto written = manifest->Serialize();
  if (!written.ok()) std::abort();
  auto again = promptintern::Manifest::Parse(*written);
  if (!again.ok()) std::abort();
  auto rewritten = again->Serialize();
  if (!rewritten.ok() || *rewritten != *written) std::abort();
  return 0;
}
