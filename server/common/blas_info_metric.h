// promptintern_blas_info: the BLAS kernel a service computes with, as labels of a constant 1, so a
// dashboard or alert can tell a server on generic kernels (core/platform/blas_dispatch.h).
#pragma once

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace promptintern {

// Registers promptintern_blas_info{library, version, kernel, best, cpu, source} 1 from CurrentBlas().
void RegisterBlasInfo(prometheus::Registry& registry);

}  // namespace promptintern
