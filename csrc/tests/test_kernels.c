/*
 * test_kernels.c: every kernel of the active ISA path against the generic
 * path, in C, without Python.
 *
 *   NEUROCORE_ISA=avx2 ./nc_test_driver      (or avx512, neon, generic)
 *
 * The driver first asserts that the ISA it was asked for (NEUROCORE_ISA,
 * required) is the one the kernels run on, so an emulator or CPU lacking
 * it fails loudly instead of comparing the generic path with itself.  Then,
 * for every kernel family (elementwise, activations forward and backward,
 * vector math, softmax and log-softmax, matvec, outer product, GEMM with its
 * fused epilogues and batches, attention forward and backward, layer norm
 * forward and backward, the losses, the optimizer steps) and both dtypes, it
 * runs the generic variant and the requested one on the same inputs and
 * compares: sizes 0 to 67 and a few larger (every tail of every vector
 * width, the unrolled bodies, thread chunks), buffers one element off any
 * alignment.  Tolerance per dtype, scaled by what the output sums over (see
 * the .inc).  Requested generic: the two runs must agree bitwise (a
 * determinism check, and the path the sanitizer build runs first).
 * GEMM (plain and batched) and attention (forward and backward) are also
 * checked against the plain reference loops of csrc/kernels/reference.inc,
 * with the same tolerance whatever the path, generic included: the generic
 * path is blocked and tiled like the others, so agreeing with it alone
 * would not show that the blocking is right.
 *
 * Exit status 0 when everything agrees, 1 on any mismatch, 2 on a usage or
 * ISA error.  Build: CMake target nc_test_driver, or any C99 compiler with
 * the objects of nc_core (.ci/cross.sh shows the plain commands).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "neurocore/nc.h"
#include "nc_reference.h"

static int target_isa;
static long n_checks, n_failures;
static const char *current_case = "";

/* ---- random numbers: a fixed-seed xorshift, so failures reproduce ------- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) /* [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* ---- buffers: every one offset by one element from malloc's alignment,
 * and freed together after each case ------------------------------------- */
#define MAX_BUFS 256
static void *bufs[MAX_BUFS];
static int n_bufs;

static void *buf_alloc(size_t count, size_t size)
{
    if (n_bufs == MAX_BUFS) {
        fprintf(stderr, "test driver: too many buffers in one case\n");
        exit(2);
    }
    char *p = malloc((count + 2) * size);
    if (!p) {
        fprintf(stderr, "test driver: out of memory\n");
        exit(2);
    }
    memset(p, 0, (count + 2) * size);
    bufs[n_bufs++] = p;
    return p + size; /* misaligned for every vector width */
}

static void bufs_free(void)
{
    for (int i = 0; i < n_bufs; i++)
        free(bufs[i]);
    n_bufs = 0;
}

/* ---- comparison ---------------------------------------------------------- */
/* got agrees with ref when both are the same non-finite value, or
 * |got - ref| <= rtol (|ref| + scale): relative, with an absolute floor of
 * rtol * scale where the output is a sum of terms of size ~scale. */
static int agree(double ref, double got, double rtol, double scale)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got))
        return ref == got;
    if (rtol == 0)
        return ref == got;
    return fabs(got - ref) <= rtol * (fabs(ref) + scale);
}

/* ref_name: what the expected value came from ("generic", "reference") */
static void report(const char *what, const char *dtype, long index, const char *ref_name, double ref,
                   double got)
{
    n_failures++;
    if (n_failures <= 25)
        fprintf(stderr, "MISMATCH %s %s [%s] at %ld: %s %.17g, %s %.17g\n", current_case, what, dtype,
                index, ref_name, ref, nc_isa_name(target_isa), got);
}

/* ---- the two dtypes: one template, instantiated twice -------------------- */
#define T float
#define S f32
#define RTOL 2e-5
#define DTYPE_NAME "float32"
#include "test_kernels.inc"
#undef T
#undef S
#undef RTOL
#undef DTYPE_NAME

#define T double
#define S f64
#define RTOL 1e-12
#define DTYPE_NAME "float64"
#include "test_kernels.inc"

/* ---- the block cache (nc_cache.c) ---------------------------------------- */
static void cache_expect(int ok, const char *what)
{
    n_checks++;
    if (!ok) {
        n_failures++;
        fprintf(stderr, "MISMATCH cache: %s\n", what);
    }
}

static void check_cache(void)
{
    int64_t st[5];
    size_t big = NC_CACHE_MIN + 1000, i;
    size_t old = nc_cache_set_limit((size_t)16 << 20);
    unsigned char *a, *b, *c, *z, *r;
    nc_cache_empty();
    a = (unsigned char *)nc_cache_alloc(big);
    cache_expect(a != NULL && ((uintptr_t)a & 63) == 0, "a large block is 64-byte aligned");
    memset(a, 0xAB, big);
    nc_cache_free(a);
    nc_cache_stats(st);
    cache_expect(st[1] == 1 && st[0] >= (int64_t)big, "a freed large block is kept");
    b = (unsigned char *)nc_cache_alloc(big - 500);
    cache_expect(b == a, "a request of about its size reuses it");
    c = (unsigned char *)nc_cache_alloc(2 * big);
    cache_expect(c != a && c != NULL, "a request twice as large does not");
    nc_cache_free(b);
    z = (unsigned char *)nc_cache_calloc(big);
    for (i = 0; i < big && z[i] == 0; i++)
        ;
    cache_expect(z == a && i == big, "calloc zeroes a reused block");
    memset(z, 7, big);
    r = (unsigned char *)nc_cache_realloc(z, 3 * big);
    for (i = 0; i < big && r[i] == 7; i++)
        ;
    cache_expect(r != NULL && i == big, "realloc keeps the contents when it grows");
    r = (unsigned char *)nc_cache_realloc(r, 100);
    cache_expect(r != NULL && r[99] == 7 && ((uintptr_t)r & 63) == 0, "realloc keeps them when it shrinks");
    nc_cache_free(r);
    nc_cache_free(c);
    nc_cache_free(nc_cache_alloc(0));
    nc_cache_set_limit(0);
    nc_cache_stats(st);
    cache_expect(st[0] == 0 && st[1] == 0, "a zero limit frees the cached blocks");
    a = (unsigned char *)nc_cache_alloc(big);
    nc_cache_free(a);
    nc_cache_stats(st);
    cache_expect(st[1] == 0, "a zero limit keeps nothing");
    nc_cache_set_limit(old);
}

int main(void)
{
    const char *want = getenv("NEUROCORE_ISA");
    if (!want || !*want) {
        fprintf(stderr, "set NEUROCORE_ISA to the path to check (generic, avx2, avx512, neon)\n");
        return 2;
    }
    int status = nc_init();
    target_isa = nc_isa_active();
    if (status != 0 || strcmp(nc_isa_name(target_isa), want) != 0) {
        fprintf(stderr, "NEUROCORE_ISA=%s requested, but the active ISA is %s (best supported: %s)\n",
                want, nc_isa_name(target_isa), nc_isa_name(nc_isa_supported()));
        return 2;
    }
    printf("nc_test_driver: %s against generic, %d thread(s)\n", nc_isa_name(target_isa),
           nc_get_num_threads());
    run_all_f32();
    run_all_f64();
    check_cache();
    nc_set_isa(target_isa);
    printf("nc_test_driver: %ld comparisons, %ld mismatches (%s against generic and the reference)\n", n_checks,
           n_failures, nc_isa_name(target_isa));
    return n_failures ? 1 : 0;
}
