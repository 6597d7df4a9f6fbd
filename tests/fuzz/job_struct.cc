// Fuzz target: SubmitJobRequest.job, the structured form of a job (a google.protobuf.Struct in
// the request's wire format), taken the way the trainer takes it (server/trainer/
// trainer_service.cc): parsed, printed as JSON, then read by ParseJobSpec like a YAML job file, with the
// trainer's default allowed paths (its data directory, here an empty one).
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/pipeline/job_spec.h"

// Protobuf logs every string that is not UTF-8 it parses; the parse failing is what matters here.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string* base_dir = [] {
    auto* path = new std::string((std::filesystem::temp_directory_path() /
                                  ("promptintern_fuzz_job_struct_" + std::to_string(::getpid())))
                                     .string());
    std::filesystem::create_directories(*path);
    return path;
  }();
  google::protobuf::Struct job;
  if (!job.ParseFromArray(data, static_cast<int>(size))) return 0;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(job, &json).ok()) return 0;
  static const promptintern::JobSpecOptions* options = [] {
    auto* trainer = new promptintern::JobSpecOptions;
    trainer->allowed_roots = {*base_dir};
    return trainer;
  }();
  (void)promptintern::ParseJobSpec(json, *base_dir, *options);
  return 0;
}
