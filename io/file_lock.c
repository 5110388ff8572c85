/* file_lock.c — an exclusive POSIX record lock on "<path>.lock" naming its holder (see file_lock.h). */
#define _GNU_SOURCE
#include "io/file_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_ATTEMPTS 20 /* a lock file unlinked under us by its last holder: open the new one and retry */

void rms_file_lock_init(rms_file_lock *l) {
    memset(l, 0, sizeof *l);
    l->fd = -1;
}

static rms_status lock_path(char *out, const char *target, rms_err *err) {
    const int n = snprintf(out, RMS_LOCK_PATH_MAX, "%s%s", target, RMS_LOCK_SUFFIX);
    if (n < 0 || n >= RMS_LOCK_PATH_MAX) return rms_fail(err, RMS_ERR_ARG, "%s: path too long for its lock file", target);
    return RMS_OK;
}

/* The holder line in a lock file (its first line, at most cap - 1 bytes); "" if empty or unreadable. */
static void read_holder(int fd, char *out, size_t cap) {
    out[0] = '\0';
    if (cap == 0) return;
    ssize_t k;
    do k = pread(fd, out, cap - 1, 0);
    while (k < 0 && errno == EINTR);
    out[k > 0 ? k : 0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
}

/* Whether a comma-separated mount option list holds opt. */
static int has_option(const char *opts, const char *opt) {
    const size_t n = strlen(opt);
    for (const char *p = opts; p && *p;) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, opt, n) == 0) return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

void rms_file_lock_scope(const char *mountinfo, const char *dir, char *why, size_t cap) {
    if (cap) why[0] = '\0';
    char best_type[64] = "", best_opts[1600] = "";
    size_t best_len = 0;
    for (const char *line = mountinfo; line && *line;) {
        const char *end = strchr(line, '\n');
        char buf[2048];
        const size_t n = end ? (size_t)(end - line) : strlen(line);
        snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), line);
        line = end ? end + 1 : NULL;
        // id parent major:minor root mount-point mount-options [optional fields...] - fstype source super-options
        char mnt[1024], mopts[512], fstype[64], source[512], sopts[1024] = "";
        const char *dash = strstr(buf, " - ");
        if (!dash || sscanf(buf, "%*s %*s %*s %*s %1023s %511s", mnt, mopts) != 2 ||
            sscanf(dash + 3, "%63s %511s %1023s", fstype, source, sopts) < 2)
            continue;
        const size_t len = strlen(mnt);
        const int contains = strcmp(mnt, "/") == 0 ||
                             (strncmp(dir, mnt, len) == 0 && (dir[len] == '/' || dir[len] == '\0'));
        if (!contains || len < best_len) continue;
        best_len = len;
        snprintf(best_type, sizeof best_type, "%s", fstype);
        snprintf(best_opts, sizeof best_opts, "%s,%s", mopts, sopts);
    }
    const char *w = NULL;
    if (strncmp(best_type, "nfs", 3) == 0) {
        if (has_option(best_opts, "local_lock=all") || has_option(best_opts, "local_lock=posix"))
            w = "an NFS mount with local_lock=all|posix";
        else if (has_option(best_opts, "nolock"))
            w = "an NFS mount with nolock";
    } else if (strcmp(best_type, "lustre") == 0 && has_option(best_opts, "localflock")) {
        w = "a Lustre mount with localflock";
    }
    if (w && cap) snprintf(why, cap, "%s", w);
}

/* Fills warn when the file system holding lock_file shares no locks between nodes (rms_file_lock_scope on
 * /proc/self/mountinfo). */
static void lock_scope_warning(const char *lock_file, char *warn, size_t cap) {
    warn[0] = '\0';
    char copy[RMS_LOCK_PATH_MAX], dir[PATH_MAX], why[128];
    snprintf(copy, sizeof copy, "%s", lock_file);
    if (!realpath(dirname(copy), dir)) return;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char chunk[4096];
    for (size_t k; mem && (k = fread(chunk, 1, sizeof chunk, f)) > 0;) fwrite(chunk, 1, k, mem);
    fclose(f);
    if (mem) fclose(mem);
    rms_file_lock_scope(text ? text : "", dir, why, sizeof why);
    free(text);
    if (why[0])
        snprintf(warn, cap, "%s is on %s: its lock keeps out a second run on this node only, not on other nodes",
                 lock_file, why);
}

static int lock_unsupported(int e) { return e == ENOSYS || e == ENOLCK || e == EOPNOTSUPP; }

/* One attempt: 1 locked (l->fd set; or no locks on this file system, l->warning set), 0 to retry (the lock file
 * was replaced under us), -1 failed (err filled), -2 held by another process (its holder line in holder). */
