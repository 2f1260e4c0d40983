/* nc_internal.h: what kernels share besides the vector abstraction. */
#ifndef NC_INTERNAL_H
#define NC_INTERNAL_H

#include "neurocore/nc.h"
#include "nc_thread.h"

/* Elements of a flat kernel per chunk of nc_parallel_for.  A multiple of
 * every VLEN, so chunk boundaries never change which lanes an element is
 * computed in. */
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

static inline nc_int nc_min(nc_int a, nc_int b) { return a < b ? a : b; }
static inline nc_int nc_max(nc_int a, nc_int b) { return a > b ? a : b; }

/* Rows per chunk for rows of `cols` elements: about NC_CHUNK elements a
 * chunk, fixed by the shape alone (never by the thread count). */
static inline nc_int nc_row_grain(nc_int cols) { return nc_max(1, NC_CHUNK / nc_max(1, cols)); }

#endif /* NC_INTERNAL_H */
