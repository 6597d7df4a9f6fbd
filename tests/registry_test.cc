// Model registry on real directories: publish/read/verify round trips, concurrent publishers
// (threads and forked processes), crashes and failures mid-publish, corruption detection, name
// validation, references, aliases with their audit log, idempotent publish, manifests and the
// local storage backend's primitives.
#include "core/registry/registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/registry/manifest.h"
#include "core/registry/storage.h"
#include "core/util/file.h"
#include "core/util/sha256.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A fresh directory under TEST_TMPDIR (or the system temp dir), removed by the fixture.
std::string MakeScratchDirectory() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = (fs::path(base != nullptr ? base : fs::temp_directory_path().string()) /
                         "promptintern_registry_XXXXXX")
                            .string();
  if (::mkdtemp(pattern.data()) == nullptr) return "";
  return pattern;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string ReadBytes(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path);
  return content.ok() ? *content : "<unreadable>";
}

// A small stand-in for a trainer checkpoint; `seed` varies every file's bytes.
std::string MakeCheckpoint(const std::string& directory, int seed) {
  fs::create_directories(directory);
  WriteBytes(JoinPath(directory, "config.json"), absl::StrCat("{\"dim\": ", 64 + seed, "}"));
  std::string weights(4096 + seed, '\0');
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>((i * 31 + seed * 7) & 0xff);
  WriteBytes(JoinPath(directory, "model.safetensors"), weights);
  WriteBytes(JoinPath(directory, "tokenizer.model"), absl::StrCat("spm-model-", seed));
  WriteBytes(JoinPath(directory, "task.json"), absl::StrCat("{\"name\": \"nl2bash\", \"seed\": ", seed, "}"));
  return directory;
}

ManifestInfo MakeInfo(const std::string& job_id) {
  ManifestInfo info;
  info.base_model = "stories260K";
  info.tokenizer = "tokenizer.model";
  info.schedule = {{"kind", "progressive"}, {"stages", 3}};
  info.stage_metrics = json::array({{{"stage", 0}, {"bleu", 0.41}}, {{"stage", 1}, {"bleu", 0.47}}});
  info.token_statistics = {{"full_prompt_tokens_per_request", 812.5}, {"query_only_tokens_per_request", 23.0}};
  info.job_id = job_id;
  info.extra = {{"git_commit", "abc123"}};
  return info;
}

// Forwards everything to a LocalDirectoryStorage; subclasses intercept the file uploads to
// inject a crash or a failure part-way through a publish.
class ForwardingStorage : public RegistryStorage {
 public:
  explicit ForwardingStorage(std::unique_ptr<RegistryStorage> base) : base_(std::move(base)) {}
  absl::StatusOr<std::string> ReadObject(absl::string_view key) override { return base_->ReadObject(key); }
  absl::Status WriteObject(absl::string_view key, absl::string_view bytes) override {
    return base_->WriteObject(key, bytes);
  }
  absl::StatusOr<ObjectDigest> WriteObjectFromFile(absl::string_view key, const std::string& local_path) override {
    return base_->WriteObjectFromFile(key, local_path);
  }
  absl::StatusOr<std::vector<ObjectDigest>> WriteObjectsFromFiles(const std::vector<FileUpload>& uploads) override {
    return base_->WriteObjectsFromFiles(uploads);
  }
  absl::Status CreateExclusive(absl::string_view key, absl::string_view bytes) override {
    return base_->CreateExclusive(key, bytes);
  }
  absl::StatusOr<ObjectDigest> HashObject(absl::string_view key) override { return base_->HashObject(key); }
  absl::StatusOr<std::vector<std::string>> List(absl::string_view prefix) override { return base_->List(prefix); }
  absl::StatusOr<std::vector<std::string>> ListChildren(absl::string_view prefix) override {
    return base_->ListChildren(prefix);
  }
  absl::Status Delete(absl::string_view key) override { return base_->Delete(key); }
  absl::Status DeletePrefix(absl::string_view prefix) override { return base_->DeletePrefix(prefix); }
  absl::StatusOr<std::string> LocalPath(absl::string_view key) override { return base_->LocalPath(key); }

 protected:
  std::unique_ptr<RegistryStorage> base_;
};

// Really stores the files before the `fail_at_file`-th (1-based) of an upload, then fails, or
// kills the process when `crash` is set: a publish interrupted with part of its files staged.
class FaultyStorage : public ForwardingStorage {
 public:
  FaultyStorage(std::unique_ptr<RegistryStorage> base, size_t fail_at_file, bool crash)
      : ForwardingStorage(std::move(base)), fail_at_file_(fail_at_file), crash_(crash) {}
  absl::StatusOr<std::vector<ObjectDigest>> WriteObjectsFromFiles(const std::vector<FileUpload>& uploads) override {
    if (uploads.size() < fail_at_file_) return base_->WriteObjectsFromFiles(uploads);
    const std::vector<FileUpload> healthy(uploads.begin(), uploads.begin() + (fail_at_file_ - 1));
    if (absl::Status status = base_->WriteObjectsFromFiles(healthy).status(); !status.ok()) return status;
    if (crash_) ::_exit(kCrashExitCode);
    return absl::UnavailableError("injected: disk went away");
  }
  static constexpr int kCrashExitCode = 42;

 private:
  const size_t fail_at_file_;
  const bool crash_;
};

class ModelRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = MakeScratchDirectory();
    ASSERT_FALSE(scratch_.empty());
    root_ = JoinPath(scratch_, "registry");
    absl::StatusOr<std::unique_ptr<ModelRegistry>> registry = ModelRegistry::OpenLocal(root_);
    ASSERT_THAT(registry, IsOk());
    registry_ = *std::move(registry);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(scratch_, ignored);
  }

  std::string Checkpoint(int seed) { return MakeCheckpoint(JoinPath(scratch_, absl::StrCat("ckpt", seed)), seed); }

  int64_t PublishOrDie(const std::string& name, int seed, const PublishOptions& options = {}) {
    absl::StatusOr<PublishResult> result =
        registry_->Publish(name, Checkpoint(seed), MakeInfo(absl::StrCat("job-", seed)), options);
    EXPECT_THAT(result, IsOk());
    return result.ok() ? result->version : -1;
  }

  std::unique_ptr<ModelRegistry> OpenWithFaults(size_t fail_at_file, bool crash) {
    absl::StatusOr<std::unique_ptr<LocalDirectoryStorage>> local = LocalDirectoryStorage::Open(root_);
    if (!local.ok()) return nullptr;
    return std::make_unique<ModelRegistry>(std::make_unique<FaultyStorage>(*std::move(local), fail_at_file, crash));
  }

  // Payload directories present on disk, committed or not.
  std::vector<std::string> PayloadDirectories(const std::string& name) {
    std::vector<std::string> names;
    std::error_code error;
    for (fs::directory_iterator it(JoinPath(root_, absl::StrCat("models/", name, "/payloads")), error), end;
         !error && it != end; it.increment(error)) {
      names.push_back(it->path().filename().string());
    }
    return names;
  }

  std::string VersionFile(const std::string& name, int64_t version, const std::string& file) {
    absl::StatusOr<std::string> directory = registry_->Materialize(name, version);
    EXPECT_THAT(directory, IsOk());
    return JoinPath(directory.ok() ? *directory : "/nonexistent", file);
  }

  std::string scratch_;
  std::string root_;
  std::unique_ptr<ModelRegistry> registry_;
};

