// Mutex and Semaphore on pthreads.
#include "spindle/os/sync.hpp"

#include "native_private.hpp"

namespace spindle::os {
namespace {

struct NativeMutex {
  pthread_mutex_t mutex;
};

struct NativeSemaphore {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  std::uint32_t count;
  std::uint32_t limit;
};

}  // namespace

Mutex::Mutex() {
  auto* self = posix::construct_native<NativeMutex>(native_);
  pthread_mutexattr_t attr;
  posix::require_ok(pthread_mutexattr_init(&attr), "pthread_mutexattr_init");
  // Recursive because k_mutex is; priority inheritance because k_mutex has it too and an
  // inversion between the sensor thread and the network thread would drop samples.
  posix::require_ok(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE),
                    "pthread_mutexattr_settype");
  posix::require_ok(pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT),
                    "pthread_mutexattr_setprotocol");
  posix::require_ok(pthread_mutex_init(&self->mutex, &attr), "pthread_mutex_init");
  posix::require_ok(pthread_mutexattr_destroy(&attr), "pthread_mutexattr_destroy");
}

// Kernel objects are never torn down, as on Zephyr. glibc's mutexes and condition
// variables own no resources, and destroying one would break a thread that still uses a
// static object while the process exits (a destroyed mutex fails every later lock; a
// destroyed condition variable may block its destroyer on waiters).
Mutex::~Mutex() = default;

void Mutex::lock() {
  posix::require_ok(pthread_mutex_lock(&posix::native<NativeMutex>(native_).mutex), "Mutex::lock");
}

void Mutex::unlock() {
  // A recursive mutex reports EPERM when the caller does not own it: a bug worth stopping.
  posix::require_ok(pthread_mutex_unlock(&posix::native<NativeMutex>(native_).mutex),
                    "Mutex::unlock");
}

Semaphore::Semaphore(std::uint32_t initial, std::uint32_t limit) {
  auto* self = posix::construct_native<NativeSemaphore>(native_);
  posix::init_mutex(&self->mutex);
  posix::init_monotonic_cond(&self->cond);
  self->limit = limit == 0 ? 1 : limit;
  self->count = initial < self->limit ? initial : self->limit;
}

Semaphore::~Semaphore() = default;  // see ~Mutex

void Semaphore::give() {
  auto& self = posix::native<NativeSemaphore>(native_);
  const posix::NativeLock lock(&self.mutex);
  if (self.count < self.limit) {
    ++self.count;
    posix::require_ok(pthread_cond_signal(&self.cond), "pthread_cond_signal");
  }
}

Status Semaphore::take(Timeout timeout) {
  auto& self = posix::native<NativeSemaphore>(native_);
  const posix::NativeLock lock(&self.mutex);
  if (!posix::wait_for(&self.cond, &self.mutex, timeout, [&] { return self.count > 0; })) {
    return Error::kTimeout;
  }
  --self.count;
  return kOk;
}

std::uint32_t Semaphore::count() {
  auto& self = posix::native<NativeSemaphore>(native_);
  const posix::NativeLock lock(&self.mutex);
  return self.count;
}

}  // namespace spindle::os
