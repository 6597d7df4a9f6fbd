#include "core/registry/registry.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "core/util/file.h"
#include "core/util/filenames.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"

namespace promptintern {
namespace {

using nlohmann::json;

// Each failed claim means another version (or audit entry) was committed, so the registry as a
// whole progresses; the cap only turns a storage bug into an error instead of a hang.
constexpr int kMaxClaimAttempts = 100000;
constexpr size_t kMaxActorLength = 256;
// A reason is one line of a promotion gate's scores, kept whole in the audit log.
constexpr size_t kMaxReasonLength = 1024;
// Payload claim states (see registry.h).
constexpr char kClaimCommit[] = "commit";
constexpr char kClaimFenced[] = "fenced";
constexpr char kClaimCollected[] = "collected";
// A publisher holds its "commit" claim only for the moment it takes to claim a version number; gc
// treats one older than this (and the safety age) as left by a publisher that died there.
constexpr absl::Duration kCommitGrace = absl::Minutes(10);
// How long a publish waits for an older publisher with the same key that is committing.
constexpr absl::Duration kCommitWait = absl::Seconds(30);

std::string Quoted(absl::string_view text) { return absl::StrCat("'", absl::CHexEscape(text), "'"); }

// Canonical positive decimal (no sign, no leading zeros), or nullopt.
std::optional<int64_t> ParsePositiveNumber(absl::string_view text) {
  if (text.empty() || text.size() > 19 || text.front() == '0') return std::nullopt;
  for (const char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 1) return std::nullopt;
  return value;
}

// "<unix ms>-<32 random hex digits>": unique, and datable by gc without asking the storage.
absl::StatusOr<std::string> NewPayloadToken() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return absl::InternalError("OpenSSL RAND_bytes failed");
  return absl::StrCat(absl::ToUnixMillis(absl::Now()), "-",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

// When the token was made; InfinitePast for a token without a time (made before tokens had one).
absl::Time PayloadTime(absl::string_view token) {
  const size_t dash = token.find('-');
  int64_t millis = 0;
  if (dash == absl::string_view::npos || !absl::SimpleAtoi(token.substr(0, dash), &millis)) {
    return absl::InfinitePast();
  }
  return absl::FromUnixMillis(millis);
}

// {"state": ..., "time": RFC 3339, "by": ...}: one payload claim or one key generation.
std::string ClaimText(absl::string_view state, absl::string_view by) {
  return json{{"state", std::string(state)}, {"time", FormatRfc3339Utc(absl::Now())}, {"by", std::string(by)}}.dump() +
         "\n";
}

struct Claim {
  std::string state;
  absl::Time time;
  std::string by;
};

absl::StatusOr<Claim> ParseClaim(absl::string_view text) {
  const json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) return absl::DataLossError("not a JSON object");
  for (const char* key : {"state", "time", "by"}) {
    if (!value.contains(key) || !value[key].is_string()) {
      return absl::DataLossError(absl::StrCat("field \"", key, "\" is missing or not a string"));
    }
  }
  Claim claim;
  claim.state = value["state"].get<std::string>();
  claim.by = value["by"].get<std::string>();
  ASSIGN_OR_RETURN(claim.time, ParseRfc3339Utc(value["time"].get<std::string>()));
  return claim;
}

std::string VersionLabel(absl::string_view name, int64_t version) {
  return absl::StrCat("version ", version, " of model ", Quoted(name));
}

struct CheckpointFile {
  std::string name;
  std::string path;
};

// The checkpoint's files, sorted by name; INVALID_ARGUMENT naming the first thing that is not a
// plain, well-named regular file, so nothing is staged for a directory that would be refused.
absl::StatusOr<std::vector<CheckpointFile>> ListCheckpointFiles(const std::string& directory) {
  std::error_code error;
  const auto status = std::filesystem::status(directory, error);
  if (error || !std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat("checkpoint directory not found: ", directory));
  }
  if (!std::filesystem::is_directory(status)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint path is not a directory: ", directory));
  }
  std::vector<CheckpointFile> files;
  std::filesystem::directory_iterator it(directory, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string name = it->path().filename().string();
    std::error_code type_error;
    const std::filesystem::file_type type = it->symlink_status(type_error).type();
    if (type_error) {
      return absl::InternalError(absl::StrCat("cannot stat ", it->path().string(), ": ", type_error.message()));
    }
    const std::string where = absl::StrCat("checkpoint file ", Quoted(name), " in ", directory);
    if (type == std::filesystem::file_type::symlink) {
      return absl::InvalidArgumentError(absl::StrCat(where, " is a symlink; only regular files can be published"));
    }
    if (type == std::filesystem::file_type::directory) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " is a directory; only regular files at the top level can be published"));
    }
    if (type != std::filesystem::file_type::regular) {
      return absl::InvalidArgumentError(absl::StrCat(where, " is not a regular file"));
    }
    if (absl::Status status = ValidateVersionFileName(name); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", status.message()));
    }
    files.push_back({name, it->path().string()});
  }
  if (error) return absl::InternalError(absl::StrCat("cannot list ", directory, ": ", error.message()));
  if (files.empty()) return absl::InvalidArgumentError(absl::StrCat("checkpoint directory is empty: ", directory));
  std::sort(files.begin(), files.end(),
            [](const CheckpointFile& a, const CheckpointFile& b) { return a.name < b.name; });
  return files;
}