TEST_F(ModelRegistryTest, PublishGetVerifyRoundTrip) {
  const std::string source = Checkpoint(1);
  ManifestInfo info = MakeInfo("job-1");
  info.created_at = absl::FromUnixSeconds(1714566896);
  absl::StatusOr<PublishResult> published = registry_->Publish("nl2bash", source, info);
  ASSERT_THAT(published, IsOk());
  EXPECT_EQ(published->version, 1);
  EXPECT_FALSE(published->already_published);

  absl::StatusOr<Manifest> manifest = registry_->GetVersion("nl2bash", 1);
  ASSERT_THAT(manifest, IsOk());
  EXPECT_EQ(manifest->model_name, "nl2bash");
  EXPECT_EQ(manifest->version, 1);
  EXPECT_EQ(manifest->base_model, "stories260K");
  EXPECT_EQ(manifest->tokenizer, "tokenizer.model");
  EXPECT_EQ(manifest->task_file, "task.json");
  EXPECT_EQ(manifest->schedule, info.schedule);
  EXPECT_EQ(manifest->stage_metrics, info.stage_metrics);
  EXPECT_EQ(manifest->token_statistics, info.token_statistics);
  EXPECT_EQ(manifest->job_id, "job-1");
  EXPECT_EQ(manifest->extra, info.extra);
  EXPECT_EQ(manifest->created_at, "2024-05-01T12:34:56Z");
  std::vector<std::string> names;
  for (const ManifestFile& file : manifest->files) {
    names.push_back(file.name);
    const std::string original = ReadBytes(JoinPath(source, file.name));
    EXPECT_EQ(file.size, original.size()) << file.name;
    EXPECT_EQ(file.sha256, *Sha256Hex(original)) << file.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"config.json", "model.safetensors", "task.json", "tokenizer.model"}));

  EXPECT_THAT(registry_->VerifyVersion("nl2bash", 1), IsOk());
  absl::StatusOr<std::string> directory = registry_->Materialize("nl2bash", 1);
  ASSERT_THAT(directory, IsOk());
  for (const std::string& name : names) {
    EXPECT_EQ(ReadBytes(JoinPath(*directory, name)), ReadBytes(JoinPath(source, name))) << name;
  }
  // The stored manifest.json is the documented format, readable without this library.
  const json stored = json::parse(ReadBytes(JoinPath(root_, "models/nl2bash/versions/1/manifest.json")));
  EXPECT_EQ(stored.at("files").size(), 4u);
  EXPECT_EQ(stored.at("task_file"), "task.json");

  absl::StatusOr<OpenedVersion> opened = registry_->Open("nl2bash");
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->version, 1);
  EXPECT_EQ(opened->directory, *directory);
  EXPECT_EQ(*registry_->ListModels(), std::vector<std::string>{"nl2bash"});
  ASSERT_EQ(registry_->ListVersions("nl2bash")->versions.size(), 1u);
}

