/*
 * nc_port.h: what differs between compilers and targets, in one place.
 *
 * The kernels are C99 and build with GCC, clang (also as zig cc, Apple
 * clang and clang-cl) and MSVC.  Target architecture comes from the
 * compiler's own predefined macros, never from the build machine or a
 * build-system define: a macOS universal2 build compiles every file once per
 * architecture in one command, so only the preprocessor knows which slice it
 * is compiling.
 */
#ifndef NC_PORT_H
#define NC_PORT_H

/* ---- target architecture ------------------------------------------------- */
#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64)
#define NC_ARCH_X86_64 1
#else
#define NC_ARCH_X86_64 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define NC_ARCH_AARCH64 1
#else
#define NC_ARCH_AARCH64 0
#endif

/* ---- attributes and pragmas ---------------------------------------------- */
#if defined(__GNUC__) || defined(__clang__)
#define NC_ALWAYS_INLINE static inline __attribute__((always_inline))
#define NC_PRAGMA_(x) _Pragma(#x)
#if defined(__clang__)
#define NC_UNROLL(n) NC_PRAGMA_(unroll n)
#else
#define NC_UNROLL(n) NC_PRAGMA_(GCC unroll n)
#endif
#elif defined(_MSC_VER)
#define NC_ALWAYS_INLINE static __forceinline
#define NC_UNROLL(n)
#else
#define NC_ALWAYS_INLINE static inline
#define NC_UNROLL(n)
#endif

/* ---- thread-local storage ------------------------------------------------ */
#if defined(_MSC_VER) && !defined(__clang__)
#define NC_THREAD_LOCAL __declspec(thread)
#else
#define NC_THREAD_LOCAL __thread
#endif

/* ---- 64-byte aligned blocks (free with nc_aligned_free) ------------------ */
#include <stdlib.h>
#if defined(_WIN32)
#include <malloc.h>
static inline void *nc_aligned_alloc(size_t bytes) { return _aligned_malloc(bytes, 64); }
static inline void nc_aligned_free(void *p) { _aligned_free(p); }
#else
static inline void *nc_aligned_alloc(size_t bytes)
{
    void *p = NULL;
    return posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
}
static inline void nc_aligned_free(void *p) { free(p); }
#endif

#endif /* NC_PORT_H */
