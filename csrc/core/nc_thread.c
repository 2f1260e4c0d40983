/*
 * nc_thread.c: the thread runtime behind nc_parallel_for (see nc_thread.h).
 *
 * Design, for a process that also runs NumPy's OpenBLAS, PyTorch's pool or
 * forks:
 *   - one persistent pool of helpers, created on the first parallel call
 *     and grown to the largest thread count asked for; the calling thread
 *     always works too;
 *   - a call publishes a job in one of NC_JOB_SLOTS slots (so several
 *     Python threads can each have one running) and wakes at most the
 *     helpers it can use; chunks are claimed through one atomic counter, so
 *     nobody waits for a helper that has not arrived;
 *   - an idle helper spins for NC_SPIN_NS (a few tens of microseconds:
 *     enough to catch the next kernel call of a training step, far below
 *     the ~100 ms that OpenMP or OpenBLAS pools spin), then sleeps on a
 *     futex (Linux) or a condition variable (elsewhere): an idle process
 *     burns no CPU and leaves the cores to its neighbours;
 *   - a helper joins a job only while busy helpers + callers inside a
 *     parallel call stay within the cores (or the thread count the user
 *     set, if larger), and leaves between chunks when callers arrive;
 *   - fork: pthread_atfork handlers take the runtime lock around fork() so
 *     the child never inherits it held, and the child forgets the parent's
 *     pool and jobs (their threads do not exist there); its first parallel
 *     call creates a new pool.
 * Backends: pthreads (with a futex on Linux) and Win32; the rest of the file
 * is the same for both.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "neurocore/nc.h"
#include "nc_thread.h"

#if defined(_WIN32)
#define NC_WIN32 1
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#define NC_FUTEX 1
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#endif
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define NC_FP_MXCSR 1
#include <xmmintrin.h>
#elif defined(__aarch64__) && defined(__GNUC__)
#define NC_FP_FPCR 1
#else
#include <fenv.h>
#endif

/* ---- atomics ---------------------------------------------------------------
 * 32-bit words (futex words, flags, small counts) and 64-bit counters, all
 * sequentially consistent except the relaxed loads of spin loops. */
typedef int32_t a32;
typedef int64_t a64;
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define ld32(p) ((int32_t)_InterlockedOr((volatile long *)(p), 0))
#define ld32_relaxed(p) (*(volatile int32_t *)(p))
#define st32(p, v) ((void)_InterlockedExchange((volatile long *)(p), (long)(v)))
#define add32(p, v) ((int32_t)_InterlockedExchangeAdd((volatile long *)(p), (long)(v)))
#define cas32(p, e, d) (_InterlockedCompareExchange((volatile long *)(p), (long)(d), (long)(e)) == (long)(e))
#define ld64(p) ((int64_t)_InterlockedOr64((volatile __int64 *)(p), 0))
#define st64(p, v) ((void)_InterlockedExchange64((volatile __int64 *)(p), (__int64)(v)))
#define add64(p, v) ((int64_t)_InterlockedExchangeAdd64((volatile __int64 *)(p), (__int64)(v)))
#define cas64(p, e, d) \
    (_InterlockedCompareExchange64((volatile __int64 *)(p), (__int64)(d), (__int64)(e)) == (__int64)(e))