absl::Status ValidateTaskJson(absl::string_view content, absl::string_view origin) {
  try {
    if (!json::parse(content.begin(), content.end()).is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(origin, " is not a JSON object"));
    }
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(origin, " is not valid JSON: ", error.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DumpLine(const json& value) {
  try {
    return value.dump() + "\n";
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("cannot serialize: ", error.what()));
  }
}

// Splits "name@ref" (ref optional).
struct Reference {
  std::string name;
  std::optional<std::string> selector;
};

absl::StatusOr<Reference> ParseReference(absl::string_view reference) {
  Reference parsed;
  const size_t at = reference.find('@');
  parsed.name = std::string(reference.substr(0, at));
  RETURN_IF_ERROR(ValidateModelName(parsed.name));
  if (at != absl::string_view::npos) {
    parsed.selector = std::string(reference.substr(at + 1));
    if (parsed.selector->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("reference ", Quoted(reference), " has nothing after '@' (a version or alias)"));
    }
  }
  return parsed;
}

}  // namespace

absl::StatusOr<json> AliasMove::ToJson() const {
  RETURN_IF_ERROR(ValidateAliasName(alias));
  if (sequence < 1) return absl::InvalidArgumentError("alias move: sequence must be >= 1");
  if (!from_version && !to_version && !refused_version) {
    return absl::InvalidArgumentError("alias move: neither from nor to is set");
  }
  if (refused_version && from_version != to_version) {
    return absl::InvalidArgumentError("alias move: a refused promotion must leave the alias where it was");
  }
  if (refused_version && *refused_version < 1) return absl::InvalidArgumentError("alias move: bad refused version");
  if (actor.empty()) return absl::InvalidArgumentError("alias move: actor is empty");
  RETURN_IF_ERROR(ParseRfc3339Utc(time).status());
  json value{{"sequence", sequence},
             {"alias", alias},
             {"from", from_version ? json(*from_version) : json(nullptr)},
             {"to", to_version ? json(*to_version) : json(nullptr)},
             {"actor", actor},
             {"time", time}};
  // Written only when set, so entries without them read as they always did.
  if (!reason.empty()) value["reason"] = reason;
  if (refused_version) value["refused"] = *refused_version;
  return value;
}

absl::StatusOr<AliasMove> AliasMove::FromJson(const json& value) {
  try {
    if (!value.is_object()) return absl::InvalidArgumentError("alias move: must be a JSON object");
    AliasMove move;
    const auto version_or_null = [&](const char* key) -> absl::StatusOr<std::optional<int64_t>> {
      const json& field = value.at(key);
      if (field.is_null()) return std::optional<int64_t>();
      if (!field.is_number_integer() || field.get<int64_t>() < 1) {
        return absl::InvalidArgumentError(absl::StrCat("alias move: \"", key, "\" must be a version or null"));
      }
      return std::optional<int64_t>(field.get<int64_t>());
    };
    if (!value.at("sequence").is_number_integer()) return absl::InvalidArgumentError("alias move: bad sequence");
    move.sequence = value.at("sequence").get<int64_t>();
    move.alias = value.at("alias").get<std::string>();
    ASSIGN_OR_RETURN(move.from_version, version_or_null("from"));
    ASSIGN_OR_RETURN(move.to_version, version_or_null("to"));
    move.actor = value.at("actor").get<std::string>();
    move.time = value.at("time").get<std::string>();
    if (value.contains("reason")) move.reason = value.at("reason").get<std::string>();
    if (value.contains("refused")) {
      ASSIGN_OR_RETURN(move.refused_version, version_or_null("refused"));
    }
    RETURN_IF_ERROR(move.ToJson().status());
    return move;
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("alias move: ", error.what()));
  }
}

ModelRegistry::ModelRegistry(std::unique_ptr<RegistryStorage> storage) : storage_(std::move(storage)) {}

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::OpenLocal(const std::string& root) {
  ASSIGN_OR_RETURN(std::unique_ptr<LocalDirectoryStorage> storage, LocalDirectoryStorage::Open(root));
  return std::make_unique<ModelRegistry>(std::move(storage));
}

