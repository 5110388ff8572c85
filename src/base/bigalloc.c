#include "src/base/bigalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_BYTES ((size_t)2 << 20)

void *rms_big_alloc(size_t bytes) {
    if (bytes < HUGE_BYTES) return malloc(bytes ? bytes : 1);
    if (bytes > SIZE_MAX - HUGE_BYTES) return NULL;
    const size_t rounded = (bytes + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
    void *p = aligned_alloc(HUGE_BYTES, rounded);
    if (p) rms_advise_huge(p, rounded);
    return p;
}

void rms_advise_huge(const void *data, size_t bytes) {
#ifdef MADV_HUGEPAGE
    const uintptr_t a = ((uintptr_t)data + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1),
                    b = ((uintptr_t)data + bytes) & ~(uintptr_t)(HUGE_BYTES - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE); // advice only: without THP the pages stay small
#else
    (void)data;
    (void)bytes;
#endif
}