#define NC_TLS __declspec(thread)
#else
#define ld32(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ld32_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define st32(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define add32(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define cas32(p, e, d) cas32_(p, e, d)
#define ld64(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define st64(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define add64(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define cas64(p, e, d) cas64_(p, e, d)
#define NC_TLS __thread
static inline int cas32_(a32 *p, a32 e, a32 d)
{
    return __atomic_compare_exchange_n(p, &e, d, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline int cas64_(a64 *p, a64 e, a64 d)
{
    return __atomic_compare_exchange_n(p, &e, d, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
#endif

void nc_thread_relax(void)
{
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
    _mm_pause();
#elif defined(__aarch64__) && defined(__GNUC__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- the caller's floating-point control state ----------------------------
 * x86: MXCSR (rounding, FTZ, DAZ; the kernels use no x87 arithmetic);
 * aarch64: FPCR (rounding, FZ); elsewhere the whole C99 fenv. */
#if defined(NC_FP_MXCSR)
typedef unsigned int nc_fpstate;
static inline void fp_get(nc_fpstate *s) { *s = _mm_getcsr(); }
static inline void fp_set(const nc_fpstate *s) { _mm_setcsr(*s); }
static inline int fp_same(const nc_fpstate *a, const nc_fpstate *b) { return *a == *b; }
#elif defined(NC_FP_FPCR)
typedef uint64_t nc_fpstate;
static inline void fp_get(nc_fpstate *s) { __asm__ __volatile__("mrs %0, fpcr" : "=r"(*s)); }
static inline void fp_set(const nc_fpstate *s) { __asm__ __volatile__("msr fpcr, %0" : : "r"(*s)); }
static inline int fp_same(const nc_fpstate *a, const nc_fpstate *b) { return *a == *b; }
#else
typedef fenv_t nc_fpstate;
static inline void fp_get(nc_fpstate *s) { fegetenv(s); }
static inline void fp_set(const nc_fpstate *s) { fesetenv(s); }
static inline int fp_same(const nc_fpstate *a, const nc_fpstate *b) { (void)a, (void)b; return 0; }
#endif

/* ---- backend: lock, threads, sleeping on a word, clock, cores ------------- */
#if defined(NC_WIN32)
static SRWLOCK g_lock = SRWLOCK_INIT;
static void lock_runtime(void) { AcquireSRWLockExclusive(&g_lock); }
static void unlock_runtime(void) { ReleaseSRWLockExclusive(&g_lock); }

static SRWLOCK g_park_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE g_park_cond = CONDITION_VARIABLE_INIT;
/* Sleeps while *word == expected (may return early). */
static void word_wait(a32 *word, a32 expected)
{
    AcquireSRWLockExclusive(&g_park_lock);
    if (ld32(word) == expected)
        SleepConditionVariableSRW(&g_park_cond, &g_park_lock, INFINITE, 0);
    ReleaseSRWLockExclusive(&g_park_lock);
}
static void word_wake(a32 *word, int n)
{
    (void)word, (void)n;
    /* taking the lock orders this wake after a waiter's check */
    AcquireSRWLockExclusive(&g_park_lock);
    ReleaseSRWLockExclusive(&g_park_lock);
    WakeAllConditionVariable(&g_park_cond);
}

static int64_t now_ns(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return (int64_t)((double)t.QuadPart * 1e9 / (double)freq.QuadPart);
}

static void *worker_main(void *arg);
static DWORD WINAPI worker_entry(LPVOID arg)
{
    worker_main(arg);
    return 0;
}
static int start_thread(void)
{
    HANDLE h = CreateThread(NULL, 0, worker_entry, NULL, 0, NULL);
    if (h == NULL)
        return -1;
    CloseHandle(h);
    return 0;
}

int nc_thread_cores(void)
{
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    return n > 0 ? (int)n : 1;
}
#else
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void lock_runtime(void) { pthread_mutex_lock(&g_lock); }
static void unlock_runtime(void) { pthread_mutex_unlock(&g_lock); }

#if defined(NC_FUTEX)
static void word_wait(a32 *word, a32 expected)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}
static void word_wake(a32 *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
#else
static pthread_mutex_t g_park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_park_cond = PTHREAD_COND_INITIALIZER;
static void word_wait(a32 *word, a32 expected)
{
    pthread_mutex_lock(&g_park_lock);
    if (ld32(word) == expected)
        pthread_cond_wait(&g_park_cond, &g_park_lock);
    pthread_mutex_unlock(&g_park_lock);
}
static void word_wake(a32 *word, int n)
{
    (void)word, (void)n;
    pthread_mutex_lock(&g_park_lock);
    pthread_mutex_unlock(&g_park_lock);
    pthread_cond_broadcast(&g_park_cond);
}
#endif

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *worker_main(void *arg);
static int start_thread(void)
{
    /* helpers take no signals: they stay with the threads that handle them */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, worker_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}

int nc_thread_cores(void)
{
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
#endif

/* ---- state ------------------------------------------------------------------ */
#define NC_MAX_HELPERS 255
#define NC_JOB_SLOTS 64
/* Idle spin of a helper before it sleeps, and of a caller waiting for the
 * last chunks.  A training step calls kernels every few to a few tens of
 * microseconds, so a helper that spins ~50 us stays awake through a step,
 * while OpenMP's and OpenBLAS's ~100 ms of spinning is what starves a
 * neighbouring pool; NEUROCORE_SPIN_US overrides it for measurements. */
#define NC_SPIN_NS_DEFAULT 50000
#define NC_CALLER_SPIN_NS 200000
#define CACHE_LINE 64

struct nc_job {
    /* owner: a caller holds one reference while its call runs, a helper one
     * while it looks at or works on the job; the slot is free at 0 */
    a64 refs;
    a32 open;           /* 1 while helpers may join                      */
    a32 tickets;        /* helpers that may still join                    */
    a32 nslots;         /* participants so far (the caller is slot 0)     */
    a32 finished;       /* 1 once every chunk is done (a futex word)      */
    a32 caller_waiting; /* the caller sleeps on `finished`                */
    nc_chunk_fn fn;
    void *ctx;
    nc_int count, grain, nchunks;
    nc_fpstate fp;
    char pad0[CACHE_LINE];
    a64 next; /* next chunk to claim */
    char pad1[CACHE_LINE - sizeof(a64)];
    a64 done; /* chunks completed */
    char pad2[CACHE_LINE - sizeof(a64)];
};

static struct nc_job g_jobs[NC_JOB_SLOTS];
static a32 g_helpers;       /* helper threads started                     */
static a32 g_seq;           /* bumped when a job is published (futex word) */
static a32 g_sleepers;      /* helpers asleep on g_seq                    */
static a64 g_load;          /* callers << 32 | busy helpers               */
static a32 g_num_threads;   /* set_num_threads; 0: the default            */
static a32 g_default_threads;
static a32 g_cores;
static a64 g_spin_ns = -1;
static NC_TLS int t_in_parallel; /* inside a chunk, or a helper thread */

/* debug counters, in the order of nc_runtime_stats */
enum { ST_JOBS, ST_JOINS, ST_HELPER_CHUNKS, ST_CALLER_CHUNKS, ST_PEAK_BUSY, ST_PEAK_LOAD, ST_SLEEPS, ST_N };
static a64 g_stats[ST_N];

#define LOAD_BUSY(l) ((int)((l) & 0xffffffff))
#define LOAD_CALLERS(l) ((int)((l) >> 32))

static void stat_max(int which, a64 v)
{
    a64 cur = ld64(&g_stats[which]);
    while (v > cur && !cas64(&g_stats[which], cur, v))
        cur = ld64(&g_stats[which]);
}

static int nc_thread_cores_cached(void);

/* Threads allowed to compute at once: the cores, or more if the user asked. */
static int capacity(void)
{
    int n = nc_get_num_threads(), c = nc_thread_cores_cached();
    return n > c ? n : c;
}

/* ---- thread count ------------------------------------------------------------ */
static int parse_threads(const char *s)
{
    /* the first entry of a list such as OMP_NUM_THREADS=4,2 */
    if (!s || *s < '0' || *s > '9')
        return 0;
    long v = strtol(s, NULL, 10);
    return v > 0 && v <= 1 << 16 ? (int)v : 0;
}

static int nc_thread_cores_cached(void)
{
    int c = ld32_relaxed(&g_cores);
    if (c == 0) {
        c = nc_thread_cores();
        st32(&g_cores, c);
    }
    return c;
}

void nc_set_num_threads(int n) { st32(&g_num_threads, n < 1 ? 1 : n); }

int nc_get_num_threads(void)
{
    int n = ld32_relaxed(&g_num_threads);
    if (n > 0)
        return n;
    n = ld32_relaxed(&g_default_threads);
    if (n == 0) {
        n = parse_threads(getenv("NEUROCORE_NUM_THREADS"));
        if (n == 0)
            n = parse_threads(getenv("OMP_NUM_THREADS"));
        if (n == 0)
            n = nc_thread_cores_cached();
        st32(&g_default_threads, n);
    }
    return n;
}

static int64_t spin_ns(void)
{
    int64_t s = ld64(&g_spin_ns);
    if (s < 0) {
        /* NEUROCORE_SPIN_US: a tuning knob for measurements, not an API */
        const char *e = getenv("NEUROCORE_SPIN_US");
        s = (e && *e >= '0' && *e <= '9') ? (int64_t)strtol(e, NULL, 10) * 1000 : NC_SPIN_NS_DEFAULT;
        st64(&g_spin_ns, s);
    }
    return s;
}

/* ---- running chunks ---------------------------------------------------------- */
static inline void run_chunk(struct nc_job *job, nc_int c, int slot)
{
    nc_int begin = c * job->grain, end = begin + job->grain;
    job->fn(job->ctx, begin, end < job->count ? end : job->count, slot);
}

/* Marks one chunk done; the thread that completes the job tells the caller. */
static inline void chunk_done(struct nc_job *job)
{
    if (add64(&job->done, 1) + 1 == job->nchunks) {
        st32(&job->finished, 1);
        if (ld32(&job->caller_waiting))
            word_wake(&job->finished, 1);
    }
}

/* A helper takes part in `job`: claims chunks until none are left, or until
 * callers arriving elsewhere need its core. */
static void help(struct nc_job *job)
{
    int slot = add32(&job->nslots, 1);
    nc_fpstate own;
    fp_get(&own);
    int switched = !fp_same(&own, &job->fp);
    if (switched)
        fp_set(&job->fp);
    a64 chunks = 0;
    for (;;) {
        a64 c = add64(&job->next, 1);
        if (c >= job->nchunks)
            break;
        run_chunk(job, c, slot);
        chunks++;
        chunk_done(job);
        a64 load = ld64(&g_load);
        if (LOAD_BUSY(load) + LOAD_CALLERS(load) > capacity())
            break;
    }
    if (switched)
        fp_set(&own);
    add64(&g_stats[ST_HELPER_CHUNKS], chunks);
}

/* Joins the busy helpers if the cores allow it; 0 when they do not. */
static int enter_busy(void)
{
    int cap = capacity();
    for (;;) {
        a64 load = ld64(&g_load);
        int busy = LOAD_BUSY(load) + 1, callers = LOAD_CALLERS(load);
        if (busy + callers > cap)
            return 0;
        if (cas64(&g_load, load, load + 1)) {
            stat_max(ST_PEAK_BUSY, busy);
            stat_max(ST_PEAK_LOAD, busy + callers);
            return 1;
        }
    }
}

/* One look over the job slots; 1 if this helper worked on a job. */
static int find_job(void)
{
    for (int i = 0; i < NC_JOB_SLOTS; i++) {
        struct nc_job *job = &g_jobs[i];
        if (!ld32_relaxed(&job->open))
            continue;
        if (add64(&job->refs, 1) == 0) { /* a free slot: not ours to touch */
            add64(&job->refs, -1);
            continue;
        }
        int worked = 0;
        if (ld32(&job->open) && ld64(&job->next) < job->nchunks && enter_busy()) {
            a32 t = ld32(&job->tickets);
            while (t > 0 && !cas32(&job->tickets, t, t - 1))
                t = ld32(&job->tickets);
            if (t > 0) {
                add64(&g_stats[ST_JOINS], 1);
                help(job);
                worked = 1;
            }
            add64(&g_load, -1);
        }
        add64(&job->refs, -1);
        if (worked)
            return 1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    (void)arg;
    t_in_parallel = 1;
    /* a name that top, perf and /proc show, so a helper's CPU time can be
     * told from that of other pools (OpenBLAS, OpenMP) in the process */
#if defined(__linux__)
    pthread_setname_np(pthread_self(), "nc-worker");
#elif defined(__APPLE__)
    pthread_setname_np("nc-worker");
#endif
    for (;;) {
        a32 seen = ld32(&g_seq);
        if (find_job())
            continue;
        /* spin a little: the next kernel call of a training step is usually
         * a few microseconds away */
        int64_t limit = spin_ns(), start = now_ns();
        int woke = 0;
        for (unsigned k = 1;; k++) {
            if (ld32_relaxed(&g_seq) != seen) {
                woke = 1;
                break;
            }
            nc_thread_relax();
            if ((k & 31) == 0 && now_ns() - start >= limit)
                break;
        }
        if (woke)
            continue;
        add32(&g_sleepers, 1);
        add64(&g_stats[ST_SLEEPS], 1);
        word_wait(&g_seq, seen);
        add32(&g_sleepers, -1);
    }
    return NULL;
}

/* ---- fork ------------------------------------------------------------------- */
#if !defined(NC_WIN32)
static void atfork_prepare(void) { lock_runtime(); }
static void atfork_parent(void) { unlock_runtime(); }
/* The child has one thread, this one: the helpers and any other caller's
 * job are gone, so their state is dropped and the pool re-created lazily. */
static void atfork_child(void)
{
    memset(g_jobs, 0, sizeof(g_jobs));
    g_helpers = 0;
    g_seq = 0;
    g_sleepers = 0;
    g_load = 0;
    t_in_parallel = 0;
    unlock_runtime();
}
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }
#endif

/* Starts helpers until there are `want` (bounded); returns how many exist. */
static int ensure_helpers(int want)
{
    if (want > NC_MAX_HELPERS)
        want = NC_MAX_HELPERS;
    int have = ld32(&g_helpers);
    if (have >= want)
        return have;
#if !defined(NC_WIN32)
    pthread_once(&g_atfork_once, register_atfork);
#endif
    lock_runtime();
    have = ld32(&g_helpers);
    while (have < want && start_thread() == 0)
        st32(&g_helpers, ++have);
    unlock_runtime();
    return have;
}

/* Takes a free job slot; NULL when every slot is in use. */
static struct nc_job *take_slot(void)
{
    for (int i = 0; i < NC_JOB_SLOTS; i++)
        if (ld64(&g_jobs[i].refs) == 0 && cas64(&g_jobs[i].refs, 0, 1))
            return &g_jobs[i];
    return NULL;
}

static void run_serial(nc_int count, nc_int grain, nc_int nchunks, nc_chunk_fn fn, void *ctx)
{
    for (nc_int c = 0; c < nchunks; c++) {
        nc_int begin = c * grain, end = begin + grain;
        fn(ctx, begin, end < count ? end : count, 0);
    }
}

void nc_parallel_for(nc_int count, nc_int grain, int max_threads, nc_chunk_fn fn, void *ctx)
{
    if (count <= 0)
        return;
    if (grain < 1)
        grain = 1;
    nc_int nchunks = (count + grain - 1) / grain;
    if (max_threads <= 1 || nchunks <= 1 || t_in_parallel) {
        run_serial(count, grain, nchunks, fn, ctx);
        return;
    }
    int helpers = max_threads - 1;
    if (helpers > nchunks - 1)
        helpers = (int)(nchunks - 1);
    int started = ensure_helpers(max_threads - 1);
    if (helpers > started)
        helpers = started;
    struct nc_job *job = helpers > 0 ? take_slot() : NULL;
    if (!job) {
        run_serial(count, grain, nchunks, fn, ctx);
        return;
    }
    job->fn = fn;
    job->ctx = ctx;
    job->count = count;
    job->grain = grain;
    job->nchunks = nchunks;
    fp_get(&job->fp);
    st64(&job->next, 0);
    st64(&job->done, 0);
    st32(&job->nslots, 1);
    st32(&job->finished, 0);
    st32(&job->caller_waiting, 0);
    st32(&job->tickets, helpers);
    add64(&g_load, (a64)1 << 32);
    add64(&g_stats[ST_JOBS], 1);
    st32(&job->open, 1);
    add32(&g_seq, 1);
    int sleeping = ld32(&g_sleepers);
    if (sleeping > 0)
        word_wake(&g_seq, sleeping < helpers ? sleeping : helpers);

    /* the caller's share: whatever the helpers have not claimed */
    t_in_parallel = 1;
    a64 chunks = 0;
    for (;;) {
        a64 c = add64(&job->next, 1);
        if (c >= nchunks)
            break;
        run_chunk(job, c, 0);
        chunks++;
        chunk_done(job);
    }
    t_in_parallel = 0;
    st32(&job->open, 0);
    st32(&job->tickets, 0);
    add64(&g_stats[ST_CALLER_CHUNKS], chunks);

    /* wait for the chunks helpers are still computing */
    if (!ld32(&job->finished)) {
        int64_t start = now_ns();
        for (unsigned k = 1; !ld32_relaxed(&job->finished); k++) {
            nc_thread_relax();
            if ((k & 31) == 0 && now_ns() - start >= NC_CALLER_SPIN_NS)
                break;
        }
        if (!ld32(&job->finished)) {
            st32(&job->caller_waiting, 1);
            while (!ld32(&job->finished))
                word_wait(&job->finished, 0);
        }
    }
    add64(&g_load, -((a64)1 << 32));
    add64(&job->refs, -1);
}

void nc_counter_add(nc_counter *c, int64_t v) { add64(c, v); }

void nc_counter_wait(nc_counter *c, int64_t target)
{
    for (unsigned k = 1; ld64(c) < target; k++) {
        nc_thread_relax();
        /* the thread we wait for may have lost its core: offer ours */
        if ((k & 1023) == 0) {
#if defined(NC_WIN32)
            SwitchToThread();
#else
            sched_yield();
#endif
        }
    }
}

/* ---- debug counters ----------------------------------------------------------- */
int nc_runtime_stats(int64_t *out, int n, int reset)
{
    a64 load = ld64(&g_load);
    int64_t v[] = {ld32(&g_helpers), nc_thread_cores_cached(), capacity(), LOAD_BUSY(load), LOAD_CALLERS(load),
                   ld32(&g_sleepers), spin_ns(), ld64(&g_stats[ST_JOBS]), ld64(&g_stats[ST_JOINS]),
                   ld64(&g_stats[ST_HELPER_CHUNKS]), ld64(&g_stats[ST_CALLER_CHUNKS]),
                   ld64(&g_stats[ST_PEAK_BUSY]), ld64(&g_stats[ST_PEAK_LOAD]), ld64(&g_stats[ST_SLEEPS])};
    int total = (int)(sizeof(v) / sizeof(v[0]));
    for (int i = 0; i < n && i < total; i++)
        out[i] = v[i];
    if (reset)
        for (int i = 0; i < ST_N; i++)
            st64(&g_stats[i], 0);
    return total;
}
