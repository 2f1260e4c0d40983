/*
 * dispatch.c: which ISA the kernels run on (threads: nc_thread.c).
 *
 * The CPU is probed once (nc_init, called when the Python module loads).
 * NEUROCORE_ISA=generic|avx2|avx512 (x86-64) or generic|neon (aarch64)
 * lowers the choice so one machine can test every path; asking for a path
 * this CPU or build lacks falls back to the best supported one and nc_init
 * reports it.  The setting is a plain int written by nc_set_isa and read
 * once at the start of each kernel.
 */
#include <stdlib.h>
#include <string.h>

#include "neurocore/nc.h"
#include "nc_port.h"

#if NC_ARCH_X86_64 && defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#elif NC_ARCH_AARCH64 && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#elif NC_ARCH_AARCH64 && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

static int nc_supported_isa = NC_ISA_GENERIC;
static int nc_active_isa = NC_ISA_GENERIC;

static int detect_isa(void)
{
#if defined(NC_GENERIC_ONLY)
    return NC_ISA_GENERIC;
#elif NC_ARCH_X86_64 && (defined(__GNUC__) || defined(__clang__))
    /* __builtin_cpu_supports also checks that the OS saves the wider
     * register state (XGETBV), so a reported feature is usable. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NC_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NC_ISA_AVX2;
    return NC_ISA_GENERIC;
#elif NC_ARCH_X86_64 && defined(_MSC_VER)
    /* CPUID feature bits, and XGETBV for the OS saving the ymm (bits 1-2)
     * and zmm/opmask (bits 5-7) state. */
    int r[4];
    __cpuid(r, 0);
    if (r[0] < 7)
        return NC_ISA_GENERIC;
    __cpuid(r, 1);
    int fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
    if (!(fma && osxsave && avx))
        return NC_ISA_GENERIC;
    unsigned long long xcr0 = _xgetbv(0);
    __cpuidex(r, 7, 0);
    unsigned int b = (unsigned int)r[1];
    if ((xcr0 & 0x6) != 0x6 || !((b >> 5) & 1))
        return NC_ISA_GENERIC;
    unsigned int avx512 = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    if ((xcr0 & 0xe6) == 0xe6 && (b & avx512) == avx512)
        return NC_ISA_AVX512;
    return NC_ISA_AVX2;
#elif NC_ARCH_AARCH64 && defined(__linux__)
    /* ASIMD is part of the AArch64 base architecture; the kernel's hwcap
     * says so too, and is checked in case a kernel hides it. */
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) ? NC_ISA_NEON : NC_ISA_GENERIC;
#elif NC_ARCH_AARCH64 && defined(__APPLE__)
    int neon = 0;
    size_t len = sizeof neon;
    if (sysctlbyname("hw.optional.neon", &neon, &len, NULL, 0) != 0)
        neon = 1; /* every Apple arm64 CPU has it */
    return neon ? NC_ISA_NEON : NC_ISA_GENERIC;
#elif NC_ARCH_AARCH64
    return NC_ISA_NEON; /* baseline on AArch64 (Windows on Arm, BSDs) */
#else
    return NC_ISA_GENERIC;
#endif
}

const char *nc_isa_name(int isa)
{
    switch (isa) {
    case NC_ISA_AVX512: return "avx512";
    case NC_ISA_AVX2: return "avx2";
    case NC_ISA_NEON: return "neon";
    default: return "generic";
    }
}

int nc_isa_available(int isa)
{
    switch (isa) {
    case NC_ISA_GENERIC: return 1;
    case NC_ISA_AVX2: return nc_supported_isa == NC_ISA_AVX2 || nc_supported_isa == NC_ISA_AVX512;
    case NC_ISA_AVX512: return nc_supported_isa == NC_ISA_AVX512;
    case NC_ISA_NEON: return nc_supported_isa == NC_ISA_NEON;
    default: return 0;
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
        for (int isa = 0; isa < NC_ISA_COUNT; isa++)
            if (strcmp(requested, nc_isa_name(isa)) == 0)
                want = isa;
        if (want < 0)
            status = 2;
        else if (!nc_isa_available(want))
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
    nc_active_isa = nc_isa_available(isa) ? isa : nc_supported_isa;
    return nc_active_isa;
}
