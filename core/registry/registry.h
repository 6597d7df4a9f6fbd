// Model registry: the trainer publishes each internalized checkpoint here and the inference
// service reads it back.
//
// Model names -> immutable versions 1, 2, 3, ... (each a set of checkpoint files described by a
// manifest.json with their sizes and SHA-256) -> movable aliases ("production", "staging") whose
// every move is recorded in an append-only audit log.
//
// Storage layout (keys of a RegistryStorage; see storage.h):
//   models/<name>/payloads/<token>/<file>      the files of one publish, under a fresh token
//                                              (<unix ms>-<32 random hex>); never written again
//                                              once committed
//   models/<name>/payload-claims/<token>.json  the fate of a payload, decided once by
//                                              CreateExclusive: "commit" (its publisher may
//                                              commit it), "fenced" (a publish with the same
//                                              idempotency key superseded it) or "collected" (gc)
//   models/<name>/versions/<N>/manifest.json   the commit record of version N
//   models/<name>/audit/<sequence>.json        one alias move, one JSON line (20-digit sequence)
//   models/<name>/keys/<sha256 of key>/<G>.json  generation G of an idempotency key's ownership
//
// Publishing: the files are copied (and hashed as stored, fsynced) under a new payload token; the
// payload is claimed for "commit"; then version N = latest + 1 is claimed by CreateExclusive of its
// manifest, which references the payload. If N was taken meanwhile by another thread or process,
// N + 1 is tried, and so on. A version therefore exists exactly when its manifest does, and its
// manifest appears only after all its bytes are durable: a crash at any point leaves either a
// complete version or an unreferenced payload that no reader looks at (and that a later publish
// never reuses). A failed publish deletes its payload; nothing ever writes to another publish's
// payload or to a committed version.
//
// Garbage collection deletes payloads no manifest references: one without a claim once it is older
// than the safety age, after claiming it "collected" itself (so the publish that staged it, should
// it still be running, can no longer commit it and fails cleanly); one claimed "fenced" or
// "collected"; and one claimed "commit" whose publisher died between that claim and its manifest,
// once the claim is older than the safety age and ten minutes. A model with an unreadable manifest
// is skipped (its payload cannot be told from an orphan).
//
// Aliases: the audit log is the source of truth. A move appends entry S + 1 by CreateExclusive,
// computed from entries 1..S; losing that race means re-reading and retrying, so moves are
// linearizable and every entry's "from" is exactly the alias's previous target. An alias's current
// target is its latest entry. The log is JSONL one line per file; AuditLogJsonl concatenates it.
//
// Idempotent publish: with an idempotency key (the trainer passes its job id), Publish first
// returns any existing version published with that key, so a job resumed after a crash publishes
// exactly once. Otherwise it claims the key's next generation by CreateExclusive and fences the
// payload of every older generation (claims it "fenced"), before staging anything: of publishers
// racing with one key, only the newest claimant can still commit, the others fail with ABORTED,
// and a publisher that died holding the key is superseded at once, without a lease. If an older
// one already holds its "commit" claim, the newcomer waits for that version and returns it.
//
// Readers: GetVersion returns the manifest as stored; VerifyVersion re-hashes every file and
// returns DATA_LOSS naming each missing, extra, truncated or altered file; Materialize / Open
// verify before handing out a local directory.
//
// Damage is contained: listings, "latest", publishing and alias moves work around an unreadable
// manifest or audit entry and report it (RegistryProblem), so the CLI can show what is damaged
// and repair it (move an alias off a damaged version). An alias that an unreadable audit entry
// may have moved resolves to DATA_LOSS until it is moved again; SetAlias refuses a target whose
// manifest or files fail verification.
//
// All methods are thread-safe and may run concurrently in many processes over one storage.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/registry/manifest.h"
#include "core/registry/storage.h"
#include <nlohmann/json.hpp>

