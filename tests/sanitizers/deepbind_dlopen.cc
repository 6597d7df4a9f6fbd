// Linked into the executables of the sanitizer builds (build-asan, build-tsan) and into the fuzz
// target that loads SentencePiece: lets dlopen(..., RTLD_DEEPBIND) through.
//
// The SentencePiece module has to be loaded with RTLD_DEEPBIND (core/CMakeLists.txt: its embedded
// protobuf 3.14 would otherwise bind to the process's protobuf 3.21 and crash). The sanitizers'
// dlopen interceptor refuses that flag and ends the process (google/sanitizers#611), because a
// deep-bound library resolves calls to libc before the sanitizer's replacements. For this module
// that costs exactly this: memory SentencePiece allocates through libstdc++'s operator new is
// recorded by ASan as malloc'ed (libstdc++ calls the interposed malloc), so a std::string it fills
// and our code frees reads as an alloc/dealloc mismatch (hence alloc_dealloc_mismatch=0 in
// tests/sanitizers/asan.options); its own malloc/free pairs go to libc and stay inside it.
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
