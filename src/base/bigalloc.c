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
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE); // advice only: without THP the pages are small
#endif
    return p;
}
