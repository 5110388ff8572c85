/* file_lock.h — one writer per output file: an exclusive lock on "<path>.lock" beside the file, held for the
 * whole run (`score --out`, `merge --out`; under MPI the root holds it).
 *
 * How: the lock file is opened (created if absent) and locked whole with fcntl(F_SETLK, F_WRLCK), a POSIX
 * record lock, and then holds one line naming the holder: "rmscore <what> on host H, pid P, since <UTC time>".
 * A second run finds the lock taken (EAGAIN/EACCES) and fails at once with that line; it never waits.
 *   - The lock lives as long as the descriptor: it dies with its process (exit, crash, SIGKILL, OOM killer), so a
 *     lock file left behind by a dead run is stale and the next run takes it over (and rewrites the line).
 *   - NFS: POSIX locks are the ones NFS shares between clients (NFSv3 through lockd/NLM, NFSv4 in the protocol);
 *     flock() crosses clients only since Linux 2.6.12, where the client emulates it with a POSIX lock. A holder
 *     whose node crashes keeps its lock until the server frees it: the NFSv4 lease expires (about 90 s), or, on
 *     NFSv3, statd learns of the node's reboot. A mount with local locks (local_lock=all|posix, nolock; Lustre
 *     localflock) keeps out a second run on the same node only: rms_file_lock_acquire says so in l->warning.
 *     A file system without fcntl locks at all (ENOSYS, ENOLCK, EOPNOTSUPP: Lustre mounted without flock) runs
 *     unlocked, also with a warning.
 *   - A separate file, not the output itself: HDF5 opens and closes the output, and closing any descriptor of a
 *     file drops all of a process's POSIX locks on that file.
 *   - Release unlinks the lock file, then closes (unlocks). A run that locked a file just unlinked (it opened the
 *     old inode before the unlink) sees that the path no longer names its inode and starts over, so two runs
 *     never both hold "the" lock.
 * POSIX locks belong to the process: do not acquire the same path twice in one process (the second succeeds).
 *
 * Ownership: rms_file_lock is a caller-owned value; acquire fills it, release empties it (safe to call on an
 * unheld or zeroed-then-failed lock).
 */
#ifndef RMS_FILE_LOCK_H
#define RMS_FILE_LOCK_H

#include <stddef.h>

#include "src/base/status.h"

#define RMS_LOCK_SUFFIX ".lock"
#define RMS_LOCK_PATH_MAX 4200   /* a path option (4096) + the suffix */
#define RMS_LOCK_HOLDER_MAX 512  /* the holder line, NUL included */

typedef struct rms_file_lock {
    int fd;                            /* -1 when not held */
    int locked;                        /* 1: the fcntl lock is held; 0 with fd >= 0: the file system has no locks */
    char path[RMS_LOCK_PATH_MAX];      /* "<target>.lock" */
    char warning[RMS_LOCK_PATH_MAX + 256]; /* "" or why the lock may not keep out runs on other nodes */
} rms_file_lock;

/* Sets l to "not held" (fd -1): a lock that can be released whether or not acquire ran. */
void rms_file_lock_init(rms_file_lock *l);

/* Locks "<target>.lock" for this process; what names the run in the holder line ("score", "merge").
 * Held by another process: RMS_ERR_IO, "<target> is in use by another run: <holder line> (lock file
 * <target>.lock)...". Other failures (cannot create the lock file): RMS_ERR_IO naming it. */
rms_status rms_file_lock_acquire(rms_file_lock *l, const char *target, const char *what, rms_err *err);

/* Unlinks the lock file and drops the lock; l is "not held" afterwards. */
void rms_file_lock_release(rms_file_lock *l);

/* Whether another process holds target's lock (merge's inputs: a shard still being written). *held = 0 when
 * there is no lock file or nobody holds it; 1 with its holder line in holder (cap bytes). Never creates a file. */
rms_status rms_file_lock_probe(const char *target, int *held, char *holder, size_t cap, rms_err *err);

/* Why a lock on a file in directory dir (absolute, symbolic links resolved) would keep out runs on this node only,
 * judged from mountinfo (the text of /proc/self/mountinfo; the mount with the longest mount point holding dir):
 * "an NFS mount with local_lock=all|posix", "... with nolock", "a Lustre mount with localflock", or "" (why, cap
 * bytes). rms_file_lock_acquire puts it in l->warning. */
void rms_file_lock_scope(const char *mountinfo, const char *dir, char *why, size_t cap);

#endif
