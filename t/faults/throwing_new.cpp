// Preloaded into nginx by t/095-exceptions.t: while the file named by
// APIKEY_THROW_FLAG exists, every C++ allocation in the process throws
// std::bad_alloc (nginx and hiredis allocate with malloc and are untouched).
// It stands in for memory running out inside the module's C++ code, the one
// exception nginx's own out-of-memory paths cannot produce on demand.
#include <cstdlib>
#include <cstring>
#include <new>
#include <unistd.h>

namespace {

// copied once, in the master before it forks: nginx clears the workers'
// environment and writes its process titles over the original one
const char *const flag = [] {
    const char *name = std::getenv("APIKEY_THROW_FLAG");
    return name ? strdup(name) : nullptr;
}();

bool failing() noexcept
{
    return flag != nullptr && access(flag, F_OK) == 0;
}

void *allocate(std::size_t n)
{
    if (failing()) {
        throw std::bad_alloc();
    }
    void *p = std::malloc(n ? n : 1);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

void *allocate(std::size_t n, const std::nothrow_t &) noexcept
{
    return failing() ? nullptr : std::malloc(n ? n : 1);
}

}  // namespace

void *operator new(std::size_t n) { return allocate(n); }
void *operator new[](std::size_t n) { return allocate(n); }
void *operator new(std::size_t n, const std::nothrow_t &t) noexcept { return allocate(n, t); }
void *operator new[](std::size_t n, const std::nothrow_t &t) noexcept { return allocate(n, t); }
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