TEST_F(ModelRegistryTest, AdapterVersionsNameAFullBaseVersionAndRoundTrip) {
  ASSERT_EQ(PublishOrDie("base", 1), 1);
  ManifestInfo info = MakeInfo("job-adapter");
  info.tokenizer = "";  // an adapter uses its base's tokenizer
  info.adapter_of = AdapterBase{"base", 1};
  absl::StatusOr<PublishResult> adapter = registry_->Publish("task-a", Checkpoint(2), info);
  ASSERT_THAT(adapter, IsOk());
  absl::StatusOr<Manifest> stored = registry_->GetVersion("task-a", 1);
  ASSERT_THAT(stored, IsOk());
  ASSERT_TRUE(stored->adapter_of.has_value());
  EXPECT_EQ(stored->adapter_of->model, "base");
  EXPECT_EQ(stored->adapter_of->version, 1);
  EXPECT_FALSE(registry_->GetVersion("base", 1)->adapter_of.has_value()) << "absent for a full checkpoint";

  const auto refused = [&](const AdapterBase& base, const std::string& name) {
    ManifestInfo bad = info;
    bad.adapter_of = base;
    return registry_->Publish(name, Checkpoint(3), bad).status();
  };
  EXPECT_THAT(refused({"base", 9}, "task-b"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(refused({"nobody", 1}, "task-b"), StatusIs(absl::StatusCode::kFailedPrecondition));
  const absl::Status of_adapter = refused({"task-a", 1}, "task-b");
  EXPECT_THAT(of_adapter, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_NE(std::string(of_adapter.message()).find("is itself an adapter"), std::string::npos) << of_adapter;
  EXPECT_THAT(refused({"base", 1}, "base"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(registry_->GetVersion("task-b", 1).ok()) << "nothing was published";

  // A hand-edited manifest with a malformed adapter_of is refused, naming it.
  absl::StatusOr<nlohmann::json> value = stored->ToJson();
  ASSERT_THAT(value, IsOk());
  (*value)["adapter_of"]["version"] = 0;
  const absl::Status bad_version = Manifest::FromJson(*value).status();
  EXPECT_NE(std::string(bad_version.message()).find("adapter_of.version"), std::string::npos) << bad_version;
  (*value)["adapter_of"] = "base@1";
  EXPECT_THAT(Manifest::FromJson(*value), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ModelRegistryTest, VersionNumbersIncreaseAndEarlierVersionsStayIntact) {
  EXPECT_EQ(PublishOrDie("m", 1), 1);
  EXPECT_EQ(PublishOrDie("other", 2), 1);
  EXPECT_EQ(PublishOrDie("m", 3), 2);
  const absl::StatusOr<VersionListing> listing = registry_->ListVersions("m");
  ASSERT_THAT(listing, IsOk());
  const std::vector<Manifest>& versions = listing->versions;
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_TRUE(listing->problems.empty());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(versions[i].version, i + 1);
    EXPECT_EQ(versions[i].job_id, absl::StrCat("job-", 2 * i + 1));
    EXPECT_THAT(registry_->VerifyVersion("m", i + 1), IsOk());
  }
  EXPECT_EQ(*registry_->ListModels(), (std::vector<std::string>{"m", "other"}));
}

TEST_F(ModelRegistryTest, EightThreadsPublishingGetDistinctVersions) {
  constexpr int kThreads = 8;
  std::vector<std::string> sources;
  for (int i = 0; i < kThreads; ++i) sources.push_back(Checkpoint(100 + i));
  std::vector<absl::StatusOr<PublishResult>> results(kThreads, absl::UnknownError("not run"));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      // Start together so the claims really collide.
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      results[i] = registry_->Publish("m", sources[i], MakeInfo(absl::StrCat("job-", i)));
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::set<int64_t> versions;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_THAT(results[i], IsOk());
    versions.insert(results[i]->version);
    // Each number holds the content of the thread that got it.
    absl::StatusOr<Manifest> manifest = registry_->GetVersion("m", results[i]->version);
    ASSERT_THAT(manifest, IsOk());
    EXPECT_EQ(manifest->job_id, absl::StrCat("job-", i));
    EXPECT_THAT(registry_->VerifyVersion("m", results[i]->version), IsOk());
  }
  EXPECT_EQ(versions, (std::set<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(PayloadDirectories("m").size(), static_cast<size_t>(kThreads));
}

TEST_F(ModelRegistryTest, FourForkedProcessesPublishingGetDistinctVersions) {
  constexpr int kProcesses = 4;
  std::vector<std::string> sources;
  for (int i = 0; i < kProcesses; ++i) sources.push_back(Checkpoint(200 + i));
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> children;
  std::vector<int> result_pipes;
  for (int i = 0; i < kProcesses; ++i) {
    int result[2];
    ASSERT_EQ(::pipe(result), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Child: its own registry over the same root; no gtest calls, and _exit to skip the
      // parent's atexit handlers.
      ::close(gate[1]);
      ::close(result[0]);
      char byte;
      while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
      }
      absl::StatusOr<std::unique_ptr<ModelRegistry>> registry = ModelRegistry::OpenLocal(root_);
      if (!registry.ok()) ::_exit(2);
      absl::StatusOr<PublishResult> published =
          (*registry)->Publish("m", sources[i], MakeInfo(absl::StrCat("job-", i)));
      if (!published.ok()) ::_exit(3);
      const int64_t version = published->version;
      if (::write(result[1], &version, sizeof(version)) != sizeof(version)) ::_exit(4);
      ::_exit(0);
    }
    ::close(result[1]);
    children.push_back(pid);
    result_pipes.push_back(result[0]);
  }
  ::close(gate[0]);
  ::close(gate[1]);  // EOF on the gate releases every child at once.

  std::set<int64_t> versions;
  for (int i = 0; i < kProcesses; ++i) {
    int status = 0;
    ASSERT_EQ(::waitpid(children[i], &status, 0), children[i]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << i << " status " << status;
    int64_t version = -1;
    EXPECT_EQ(::read(result_pipes[i], &version, sizeof(version)), static_cast<ssize_t>(sizeof(version)));
    ::close(result_pipes[i]);
    versions.insert(version);
    absl::StatusOr<Manifest> manifest = registry_->GetVersion("m", version);
    ASSERT_THAT(manifest, IsOk());
    EXPECT_EQ(manifest->job_id, absl::StrCat("job-", i));
  }
  EXPECT_EQ(versions, (std::set<int64_t>{1, 2, 3, 4}));
  for (int64_t version = 1; version <= kProcesses; ++version) {
    EXPECT_TRUE(registry_->VerifyVersion("m", version).ok()) << version;
  }
}

TEST_F(ModelRegistryTest, ProcessKilledMidPublishLeavesNoVersion) {
  const std::string source = Checkpoint(1);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Dies while copying the second file, after the first one is already staged.
    std::unique_ptr<ModelRegistry> registry = OpenWithFaults(/*fail_at_file=*/2, /*crash=*/true);
    if (registry == nullptr) ::_exit(2);
    (void)registry->Publish("m", source, MakeInfo("job-crash"));
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), FaultyStorage::kCrashExitCode);
  ASSERT_EQ(PayloadDirectories("m").size(), 1u) << "the crash should have left staged files behind";

  EXPECT_THAT(registry_->Resolve("m"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(registry_->GetVersion("m", 1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(registry_->ListModels()->empty());

  // Debris of other crashes: a stray temporary file and a version directory whose manifest was
  // never linked in.
  WriteBytes(JoinPath(root_, ".tmp/12345-0-999"), "half a manifest");
  fs::create_directories(JoinPath(root_, "models/m/versions/1"));
  EXPECT_THAT(registry_->Resolve("m"), StatusIs(absl::StatusCode::kNotFound));

  EXPECT_EQ(PublishOrDie("m", 2), 1);
  EXPECT_THAT(registry_->VerifyVersion("m", 1), IsOk());
  EXPECT_EQ(*registry_->Resolve("m"), 1);
  EXPECT_EQ(registry_->GetVersion("m", 1)->job_id, "job-2");
}

TEST_F(ModelRegistryTest, FailedPublishRemovesItsStagedFiles) {
  ASSERT_EQ(PublishOrDie("m", 1), 1);
  ASSERT_EQ(PayloadDirectories("m").size(), 1u);
  std::unique_ptr<ModelRegistry> faulty = OpenWithFaults(/*fail_at_file=*/3, /*crash=*/false);
  ASSERT_NE(faulty, nullptr);
  const absl::StatusOr<PublishResult> failed = faulty->Publish("m", Checkpoint(2), MakeInfo("job-2"));
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(PayloadDirectories("m").size(), 1u);
  EXPECT_EQ(*registry_->Resolve("m"), 1);
  EXPECT_THAT(registry_->VerifyVersion("m", 1), IsOk());
  EXPECT_EQ(PublishOrDie("m", 3), 2);
}

TEST_F(ModelRegistryTest, RefusesSymlinksSpecialFilesAndSubdirectoriesBeforeStaging) {
  const std::string with_symlink = Checkpoint(1);
  fs::create_symlink(JoinPath(with_symlink, "config.json"), JoinPath(with_symlink, "linked.json"));
  const std::string with_fifo = Checkpoint(2);
  ASSERT_EQ(::mkfifo(JoinPath(with_fifo, "pipe").c_str(), 0644), 0);
  const std::string with_directory = Checkpoint(3);
  fs::create_directories(JoinPath(with_directory, "optimizer"));
  const std::string with_hidden = Checkpoint(4);
  WriteBytes(JoinPath(with_hidden, ".lock"), "");

  const std::vector<std::pair<std::string, std::string>> cases = {
      {with_symlink, "linked.json"}, {with_fifo, "pipe"}, {with_directory, "optimizer"}, {with_hidden, ".lock"}};
  for (const auto& [source, offender] : cases) {
    const absl::StatusOr<PublishResult> result = registry_->Publish("m", source, MakeInfo("job"));
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument)) << offender;
    EXPECT_NE(result.status().message().find(offender), absl::string_view::npos) << result.status();
  }
  EXPECT_TRUE(PayloadDirectories("m").empty());
  EXPECT_THAT(registry_->Publish("m", JoinPath(scratch_, "absent"), MakeInfo("job")), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ModelRegistryTest, TaskAndTokenizerAreRequiredAndChecked) {
  const std::string source = Checkpoint(1);
  ASSERT_TRUE(fs::remove(JoinPath(source, "task.json")));
  EXPECT_THAT(registry_->Publish("m", source, MakeInfo("job")), StatusIs(absl::StatusCode::kInvalidArgument));

  ManifestInfo bad_task = MakeInfo("job");
  bad_task.task_json = "[1, 2";
  EXPECT_THAT(registry_->Publish("m", source, bad_task), StatusIs(absl::StatusCode::kInvalidArgument));

  ManifestInfo missing_tokenizer = MakeInfo("job");
  missing_tokenizer.task_json = "{}";
  missing_tokenizer.tokenizer = "tokenizer.json";
  EXPECT_THAT(registry_->Publish("m", source, missing_tokenizer), StatusIs(absl::StatusCode::kInvalidArgument));

  ManifestInfo bad_schedule = MakeInfo("job");
  bad_schedule.task_json = "{}";
  bad_schedule.schedule = json::array();
  EXPECT_THAT(registry_->Publish("m", source, bad_schedule), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(PayloadDirectories("m").empty());

  // task.json supplied by the publisher becomes a checksummed file of the version.
  ManifestInfo supplied = MakeInfo("job");
  supplied.task_json = "{\"name\": \"supplied\"}";
  const absl::StatusOr<PublishResult> published = registry_->Publish("m", source, supplied);
  ASSERT_THAT(published, IsOk());
  ASSERT_NE(published->manifest.FindFile("task.json"), nullptr);
  EXPECT_EQ(ReadBytes(VersionFile("m", 1, "task.json")), *supplied.task_json);
  EXPECT_THAT(registry_->VerifyVersion("m", 1), IsOk());

  // Both present but different: ambiguous, refused.
  const std::string both = Checkpoint(2);
  EXPECT_THAT(registry_->Publish("m", both, supplied), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Expects VerifyVersion and Materialize to refuse version 1 with DATA_LOSS mentioning every
// fragment.
void ExpectCorrupted(ModelRegistry& registry, const std::vector<std::string>& fragments) {
  const absl::Status verified = registry.VerifyVersion("m", 1);
  EXPECT_THAT(verified, StatusIs(absl::StatusCode::kDataLoss)) << verified;
  for (const std::string& fragment : fragments) {
    EXPECT_NE(verified.message().find(fragment), absl::string_view::npos) << fragment << " not in " << verified;
  }
  EXPECT_THAT(registry.Materialize("m", 1), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(registry.Open("m@1"), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(ModelRegistryTest, FlippedByteIsDetectedAndNamed) {
  ASSERT_EQ(PublishOrDie("m", 1), 1);
  const std::string path = VersionFile("m", 1, "model.safetensors");
  std::string bytes = ReadBytes(path);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteBytes(path, bytes);
  ExpectCorrupted(*registry_, {"'model.safetensors'", "sha256"});
}

TEST_F(ModelRegistryTest, TruncatedMissingExtraFilesAndBadManifestAreDetected) {
  ASSERT_EQ(PublishOrDie("m", 1), 1);
  const std::string config = VersionFile("m", 1, "config.json");
  const std::string tokenizer = VersionFile("m", 1, "tokenizer.model");
  const std::string directory = fs::path(config).parent_path().string();

  fs::resize_file(config, 3);
  ExpectCorrupted(*registry_, {"'config.json' has 3 bytes"});
  ASSERT_TRUE(fs::remove(tokenizer));
  ExpectCorrupted(*registry_, {"'config.json' has 3 bytes", "'tokenizer.model' is missing"});
  WriteBytes(JoinPath(directory, "evil.bin"), "x");
  ExpectCorrupted(*registry_, {"'config.json'", "'tokenizer.model' is missing", "'evil.bin' is not in the manifest"});

  // A manifest that is not one is refused too, rather than trusted.
  WriteBytes(JoinPath(root_, "models/m/versions/1/manifest.json"), "{\"not\": \"a manifest\"}");
  EXPECT_THAT(registry_->GetVersion("m", 1), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(registry_->VerifyVersion("m", 1), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(ModelRegistryTest, NamesAreValidated) {
  const std::string source = Checkpoint(1);
  for (const std::string& bad : {std::string("../x"), std::string("a/b"), std::string(""), std::string(".hidden"),
                                 std::string(65, 'a'), std::string("a..b"), std::string("-x"), std::string("a b"),
                                 std::string("x\\y"), std::string("a@b")}) {
    const absl::StatusOr<PublishResult> result = registry_->Publish(bad, source, MakeInfo("job"));
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument)) << "'" << bad << "'";
    EXPECT_THAT(registry_->GetVersion(bad, 1), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_FALSE(PathExists(JoinPath(scratch_, "x")));
  EXPECT_FALSE(PathExists(JoinPath(root_, "models/a")));
  EXPECT_TRUE(registry_->ListModels()->empty());

  EXPECT_THAT(ValidateModelName(std::string(64, 'a')), IsOk());
  EXPECT_THAT(ValidateModelName("Model_1.v2-x"), IsOk());
  EXPECT_EQ(PublishOrDie("123", 1), 1);  // A model name may be all digits; an alias may not.

  for (const std::string& bad_alias : {std::string("123"), std::string("latest"), std::string("../prod"),
                                       std::string("a/b"), std::string(""), std::string(".prod"),
                                       std::string(65, 'p')}) {
    const absl::StatusOr<AliasMove> moved = registry_->SetAlias("123", bad_alias, 1, "alice");
    EXPECT_THAT(moved, StatusIs(absl::StatusCode::kInvalidArgument)) << "'" << bad_alias << "'";
  }
  EXPECT_THAT(registry_->SetAlias("123", "prod-1.b_2", 1, "alice"), IsOk());
  EXPECT_THAT(registry_->SetAlias("123", "prod", 1, ""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ModelRegistryTest, ResolvesAliasesNumbersAndLatest) {
  ASSERT_EQ(PublishOrDie("m", 1), 1);
  ASSERT_EQ(PublishOrDie("m", 2), 2);
  ASSERT_THAT(registry_->SetAlias("m", "production", 1, "alice"), IsOk());

  EXPECT_EQ(*registry_->Resolve("m"), 2);
  EXPECT_EQ(*registry_->Resolve("m@latest"), 2);
  EXPECT_EQ(*registry_->Resolve("m@2"), 2);
  EXPECT_EQ(*registry_->Resolve("m@production"), 1);

  const auto expect_error = [&](const std::string& reference, absl::StatusCode code, const std::string& fragment) {
    const absl::StatusOr<int64_t> resolved = registry_->Resolve(reference);
    EXPECT_EQ(resolved.status().code(), code) << reference << ": " << resolved.status();
    EXPECT_NE(resolved.status().message().find(fragment), absl::string_view::npos)
        << reference << ": " << resolved.status();
  };
  expect_error("nope", absl::StatusCode::kNotFound, "'nope'");
  expect_error("nope@production", absl::StatusCode::kNotFound, "'nope'");
  expect_error("m@9", absl::StatusCode::kNotFound, "version 9");
  expect_error("m@staging", absl::StatusCode::kNotFound, "'staging'");
  expect_error("m@", absl::StatusCode::kInvalidArgument, "after '@'");
  expect_error("m@007", absl::StatusCode::kInvalidArgument, "leading zeros");
  expect_error("m@0", absl::StatusCode::kInvalidArgument, "positive");
  expect_error("m@a@b", absl::StatusCode::kInvalidArgument, "alias name");
  expect_error("../m@1", absl::StatusCode::kInvalidArgument, "model name");

  const absl::StatusOr<OpenedVersion> opened = registry_->Open("m@production");
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->version, 1);
  EXPECT_EQ(opened->manifest.job_id, "job-1");
  EXPECT_EQ(ReadBytes(JoinPath(opened->directory, "tokenizer.model")), "spm-model-1");
}

TEST_F(ModelRegistryTest, AliasMovesAreAuditedInOrder) {
  for (int seed = 1; seed <= 2; ++seed) ASSERT_EQ(PublishOrDie("m", seed), seed);
  ASSERT_THAT(registry_->SetAlias("m", "production", 1, "alice"), IsOk());
  ASSERT_THAT(registry_->SetAlias("m", "staging", 2, "ci"), IsOk());
  ASSERT_THAT(registry_->SetAlias("m", "production", 2, "bob"), IsOk());
  ASSERT_THAT(registry_->SetAlias("m", "production", 1, "carol"), IsOk());  // A rollback.
  ASSERT_THAT(registry_->RemoveAlias("m", "staging", "ci"), IsOk());
  EXPECT_THAT(registry_->SetAlias("m", "production", 3, "mallory"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(registry_->RemoveAlias("m", "staging", "ci"), StatusIs(absl::StatusCode::kNotFound));

  const absl::StatusOr<std::vector<AliasMove>> log = registry_->AuditLog("m");
  ASSERT_THAT(log, IsOk());
  struct Expected {
    std::string alias;
    std::optional<int64_t> from;
    std::optional<int64_t> to;
    std::string actor;
  };
  const std::vector<Expected> expected = {{"production", std::nullopt, 1, "alice"},
                                          {"staging", std::nullopt, 2, "ci"},
                                          {"production", 1, 2, "bob"},
                                          {"production", 2, 1, "carol"},
                                          {"staging", 2, std::nullopt, "ci"}};
  ASSERT_EQ(log->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const AliasMove& move = (*log)[i];
    EXPECT_EQ(move.sequence, static_cast<int64_t>(i + 1));
    EXPECT_EQ(move.alias, expected[i].alias) << i;
    EXPECT_EQ(move.from_version, expected[i].from) << i;
    EXPECT_EQ(move.to_version, expected[i].to) << i;
    EXPECT_EQ(move.actor, expected[i].actor) << i;
    EXPECT_TRUE(ParseRfc3339Utc(move.time).ok()) << move.time;
  }
  EXPECT_EQ(registry_->ListAliases("m")->aliases, (std::map<std::string, int64_t>{{"production", 1}}));
  EXPECT_THAT(registry_->Resolve("m@staging"), StatusIs(absl::StatusCode::kNotFound));

  const absl::StatusOr<std::string> jsonl = registry_->AuditLogJsonl("m");
  ASSERT_THAT(jsonl, IsOk());
  const std::vector<std::string> lines = absl::StrSplit(*jsonl, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), expected.size());
  const json third = json::parse(lines[2]);
  EXPECT_EQ(third.at("from"), 1);
  EXPECT_EQ(third.at("to"), 2);
  EXPECT_EQ(third.at("actor"), "bob");
  EXPECT_TRUE(json::parse(lines[4]).at("to").is_null());
}

TEST_F(ModelRegistryTest, ARefusedPromotionIsAuditedAndLeavesTheAliasWhereItWas) {
  for (int seed = 1; seed <= 2; ++seed) ASSERT_EQ(PublishOrDie("m", seed), seed);
  // Refused before the alias exists: it still does not.
  ASSERT_THAT(registry_->RecordRefusedPromotion("m", "production", 1, "job a", "bleu dropped 9 > 2"), IsOk());
  EXPECT_THAT(registry_->Resolve("m@production"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(registry_->SetAlias("m", "production", 1, "job b", "bleu dropped 1 <= 2"), IsOk());
  ASSERT_THAT(registry_->RecordRefusedPromotion("m", "production", 2, "job c", "bleu dropped 5 > 2"), IsOk());
  EXPECT_EQ(*registry_->Resolve("m@production"), 1);
  EXPECT_EQ(registry_->ListAliases("m")->aliases, (std::map<std::string, int64_t>{{"production", 1}}));
  EXPECT_THAT(registry_->RecordRefusedPromotion("m", "production", 3, "job d", "x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(registry_->RecordRefusedPromotion("m", "production", 2, "job d", ""), StatusIs(absl::StatusCode::kInvalidArgument));

  const absl::StatusOr<std::vector<AliasMove>> log = registry_->AuditLog("m");
  ASSERT_THAT(log, IsOk());
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ((*log)[0].refused_version, 1);
  EXPECT_EQ((*log)[0].to_version, std::nullopt);
  EXPECT_EQ((*log)[1].refused_version, std::nullopt);
  EXPECT_EQ((*log)[1].reason, "bleu dropped 1 <= 2");
  EXPECT_EQ((*log)[2].from_version, 1);
  EXPECT_EQ((*log)[2].to_version, 1);
  EXPECT_EQ((*log)[2].refused_version, 2);
  EXPECT_EQ((*log)[2].reason, "bleu dropped 5 > 2");
  EXPECT_EQ((*log)[2].actor, "job c");
  // Entries of moves without a reason keep their old form.
  ASSERT_THAT(registry_->SetAlias("m", "staging", 2, "ci"), IsOk());
  const std::vector<std::string> lines = absl::StrSplit(*registry_->AuditLogJsonl("m"), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_FALSE(json::parse(lines[3]).contains("reason"));
  EXPECT_FALSE(json::parse(lines[3]).contains("refused"));
  EXPECT_EQ(json::parse(lines[2]).at("refused"), 2);
}

TEST_F(ModelRegistryTest, ConcurrentAliasMovesFormOneUnbrokenChain) {
  for (int seed = 1; seed <= 2; ++seed) ASSERT_EQ(PublishOrDie("m", seed), seed);
  constexpr int kThreads = 8;
  constexpr int kMovesPerThread = 2;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kMovesPerThread; ++i) {
        if (!registry_->SetAlias("m", "production", 1 + (t + i) % 2, absl::StrCat("thread-", t)).ok()) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const absl::StatusOr<std::vector<AliasMove>> log = registry_->AuditLog("m");
  ASSERT_THAT(log, IsOk());
  ASSERT_EQ(log->size(), static_cast<size_t>(kThreads * kMovesPerThread));
  // Linearizable: every move starts where the previous one ended.
  EXPECT_EQ((*log)[0].from_version, std::nullopt);
  for (size_t i = 1; i < log->size(); ++i) {
    EXPECT_EQ((*log)[i].sequence, static_cast<int64_t>(i + 1));
    EXPECT_EQ((*log)[i].from_version, (*log)[i - 1].to_version) << "entry " << i + 1;
  }
  EXPECT_EQ(*registry_->Resolve("m@production"), *log->back().to_version);
}

TEST_F(ModelRegistryTest, IdempotentPublishReturnsTheSameVersion) {
  PublishOptions job_7;
  job_7.idempotency_key = "job-7";
  const absl::StatusOr<PublishResult> first = registry_->Publish("m", Checkpoint(1), MakeInfo("job-7"), job_7);
  ASSERT_THAT(first, IsOk());
  EXPECT_FALSE(first->already_published);
  // The resumed job publishes again (even from a rewritten directory): same version, nothing new.
  const absl::StatusOr<PublishResult> again = registry_->Publish("m", Checkpoint(2), MakeInfo("job-7"), job_7);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->already_published);
  EXPECT_EQ(again->version, first->version);
  EXPECT_EQ(again->manifest.files[0].sha256, first->manifest.files[0].sha256);
  EXPECT_EQ(PayloadDirectories("m").size(), 1u);

  PublishOptions job_8;
  job_8.idempotency_key = "job-8";
  EXPECT_EQ(PublishOrDie("m", 3, job_8), 2);
  EXPECT_EQ(PublishOrDie("m", 1), 3);  // No key: always a new version, even for the same files.
  EXPECT_EQ(registry_->GetVersion("m", 2)->idempotency_key, "job-8");
}

// ---- Damage is contained and repairable --------------------------------------------------------

std::string ManifestPath(const std::string& root, int64_t version) {
  return JoinPath(root, absl::StrCat("models/m/versions/", version, "/manifest.json"));
}

TEST_F(ModelRegistryTest, SetAliasVerifiesTheTargetVersion) {
  for (int seed = 1; seed <= 3; ++seed) ASSERT_EQ(PublishOrDie("m", seed), seed);
  WriteBytes(ManifestPath(root_, 3), "garbage, not a manifest");
  const std::string weights = VersionFile("m", 2, "model.safetensors");
  std::string bytes = ReadBytes(weights);
  bytes[7] ^= 0x40;
  WriteBytes(weights, bytes);

  const absl::StatusOr<AliasMove> onto_garbage = registry_->SetAlias("m", "production", 3, "ops");
  EXPECT_THAT(onto_garbage, StatusIs(absl::StatusCode::kDataLoss)) << onto_garbage.status();
  EXPECT_NE(std::string(onto_garbage.status().message()).find("manifest of version 3"), std::string::npos)
      << onto_garbage.status();
  const absl::StatusOr<AliasMove> onto_corrupt = registry_->SetAlias("m", "production", 2, "ops");
  EXPECT_THAT(onto_corrupt, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_NE(std::string(onto_corrupt.status().message()).find("'model.safetensors'"), std::string::npos)
      << onto_corrupt.status();
  ASSERT_THAT(registry_->SetAlias("m", "production", 1, "ops"), IsOk());
  EXPECT_EQ(*registry_->Resolve("m@production"), 1);
  EXPECT_EQ(registry_->AuditLog("m")->size(), 1u) << "refused moves leave no audit entry";
}

TEST_F(ModelRegistryTest, DamagedManifestIsListedAndWorkedAround) {
  PublishOptions keyed;
  keyed.idempotency_key = "job-2";
  ASSERT_EQ(PublishOrDie("m", 1), 1);
  ASSERT_EQ(PublishOrDie("m", 2, keyed), 2);
  ASSERT_EQ(PublishOrDie("m", 3), 3);
  ASSERT_THAT(registry_->SetAlias("m", "production", 2, "ops"), IsOk());
  WriteBytes(ManifestPath(root_, 3), "{\"model\": 7}");
  WriteBytes(ManifestPath(root_, 2), "\x01\x02 not json");

  const absl::StatusOr<VersionListing> listing = registry_->ListVersions("m");
  ASSERT_THAT(listing, IsOk());
  ASSERT_EQ(listing->versions.size(), 1u);
  EXPECT_EQ(listing->versions[0].version, 1);
  ASSERT_EQ(listing->problems.size(), 2u);
  EXPECT_EQ(listing->problems[0].version, 2);
  EXPECT_EQ(listing->problems[1].version, 3);
  EXPECT_EQ(listing->problems[1].key, "models/m/versions/3/manifest.json");
  EXPECT_NE(listing->problems[1].message.find("unreadable"), std::string::npos) << listing->problems[1].message;

  // "latest" is the newest readable version; the alias on the damaged one says so.
  EXPECT_EQ(*registry_->Resolve("m"), 1);
  EXPECT_EQ(*registry_->Resolve("m@production"), 2);
  EXPECT_THAT(registry_->Open("m@production"), StatusIs(absl::StatusCode::kDataLoss));
  // Publishing goes on (a keyed publish too, although the manifest holding its key is unreadable).
  EXPECT_EQ(PublishOrDie("m", 4), 4);
  PublishOptions other_key;
  other_key.idempotency_key = "job-5";
  EXPECT_EQ(PublishOrDie("m", 5, other_key), 5);
  EXPECT_EQ(*registry_->Resolve("m"), 5);
  // The repair: move the alias off the damaged version.
  const absl::StatusOr<AliasMove> repaired = registry_->SetAlias("m", "production", 4, "ops");
  ASSERT_THAT(repaired, IsOk());
  EXPECT_EQ(repaired->from_version, 2);
  EXPECT_THAT(registry_->Open("m@production"), IsOk());
  EXPECT_EQ(registry_->ListAliases("m")->aliases, (std::map<std::string, int64_t>{{"production", 4}}));
}

TEST_F(ModelRegistryTest, AllManifestsDamagedIsDataLossNotACrash) {
  ASSERT_EQ(PublishOrDie("m", 1), 1);
  WriteBytes(ManifestPath(root_, 1), "");
  EXPECT_THAT(registry_->Resolve("m"), StatusIs(absl::StatusCode::kDataLoss));
  const absl::StatusOr<VersionListing> listing = registry_->ListVersions("m");
  ASSERT_THAT(listing, IsOk());
  EXPECT_TRUE(listing->versions.empty());
  EXPECT_EQ(listing->problems.size(), 1u);
  EXPECT_EQ(PublishOrDie("m", 2), 2);
  EXPECT_EQ(*registry_->Resolve("m"), 2);
}

TEST_F(ModelRegistryTest, GarbageAuditEntryIsReportedAndRepairedByAMove) {
  for (int seed = 1; seed <= 2; ++seed) ASSERT_EQ(PublishOrDie("m", seed), seed);
  ASSERT_THAT(registry_->SetAlias("m", "production", 1, "ops"), IsOk());  // entry 1
  ASSERT_THAT(registry_->SetAlias("m", "staging", 1, "ci"), IsOk());      // entry 2
  ASSERT_THAT(registry_->SetAlias("m", "production", 2, "ops"), IsOk());  // entry 3
  const std::string entry3 = JoinPath(root_, "models/m/audit/00000000000000000003.json");
  WriteBytes(entry3, "{\"sequence\": \"three\"}\n");

  // Entry 3 could have moved either alias: both are uncertain, neither is guessed.
  const absl::StatusOr<AliasListing> aliases = registry_->ListAliases("m");
  ASSERT_THAT(aliases, IsOk());
  EXPECT_TRUE(aliases->aliases.empty());
  ASSERT_EQ(aliases->problems.size(), 3u);
  EXPECT_EQ(aliases->problems[0].key, "models/m/audit/00000000000000000003.json");
  const absl::StatusOr<int64_t> uncertain = registry_->Resolve("m@production");
  EXPECT_THAT(uncertain, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_NE(std::string(uncertain.status().message()).find("move the alias again"), std::string::npos);
  EXPECT_THAT(registry_->AuditLog("m"), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(ReadBytes(entry3), "{\"sequence\": \"three\"}\n") << "the damaged entry is left for inspection";

  // Moves still work, and a move is the repair.
  const absl::StatusOr<AliasMove> moved = registry_->SetAlias("m", "production", 2, "ops");
  ASSERT_THAT(moved, IsOk());
  EXPECT_EQ(moved->sequence, 4);
  EXPECT_EQ(moved->from_version, 1) << "the last readable target";
  EXPECT_EQ(*registry_->Resolve("m@production"), 2);
  EXPECT_THAT(registry_->Resolve("m@staging"), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(registry_->ListAliases("m")->aliases, (std::map<std::string, int64_t>{{"production", 2}}));
  EXPECT_EQ(PublishOrDie("m", 3), 3);
}

// ---- Garbage collection -------------------------------------------------------------------------

TEST_F(ModelRegistryTest, GcDeletesOnlyOrphanedPayloadsOldEnough) {
  ASSERT_EQ(PublishOrDie("m", 1), 1);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::unique_ptr<ModelRegistry> registry = OpenWithFaults(/*fail_at_file=*/2, /*crash=*/true);
    if (registry != nullptr) (void)registry->Publish("m", Checkpoint(2), MakeInfo("job-crash"));
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_EQ(PayloadDirectories("m").size(), 2u);
  // A publisher that died between its commit claim and its manifest, long ago.
  const std::string stale = "1600000000000-00000000000000000000000000000000";
  WriteBytes(JoinPath(root_, ".tmp/probe"), "");  // a temporary file a crashed writer left
  fs::create_directories(JoinPath(root_, "models/m/payloads/" + stale));
  WriteBytes(JoinPath(root_, "models/m/payloads/" + stale + "/config.json"), "{}");
  fs::create_directories(JoinPath(root_, "models/m/payload-claims"));
  WriteBytes(JoinPath(root_, "models/m/payload-claims/" + stale + ".json"),
             "{\"state\": \"commit\", \"time\": \"2020-09-13T12:26:40Z\", \"by\": \"registry\"}\n");

  GcOptions defaults;  // one hour: the crashed publish is too young to touch
  absl::StatusOr<GcReport> young = registry_->CollectGarbage(defaults);
  ASSERT_THAT(young, IsOk());
  EXPECT_EQ(young->deleted, std::vector<std::string>{"models/m/payloads/" + stale + "/"});
  EXPECT_EQ(PayloadDirectories("m").size(), 2u);

  GcOptions now;
  now.min_age = absl::ZeroDuration();
  now.dry_run = true;
  absl::StatusOr<GcReport> dry = registry_->CollectGarbage(now);
  ASSERT_THAT(dry, IsOk());
  EXPECT_EQ(dry->deleted.size(), 2u) << "the orphan and the stale temporary file";
  EXPECT_EQ(PayloadDirectories("m").size(), 2u) << "a dry run deletes nothing";

  now.dry_run = false;
  absl::StatusOr<GcReport> collected = registry_->CollectGarbage(now);
  ASSERT_THAT(collected, IsOk());
  EXPECT_EQ(collected->deleted.size(), 2u);
  ASSERT_EQ(PayloadDirectories("m").size(), 1u);
  EXPECT_EQ(PayloadDirectories("m")[0], registry_->GetVersion("m", 1)->payload);
  EXPECT_THAT(registry_->VerifyVersion("m", 1), IsOk());
  EXPECT_TRUE(fs::is_empty(JoinPath(root_, ".tmp")));
  EXPECT_TRUE(registry_->CollectGarbage(now)->deleted.empty()) << "nothing left to collect";
  EXPECT_EQ(PublishOrDie("m", 3), 2);
}

TEST_F(ModelRegistryTest, GcSkipsAModelWithAnUnreadableManifest) {
  ASSERT_EQ(PublishOrDie("m", 1), 1);
  ASSERT_EQ(PublishOrDie("m", 2), 2);
  WriteBytes(ManifestPath(root_, 2), "garbage");
  GcOptions now;
  now.min_age = absl::ZeroDuration();
  absl::StatusOr<GcReport> report = registry_->CollectGarbage(now);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->deleted.empty()) << "version 2's payload must stay for a repair";
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].message.find("not collected"), std::string::npos);
  EXPECT_EQ(PayloadDirectories("m").size(), 2u);
}

// Storage that runs `hook` once, right after the upload of a publish's files and before its claim.
class HookedStorage : public ForwardingStorage {
 public:
  using ForwardingStorage::ForwardingStorage;
  std::function<void()> after_upload;
  std::function<void(absl::string_view key)> before_create;
  absl::StatusOr<std::vector<ObjectDigest>> WriteObjectsFromFiles(const std::vector<FileUpload>& uploads) override {
    auto digests = base_->WriteObjectsFromFiles(uploads);
    if (after_upload) std::exchange(after_upload, nullptr)();
    return digests;
  }
  absl::Status CreateExclusive(absl::string_view key, absl::string_view bytes) override {
    if (before_create) before_create(key);
    return base_->CreateExclusive(key, bytes);
  }
};

TEST_F(ModelRegistryTest, GcRacingAPublishEitherCollectsItOrLetsItCommit) {
  auto local = LocalDirectoryStorage::Open(root_);
  ASSERT_THAT(local, IsOk());
  auto hooked = std::make_unique<HookedStorage>(*std::move(local));
  HookedStorage* hooks = hooked.get();
  ModelRegistry publisher(std::move(hooked));
  GcOptions now;
  now.min_age = absl::ZeroDuration();

  // gc first: it claims the staged payload, so the publish cannot commit it and fails cleanly.
  hooks->after_upload = [&] { ASSERT_EQ(registry_->CollectGarbage(now)->deleted.size(), 1u); };
  const absl::StatusOr<PublishResult> lost = publisher.Publish("m", Checkpoint(1), MakeInfo("job-1"));
  EXPECT_THAT(lost, StatusIs(absl::StatusCode::kAborted)) << lost.status();
  EXPECT_THAT(registry_->Resolve("m"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(PayloadDirectories("m").empty());

  // The publish first: its commit claim is fresh, so gc leaves the payload to it.
  hooks->before_create = [&](absl::string_view key) {
    if (absl::StrContains(key, "/versions/")) {
      EXPECT_TRUE(registry_->CollectGarbage(now)->deleted.empty());
    }
  };
  const absl::StatusOr<PublishResult> won = publisher.Publish("m", Checkpoint(2), MakeInfo("job-2"));
  ASSERT_THAT(won, IsOk());
  EXPECT_THAT(registry_->VerifyVersion("m", won->version), IsOk());
}

// ---- Idempotency keys are claimed exclusively ----------------------------------------------------

// Of publishers racing with one key, the version is exactly one; every other either returns that
// version or fails with ABORTED (superseded).
void ExpectOneVersionForTheKey(ModelRegistry& registry, const std::vector<absl::StatusOr<PublishResult>>& results) {
  const absl::StatusOr<VersionListing> listing = registry.ListVersions("m");
  ASSERT_THAT(listing, IsOk());
  ASSERT_EQ(listing->versions.size(), 1u);
  const int64_t version = listing->versions[0].version;
  int new_versions = 0;
  for (const absl::StatusOr<PublishResult>& result : results) {
    if (result.ok()) {
      EXPECT_EQ(result->version, version);
      new_versions += result->already_published ? 0 : 1;
    } else {
      EXPECT_THAT(result, StatusIs(absl::StatusCode::kAborted)) << result.status();
    }
  }
  EXPECT_EQ(new_versions, 1);
  EXPECT_THAT(registry.VerifyVersion("m", version), IsOk());
}

TEST_F(ModelRegistryTest, EightThreadsWithOneIdempotencyKeyPublishOnce) {
  constexpr int kThreads = 8;
  std::vector<std::string> sources;
  for (int i = 0; i < kThreads; ++i) sources.push_back(Checkpoint(300 + i));
  std::vector<absl::StatusOr<PublishResult>> results(kThreads, absl::UnknownError("not run"));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  PublishOptions options;
  options.idempotency_key = "job-42";
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      results[i] = registry_->Publish("m", sources[i], MakeInfo("job-42"), options);
    });
  }
  for (std::thread& thread : threads) thread.join();
  ExpectOneVersionForTheKey(*registry_, results);
  // Later publishes with the key get that version back.
  const absl::StatusOr<PublishResult> again = registry_->Publish("m", sources[0], MakeInfo("job-42"), options);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->already_published);
}

TEST_F(ModelRegistryTest, FourProcessesWithOneIdempotencyKeyPublishOnce) {
  constexpr int kProcesses = 4;
  std::vector<std::string> sources;
  for (int i = 0; i < kProcesses; ++i) sources.push_back(Checkpoint(400 + i));
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(gate[1]);
      char byte;
      while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
      }
      absl::StatusOr<std::unique_ptr<ModelRegistry>> registry = ModelRegistry::OpenLocal(root_);
      if (!registry.ok()) ::_exit(2);
      PublishOptions options;
      options.idempotency_key = "job-43";
      const absl::StatusOr<PublishResult> published =
          (*registry)->Publish("m", sources[i], MakeInfo("job-43"), options);
      // 0: published it, 1: got the version back, 3: superseded; anything else is a failure.
      if (published.ok()) ::_exit(published->already_published ? 1 : 0);
      ::_exit(absl::IsAborted(published.status()) ? 3 : 4);
    }
    children.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);
  int published = 0;
  for (const pid_t child : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_NE(WEXITSTATUS(status), 2);
    EXPECT_NE(WEXITSTATUS(status), 4);
    published += WEXITSTATUS(status) == 0;
  }
  EXPECT_EQ(published, 1);
  EXPECT_EQ(registry_->ListVersions("m")->versions.size(), 1u);
}

TEST_F(ModelRegistryTest, APublisherThatDiedHoldingTheKeyIsSuperseded) {
  PublishOptions options;
  options.idempotency_key = "job-44";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Claims the key, stages part of its files, dies.
    std::unique_ptr<ModelRegistry> registry = OpenWithFaults(/*fail_at_file=*/2, /*crash=*/true);
    if (registry != nullptr) (void)registry->Publish("m", Checkpoint(1), MakeInfo("job-44"), options);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_EQ(WEXITSTATUS(status), FaultyStorage::kCrashExitCode);
  // The resumed job publishes at once, and the dead publisher's payload is fenced for gc.
  const absl::StatusOr<PublishResult> resumed = registry_->Publish("m", Checkpoint(2), MakeInfo("job-44"), options);
  ASSERT_THAT(resumed, IsOk());
  EXPECT_FALSE(resumed->already_published);
  GcOptions now;
  now.min_age = absl::ZeroDuration();
  EXPECT_EQ(registry_->CollectGarbage(now)->deleted.size(), 1u);
  EXPECT_EQ(PayloadDirectories("m").size(), 1u);
  EXPECT_THAT(registry_->VerifyVersion("m", resumed->version), IsOk());
}

// ---- A full disk ---------------------------------------------------------------------------------

TEST_F(ModelRegistryTest, DiskFullDuringPublishLeavesNoHalfVersion) {
  const std::string mount_point = JoinPath(scratch_, "small-disk");
  ::promptintern::testing::ScopedTmpfs small_disk;
  if (const std::string why = small_disk.Mount(mount_point, "2m"); !why.empty()) GTEST_SKIP() << why;
  const std::string root = JoinPath(mount_point, "registry");
  absl::StatusOr<std::unique_ptr<ModelRegistry>> small = ModelRegistry::OpenLocal(root);
  ASSERT_THAT(small, IsOk());
  ModelRegistry& registry = **small;
  ASSERT_THAT(registry.Publish("m", Checkpoint(1), MakeInfo("job-1")), IsOk());

  const std::string big = Checkpoint(2);
  std::string weights(3 << 20, '\0');
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>(i * 2654435761u >> 24);
  WriteBytes(JoinPath(big, "model.safetensors"), weights);
  const absl::StatusOr<PublishResult> full = registry.Publish("m", big, MakeInfo("job-2"));
  ASSERT_FALSE(full.ok());
  EXPECT_THAT(full, StatusIs(absl::StatusCode::kResourceExhausted)) << full.status();
  EXPECT_NE(std::string(full.status().message()).find("No space left"), std::string::npos) << full.status();

  // No half version, nothing staged left behind, the earlier version intact and verified.
  EXPECT_EQ(*registry.Resolve("m"), 1);
  EXPECT_THAT(registry.GetVersion("m", 2), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(registry.VerifyVersion("m", 1), IsOk());
  EXPECT_TRUE(fs::is_empty(JoinPath(root, ".tmp")));
  EXPECT_EQ(std::distance(fs::directory_iterator(JoinPath(root, "models/m/payloads")), fs::directory_iterator()), 1);
  // The space is back: the next publish that fits succeeds.
  const absl::StatusOr<PublishResult> next = registry.Publish("m", Checkpoint(3), MakeInfo("job-3"));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->version, 2);
  EXPECT_THAT(registry.VerifyVersion("m", 2), IsOk());
}

Manifest SampleManifest() {
  Manifest manifest;
  manifest.model_name = "m";
  manifest.version = 3;
  manifest.payload = "0123456789abcdef0123456789abcdef";
  manifest.files = {{"config.json", 12, std::string(64, 'a')},
                    {"task.json", 2, std::string(64, 'b')},
                    {"tokenizer.model", 5, std::string(64, 'c')}};
  manifest.base_model = "stories260K";
  manifest.tokenizer = "tokenizer.model";
  manifest.schedule = {{"kind", "progressive"}};
  manifest.stage_metrics = json::array({{{"stage", 0}}});
  manifest.token_statistics = {{"full_prompt_tokens_per_request", 800}};
  manifest.job_id = "job-1";
  manifest.created_at = "2024-05-01T12:34:56Z";
  manifest.extra = {{"note", "x"}};
  return manifest;
}

TEST(RegistryManifestTest, JsonRoundTrip) {
  const Manifest manifest = SampleManifest();
  const absl::StatusOr<std::string> text = manifest.Serialize();
  ASSERT_THAT(text, IsOk());
  const absl::StatusOr<Manifest> parsed = Manifest::Parse(*text);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed->Serialize(), *text);
  EXPECT_EQ(parsed->files[2].size, 5u);
  EXPECT_EQ(parsed->token_statistics, manifest.token_statistics);
}

TEST(RegistryManifestTest, ValidationRefusesInconsistentManifests) {
  const auto expect_invalid = [](const json& value, const std::string& fragment) {
    const absl::StatusOr<Manifest> parsed = Manifest::FromJson(value);
    EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument)) << value.dump();
    EXPECT_NE(parsed.status().message().find(fragment), absl::string_view::npos) << parsed.status();
  };
  const json good = *SampleManifest().ToJson();
  json value = good;
  value["surprise"] = 1;
  expect_invalid(value, "surprise");
  value = good;
  value["files"][0]["sha256"] = "xyz";
  expect_invalid(value, "sha256");
  value = good;
  value["files"][1]["name"] = "config.json";
  expect_invalid(value, "twice");
  value = good;
  value["files"][0]["name"] = "../etc/passwd";
  expect_invalid(value, "file name");
  value = good;
  value["files"][0]["size"] = -1;
  expect_invalid(value, "size");
  value = good;
  value["tokenizer"] = "tokenizer.json";
  expect_invalid(value, "tokenizer");
  value = good;
  value["task_file"] = "other.json";
  expect_invalid(value, "task file");
  value = good;
  value["created_at"] = "2024-05-01T14:34:56+02:00";
  expect_invalid(value, "created_at");
  value = good;
  value["schedule"] = json::array();
  expect_invalid(value, "schedule");
  value = good;
  value["version"] = 0;
  expect_invalid(value, "version");
  value = good;
  value["version"] = "3";
  expect_invalid(value, "version");
  value = good;
  value.erase("job_id");
  expect_invalid(value, "job_id");
  value = good;
  value["format_version"] = 2;
  expect_invalid(value, "format_version");
  expect_invalid(json::array(), "object");
  EXPECT_THAT(Manifest::Parse("{\"model\": "), StatusIs(absl::StatusCode::kInvalidArgument));

  Manifest not_utf8 = SampleManifest();
  not_utf8.base_model = "\xff\xfe";
  EXPECT_THAT(not_utf8.Serialize(), StatusIs(absl::StatusCode::kInvalidArgument));
}

class LocalStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = MakeScratchDirectory();
    ASSERT_FALSE(scratch_.empty());
    absl::StatusOr<std::unique_ptr<LocalDirectoryStorage>> storage = LocalDirectoryStorage::Open(scratch_);
    ASSERT_THAT(storage, IsOk());
    storage_ = *std::move(storage);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(scratch_, ignored);
  }
  std::string scratch_;
  std::unique_ptr<LocalDirectoryStorage> storage_;
};

TEST_F(LocalStorageTest, CreateExclusiveHasExactlyOneWinner) {
  constexpr int kThreads = 8;
  std::atomic<int> ready{0};
  std::atomic<int> winners{0};
  std::atomic<int> already_exists{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      const absl::Status status = storage_->CreateExclusive("a/b/claim", absl::StrCat("writer-", t));
      if (status.ok()) winners.fetch_add(1);
      if (absl::IsAlreadyExists(status)) already_exists.fetch_add(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(already_exists.load(), kThreads - 1);
  const absl::StatusOr<std::string> content = storage_->ReadObject("a/b/claim");
  ASSERT_THAT(content, IsOk());
  EXPECT_EQ(content->rfind("writer-", 0), 0u);
  // Losers leave nothing behind in the temporary area.
  EXPECT_TRUE(fs::is_empty(JoinPath(scratch_, ".tmp")));
}

TEST_F(LocalStorageTest, ObjectsListingAndDeletion) {
  ASSERT_THAT(storage_->WriteObject("x/1", "one"), IsOk());
  ASSERT_THAT(storage_->WriteObject("x/1", "uno"), IsOk());
  ASSERT_THAT(storage_->WriteObject("x/y/2", "two"), IsOk());
  ASSERT_THAT(storage_->WriteObject("z", "zed"), IsOk());
  EXPECT_EQ(*storage_->ReadObject("x/1"), "uno");
  EXPECT_THAT(storage_->ReadObject("x/3"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(*storage_->List(""), (std::vector<std::string>{"x/1", "x/y/2", "z"}));
  EXPECT_EQ(*storage_->List("x/"), (std::vector<std::string>{"x/1", "x/y/2"}));
  EXPECT_TRUE(storage_->List("nothing/")->empty());
  EXPECT_EQ(*storage_->ListChildren(""), (std::vector<std::string>{"x", "z"}));
  EXPECT_EQ(*storage_->ListChildren("x/"), (std::vector<std::string>{"1", "y"}));

  const absl::StatusOr<ObjectDigest> digest = storage_->HashObject("z");
  ASSERT_THAT(digest, IsOk());
  EXPECT_EQ(digest->size, 3u);
  EXPECT_EQ(digest->sha256, *Sha256Hex("zed"));

  ASSERT_THAT(storage_->Delete("z"), IsOk());
  ASSERT_THAT(storage_->Delete("z"), IsOk());
  ASSERT_THAT(storage_->DeletePrefix("x/"), IsOk());
  EXPECT_TRUE(storage_->List("")->empty());
  EXPECT_FALSE(storage_->DeletePrefix("").ok());
}

TEST_F(LocalStorageTest, RefusesKeysThatLeaveTheRoot) {
  for (const char* key : {"../escape", "a/../../b", "/abs", "a//b", ".tmp/x", "a/./b", "", "dir/"}) {
    EXPECT_THAT(storage_->WriteObject(key, "x"), StatusIs(absl::StatusCode::kInvalidArgument)) << key;
    EXPECT_THAT(storage_->CreateExclusive(key, "x"), StatusIs(absl::StatusCode::kInvalidArgument)) << key;
  }
  EXPECT_THAT(storage_->List("no-slash"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(PathExists(JoinPath(fs::path(scratch_).parent_path().string(), "escape")));
}

TEST_F(LocalStorageTest, WriteObjectFromFileRefusesSymlinksAndFifos) {
  const std::string source = JoinPath(scratch_, "source.bin");
  WriteBytes(source, "payload");
  const absl::StatusOr<ObjectDigest> copied = storage_->WriteObjectFromFile("k", source);
  ASSERT_THAT(copied, IsOk());
  EXPECT_EQ(copied->sha256, *Sha256Hex("payload"));
  EXPECT_EQ(*storage_->ReadObject("k"), "payload");

  const std::string link = JoinPath(scratch_, "link.bin");
  fs::create_symlink(source, link);
  EXPECT_THAT(storage_->WriteObjectFromFile("k2", link), StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string fifo = JoinPath(scratch_, "fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  EXPECT_THAT(storage_->WriteObjectFromFile("k3", fifo), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(storage_->ReadObject("k2"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LocalStorageTest, BatchUploadReturnsDigestsInOrderAndLeavesNoTemporariesOnFailure) {
  const std::string a = JoinPath(scratch_, "a.bin");
  const std::string b = JoinPath(scratch_, "b.bin");
  WriteBytes(a, "alpha");
  WriteBytes(b, "bravo!");
  const absl::StatusOr<std::vector<ObjectDigest>> digests =
      storage_->WriteObjectsFromFiles({{"batch/a", a}, {"batch/deeper/b", b}});
  ASSERT_THAT(digests, IsOk());
  ASSERT_EQ(digests->size(), 2u);
  EXPECT_EQ((*digests)[0].sha256, *Sha256Hex("alpha"));
  EXPECT_EQ((*digests)[1].size, 6u);
  EXPECT_EQ(*storage_->ReadObject("batch/deeper/b"), "bravo!");

  const absl::StatusOr<std::vector<ObjectDigest>> failed =
      storage_->WriteObjectsFromFiles({{"other/a", a}, {"other/missing", JoinPath(scratch_, "missing.bin")}});
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(fs::is_empty(JoinPath(scratch_, ".tmp")));
  EXPECT_THAT(storage_->WriteObjectsFromFiles({{"../x", a}}), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace promptintern
