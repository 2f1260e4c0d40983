/*
 * nc_cache.c: a bounded cache of large memory blocks (see nc.h).
 *
 * Why: a training step allocates and frees the same large temporaries
 * (activations, their gradients) every step.  Freed to the C library, a
 * block above its mmap threshold goes back to the OS, and the next step
 * faults its pages in again one by one: for a 4 MB array that is ~1000
 * page faults, several times the cost of the kernel that fills it.  Kept
 * here instead, the block is handed to the next request of about its size
 * with its pages still mapped.
 *
 * Every block carries a NC_CACHE_HEADER-byte header that records its
 * capacity, so free and realloc need no size from the caller.  Blocks of
 * at least NC_CACHE_MIN bytes are kept on free while the cached total
 * stays within the limit; smaller ones go straight back to the C library.
 * A request takes the smallest cached block that fits with at most 1/8
 * waste.  One lock guards the table; fork() takes it (pthread_atfork) so a
 * child never inherits it held, and the child keeps the parent's cached
 * blocks (its copies of them).
 */
#include <stdint.h>
#include <string.h>

#include "neurocore/nc.h"
#include "nc_port.h"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
static SRWLOCK g_cache_lock = SRWLOCK_INIT;
static void cache_lock(void) { AcquireSRWLockExclusive(&g_cache_lock); }
static void cache_unlock(void) { ReleaseSRWLockExclusive(&g_cache_lock); }
#else
#include <pthread.h>
static pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static void cache_lock(void) { pthread_mutex_lock(&g_cache_lock); }
static void cache_unlock(void) { pthread_mutex_unlock(&g_cache_lock); }
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;
static void cache_atfork_register(void) { pthread_atfork(cache_lock, cache_unlock, cache_unlock); }
#endif

#define NC_CACHE_HEADER 64      /* keeps the payload 64-byte aligned     */
#define NC_CACHE_SLOTS 256
#define NC_CACHE_PAGE ((size_t)4096)

typedef struct {
    size_t capacity;            /* payload bytes usable                  */
} nc_cache_header;

static void *g_slots[NC_CACHE_SLOTS]; /* cached payload pointers         */
static size_t g_slot_cap[NC_CACHE_SLOTS];
static int g_count;
static size_t g_cached_bytes;
static size_t g_limit = (size_t)NC_CACHE_DEFAULT_LIMIT;
static int64_t g_hits, g_misses;

static size_t capacity_of(const void *payload)
{
    return ((const nc_cache_header *)((const char *)payload - NC_CACHE_HEADER))->capacity;
}

/* A fresh block with room for `capacity` payload bytes, or NULL. */
static void *fresh_block(size_t capacity)
{
    char *base;
    if (capacity > SIZE_MAX - NC_CACHE_HEADER)
        return NULL;
    base = (char *)nc_aligned_alloc(NC_CACHE_HEADER + capacity);
    if (base == NULL) {
        nc_cache_empty();       /* give the cached memory back and retry */
        base = (char *)nc_aligned_alloc(NC_CACHE_HEADER + capacity);
        if (base == NULL)
            return NULL;
    }
    ((nc_cache_header *)base)->capacity = capacity;
    return base + NC_CACHE_HEADER;
}

static void release_block(void *payload)
{
    nc_aligned_free((char *)payload - NC_CACHE_HEADER);
}

void *nc_cache_alloc(size_t bytes)
{
    size_t capacity, best_cap = 0, waste_cap;
    int i, best = -1;
    void *p = NULL;
#if !defined(_WIN32)
    pthread_once(&g_cache_once, cache_atfork_register);
#endif
    if (bytes < NC_CACHE_MIN)
        return fresh_block(bytes > 0 ? bytes : 1);
    capacity = bytes > SIZE_MAX - NC_CACHE_PAGE ? bytes : (bytes + NC_CACHE_PAGE - 1) & ~(NC_CACHE_PAGE - 1);
    waste_cap = capacity + capacity / 8;
    cache_lock();
    for (i = 0; i < g_count; i++) {
        size_t c = g_slot_cap[i];
        if (c >= capacity && c <= waste_cap && (best < 0 || c < best_cap)) {
            best = i;
            best_cap = c;
        }
    }
    if (best >= 0) {
        p = g_slots[best];
        g_count--;
        g_slots[best] = g_slots[g_count];
        g_slot_cap[best] = g_slot_cap[g_count];
        g_cached_bytes -= best_cap;
        g_hits++;
    } else {
        g_misses++;
    }
    cache_unlock();
    return p != NULL ? p : fresh_block(capacity);
}

void *nc_cache_calloc(size_t bytes)
{
    void *p = nc_cache_alloc(bytes);
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}

void nc_cache_free(void *p)
{
    size_t capacity;
    if (p == NULL)
        return;
    capacity = capacity_of(p);
    if (capacity >= NC_CACHE_MIN) {
        cache_lock();
        if (g_count < NC_CACHE_SLOTS && capacity <= g_limit - (g_cached_bytes < g_limit ? g_cached_bytes : g_limit)) {
            g_slots[g_count] = p;
            g_slot_cap[g_count] = capacity;
            g_count++;
            g_cached_bytes += capacity;
            p = NULL;
        }
        cache_unlock();
    }
    if (p != NULL)
        release_block(p);
}

void *nc_cache_realloc(void *p, size_t bytes)
{
    size_t capacity;
    void *q;
    if (p == NULL)
        return nc_cache_alloc(bytes);
    capacity = capacity_of(p);
    /* keep the block when it fits and would not waste more than half */
    if (bytes <= capacity && (capacity < NC_CACHE_MIN || bytes >= capacity / 2))
        return p;
    q = nc_cache_alloc(bytes);
    if (q == NULL)
        return NULL;            /* p stays valid, as realloc's contract  */
    memcpy(q, p, bytes < capacity ? bytes : capacity);
    nc_cache_free(p);
    return q;
}

void nc_cache_empty(void)
{
    void *slots[NC_CACHE_SLOTS];
    int i, n;
    cache_lock();
    n = g_count;
    memcpy(slots, g_slots, (size_t)n * sizeof(void *));
    g_count = 0;
    g_cached_bytes = 0;
    cache_unlock();
    for (i = 0; i < n; i++)
        release_block(slots[i]);
}

size_t nc_cache_set_limit(size_t bytes)
{
    size_t old;
    cache_lock();
    old = g_limit;
    g_limit = bytes;
    cache_unlock();
    if (bytes < old)
        nc_cache_empty();       /* simplest way to honour a lower bound  */
    return old;
}

void nc_cache_stats(int64_t out[5])
{
    cache_lock();
    out[0] = (int64_t)g_cached_bytes;
    out[1] = g_count;
    out[2] = (int64_t)g_limit;
    out[3] = g_hits;
    out[4] = g_misses;
    cache_unlock();
}
