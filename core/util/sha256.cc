#include "core/util/sha256.h"

#include <utility>

namespace promptintern {
namespace {

std::string ToLowerHex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[bytes[i] >> 4]);
    hex.push_back(kDigits[bytes[i] & 0x0f]);
  }
  return hex;
}

}  // namespace

Sha256Hasher::Sha256Hasher() : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr) {
    status_ = absl::ResourceExhaustedError("cannot allocate an OpenSSL digest context");
  } else if (EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1) {
    status_ = absl::InternalError("OpenSSL cannot initialize SHA-256");
  }
}

absl::Status Sha256Hasher::Update(absl::string_view data) {
  if (!status_.ok()) return status_;
  if (context_ == nullptr) return absl::FailedPreconditionError("SHA-256 hasher already finished");
  if (!data.empty() && EVP_DigestUpdate(context_.get(), data.data(), data.size()) != 1) {
    status_ = absl::InternalError("OpenSSL SHA-256 update failed");
  }
  return status_;
}

absl::StatusOr<std::string> Sha256Hasher::FinishHex() {
  if (!status_.ok()) return status_;
  if (context_ == nullptr) return absl::FailedPreconditionError("SHA-256 hasher already finished");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  const bool finished = EVP_DigestFinal_ex(context_.get(), digest, &digest_size) == 1;
  context_.reset();
  if (!finished) {
    status_ = absl::InternalError("OpenSSL SHA-256 finalization failed");
    return status_;
  }
  return ToLowerHex(digest, digest_size);
}

absl::StatusOr<std::string> Sha256Hex(absl::string_view data) {
  Sha256Hasher hasher;
  if (absl::Status status = hasher.Update(data); !status.ok()) return status;
  return hasher.FinishHex();
}

bool IsSha256Hex(absl::string_view text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace promptintern
