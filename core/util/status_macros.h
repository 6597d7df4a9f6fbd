// Early-return helpers for absl::Status / absl::StatusOr, in the style used across Google code.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PI_CONCAT_INNER(a, b) a##b
#define PI_CONCAT(a, b) PI_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                       \
  do {                                              \
    ::absl::Status pi_status_ = (expr);             \
    if (!pi_status_.ok()) return pi_status_;        \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr())`: binds the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  PI_ASSIGN_OR_RETURN_IMPL(PI_CONCAT(pi_statusor_, __LINE__), lhs, expr)
#define PI_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