namespace promptintern {

// What the publisher knows about a checkpoint beyond its files.
struct ManifestInfo {
  std::string base_model;
  // File name of the tokenizer's main file inside the checkpoint directory (tokenizer.json or
  // tokenizer.model: TokenizerFileIn in core/tokenizer/tokenizer.h); "" when it ships none.
  std::string tokenizer;
  // Content of task.json, for a checkpoint directory that lacks one. When the directory has a
  // task.json too, both must be byte-identical. Either way it must be a JSON object.
  std::optional<std::string> task_json;
  nlohmann::json schedule = nlohmann::json::object();
  nlohmann::json stage_metrics = nlohmann::json::array();
  nlohmann::json token_statistics = nlohmann::json::object();
  std::string job_id;
  // InfinitePast means now.
  absl::Time created_at = absl::InfinitePast();
  nlohmann::json extra = nlohmann::json::object();
  // Publish a LoRA adapter over this base version (see Manifest::adapter_of). The base must be a
  // full version of another model in this registry.
  std::optional<AdapterBase> adapter_of;
};

// Something stored for a model that cannot be read, found and worked around by a listing.
struct RegistryProblem {
  std::string key;      // storage key of the damaged object
  int64_t version = 0;  // the version it concerns; 0 when none
  std::string message;
};

struct VersionListing {
  std::vector<Manifest> versions;         // readable versions, oldest first
  std::vector<RegistryProblem> problems;  // versions whose manifest cannot be read
};

struct AliasListing {
  std::map<std::string, int64_t> aliases;  // alias -> version, for aliases that exist
  // Unreadable audit entries, and the aliases they may have moved (left out of `aliases`).
  std::vector<RegistryProblem> problems;
};

struct GcOptions {
  // Payloads younger than this are kept: a publish may still be staging them.
  absl::Duration min_age = absl::Hours(1);
  bool dry_run = false;  // report what would be deleted, delete nothing
};

struct GcReport {
  std::vector<std::string> deleted;       // storage prefixes (or keys) removed, or that would be
  std::vector<RegistryProblem> problems;  // what was skipped and why
};

struct PublishOptions {
  // When non-empty: if a version of the model was already published with this key, return it
  // instead of publishing again. Stored in the manifest.
  std::string idempotency_key;
};

struct PublishResult {
  int64_t version = 0;
  // True when an existing version was returned because of the idempotency key.
  bool already_published = false;
  Manifest manifest;
};

// One entry of an alias audit log.
struct AliasMove {
  int64_t sequence = 0;  // 1, 2, 3, ... per model, across all its aliases.
  std::string alias;
  std::optional<int64_t> from_version;  // nullopt: the alias did not exist.
  std::optional<int64_t> to_version;    // nullopt: the alias was removed.
  std::string actor;                    // Who moved it.
  std::string time;                     // RFC 3339 UTC.
  // Why, when the mover says (a promotion gate's scores); "" otherwise.
  std::string reason;
  // Set on a refused promotion: this version was not given the alias, which stays where it was
  // (from_version == to_version).
  std::optional<int64_t> refused_version;

  // Never throws; validates.
  absl::StatusOr<nlohmann::json> ToJson() const;
  static absl::StatusOr<AliasMove> FromJson(const nlohmann::json& json);
};

// A verified version ready to load.
struct OpenedVersion {
  std::string model_name;
  int64_t version = 0;
  Manifest manifest;
  std::string directory;  // Local directory holding exactly the manifest's files.
};

class ModelRegistry {
 public:
  explicit ModelRegistry(std::unique_ptr<RegistryStorage> storage);
  // A registry on LocalDirectoryStorage at `root` (created if missing).
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> OpenLocal(const std::string& root);

  RegistryStorage& storage() { return *storage_; }

  // Copies every regular file of `source_directory` (no subdirectories, symlinks or special
  // files; file names as ValidateVersionFileName) into a new version. INVALID_ARGUMENT for bad
  // names, files or info, before anything is written.
  absl::StatusOr<PublishResult> Publish(absl::string_view name, const std::string& source_directory,
                                        const ManifestInfo& info, const PublishOptions& options = {});

  // The manifest as stored (checked to belong to this name and version). NOT_FOUND if absent.
  absl::StatusOr<Manifest> GetVersion(absl::string_view name, int64_t version);

  // Re-hashes every file. DATA_LOSS listing every missing file, extra file, size mismatch and
  // hash mismatch by file name.
  absl::Status VerifyVersion(absl::string_view name, int64_t version);

  // Local directory of the version after VerifyVersion succeeds. The directory is the registry's
  // own copy: read it, never write to it.
  absl::StatusOr<std::string> Materialize(absl::string_view name, int64_t version);
  // Resolve + GetVersion + Materialize.
  absl::StatusOr<OpenedVersion> Open(absl::string_view reference);

  // "name" or "name@latest" -> newest version; "name@3" -> 3 if it exists; "name@production" ->
  // the alias's target. NOT_FOUND naming the missing model, version or alias; INVALID_ARGUMENT
  // for malformed references.
  absl::StatusOr<int64_t> Resolve(absl::string_view reference);

  // Models with at least one version, sorted.
  absl::StatusOr<std::vector<std::string>> ListModels();
  // Manifests of every readable version, oldest first, and the versions whose manifest is not.
  // NOT_FOUND for a model without versions.
  absl::StatusOr<VersionListing> ListVersions(absl::string_view name);
  // Aliases that currently exist, working around unreadable audit entries.
  absl::StatusOr<AliasListing> ListAliases(absl::string_view name);

