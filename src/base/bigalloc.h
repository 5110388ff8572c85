/* bigalloc.h — heap buffers for the large activation arrays of the forward.
 *
 * rms_big_alloc(bytes) returns memory to release with free() (the caller owns it), or NULL. A buffer of 2 MiB or
 * more is 2 MiB-aligned and advised for transparent huge pages (MADV_HUGEPAGE; ignored where the kernel does not
 * offer them): a first forward then takes one page fault per 2 MiB instead of one per 4 KiB, and the matrix
 * kernels fewer TLB misses. Smaller requests are plain malloc. Contents are not initialised. */
#ifndef RMS_BIGALLOC_H
#define RMS_BIGALLOC_H

#include <stddef.h>

void *rms_big_alloc(size_t bytes);

#endif
