/* The float32 FMA peak of this machine, the ceiling for any GEMM here.
 *
 * Every OpenMP thread keeps 12 independent AVX-512 FMA chains busy (enough to
 * cover the FMA latency on two pipes), with no memory traffic at all.
 *
 *   gcc -O2 -mavx512f -fopenmp bench/fma_peak.c -o /tmp/fma_peak
 *   OMP_NUM_THREADS=1 /tmp/fma_peak; OMP_NUM_THREADS=2 /tmp/fma_peak
 *
 * Prints the best of five runs in GFLOPS (an FMA counts as 2 flops).
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>

#define CHAINS 12
#define ITERS 100000000L

int main(void)
{
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = omp_get_wtime();
#pragma omp parallel
        {
            __m512 acc[CHAINS];
            const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(0.999999f);
            for (int i = 0; i < CHAINS; i++)
                acc[i] = _mm512_set1_ps((float)i);
            for (long it = 0; it < ITERS; it++) {
#pragma GCC unroll 12
                for (int i = 0; i < CHAINS; i++)
                    acc[i] = _mm512_fmadd_ps(acc[i], b, c);
            }
            float sum = 0.0f;
            for (int i = 0; i < CHAINS; i++)
                sum += _mm512_reduce_add_ps(acc[i]);
            if (sum == 1.2345f)         /* keeps the chains alive */
                printf("%g\n", sum);
        }
        double seconds = omp_get_wtime() - t0;
        double gflops = 2.0 * 16 * CHAINS * ITERS * omp_get_max_threads() / seconds / 1e9;
        if (gflops > best)
            best = gflops;
    }
    printf("float32 FMA peak, %d thread(s): %.1f GFLOPS\n", omp_get_max_threads(), best);
    return 0;
}
