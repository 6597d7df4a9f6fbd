// Linked into the executables of the sanitizer builds (build-asan, build-tsan) and into the fuzz
// target that loads SentencePiece: lets dlopen(..., RTLD_DEEPBIND) through.
//
// The SentencePiece module has to be loaded with RTLD_DEEPBIND (core/CMakeLists.txt: its embedded
// protobuf 3.14 would otherwise bind to the process's protobuf 3.21 and crash). The sanitizers'
// dlopen interceptor refuses that flag and ends the process (google/sanitizers#611), because a
// deep-bound library looks symbols up in its own dependencies first and so may reach libc's malloc
// instead of the sanitizer's. In build-asan and build-tsan the module is instrumented like
// everything else, so the sanitizer's shared runtime is its first dependency and deep binding finds
// the sanitizer's malloc and operator new first: nothing is lost. The fuzz target's module is not
// instrumented (clang's runtime lives in the executable): there SentencePiece's strings come from
// libstdc++'s operator new over ASan's malloc and are freed by ASan's operator delete, an
// alloc/dealloc mismatch that the target turns off (tests/fuzz/sentencepiece_model.cc).
//
// This definition replaces the interceptor's (a weak symbol): plain calls go on to the interceptor;
// RTLD_DEEPBIND calls go to libc's dlopen, then the interceptor sees the loaded library through a
// second, RTLD_NOLOAD open, so the sanitizer's module list (symbolization, called_from_lib
// suppressions) includes it.
#include <dlfcn.h>

extern "C" void* __interceptor_dlopen(const char* file, int mode) __attribute__((weak));

namespace {

using DlopenFunction = void* (*)(const char*, int);

DlopenFunction LibcDlopen() {
  static const DlopenFunction libc = reinterpret_cast<DlopenFunction>(dlvsym(RTLD_NEXT, "dlopen", "GLIBC_2.34"));
  return libc;
}

}  // namespace

extern "C" void* dlopen(const char* file, int mode) {
  if ((mode & RTLD_DEEPBIND) == 0) {
    return __interceptor_dlopen != nullptr ? __interceptor_dlopen(file, mode) : LibcDlopen()(file, mode);
  }
  void* handle = LibcDlopen()(file, mode);
  if (handle != nullptr && file != nullptr && __interceptor_dlopen != nullptr) {
    if (void* again = __interceptor_dlopen(file, RTLD_NOW | RTLD_NOLOAD); again != nullptr) dlclose(again);
  }
  return handle;
}
