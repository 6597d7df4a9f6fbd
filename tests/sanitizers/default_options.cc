// The sanitizer runtimes' default options for every executable of build-asan and build-tsan, so a
// test, a service it starts and a binary run by hand all behave alike without environment variables
// (ASAN_OPTIONS, TSAN_OPTIONS, ... still override them). The suppression files beside this one
// name only third-party code; README.md there says why each entry is legitimate.
#define PROMPTINTERN_SUPPRESSIONS(file) "suppressions=" PROMPTINTERN_SANITIZER_DIR "/" file

extern "C" {

const char* __asan_default_options() {
  return "detect_leaks=1:check_initialization_order=1:strict_init_order=1:print_summary=1";
}

const char* __lsan_default_options() { return PROMPTINTERN_SUPPRESSIONS("lsan.supp") ":print_suppressions=0"; }

const char* __ubsan_default_options() {
  return PROMPTINTERN_SUPPRESSIONS("ubsan.supp") ":print_stacktrace=1:halt_on_error=1";
}

const char* __tsan_default_options() {
  return PROMPTINTERN_SUPPRESSIONS("tsan.supp") ":second_deadlock_stack=1:history_size=4:halt_on_error=1:"
         "report_signal_unsafe=0:print_suppressions=0";
}

}  // extern "C"