  // Points `alias` at `version`, creating the alias if needed, and records the move. The version
  // must exist (NOT_FOUND) and pass VerifyVersion (DATA_LOSS naming what is wrong). `actor` (who;
  // non-empty) is stored verbatim. Returns the recorded entry.
  absl::StatusOr<AliasMove> SetAlias(absl::string_view name, absl::string_view alias, int64_t version,
                                     absl::string_view actor, absl::string_view reason = "");
  // Records that `version` was refused `alias` and why (a failed promotion gate), leaving the
  // alias where it is, so the audit log tells every decision about the alias, not only moves.
  // NOT_FOUND for a version that does not exist; INVALID_ARGUMENT for an empty reason.
  absl::StatusOr<AliasMove> RecordRefusedPromotion(absl::string_view name, absl::string_view alias, int64_t version,
                                                   absl::string_view actor, absl::string_view reason);
  // Removes an existing alias (NOT_FOUND otherwise) and records it with to_version = nullopt.
  absl::StatusOr<AliasMove> RemoveAlias(absl::string_view name, absl::string_view alias,
                                        absl::string_view actor);

  // Every alias move of the model, in order; DATA_LOSS if an entry is unreadable.
  absl::StatusOr<std::vector<AliasMove>> AuditLog(absl::string_view name);
  // The same as JSON Lines text.
  absl::StatusOr<std::string> AuditLogJsonl(absl::string_view name);

  // Deletes the payloads of every model that no version references (see the header comment for
  // which ones and when), and the storage's stale temporary files.
  absl::StatusOr<GcReport> CollectGarbage(const GcOptions& options = {});

 private:
  // OK when `base` may carry adapters published under `name`.
  absl::Status CheckAdapterBase(absl::string_view name, const AdapterBase& base);
  // Committed version numbers, ascending.
  absl::StatusOr<std::vector<int64_t>> ListVersionNumbers(absl::string_view name);
  // ListVersionNumbers, NOT_FOUND when empty.
  absl::StatusOr<std::vector<int64_t>> RequireModel(absl::string_view name);
  // The first readable version whose manifest satisfies `match`, newest first.
  template <typename Match>
  absl::StatusOr<std::optional<PublishResult>> FindVersion(absl::string_view name, Match match);
  absl::StatusOr<std::optional<PublishResult>> FindByIdempotencyKey(absl::string_view name,
                                                                     absl::string_view key);
  // Claims the key's next generation for `token` and fences every older one. A version when an
  // older claimant turned out to be committing (and did), nullopt when this publish owns the key.
  absl::StatusOr<std::optional<PublishResult>> ClaimIdempotencyKey(absl::string_view name, absl::string_view key,
                                                                    absl::string_view token);
  // CreateExclusive of the payload's claim in `state`. ALREADY_EXISTS when it was claimed first,
  // with that claim's state in `*existing_state` ("unreadable" for a damaged claim).
  absl::Status ClaimPayload(absl::string_view name, absl::string_view token, absl::string_view state,
                            std::string* existing_state);
  absl::Status CollectModel(absl::string_view name, const GcOptions& options, GcReport& report);
  absl::Status VerifyManifest(const Manifest& manifest);
  absl::StatusOr<std::vector<int64_t>> ListAuditSequences(absl::string_view name);
  absl::StatusOr<AliasMove> ReadAuditEntry(absl::string_view name, int64_t sequence);
  struct AliasState {
    std::optional<int64_t> target;     // nullopt: the alias does not exist, as far as can be read
    int64_t uncertain_because_of = 0;  // an unreadable entry that may have moved it; 0 = none
  };
  struct AuditState {
    std::vector<AliasMove> moves;            // readable entries, in order
    std::vector<int64_t> damaged_sequences;  // unreadable entries, in order
    std::vector<RegistryProblem> damaged;
    int64_t last_sequence = 0;               // the newest entry, readable or not
    AliasState Alias(absl::string_view alias) const;
  };
  // Every readable entry of the log, and the unreadable ones as problems.
  absl::StatusOr<AuditState> ReadAuditState(absl::string_view name);
  absl::StatusOr<AliasMove> RecordAliasMove(absl::string_view name, absl::string_view alias,
                                            std::optional<int64_t> to_version, absl::string_view actor,
                                            absl::string_view reason = "",
                                            std::optional<int64_t> refused_version = std::nullopt);

  std::unique_ptr<RegistryStorage> storage_;
};

}  // namespace promptintern
