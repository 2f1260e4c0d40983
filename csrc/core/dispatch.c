/*
 * dispatch.c: which ISA the kernels run on (threads: nc_thread.c).
 *
 * The CPU is probed once (nc_init, called when the Python module loads).
 * NEUROCORE_ISA=generic|avx2|avx512 lowers the choice so one machine can
 * test every path; asking for more than the CPU has falls back to the best
 * supported path and nc_init reports it.  The setting is a plain int
 * written by nc_set_isa and read once at the start of each kernel.
 */
#include <stdlib.h>
#include <string.h>

#include "neurocore/nc.h"

static int nc_supported_isa = NC_ISA_GENERIC;
static int nc_active_isa = NC_ISA_GENERIC;

static int detect_isa(void)
{
#if defined(NC_HAVE_X86) && defined(__GNUC__)
    /* __builtin_cpu_supports also checks that the OS saves the wider
     * register state (XGETBV), so a reported feature is usable. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NC_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NC_ISA_AVX2;
#endif
    return NC_ISA_GENERIC;
}

const char *nc_isa_name(int isa)
{
    switch (isa) {
    case NC_ISA_AVX512: return "avx512";
    case NC_ISA_AVX2: return "avx2";
    default: return "generic";
    }
}

int nc_init(void)
{
    int status = 0;
    const char *requested = getenv("NEUROCORE_ISA");
    nc_supported_isa = detect_isa();
    nc_active_isa = nc_supported_isa;
    if (requested && *requested) {
        int want = -1;
        for (int isa = NC_ISA_GENERIC; isa <= NC_ISA_AVX512; isa++)
            if (strcmp(requested, nc_isa_name(isa)) == 0)
                want = isa;
        if (want < 0)
            status = 2;
        else if (want > nc_supported_isa)
            status = 1;
        else
            nc_active_isa = want;
    }
    return status;
}

int nc_isa_supported(void) { return nc_supported_isa; }
int nc_isa_active(void) { return nc_active_isa; }

int nc_set_isa(int isa)
{
    if (isa < NC_ISA_GENERIC)
        isa = NC_ISA_GENERIC;
    nc_active_isa = isa > nc_supported_isa ? nc_supported_isa : isa;
    return nc_active_isa;
}
