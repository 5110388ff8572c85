/* bigalloc.h — memory on transparent huge pages: heap buffers for the large activation arrays of the forward,
 * and advice for mapped data read whole (a layer's weights).
 *
 * rms_big_alloc(bytes) returns memory to release with free() (the caller owns it), or NULL. A buffer of 2 MiB or
 * more is 2 MiB-aligned and advised for transparent huge pages (MADV_HUGEPAGE; ignored where the kernel does not
 * offer them): a first forward then takes one page fault per 2 MiB instead of one per 4 KiB, and the matrix
 * kernels fewer TLB misses. Smaller requests are plain malloc. Contents are not initialised. */
#ifndef RMS_BIGALLOC_H
#define RMS_BIGALLOC_H

#include <stddef.h>

void *rms_big_alloc(size_t bytes);

/* Advises the 2 MiB-aligned inside of [data, data + bytes) MADV_HUGEPAGE (advice only; nothing is read). For a
 * file mapping, pages first read from disk there come in 2 MiB folios where the file system allows: a forward
 * then takes one fault and one TLB entry per 2 MiB of weights instead of 512. Data read sparsely (the
 * embedding table: a row per token) is better left alone. */
void rms_advise_huge(const void *data, size_t bytes);

#endif
