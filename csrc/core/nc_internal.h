/* nc_internal.h: what kernels share besides the vector abstraction. */
#ifndef NC_INTERNAL_H
#define NC_INTERNAL_H

#include "neurocore/nc.h"

/* Elements (or rows, for row kernels) handed to one thread at a time.  The
 * chunk is a multiple of every VLEN, so chunk boundaries never change which
 * lanes an element is computed in. */
#define NC_CHUNK ((nc_int)16384)

/* Threads to use for `work` units when each thread should get at least
 * `grain` of them: 1 below the threshold, never more than requested. */
static inline int nc_threads_for(nc_int work, nc_int grain)
{
    int nt = nc_get_num_threads();
    nc_int useful = grain > 0 ? work / grain : work;
    if (useful < 2 || nt < 2)
        return 1;
    return useful < nt ? (int)useful : nt;
}

/* `for (nc_int var = 0; var < count; var++) body` over nt threads, static
 * schedule.  With one thread the loop runs plainly: a parallel region whose
 * if() clause is false still builds a team and touches a futex (0.3-1.3 us
 * measured here), most of the cost of a kernel call on a small input. */
#define NC_PARALLEL_FOR(nt, var, count, ...)                                    \
    do {                                                                        \
        const int nc_pf_nt_ = (nt);                                             \
        const nc_int nc_pf_count_ = (count);                                    \
        if (nc_pf_nt_ > 1) {                                                    \
            _Pragma("omp parallel for num_threads(nc_pf_nt_) schedule(static)") \
            for (nc_int var = 0; var < nc_pf_count_; var++) __VA_ARGS__         \
        } else {                                                                \
            for (nc_int var = 0; var < nc_pf_count_; var++) __VA_ARGS__         \
        }                                                                       \
    } while (0)

static inline nc_int nc_min(nc_int a, nc_int b) { return a < b ? a : b; }
static inline nc_int nc_max(nc_int a, nc_int b) { return a > b ? a : b; }

#endif /* NC_INTERNAL_H */
