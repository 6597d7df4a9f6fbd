// The boundary between libtorch (which throws c10::Error) and the rest of core (absl::Status).
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <c10/util/Exception.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace promptintern {

// Only the first line of a c10::Error: the rest is a C++ backtrace that belongs in a debugger.
std::string FirstLine(const std::string& text);

// Runs `fn` and converts anything libtorch throws into an INTERNAL (or INVALID_ARGUMENT for
// shape/index/value errors) status prefixed with `context`.
template <typename Fn>
auto CallTorch(const std::string& context, Fn&& fn) -> absl::StatusOr<std::invoke_result_t<Fn>> {
  try {
    return std::forward<Fn>(fn)();
  } catch (const c10::IndexError& e) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": ", FirstLine(e.what_without_backtrace())));
  } catch (const c10::ValueError& e) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": ", FirstLine(e.what_without_backtrace())));
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(context, ": ", FirstLine(e.what_without_backtrace())));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(context, ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(context, ": ", e.what()));
  }
}

// Same as CallTorch for functions that return nothing.
template <typename Fn>
absl::Status CallTorchVoid(const std::string& context, Fn&& fn) {
  auto result = CallTorch(context, [&] {
    std::forward<Fn>(fn)();
    return 0;
  });
  return result.status();
}

}  // namespace promptintern
