/* fuzz_hdf5.h — sanitizer settings of the HDF5 fuzz targets (fuzz-pairs-h5.c, fuzz-scores-h5.c), compiled into them
 * so that libFuzzer runs, the replay ctests and runs by hand all use them (options given in ASAN_OPTIONS /
 * LSAN_OPTIONS still override these defaults key by key, and a suppressions file adds to this list).
 *
 *  - allocator_may_return_null=1: a mutated size makes libhdf5 attempt allocations of terabytes; malloc then
 *    returns NULL and HDF5 fails the call, as it does in rmscore without ASan (not a report);
 *  - fast_unwind_on_malloc=0: libhdf5 has no frame pointers, and the suppressions below name functions inside it;
 *  - leak suppressions: only leaks libhdf5 1.10 makes itself on the error paths of corrupt files, which rmscore
 *    cannot free or avoid (each found by these targets; see tests/fuzz/libhdf5/README.md):
 *      H5C_protect      a corrupt object header: the metadata cache drops the header image it allocated
 *                       (regressions/scores-h5/leak-object-header.h5);
 *      H5O_msg_read_oh  a corrupt message in an object header (a dataset's layout): the partly decoded message is
 *                       dropped (regressions/pairs-h5/leak-layout-message.h5);
 *      H5C_dest         closing a corrupt file opened read-write (score's resume): a write-accumulator block is
 *                       dropped when the flush fails (regressions/scores-h5/leak-close.h5).
 *    Variable-length read buffers HDF5 loses on a failed read are NOT suppressed: rmscore frees them
 *    (rms_h5_vlen_arena, io/h5util.h; regressions/pairs-h5/leak-vlen-strings-failed-read.h5). */
#ifndef RMS_FUZZ_HDF5_H
#define RMS_FUZZ_HDF5_H

const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *__asan_default_options(void) { return "allocator_may_return_null=1:fast_unwind_on_malloc=0"; }

const char *__lsan_default_suppressions(void) { return "leak:H5C_protect\nleak:H5O_msg_read_oh\nleak:H5C_dest\n"; }

#endif
