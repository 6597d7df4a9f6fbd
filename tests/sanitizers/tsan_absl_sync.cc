// TSan build only: makes Debian's (uninstrumented) Abseil synchronization visible to TSan.
//
// absl::Mutex, absl::CondVar and absl::Notification synchronize through atomics and futexes inside
// libabsl_synchronization.so; built with TSan, Abseil annotates them for it, but Debian's library is
// not, so TSan sees no happens-before edge across them and would report every access our code (the
// engine, the job manager, TLS settings) and gRPC (whose gpr_mu is an absl::Mutex) guard with one.
// These definitions take the place of the library's entry points (the executable's symbols come
// first, also for calls from libgrpc and from inside Abseil), call the library's own function
// (dlsym RTLD_NEXT) and tell TSan what it means: a lock acquires the mutex, an unlock releases it,
// a wait releases it before and acquires it after, Notify releases the notification and a
// successful wait acquires it; each evaluation of a Condition, wherever Abseil runs it, acquires
// and releases the mutex around it (AnnotatedCondition). absl::Status's reference count is
// decremented here (see below).
#include <absl/base/options.h>
#include <absl/status/status.h>
#include <absl/synchronization/mutex.h>
#include <absl/synchronization/notification.h>
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define PROMPTINTERN_STRINGIFY_INNER(x) #x
#define PROMPTINTERN_STRINGIFY(x) PROMPTINTERN_STRINGIFY_INNER(x)
static_assert(std::string_view(PROMPTINTERN_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME)) == "debian3",
              "the mangled names below are those of Debian 12's Abseil (inline namespace debian3)");

namespace {

// The library's function `mangled` (a name of Debian 12's Abseil 20220623, namespace debian3).
template <typename Function>
Function Original(const char* mangled) {
  void* address = dlsym(RTLD_NEXT, mangled);
  if (address == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s is not in libabsl_synchronization (%s); this file names the "
                         "symbols of Debian 12's Abseil\n", mangled, dlerror());
    std::abort();
  }
  return reinterpret_cast<Function>(address);
}

#define ORIGINAL(type, mangled)                         \
  static const auto original = Original<type>(mangled); \
  (void)0

void Acquire(const void* sync) { __tsan_acquire(const_cast<void*>(sync)); }
void Release(const void* sync) { __tsan_release(const_cast<void*>(sync)); }

// Abseil evaluates a Condition inside LockWhen and Await with the mutex held, after the call has
// begun and before it returns, so outside the Acquire/Release these wrappers tell TSan about: its
// reads would look unguarded against every writer. Each evaluation is told as a critical section.
struct AnnotatedCondition {
  const absl::Condition* condition;
  const void* mutex;
  static bool Eval(AnnotatedCondition* self) {
    Acquire(self->mutex);
    const bool met = self->condition->Eval();
    Release(self->mutex);
    return met;
  }
};

#define ANNOTATED_CONDITION(name)                            \
  AnnotatedCondition name##_annotation{&condition, this};    \
  const absl::Condition name(&AnnotatedCondition::Eval, &name##_annotation)

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  ORIGINAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  original(this);
  Acquire(this);
}

void Mutex::ReaderLock() {
  ORIGINAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  original(this);
  Acquire(this);
}

bool Mutex::TryLock() {
  ORIGINAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = original(this);
  if (locked) Acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  ORIGINAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = original(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::Unlock() {
  ORIGINAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  Release(this);
  original(this);
}

void Mutex::ReaderUnlock() {
  ORIGINAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Release(this);
  original(this);
}

void Mutex::LockWhen(const Condition& condition) {
  ORIGINAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  ANNOTATED_CONDITION(annotated);
  original(this, annotated);
  Acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& condition) {
  ORIGINAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  ANNOTATED_CONDITION(annotated);
  original(this, annotated);
  Acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& condition, absl::Duration timeout) {
  ORIGINAL(bool (*)(Mutex*, const Condition&, absl::Duration),
           "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  ANNOTATED_CONDITION(annotated);
  const bool met = original(this, annotated, timeout);
  Acquire(this);  // held either way
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& condition, absl::Time deadline) {
  ORIGINAL(bool (*)(Mutex*, const Condition&, absl::Time),
           "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  ANNOTATED_CONDITION(annotated);
  const bool met = original(this, annotated, deadline);
  Acquire(this);
  return met;
}

void Mutex::Await(const Condition& condition) {
  ORIGINAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Release(this);
  ANNOTATED_CONDITION(annotated);
  original(this, annotated);
  Acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& condition, absl::Duration timeout) {
  ORIGINAL(bool (*)(Mutex*, const Condition&, absl::Duration),
           "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  ANNOTATED_CONDITION(annotated);
  const bool met = original(this, annotated, timeout);
  Acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& condition, absl::Time deadline) {
  ORIGINAL(bool (*)(Mutex*, const Condition&, absl::Time),
           "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  ANNOTATED_CONDITION(annotated);
  const bool met = original(this, annotated, deadline);
  Acquire(this);
  return met;
}

void CondVar::Wait(Mutex* mutex) {
  ORIGINAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  Release(mutex);
  original(this, mutex);
  Acquire(mutex);
}

bool CondVar::WaitWithTimeout(Mutex* mutex, absl::Duration timeout) {
  ORIGINAL(bool (*)(CondVar*, Mutex*, absl::Duration),
           "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mutex);
  const bool timed_out = original(this, mutex, timeout);
  Acquire(mutex);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mutex, absl::Time deadline) {
  ORIGINAL(bool (*)(CondVar*, Mutex*, absl::Time), "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mutex);
  const bool timed_out = original(this, mutex, deadline);
  Acquire(mutex);
  return timed_out;
}

void Notification::Notify() {
  ORIGINAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  Release(this);
  original(this);
}

void Notification::WaitForNotification() const {
  ORIGINAL(void (*)(const Notification*), "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  original(this);
  Acquire(this);
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  ORIGINAL(bool (*)(const Notification*, absl::Duration),
           "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = original(this, timeout);
  if (notified) Acquire(this);
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  ORIGINAL(bool (*)(const Notification*, absl::Time),
           "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool notified = original(this, deadline);
  if (notified) Acquire(this);
  return notified;
}

// Copies of an absl::Status share one representation with a reference count. Its decrement is in
// libabsl_status (UnrefNonInlined): an acq_rel decrement TSan cannot see, so the thread that freed
// the last copy (the engine finishing a request) looked unordered after another thread's reads of
// its own copy (the handler reading the message). The decrement is done here, where TSan sees it,
// and the library's function is called only for the last reference, to free the representation.
void Status::UnrefNonInlined(uintptr_t rep) {
  ORIGINAL(void (*)(uintptr_t), "_ZN4absl7debian36Status15UnrefNonInlinedEm");
  auto* shared = reinterpret_cast<status_internal::StatusRep*>(rep - 1);
  if (shared->ref.load(std::memory_order_acquire) != 1 &&
      shared->ref.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  shared->ref.store(1, std::memory_order_relaxed);  // the library frees a representation whose count is 1
  original(rep);
}

ABSL_NAMESPACE_END
}  // namespace absl