static int try_lock(rms_file_lock *l, const char *target, char *holder, size_t cap, rms_err *err) {
    const int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        rms_fail(err, RMS_ERR_IO, "%s: cannot create its lock file %s: %s", target, l->path, strerror(errno));
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int rc;
    do rc = fcntl(fd, F_SETLK, &fl);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        const int e = errno;
        if (e == EAGAIN || e == EACCES) {
            read_holder(fd, holder, cap);
            close(fd);
            return -2;
        }
        if (e == ESTALE) { // NFS: the file was removed on the server since we opened it
            close(fd);
            return 0;
        }
        if (lock_unsupported(e)) { // runs unlocked, with a warning
            struct stat sb;
            if (fstat(fd, &sb) == 0 && sb.st_size == 0) unlink(l->path);
            close(fd);
            snprintf(l->warning, sizeof l->warning,
                     "cannot lock %s (%s): without POSIX locks on this file system, a second run on the same output "
                     "would not be stopped",
                     l->path, strerror(e));
            l->locked = 0;
            return 1;
        }
        close(fd);
        rms_fail(err, RMS_ERR_IO, "%s: cannot lock %s: %s", target, l->path, strerror(e));
        return -1;
    }
    // locked: is it still the file at l->path? (its last holder may have unlinked it after we opened it)
    struct stat mine, there;
    if (fstat(fd, &mine) != 0 || stat(l->path, &there) != 0 || mine.st_ino != there.st_ino ||
        mine.st_dev != there.st_dev) {
        close(fd);
        return 0;
    }
    l->fd = fd;
    l->locked = 1;
    return 1;
}

static void holder_line(char *out, size_t cap, const char *what) {
    char host[256] = "?", when[32] = "?";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    const time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, cap, "rmscore %s on host %s, pid %ld, since %s", what, host, (long)getpid(), when);
}

rms_status rms_file_lock_acquire(rms_file_lock *l, const char *target, const char *what, rms_err *err) {
    rms_file_lock_init(l);
    rms_status st = lock_path(l->path, target, err);
    if (st != RMS_OK) return st;
    char holder[RMS_LOCK_HOLDER_MAX] = "";
    int got = 0;
    for (int attempt = 0; attempt < LOCK_ATTEMPTS && got == 0; attempt++)
        got = try_lock(l, target, holder, sizeof holder, err);
    if (got == 0) return rms_fail(err, RMS_ERR_IO, "%s: cannot lock %s: it keeps being replaced", target, l->path);
    if (got == -1) return RMS_ERR_IO;
    if (got == -2) {
        return rms_fail(err, RMS_ERR_IO,
                        "%s is in use by another run: %s (lock file %s); wait for it to end or stop it (the lock is "
                        "released when that process ends)",
                        target, holder[0] ? holder : "its holder has not written its name yet", l->path);
    }
    if (!l->locked) return RMS_OK; // no locks on this file system: l->warning says so
    lock_scope_warning(l->path, l->warning, sizeof l->warning);
    char line[RMS_LOCK_HOLDER_MAX + 1];
    holder_line(line, sizeof line - 1, what);
    strcat(line, "\n");
    const size_t n = strlen(line);
    if (ftruncate(l->fd, 0) != 0 || pwrite(l->fd, line, n, 0) != (ssize_t)n || fsync(l->fd) != 0) {
        const int e = errno;
        rms_file_lock_release(l);
        return rms_fail(err, RMS_ERR_IO, "%s: cannot write its lock file %s: %s", target, l->path, strerror(e));
    }
    return RMS_OK;
}

void rms_file_lock_release(rms_file_lock *l) {
    if (l->fd >= 0) {
        struct stat mine, there; // unlink only our own file (it always is while we hold the lock)
        if (fstat(l->fd, &mine) == 0 && stat(l->path, &there) == 0 && mine.st_ino == there.st_ino &&
            mine.st_dev == there.st_dev)
            unlink(l->path);
        close(l->fd); // drops the lock
    }
    l->fd = -1;
    l->locked = 0;
}

rms_status rms_file_lock_probe(const char *target, int *held, char *holder, size_t cap, rms_err *err) {
    *held = 0;
    if (cap) holder[0] = '\0';
    char path[RMS_LOCK_PATH_MAX];
    rms_status st = lock_path(path, target, err);
    if (st != RMS_OK) return st;
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return RMS_OK;
        return rms_fail(err, RMS_ERR_IO, "%s: cannot open its lock file %s: %s", target, path, strerror(errno));
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int rc;
    do rc = fcntl(fd, F_GETLK, &fl);
    while (rc < 0 && errno == EINTR);
    if (rc == 0 && fl.l_type != F_UNLCK) {
        *held = 1;
        read_holder(fd, holder, cap);
        if (cap && !holder[0]) snprintf(holder, cap, "a process that has not written its name yet");
    }
    close(fd); // this process holds no lock on it (it never locks another run's output), so nothing is dropped
    return RMS_OK;
}
