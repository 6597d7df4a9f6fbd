// Fuzz target: a job file's YAML as SubmitJob and `promptintern train` read it (ParseJobSpec,
// core/pipeline/job_spec.h), with relative paths resolved against an empty directory. Checked
// beyond "no crash": an accepted spec, written back as YAML, parses again to the same YAML (the
// round trip job_spec.h promises).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/pipeline/job_spec.h"

namespace {

const std::string& EmptyDirectory() {
  static const std::string* dir = [] {
    auto* path = new std::string((std::filesystem::temp_directory_path() /
                                  ("promptintern_fuzz_job_yaml_" + std::to_string(::getpid())))
                                     .string());
    std::filesystem::create_directories(*path);
    return path;
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = promptintern::ParseJobSpec(text, EmptyDirectory());
  if (!spec.ok()) return 0;
  const std::string written = promptintern::JobSpecToYaml(*spec);
  auto again = promptintern::ParseJobSpec(written, EmptyDirectory());
  if (!again.ok() || promptintern::JobSpecToYaml(*again) != written) std::abort();
  return 0;
}
