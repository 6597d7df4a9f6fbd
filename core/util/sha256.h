// SHA-256 (FIPS 180-4) over OpenSSL's EVP interface, as lowercase hex: the checksum the model
// registry records for every file of a published version and re-computes when verifying it.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promptintern {

// Incremental hashing, so multi-gigabyte weight files are hashed while they stream through a
// fixed buffer instead of being held in memory. Move-only; not thread-safe.
class Sha256Hasher {
 public:
  Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) = default;
  Sha256Hasher& operator=(Sha256Hasher&&) = default;

  absl::Status Update(absl::string_view data);
  // The digest of everything passed to Update, as 64 lowercase hex characters. The hasher is
  // spent afterwards: further calls return FAILED_PRECONDITION.
  absl::StatusOr<std::string> FinishHex();

 private:
  struct ContextDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  std::unique_ptr<EVP_MD_CTX, ContextDeleter> context_;
  // OpenSSL reports failures (allocation, a disabled algorithm) as return codes; the first one
  // sticks here so every later call reports it.
  absl::Status status_;
};

// SHA-256 of `data` as 64 lowercase hex characters.
absl::StatusOr<std::string> Sha256Hex(absl::string_view data);

// True for exactly 64 lowercase hex characters, the form Sha256Hex produces.
bool IsSha256Hex(absl::string_view text);

}  // namespace promptintern
