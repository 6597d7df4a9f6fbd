#include "core/platform/blas_dispatch.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <strings.h>

namespace promptintern {
namespace {

constexpr char kCoretypeVariable[] = "OPENBLAS_CORETYPE";
constexpr char kOverrideVariable[] = "PROMPTINTERN_BLAS_OVERRIDE";
constexpr char kSimulateVariable[] = "PROMPTINTERN_BLAS_SIMULATE_CHOICE";

struct CoreTier {
  const char* name;
  int tier;
};

// Every x86 core name of OpenBLAS 0.3.21's DYNAMIC_ARCH table (driver/others/dynamic.c), plus
// SapphireRapids from later releases, by the instruction set their single-precision kernels use.
constexpr CoreTier kCoreTiers[] = {
    {"Katmai", 0},      {"Coppermine", 0},  {"Northwood", 0},   {"Prescott", 0},    {"Banias", 0},
    {"Athlon", 0},      {"Opteron", 0},     {"Opteron_SSE3", 0}, {"Core2", 1},       {"Penryn", 1},
    {"Dunnington", 1},  {"Atom", 1},        {"Nano", 1},        {"Bobcat", 1},      {"Nehalem", 2},
    {"Barcelona", 2},   {"Sandybridge", 3}, {"Bulldozer", 3},   {"Piledriver", 3},  {"Steamroller", 3},
    {"Excavator", 3},   {"Haswell", 4},     {"Zen", 4},         {"SkylakeX", 5},    {"Cooperlake", 6},
    {"SapphireRapids", 6},
};

// Parses "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." (openblas_get_config).
void ParseConfig(const char* config, std::string* version, bool* dynamic_arch) {
  if (config == nullptr) return;
  const std::string text = config;
  const std::string prefix = "OpenBLAS ";
  if (text.rfind(prefix, 0) == 0) version->assign(text.substr(prefix.size(), text.find(' ', prefix.size()) - prefix.size()));
  *dynamic_arch = (" " + text + " ").find(" DYNAMIC_ARCH ") != std::string::npos;
}

BlasState Inspect(BlasInputs* inputs) {
  BlasState state;
  const CpuFeatures& cpu = HostCpu();
  state.cpu = cpu.Describe();
  state.best = BestOpenBlasCore(cpu);
  using NameFunction = char* (*)();
  auto corename = reinterpret_cast<NameFunction>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  auto config = reinterpret_cast<NameFunction>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (corename == nullptr) {
    state.library = "unknown";
    return state;
  }
  state.library = "openblas";
  const char* name = corename();
  state.kernel = name != nullptr ? name : "";
  inputs->is_openblas = true;
  inputs->chosen_core = state.kernel;
  if (config != nullptr) ParseConfig(config(), &state.version, &inputs->dynamic_arch);
  const char* simulated = std::getenv(kSimulateVariable);
  if (simulated != nullptr && *simulated != '\0' && std::getenv(kCoretypeVariable) == nullptr) {
    inputs->chosen_core = simulated;
  }
  auto non_empty = [](const char* value) { return value != nullptr && *value != '\0' ? value : nullptr; };
  inputs->coretype_env = non_empty(std::getenv(kCoretypeVariable));
  inputs->override_env = non_empty(std::getenv(kOverrideVariable));
  return state;
}

std::string Describe(const BlasState& state, const BlasDecision& decision, const BlasInputs& inputs) {
  switch (decision.source) {
    case BlasSource::kNotOpenBlas:
      return "not OpenBLAS: kernel choice not checked";
    case BlasSource::kUser: {
      std::string text = std::string(kCoretypeVariable) + "=" + inputs.coretype_env + " from the environment";
      if (strcasecmp(inputs.coretype_env, state.kernel.c_str()) != 0) {
        text += ", which OpenBLAS did not accept";
      }
      return text + "; best for this CPU: " + state.best;
    }
    case BlasSource::kOverride: {
      std::string text = "set by promptintern: OpenBLAS had chosen " + decision.chosen_by_openblas;
      if (strcasecmp(decision.requested_core.c_str(), state.kernel.c_str()) != 0) {
        text += "; WARNING: requested " + decision.requested_core + " but OpenBLAS runs " + state.kernel;
      }
      return text;
    }
    case BlasSource::kDetected:
      break;
  }
  if (inputs.override_env != nullptr) {
    return "WARNING: " + std::string(kOverrideVariable) + " set without " + kCoretypeVariable +
           ", not re-executing again; best for this CPU: " + state.best;
  }
  const int tier = OpenBlasCoreTier(state.kernel);
  if (tier < 0) return "chosen by OpenBLAS, a core this check does not rank; best for this CPU: " + state.best;
  if (tier < OpenBlasCoreTier(state.best) && !inputs.dynamic_arch) {
    return "WARNING: not a DYNAMIC_ARCH build, cannot switch to " + state.best + ", the best for this CPU";
  }
  return "chosen by OpenBLAS; best for this CPU: " + state.best;
}

std::mutex& StateMutex() {
  static std::mutex* mutex = new std::mutex;
  return *mutex;
}
BlasState* g_state = nullptr;  // guarded by StateMutex(); set once, never freed

const BlasState& Configure(char** argv, const char* program, bool allow_reexec) {
  std::lock_guard<std::mutex> lock(StateMutex());
  if (g_state != nullptr) return *g_state;
  BlasInputs inputs;
  BlasState state = Inspect(&inputs);
  const BlasDecision decision = DecideBlasCore(HostCpu(), inputs);
  if (decision.reexec && allow_reexec && argv != nullptr) {
    const std::string marker = decision.requested_core + ":" + inputs.chosen_core;
    setenv(kCoretypeVariable, decision.requested_core.c_str(), 1);
    setenv(kOverrideVariable, marker.c_str(), 1);
    std::fflush(nullptr);
    execv("/proc/self/exe", argv);
    // Still here: the exec failed. Carry on with the weaker kernel, and say so.
    const int error = errno;
    unsetenv(kCoretypeVariable);
    unsetenv(kOverrideVariable);
    state.detail = "WARNING: OpenBLAS chose " + inputs.chosen_core + ", re-executing with " + kCoretypeVariable + "=" +
                   decision.requested_core + " failed: " + std::strerror(error);
    state.source = BlasSource::kDetected;
  } else {
    state.source = decision.source;
    state.detail = Describe(state, decision, inputs);
  }
  g_state = new BlasState(std::move(state));
  if (program != nullptr) std::fprintf(stderr, "%s: %s\n", program, g_state->LogLine().c_str());
  return *g_state;
}

}  // namespace

int OpenBlasCoreTier(std::string_view core) {
  for (const CoreTier& entry : kCoreTiers) {
    if (core.size() == std::strlen(entry.name) && strncasecmp(core.data(), entry.name, core.size()) == 0) {
      return entry.tier;
    }
  }
  return -1;
}

std::string BestOpenBlasCore(const CpuFeatures& cpu) {
  if (cpu.avx512_skylake_set() && cpu.avx512_bf16) return "Cooperlake";
  if (cpu.avx512_skylake_set()) return "SkylakeX";
  if (cpu.avx2 && cpu.fma) return cpu.is_amd_like() ? "Zen" : "Haswell";
  if (cpu.avx) return "Sandybridge";
  if (cpu.sse4_2) return "Nehalem";
  if (cpu.ssse3) return "Core2";
  return "Prescott";
}

std::string_view BlasSourceName(BlasSource source) {
  switch (source) {
    case BlasSource::kDetected:
      return "detected";
    case BlasSource::kOverride:
      return "override";
    case BlasSource::kUser:
      return "user";
    case BlasSource::kNotOpenBlas:
      return "none";
  }
  return "none";
}

BlasDecision DecideBlasCore(const CpuFeatures& cpu, const BlasInputs& inputs) {
  BlasDecision decision;
  if (!inputs.is_openblas) {
    decision.source = BlasSource::kNotOpenBlas;
    return decision;
  }
  if (inputs.coretype_env != nullptr) {
    // Ours only when the marker names exactly the value in the variable; anything else (including
    // a user's setting in a child of a re-executed process) is the user's.
    const std::string marker = inputs.override_env != nullptr ? inputs.override_env : "";
    const size_t colon = marker.find(':');
    if (colon != std::string::npos && marker.substr(0, colon) == inputs.coretype_env) {
      decision.source = BlasSource::kOverride;
      decision.requested_core = marker.substr(0, colon);
      decision.chosen_by_openblas = marker.substr(colon + 1);
    } else {
      decision.source = BlasSource::kUser;
    }
    return decision;
  }
  decision.source = BlasSource::kDetected;
  // The marker without the variable means something removed it after a re-execution: never loop.
  if (inputs.override_env != nullptr || !inputs.dynamic_arch) return decision;
  const int chosen = OpenBlasCoreTier(inputs.chosen_core);
  const std::string best = BestOpenBlasCore(cpu);
  if (chosen >= 0 && chosen < OpenBlasCoreTier(best)) {
    decision.reexec = true;
    decision.requested_core = best;
  }
  return decision;
}

std::string BlasState::LogLine() const {
  std::string line = "BLAS: ";
  if (library == "openblas") {
    line += "OpenBLAS " + (version.empty() ? std::string("(unknown version)") : version) + ", kernel " + kernel;
  } else {
    line += "not OpenBLAS";
  }
  line += " (" + detail + "), source " + std::string(BlasSourceName(source)) + ", CPU " + cpu;
  return line;
}

const BlasState& ConfigureBlasForCpu(int argc, char** argv, const char* program) {
  return Configure(argc > 0 ? argv : nullptr, program, /*allow_reexec=*/true);
}

const BlasState& CurrentBlas() { return Configure(nullptr, nullptr, /*allow_reexec=*/false); }

}  // namespace promptintern
