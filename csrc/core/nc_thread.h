/*
 * nc_thread.h: neurocore's own thread runtime (csrc/core/nc_thread.c), the
 * one way kernels run in parallel.  No OpenMP: the runtime is built to share
 * a machine with NumPy's OpenBLAS, PyTorch's pool and fork().
 *
 *   nc_parallel_for(count, grain, max_threads, fn, ctx)
 *
 * calls fn(ctx, begin, end, slot) once for every chunk [begin, end) of
 * `grain` items (the last one shorter) of [0, count).  Chunk boundaries
 * depend only on (count, grain), never on the thread count, so a kernel
 * whose chunks write disjoint outputs, or per-chunk partials that it then
 * combines in chunk order, gives the same bits on any number of threads.
 *
 * The calling thread works too.  Chunks are claimed one at a time from an
 * atomic counter, so a helper that is late (descheduled, or busy with
 * another caller's job) costs nothing: the threads that are running take
 * its share, and the caller only ever waits for chunks already being
 * computed.  `slot` numbers the threads taking part in this call, 0 for the
 * caller, below max_threads: an index into per-thread scratch.  Several
 * threads may call at once; helpers then go where they are allowed (never
 * more busy helpers than cores minus the callers inside a parallel call).
 * A call from inside a chunk runs on the calling thread alone.
 *
 * Helpers run each chunk under the caller's floating-point control state
 * (rounding mode, flush-to-zero / denormals-are-zero), so results never
 * depend on which thread computed a chunk.
 */
#ifndef NC_THREAD_H
#define NC_THREAD_H

#include "neurocore/nc.h"

typedef void (*nc_chunk_fn)(void *ctx, nc_int begin, nc_int end, int slot);

void nc_parallel_for(nc_int count, nc_int grain, int max_threads, nc_chunk_fn fn, void *ctx);

/* Processors this process may run on (its affinity mask where the OS has
 * one), at least 1. */
int nc_thread_cores(void);

/* Pauses a spinning thread briefly (a hint to the core, not a sleep). */
void nc_thread_relax(void);

/* A counter of finished steps, for a chunk that must wait for earlier
 * chunks of the same call (GEMM's packed B block before its tiles).  Only
 * ever wait for chunks with a lower index: those are claimed, so some
 * running thread finishes them. */
typedef int64_t nc_counter;
void nc_counter_add(nc_counter *c, int64_t v);
void nc_counter_wait(nc_counter *c, int64_t target); /* until *c >= target */

#endif /* NC_THREAD_H */