absl::StatusOr<std::vector<int64_t>> ModelRegistry::ListVersionNumbers(absl::string_view name) {
  const std::string prefix = RegistryVersionsPrefix(name);
  ASSIGN_OR_RETURN(const std::vector<std::string> keys, storage_->List(prefix));
  std::vector<int64_t> versions;
  for (const std::string& key : keys) {
    // Only complete commit records count: a directory for N without its manifest is a claim that
    // never happened (a crash between mkdir and link) and is invisible.
    absl::string_view rest = absl::string_view(key).substr(prefix.size());
    const std::string suffix = absl::StrCat("/", kManifestFile);
    if (!absl::ConsumeSuffix(&rest, suffix)) continue;
    if (const std::optional<int64_t> version = ParsePositiveNumber(rest)) versions.push_back(*version);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<std::vector<int64_t>> ModelRegistry::RequireModel(absl::string_view name) {
  RETURN_IF_ERROR(ValidateModelName(name));
  ASSIGN_OR_RETURN(std::vector<int64_t> versions, ListVersionNumbers(name));
  if (versions.empty()) {
    return absl::NotFoundError(absl::StrCat("model ", Quoted(name), " not found (it has no published versions)"));
  }
  return versions;
}

template <typename Match>
absl::StatusOr<std::optional<PublishResult>> ModelRegistry::FindVersion(absl::string_view name, Match match) {
  ASSIGN_OR_RETURN(const std::vector<int64_t> versions, ListVersionNumbers(name));
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    absl::StatusOr<Manifest> manifest = GetVersion(name, *it);
    // A damaged manifest is reported by listings; it must not stop publishing or lookups.
    if (absl::IsDataLoss(manifest.status())) continue;
    if (!manifest.ok()) return manifest.status();
    if (match(*manifest)) {
      return std::optional<PublishResult>(PublishResult{*it, /*already_published=*/true, *std::move(manifest)});
    }
  }
  return std::optional<PublishResult>();
}

absl::StatusOr<std::optional<PublishResult>> ModelRegistry::FindByIdempotencyKey(absl::string_view name,
                                                                                  absl::string_view key) {
  return FindVersion(name, [&](const Manifest& manifest) { return manifest.idempotency_key == key; });
}

absl::Status ModelRegistry::ClaimPayload(absl::string_view name, absl::string_view token, absl::string_view state,
                                         std::string* existing_state) {
  const std::string key = RegistryPayloadClaimKey(name, token);
  const absl::Status claimed = storage_->CreateExclusive(key, ClaimText(state, "registry"));
  if (!absl::IsAlreadyExists(claimed)) return claimed;
  const absl::StatusOr<std::string> text = storage_->ReadObject(key);
  const absl::StatusOr<Claim> claim = text.ok() ? ParseClaim(*text) : text.status();
  *existing_state = claim.ok() ? claim->state : "unreadable";
  return claimed;
}

absl::StatusOr<std::optional<PublishResult>> ModelRegistry::ClaimIdempotencyKey(absl::string_view name,
                                                                                 absl::string_view key,
                                                                                 absl::string_view token) {
  ASSIGN_OR_RETURN(const std::string key_hash, Sha256Hex(key));
  const std::string prefix = RegistryKeyPrefix(name, key_hash);
  for (int attempt = 0; attempt < kMaxClaimAttempts; ++attempt) {
    ASSIGN_OR_RETURN(const std::vector<std::string> keys, storage_->List(prefix));
    std::vector<int64_t> generations;
    for (const std::string& generation_key : keys) {
      absl::string_view rest = absl::string_view(generation_key).substr(prefix.size());
      int64_t generation = 0;
      if (absl::ConsumeSuffix(&rest, ".json") && absl::SimpleAtoi(rest, &generation) && generation >= 1) {
        generations.push_back(generation);
      }
    }
    std::sort(generations.begin(), generations.end());
    const int64_t mine = generations.empty() ? 1 : generations.back() + 1;
    const absl::Status claimed = storage_->CreateExclusive(RegistryKeyGenerationKey(name, key_hash, mine), ClaimText("owned", token));
    if (absl::IsAlreadyExists(claimed)) continue;  // another publisher with this key came first
    RETURN_IF_ERROR(claimed);
    // Every older owner's payload is fenced, so none of them can commit from now on; one that
    // holds its commit claim already is committing, and its version is the key's.
    for (auto it = generations.rbegin(); it != generations.rend(); ++it) {
      const absl::StatusOr<std::string> text = storage_->ReadObject(RegistryKeyGenerationKey(name, key_hash, *it));
      const absl::StatusOr<Claim> owner = text.ok() ? ParseClaim(*text) : text.status();
      if (!owner.ok()) continue;  // a damaged generation names no payload that could commit
      std::string state;
      const absl::Status fenced = ClaimPayload(name, owner->by, kClaimFenced, &state);
      if (fenced.ok() || (absl::IsAlreadyExists(fenced) && state != kClaimCommit)) continue;
      if (!absl::IsAlreadyExists(fenced)) return fenced;
      const absl::Time deadline = absl::Now() + kCommitWait;
      const std::string payload = owner->by;
      while (true) {
        ASSIGN_OR_RETURN(std::optional<PublishResult> committed,
                         FindVersion(name, [&](const Manifest& manifest) { return manifest.payload == payload; }));
        if (committed) return committed;
        if (absl::Now() > deadline) {
          return absl::UnavailableError(absl::StrCat("a publish of model ", Quoted(name), " with idempotency key ",
                                                     Quoted(key), " is committing payload ", payload,
                                                     " but has not finished; try again"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    return std::optional<PublishResult>();
  }
  return absl::AbortedError(absl::StrCat("could not claim idempotency key ", Quoted(key), " of model ", Quoted(name),
                                         " after ", kMaxClaimAttempts, " attempts"));
}

absl::StatusOr<PublishResult> ModelRegistry::Publish(absl::string_view name, const std::string& source_directory,
                                                     const ManifestInfo& info, const PublishOptions& options) {
  RETURN_IF_ERROR(ValidateModelName(name));
  const std::string& idempotency_key = options.idempotency_key;
  if (!idempotency_key.empty()) {
    ASSIGN_OR_RETURN(std::optional<PublishResult> existing, FindByIdempotencyKey(name, idempotency_key));
    if (existing) return *std::move(existing);
  }

  // Everything that can be refused is checked before the first byte is staged.
  if (info.adapter_of) RETURN_IF_ERROR(CheckAdapterBase(name, *info.adapter_of));
  ASSIGN_OR_RETURN(const std::vector<CheckpointFile> files, ListCheckpointFiles(source_directory));
  const auto has_file = [&](absl::string_view file_name) {
    return std::any_of(files.begin(), files.end(), [&](const CheckpointFile& f) { return f.name == file_name; });
  };
  const bool directory_has_task = has_file(kTaskFile);
  if (directory_has_task) {
    const std::string task_path = JoinPath(source_directory, kTaskFile);
    ASSIGN_OR_RETURN(const std::string task_content, ReadFile(task_path));
    RETURN_IF_ERROR(ValidateTaskJson(task_content, task_path));
    if (info.task_json && *info.task_json != task_content) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ManifestInfo.task_json differs from ", task_path, "; pass one or make them identical"));
    }
  } else if (info.task_json) {
    RETURN_IF_ERROR(ValidateTaskJson(*info.task_json, "ManifestInfo.task_json"));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint directory ", source_directory,
                                                   " has no task.json and ManifestInfo.task_json is unset"));
  }
  if (!info.tokenizer.empty() && !has_file(info.tokenizer)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer file ", Quoted(info.tokenizer), " is not in ",
                                                   source_directory, " (set ManifestInfo.tokenizer to \"\" if none)"));
  }

  ASSIGN_OR_RETURN(const std::string token, NewPayloadToken());
  Manifest manifest;
  manifest.model_name = std::string(name);
  manifest.version = 1;
  manifest.payload = token;
  manifest.base_model = info.base_model;
  manifest.tokenizer = info.tokenizer;
  manifest.task_file = kTaskFile;
  manifest.adapter_of = info.adapter_of;
  manifest.schedule = info.schedule;
  manifest.stage_metrics = info.stage_metrics;
  manifest.token_statistics = info.token_statistics;
  manifest.job_id = info.job_id;
  manifest.idempotency_key = options.idempotency_key;
  manifest.created_at = FormatRfc3339Utc(info.created_at == absl::InfinitePast() ? absl::Now() : info.created_at);
  manifest.extra = info.extra;
  {
    // Dry run with placeholder checksums: catches wrong JSON kinds and non-UTF-8 strings now.
    Manifest draft = manifest;
    for (const CheckpointFile& file : files) draft.files.push_back({file.name, 0, std::string(64, '0')});
    if (!directory_has_task) draft.files.push_back({kTaskFile, 0, std::string(64, '0')});
    RETURN_IF_ERROR(draft.Serialize().status());
  }
  if (!idempotency_key.empty()) {
    ASSIGN_OR_RETURN(std::optional<PublishResult> committed, ClaimIdempotencyKey(name, idempotency_key, token));
    if (committed) return *std::move(committed);
  }

  const std::string payload_prefix = RegistryPayloadPrefix(name, token);
  bool claimed_for_commit = false;
  // Removes what this publish staged; the original error is what the caller needs to see.
  const auto abandon = [&](absl::Status status) {
    absl::Status cleanup = storage_->DeletePrefix(payload_prefix);
    if (cleanup.ok() && claimed_for_commit) cleanup = storage_->Delete(RegistryPayloadClaimKey(name, token));
    if (!cleanup.ok()) {
      return absl::Status(status.code(), absl::StrCat(status.message(), " (and removing the staged files of ",
                                                      payload_prefix, " failed: ", cleanup.message(), ")"));
    }
    return status;
  };

  std::vector<FileUpload> uploads;
  for (const CheckpointFile& file : files) uploads.push_back({payload_prefix + file.name, file.path});
  absl::StatusOr<std::vector<ObjectDigest>> digests = storage_->WriteObjectsFromFiles(uploads);
  if (!digests.ok()) return abandon(digests.status());
  for (size_t i = 0; i < files.size(); ++i) {
    manifest.files.push_back({files[i].name, (*digests)[i].size, (*digests)[i].sha256});
  }
  if (!directory_has_task) {
    absl::StatusOr<std::string> sha256 = Sha256Hex(*info.task_json);
    if (!sha256.ok()) return abandon(sha256.status());
    if (absl::Status status = storage_->WriteObject(payload_prefix + kTaskFile, *info.task_json); !status.ok()) {
      return abandon(status);
    }
    manifest.files.push_back({kTaskFile, info.task_json->size(), *std::move(sha256)});
    std::sort(manifest.files.begin(), manifest.files.end(),
              [](const ManifestFile& a, const ManifestFile& b) { return a.name < b.name; });
  }
  // From here on neither gc nor a newer publish with the same key can take the payload away.
  std::string claim_state;
  if (absl::Status claim = ClaimPayload(name, token, kClaimCommit, &claim_state); !claim.ok()) {
    if (!absl::IsAlreadyExists(claim)) return abandon(claim);
    return abandon(absl::AbortedError(absl::StrCat(
        "publish of model ", Quoted(name), " was superseded before it could commit (its payload is ", claim_state,
        idempotency_key.empty() ? "" : " by a newer publish with the same idempotency key", ")")));
  }
  claimed_for_commit = true;

  absl::StatusOr<std::vector<int64_t>> versions = ListVersionNumbers(name);
  if (!versions.ok()) return abandon(versions.status());
  int64_t candidate = versions->empty() ? 1 : versions->back() + 1;
  for (int attempt = 0; attempt < kMaxClaimAttempts; ++attempt, ++candidate) {
    manifest.version = candidate;
    absl::StatusOr<std::string> serialized = manifest.Serialize();
    if (!serialized.ok()) return abandon(serialized.status());
    const std::string key = RegistryManifestKey(name, candidate);
    const absl::Status claim = storage_->CreateExclusive(key, *serialized);
    if (claim.ok()) return PublishResult{candidate, /*already_published=*/false, std::move(manifest)};
    if (absl::IsAlreadyExists(claim)) continue;
    // Any other error leaves open whether our manifest landed (say the link succeeded and the
    // directory fsync failed). Deleting the payload of a version that did land would corrupt it,
    // so the payload goes only when the key certainly holds no manifest of ours.
    const absl::StatusOr<std::string> stored = storage_->ReadObject(key);
    bool certainly_not_ours = absl::IsNotFound(stored.status());
    if (stored.ok()) {
      const absl::StatusOr<Manifest> occupant = Manifest::Parse(*stored);
      certainly_not_ours = occupant.ok() && occupant->payload != token;
    }
    return certainly_not_ours ? abandon(claim) : claim;
  }
  return abandon(absl::AbortedError(
      absl::StrCat("could not claim a version number for model ", Quoted(name), " after ", kMaxClaimAttempts,
                   " attempts")));
}

absl::StatusOr<Manifest> ModelRegistry::GetVersion(absl::string_view name, int64_t version) {
  RETURN_IF_ERROR(ValidateModelName(name));
  if (version < 1) return absl::InvalidArgumentError(absl::StrCat("version must be >= 1, got ", version));
  absl::StatusOr<std::string> text = storage_->ReadObject(RegistryManifestKey(name, version));
  if (absl::IsNotFound(text.status())) {
    return absl::NotFoundError(absl::StrCat(VersionLabel(name, version), " not found"));
  }
  if (!text.ok()) return text.status();
  absl::StatusOr<Manifest> manifest = Manifest::Parse(*text);
  if (!manifest.ok()) {
    return absl::DataLossError(
        absl::StrCat("manifest of ", VersionLabel(name, version), " is unreadable: ", manifest.status().message()));
  }
  if (manifest->model_name != name || manifest->version != version) {
    return absl::DataLossError(absl::StrCat("manifest of ", VersionLabel(name, version), " describes ",
                                            VersionLabel(manifest->model_name, manifest->version)));
  }
  return manifest;
}

absl::Status ModelRegistry::VerifyManifest(const Manifest& manifest) {
  const std::string prefix = RegistryPayloadPrefix(manifest.model_name, manifest.payload);
  ASSIGN_OR_RETURN(const std::vector<std::string> keys, storage_->List(prefix));
  std::set<std::string> stored;
  for (const std::string& key : keys) stored.insert(key.substr(prefix.size()));

  std::vector<std::string> problems;
  for (const ManifestFile& file : manifest.files) {
    if (stored.erase(file.name) == 0) {
      problems.push_back(absl::StrCat("file ", Quoted(file.name), " is missing"));
      continue;
    }
    absl::StatusOr<ObjectDigest> digest = storage_->HashObject(prefix + file.name);
    if (!digest.ok()) {
      problems.push_back(absl::StrCat("file ", Quoted(file.name), " cannot be read: ", digest.status().message()));
    } else if (digest->size != file.size) {
      problems.push_back(absl::StrCat("file ", Quoted(file.name), " has ", digest->size, " bytes, the manifest says ",
                                      file.size));
    } else if (digest->sha256 != file.sha256) {
      problems.push_back(absl::StrCat("file ", Quoted(file.name), " has sha256 ", digest->sha256,
                                      ", the manifest says ", file.sha256));
    }
  }
  for (const std::string& extra : stored) {
    problems.push_back(absl::StrCat("file ", Quoted(extra), " is not in the manifest"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(VersionLabel(manifest.model_name, manifest.version),
                                          " failed verification: ", absl::StrJoin(problems, "; ")));
}

absl::Status ModelRegistry::VerifyVersion(absl::string_view name, int64_t version) {
  ASSIGN_OR_RETURN(const Manifest manifest, GetVersion(name, version));
  return VerifyManifest(manifest);
}

absl::StatusOr<std::string> ModelRegistry::Materialize(absl::string_view name, int64_t version) {
  ASSIGN_OR_RETURN(const Manifest manifest, GetVersion(name, version));
  RETURN_IF_ERROR(VerifyManifest(manifest));
  return storage_->LocalPath(RegistryPayloadPrefix(name, manifest.payload));
}

absl::Status ModelRegistry::CheckAdapterBase(absl::string_view name, const AdapterBase& base) {
  if (base.model == name) {
    return absl::InvalidArgumentError(absl::StrCat("an adapter of ", name, " cannot be a version of ", name,
                                                   " itself: publish it under its own name"));
  }
  absl::StatusOr<Manifest> base_manifest = GetVersion(base.model, base.version);
  if (!base_manifest.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("adapter base ", VersionLabel(base.model, base.version),
                                                      ": ", base_manifest.status().message()));
  }
  if (base_manifest->adapter_of) {
    return absl::FailedPreconditionError(
        absl::StrCat("adapter base ", VersionLabel(base.model, base.version), " is itself an adapter (of ",
                     VersionLabel(base_manifest->adapter_of->model, base_manifest->adapter_of->version), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<OpenedVersion> ModelRegistry::Open(absl::string_view reference) {
  ASSIGN_OR_RETURN(const Reference parsed, ParseReference(reference));
  ASSIGN_OR_RETURN(const int64_t version, Resolve(reference));
  OpenedVersion opened;
  opened.model_name = parsed.name;
  opened.version = version;
  ASSIGN_OR_RETURN(opened.manifest, GetVersion(parsed.name, version));
  RETURN_IF_ERROR(VerifyManifest(opened.manifest));
  ASSIGN_OR_RETURN(opened.directory, storage_->LocalPath(RegistryPayloadPrefix(parsed.name, opened.manifest.payload)));
  return opened;
}

absl::StatusOr<int64_t> ModelRegistry::Resolve(absl::string_view reference) {
  ASSIGN_OR_RETURN(const Reference parsed, ParseReference(reference));
  ASSIGN_OR_RETURN(const std::vector<int64_t> versions, RequireModel(parsed.name));
  if (!parsed.selector || *parsed.selector == "latest") {
    // The newest version that can be read: a damaged newest manifest must not take the model down.
    ASSIGN_OR_RETURN(const std::optional<PublishResult> newest,
                     FindVersion(parsed.name, [](const Manifest&) { return true; }));
    if (!newest) {
      return absl::DataLossError(absl::StrCat("no version of model ", Quoted(parsed.name), " is readable (all ",
                                              versions.size(), " manifests are damaged)"));
    }
    return newest->version;
  }
  const std::string& selector = *parsed.selector;
  if (std::all_of(selector.begin(), selector.end(), [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
    const std::optional<int64_t> version = ParsePositiveNumber(selector);
    if (!version) {
      return absl::InvalidArgumentError(
          absl::StrCat("reference ", Quoted(reference), ": version must be a positive number without leading zeros"));
    }
    if (!std::binary_search(versions.begin(), versions.end(), *version)) {
      return absl::NotFoundError(absl::StrCat(VersionLabel(parsed.name, *version), " not found (latest is ",
                                              versions.back(), ")"));
    }
    return *version;
  }
  RETURN_IF_ERROR(ValidateAliasName(selector));
  ASSIGN_OR_RETURN(const AuditState audit, ReadAuditState(parsed.name));
  const AliasState alias = audit.Alias(selector);
  if (alias.uncertain_because_of != 0) {
    return absl::DataLossError(absl::StrCat("alias ", Quoted(selector), " of model ", Quoted(parsed.name),
                                            " is uncertain: audit entry ", alias.uncertain_because_of,
                                            " is unreadable and may have moved it; move the alias again to repair it"));
  }
  if (!alias.target) {
    return absl::NotFoundError(absl::StrCat("alias ", Quoted(selector), " of model ", Quoted(parsed.name), " not found"));
  }
  return *alias.target;
}

absl::StatusOr<std::vector<std::string>> ModelRegistry::ListModels() {
  ASSIGN_OR_RETURN(const std::vector<std::string> names, storage_->ListChildren("models/"));
  std::vector<std::string> models;
  for (const std::string& name : names) {
    if (!ValidateModelName(name).ok()) continue;
    ASSIGN_OR_RETURN(const std::vector<int64_t> versions, ListVersionNumbers(name));
    if (!versions.empty()) models.push_back(name);
  }
  return models;
}

absl::StatusOr<VersionListing> ModelRegistry::ListVersions(absl::string_view name) {
  ASSIGN_OR_RETURN(const std::vector<int64_t> versions, RequireModel(name));
  VersionListing listing;
  listing.versions.reserve(versions.size());
  for (const int64_t version : versions) {
    absl::StatusOr<Manifest> manifest = GetVersion(name, version);
    if (absl::IsDataLoss(manifest.status())) {
      listing.problems.push_back({RegistryManifestKey(name, version), version, std::string(manifest.status().message())});
      continue;
    }
    if (!manifest.ok()) return manifest.status();
    listing.versions.push_back(*std::move(manifest));
  }
  return listing;
}

absl::StatusOr<std::vector<int64_t>> ModelRegistry::ListAuditSequences(absl::string_view name) {
  const std::string prefix = RegistryAuditPrefix(name);
  ASSIGN_OR_RETURN(const std::vector<std::string> keys, storage_->List(prefix));
  std::vector<int64_t> sequences;
  for (const std::string& key : keys) {
    absl::string_view rest = absl::string_view(key).substr(prefix.size());
    int64_t sequence = 0;
    if (absl::ConsumeSuffix(&rest, ".json") && rest.size() == 20 && absl::SimpleAtoi(rest, &sequence) &&
        sequence >= 1 && RegistryAuditKey(name, sequence) == key) {
      sequences.push_back(sequence);
    }
  }
  std::sort(sequences.begin(), sequences.end());
  return sequences;
}

absl::StatusOr<AliasMove> ModelRegistry::ReadAuditEntry(absl::string_view name, int64_t sequence) {
  const std::string key = RegistryAuditKey(name, sequence);
  ASSIGN_OR_RETURN(const std::string text, storage_->ReadObject(key));
  absl::StatusOr<AliasMove> move = [&]() -> absl::StatusOr<AliasMove> {
    try {
      return AliasMove::FromJson(json::parse(text));
    } catch (const json::exception& error) {
      return absl::InvalidArgumentError(error.what());
    }
  }();
  if (!move.ok()) {
    return absl::DataLossError(absl::StrCat("audit entry ", key, " is unreadable: ", move.status().message()));
  }
  if (move->sequence != sequence) {
    return absl::DataLossError(absl::StrCat("audit entry ", key, " claims sequence ", move->sequence));
  }
  return move;
}

absl::StatusOr<ModelRegistry::AuditState> ModelRegistry::ReadAuditState(absl::string_view name) {
  AuditState state;
  ASSIGN_OR_RETURN(const std::vector<int64_t> sequences, ListAuditSequences(name));
  state.last_sequence = sequences.empty() ? 0 : sequences.back();
  for (const int64_t sequence : sequences) {
    absl::StatusOr<AliasMove> move = ReadAuditEntry(name, sequence);
    if (absl::IsDataLoss(move.status())) {
      state.damaged.push_back({RegistryAuditKey(name, sequence), 0, std::string(move.status().message())});
      state.damaged_sequences.push_back(sequence);
      continue;
    }
    if (!move.ok()) return move.status();
    state.moves.push_back(*std::move(move));
  }
  return state;
}

ModelRegistry::AliasState ModelRegistry::AuditState::Alias(absl::string_view alias) const {
  AliasState result;
  int64_t last_move = 0;
  for (auto it = moves.rbegin(); it != moves.rend(); ++it) {
    if (it->alias == alias) {
      result.target = it->to_version;
      last_move = it->sequence;
      break;
    }
  }
  // An unreadable entry after the alias's last readable move may have moved it.
  for (const int64_t sequence : damaged_sequences) {
    if (sequence > last_move) {
      result.uncertain_because_of = sequence;
      break;
    }
  }
  return result;
}

absl::StatusOr<AliasListing> ModelRegistry::ListAliases(absl::string_view name) {
  RETURN_IF_ERROR(RequireModel(name).status());
  ASSIGN_OR_RETURN(const AuditState audit, ReadAuditState(name));
  AliasListing listing;
  listing.problems = audit.damaged;
  std::set<std::string> names;
  for (const AliasMove& move : audit.moves) names.insert(move.alias);
  for (const std::string& alias : names) {
    const AliasState state = audit.Alias(alias);
    if (state.uncertain_because_of != 0) {
      listing.problems.push_back({RegistryAuditKey(name, state.uncertain_because_of), 0,
                                  absl::StrCat("alias ", Quoted(alias), " may have been moved by unreadable audit entry ",
                                               state.uncertain_because_of,
                                               "; its target is unknown until it is moved again")});
    } else if (state.target) {
      listing.aliases[alias] = *state.target;
    }
  }
  return listing;
}

absl::StatusOr<AliasMove> ModelRegistry::RecordAliasMove(absl::string_view name, absl::string_view alias,
                                                         std::optional<int64_t> to_version, absl::string_view actor,
                                                         absl::string_view reason,
                                                         std::optional<int64_t> refused_version) {
  RETURN_IF_ERROR(ValidateAliasName(alias));
  if (actor.empty()) return absl::InvalidArgumentError("actor (who moves the alias) is empty");
  if (actor.size() > kMaxActorLength) {
    return absl::InvalidArgumentError(absl::StrCat("actor is longer than ", kMaxActorLength, " characters"));
  }
  ASSIGN_OR_RETURN(const std::vector<int64_t> versions, RequireModel(name));
  if (to_version && !std::binary_search(versions.begin(), versions.end(), *to_version)) {
    return absl::NotFoundError(absl::StrCat(VersionLabel(name, *to_version), " not found"));
  }
  if (refused_version && !std::binary_search(versions.begin(), versions.end(), *refused_version)) {
    return absl::NotFoundError(absl::StrCat(VersionLabel(name, *refused_version), " not found"));
  }
  if (reason.size() > kMaxReasonLength) {
    return absl::InvalidArgumentError(absl::StrCat("reason is longer than ", kMaxReasonLength, " characters"));
  }
  if (to_version && !refused_version) {
    // Serving follows the alias: it may only point at a version that loads.
    absl::Status verified = VerifyVersion(name, *to_version);
    if (!verified.ok()) {
      return absl::Status(verified.code(), absl::StrCat("cannot point alias ", Quoted(alias), " at ",
                                                        VersionLabel(name, *to_version), ": ", verified.message()));
    }
  }
  for (int attempt = 0; attempt < kMaxClaimAttempts; ++attempt) {
    // Unreadable entries are worked around (their sequence numbers stay taken): a move is how an
    // alias that one of them made uncertain is repaired.
    ASSIGN_OR_RETURN(const AuditState audit, ReadAuditState(name));
    AliasMove move;
    move.sequence = audit.last_sequence + 1;
    move.alias = std::string(alias);
    move.from_version = audit.Alias(alias).target;
    // A refusal records the alias where it stands.
    move.to_version = refused_version ? move.from_version : to_version;
    move.actor = std::string(actor);
    move.time = FormatRfc3339Utc(absl::Now());
    move.reason = std::string(reason);
    move.refused_version = refused_version;
    if (!move.from_version && !move.to_version && !move.refused_version) {
      return absl::NotFoundError(absl::StrCat("alias ", Quoted(alias), " of model ", Quoted(name), " not found"));
    }
    ASSIGN_OR_RETURN(const json value, move.ToJson());
    ASSIGN_OR_RETURN(const std::string line, DumpLine(value));
    // The claim of sequence S + 1 succeeds only if no move landed after the S we read from, so
    // `from_version` above is exact; otherwise re-read and try again.
    const absl::Status claim = storage_->CreateExclusive(RegistryAuditKey(name, move.sequence), line);
    if (claim.ok()) return move;
    if (!absl::IsAlreadyExists(claim)) return claim;
  }
  return absl::AbortedError(absl::StrCat("could not record the move of alias ", Quoted(alias), " after ",
                                         kMaxClaimAttempts, " attempts"));
}

absl::StatusOr<AliasMove> ModelRegistry::SetAlias(absl::string_view name, absl::string_view alias, int64_t version,
                                                  absl::string_view actor, absl::string_view reason) {
  return RecordAliasMove(name, alias, version, actor, reason);
}

absl::StatusOr<AliasMove> ModelRegistry::RecordRefusedPromotion(absl::string_view name, absl::string_view alias,
                                                                int64_t version, absl::string_view actor,
                                                                absl::string_view reason) {
  if (reason.empty()) return absl::InvalidArgumentError("a refused promotion needs its reason");
  return RecordAliasMove(name, alias, std::nullopt, actor, reason, version);
}

absl::StatusOr<AliasMove> ModelRegistry::RemoveAlias(absl::string_view name, absl::string_view alias,
                                                     absl::string_view actor) {
  return RecordAliasMove(name, alias, std::nullopt, actor);
}

absl::StatusOr<std::vector<AliasMove>> ModelRegistry::AuditLog(absl::string_view name) {
  RETURN_IF_ERROR(RequireModel(name).status());
  ASSIGN_OR_RETURN(const std::vector<int64_t> sequences, ListAuditSequences(name));
  std::vector<AliasMove> log;
  log.reserve(sequences.size());
  for (const int64_t sequence : sequences) {
    ASSIGN_OR_RETURN(AliasMove move, ReadAuditEntry(name, sequence));
    log.push_back(std::move(move));
  }
  return log;
}

absl::StatusOr<std::string> ModelRegistry::AuditLogJsonl(absl::string_view name) {
  ASSIGN_OR_RETURN(const std::vector<AliasMove> log, AuditLog(name));
  std::string text;
  for (const AliasMove& move : log) {
    ASSIGN_OR_RETURN(const json value, move.ToJson());
    ASSIGN_OR_RETURN(const std::string line, DumpLine(value));
    text += line;
  }
  return text;
}

absl::Status ModelRegistry::CollectModel(absl::string_view name, const GcOptions& options, GcReport& report) {
  const absl::Time now = absl::Now();
  ASSIGN_OR_RETURN(const std::vector<std::string> tokens, storage_->ListChildren(RegistryPayloadsPrefix(name)));
  if (tokens.empty()) return absl::OkStatus();
  std::set<std::string> referenced;
  if (absl::StatusOr<VersionListing> listing = ListVersions(name); listing.ok()) {
    if (!listing->problems.empty()) {
      report.problems.push_back({RegistryModelPrefix(name), listing->problems.front().version,
                                 absl::StrCat("payloads of model ", Quoted(name), " are not collected: ",
                                              listing->problems.size(),
                                              " manifest(s) are unreadable, and the payload they reference cannot "
                                              "be told from an orphan")});
      return absl::OkStatus();
    }
    for (const Manifest& manifest : listing->versions) referenced.insert(manifest.payload);
  } else if (!absl::IsNotFound(listing.status())) {
    return listing.status();
  }
  for (const std::string& token : tokens) {
    if (referenced.count(token) > 0) continue;
    const std::string prefix = RegistryPayloadPrefix(name, token);
    const std::string claim_key = RegistryPayloadClaimKey(name, token);
    absl::StatusOr<std::string> claim_text = storage_->ReadObject(claim_key);
    if (!claim_text.ok() && !absl::IsNotFound(claim_text.status())) return claim_text.status();
    if (absl::IsNotFound(claim_text.status())) {
      // Unclaimed: its publisher is staging it or died doing so. Young ones are left alone; an old
      // one is claimed first, so that a publisher still running cannot commit it after all.
      if (now - PayloadTime(token) < options.min_age) continue;
      if (options.dry_run) {
        report.deleted.push_back(prefix);
        continue;
      }
      std::string state;
      const absl::Status claimed = ClaimPayload(name, token, kClaimCollected, &state);
      if (claimed.ok()) {
        RETURN_IF_ERROR(storage_->DeletePrefix(prefix));
        report.deleted.push_back(prefix);
        continue;
      }
      if (!absl::IsAlreadyExists(claimed)) return claimed;
      claim_text = storage_->ReadObject(claim_key);  // the publisher claimed it meanwhile
      if (!claim_text.ok()) return claim_text.status();
    }
    const absl::StatusOr<Claim> claim = ParseClaim(*claim_text);
    if (!claim.ok()) {
      report.problems.push_back({claim_key, 0, absl::StrCat("payload ", token, " is kept: its claim is unreadable (",
                                                            claim.status().message(), ")")});
      continue;
    }
    if (claim->state == kClaimCommit) {
      // Its publisher was about to claim a version number; only one that died there leaves this.
      if (now - claim->time < std::max(options.min_age, kCommitGrace)) continue;
      ASSIGN_OR_RETURN(const std::optional<PublishResult> committed,
                       FindVersion(name, [&](const Manifest& manifest) { return manifest.payload == token; }));
      if (committed) continue;
    } else if (claim->state != kClaimFenced && claim->state != kClaimCollected) {
      report.problems.push_back({claim_key, 0, absl::StrCat("payload ", token, " is kept: its claim has unknown state ",
                                                            Quoted(claim->state))});
      continue;
    }
    report.deleted.push_back(prefix);
    if (options.dry_run) continue;
    RETURN_IF_ERROR(storage_->DeletePrefix(prefix));
    // The claim stays as a tombstone: a publisher of this payload must never win a claim later.
    if (claim->state == kClaimCommit) RETURN_IF_ERROR(storage_->WriteObject(claim_key, ClaimText(kClaimCollected, "gc")));
  }
  return absl::OkStatus();
}

absl::StatusOr<GcReport> ModelRegistry::CollectGarbage(const GcOptions& options) {
  if (options.min_age < absl::ZeroDuration()) return absl::InvalidArgumentError("gc: min_age must not be negative");
  GcReport report;
  ASSIGN_OR_RETURN(const std::vector<std::string> names, storage_->ListChildren("models/"));
  for (const std::string& name : names) {
    if (!ValidateModelName(name).ok()) continue;
    RETURN_IF_ERROR(CollectModel(name, options, report));
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> temporaries,
                   storage_->CollectTemporaries(options.min_age, options.dry_run));
  report.deleted.insert(report.deleted.end(), temporaries.begin(), temporaries.end());
  return report;
}

}  // namespace promptintern
