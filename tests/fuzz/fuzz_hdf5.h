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
 *      H5HG_read        a variable-length string attribute whose stored length disagrees with its global-heap
 *                       object: the type conversion has HDF5 allocate the object and drops it (H5HG_read allocates
 *                       only when its caller passes no buffer: never a buffer handed to rmscore)
 *                       (regressions/scores-h5/leak-vlen-attribute-heap-object.h5).
 *    Variable-length read buffers HDF5 loses on a failed read are NOT suppressed: rmscore frees them
 *    (rms_h5_vlen_arena, io/h5util.h; regressions/pairs-h5/leak-vlen-strings-failed-read.h5).
 *
 * fuzz_hdf5_init() (each target's LLVMFuzzerInitialize): the probe's child. rmscore reads a file's metadata first in
 * a forked child (rms_h5_probe, io/h5util.h), so that a crash of libhdf5 on a damaged file becomes an error of the
 * parent. In a fuzz target that child inherits libFuzzer's death callback and crash handlers: a sanitizer report or
 * a signal in the child would make the child write the input as a crash artifact and print libFuzzer's final
 * statistics, though the parent (what rmscore does) goes on with a clean error — findings that "do not reproduce".
 * The handler registered here clears them in every forked child, so the child dies as it does in rmscore (a
 * sanitizer report ends it with exit status 1, a signal kills it), the parent's error is the verdict, and only what
 * goes wrong in the parent counts.
 * libFuzzer's malloc hook cannot be removed: in the child, an allocation above -malloc_limit_mb (by default the
 * -rss_limit_mb, 2048) would be written as an `oom-` artifact the same way (libhdf5 allocating what a mutated size
 * says, in a probe whose verdict then stops the parent). fuzz_hdf5_init therefore puts -malloc_limit_mb=1048576
 * first among the flags (a flag given on the command line still wins): a single allocation is bounded by ASan's own
 * limit, the memory the parent really uses still by -rss_limit_mb. */
#ifndef RMS_FUZZ_HDF5_H
#define RMS_FUZZ_HDF5_H

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak)); // absent without a sanitizer

const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *__asan_default_options(void) { return "allocator_may_return_null=1:fast_unwind_on_malloc=0"; }

const char *__lsan_default_suppressions(void) { return "leak:H5C_protect\nleak:H5O_msg_read_oh\nleak:H5C_dest\nleak:H5HG_read\n"; }

static void fuzz_hdf5_forked_child(void) {
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL); // a sanitizer report: exit 1, no artifact
    // The signals libFuzzer handles itself (ASan handles SIGSEGV, SIGBUS and SIGFPE): their default action
    signal(SIGABRT, SIG_DFL);
    signal(SIGILL, SIG_DFL);
}

/* LLVMFuzzerInitialize's arguments: libFuzzer parses the flags after it returns (tests/fuzz/replay.c skips them). */
static inline void fuzz_hdf5_init(int *argc, char ***argv) {
    if (pthread_atfork(NULL, NULL, fuzz_hdf5_forked_child) != 0) abort();
    static char limit[] = "-malloc_limit_mb=1048576";
    static char *args[1024]; // (argc + 1, NULL): the arguments libFuzzer parses, for the process's life
    if (*argc < 1 || *argc > 1024 - 2) abort();
    args[0] = (*argv)[0];
    args[1] = limit;
    for (int i = 1; i < *argc; i++) args[i + 1] = (*argv)[i];
    args[*argc + 1] = NULL;
    *argc += 1;
    *argv = args;
}

#endif
