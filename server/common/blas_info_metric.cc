#include "server/common/blas_info_metric.h"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

#include "core/platform/blas_dispatch.h"

namespace promptintern {

void RegisterBlasInfo(prometheus::Registry& registry) {
  const BlasState& blas = CurrentBlas();
  prometheus::BuildGauge()
      .Name("promptintern_blas_info")
      .Help("The BLAS library and kernel in use (1); source: detected, override (re-executed with "
            "OPENBLAS_CORETYPE), user (the user's OPENBLAS_CORETYPE) or none (not OpenBLAS)")
      .Register(registry)
      .Add({{"library", blas.library},
            {"version", blas.version},
            {"kernel", blas.kernel},
            {"best", blas.best},
            {"cpu", blas.cpu},
            {"source", std::string(BlasSourceName(blas.source))}})
      .Set(1);
}

}  // namespace promptintern
