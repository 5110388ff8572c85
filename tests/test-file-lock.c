/* test-file-lock.c — io/file_lock: one writer per output file, the holder named, stale locks taken over. POSIX locks
 * belong to a process, so every contender here is a forked child. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/file_lock.h"
#include "tests/check.h"

static const char *dir;

static const char *file_path(const char *name) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void read_text(const char *path, char *out, size_t cap) {
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    const size_t k = fread(out, 1, cap - 1, f);
    out[k] = '\0';
    fclose(f);
}

/* Forks a child that acquires target's lock and reports through a pipe: 'L' locked (then it waits for a byte on
 * `go`, and exits or, with die, kills itself without releasing), or 'E' and the error message. */
typedef struct child {
    pid_t pid;
    int from_child, to_child;
} child;

static child start_child(const char *target, int die) {
    int up[2], down[2];
    child c = {-1, -1, -1};
    if (pipe(up) != 0 || pipe(down) != 0) return c;
    fflush(NULL);
    c.pid = fork();
    if (c.pid == 0) {
        close(up[0]);
        close(down[1]);
        rms_file_lock l;
        rms_err err = {{0}};
        if (rms_file_lock_acquire(&l, target, "test-child", &err) != RMS_OK) {
            char msg[1 + RMS_ERR_MSG_MAX] = "E";
            strcat(msg, err.msg);
            if (write(up[1], msg, strlen(msg)) < 0) _exit(3);
            _exit(1);
        }
        if (write(up[1], "L", 1) != 1) _exit(3);
        char b;
        if (read(down[0], &b, 1) < 0) _exit(3);
        if (die) kill(getpid(), SIGKILL);
        rms_file_lock_release(&l);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    c.from_child = up[0];
    c.to_child = down[1];
    return c;
}

/* What the child said first ("L" or "E<message>"). */
static void child_says(const child *c, char *out, size_t cap) {
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(c->from_child, out + n, cap - 1 - n)) > 0) {
        n += (size_t)k;
        if (out[0] == 'L') break;
    }
    out[n] = '\0';
}

static int finish_child(child *c) {
    if (write(c->to_child, "x", 1) < 0) { /* the child may be gone already (SIGPIPE is ignored) */
    }
    close(c->to_child);
    close(c->from_child);
    int ws = -1;
    waitpid(c->pid, &ws, 0);
    return ws;
}

static void test_a_lock_names_its_holder_and_release_removes_the_lock_file(void) {
    const char *target = file_path("a.h5");
    char lock_file[4300], text[600], host[256], want[400];
    snprintf(lock_file, sizeof lock_file, "%s.lock", target);
    rms_file_lock l;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_file_lock_acquire(&l, target, "score", &err), RMS_OK);
    CHECK(strcmp(l.path, lock_file) == 0);
    CHECK_EQ_INT(l.locked, 1);
    read_text(lock_file, text, sizeof text);
    gethostname(host, sizeof host);
    snprintf(want, sizeof want, "rmscore score on host %s, pid %ld, since 20", host, (long)getpid());
    CHECK_CONTAINS(text, want);
    CHECK(text[strlen(text) - 1] == '\n');
    rms_file_lock_release(&l);
    CHECK(access(lock_file, F_OK) != 0);
    CHECK_EQ_INT(l.fd, -1);
    rms_file_lock_release(&l); // twice is harmless
    rms_file_lock_init(&l);
    rms_file_lock_release(&l); // as is releasing a lock never acquired
}

static void test_a_second_process_is_refused_at_once_naming_the_holder(void) {
    const char *target = file_path("b.h5");
    rms_file_lock l;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_file_lock_acquire(&l, target, "score", &err), RMS_OK);
    child c = start_child(target, 0);
    char said[RMS_ERR_MSG_MAX + 2], host[256], want[400];
    child_says(&c, said, sizeof said);
    const int ws = finish_child(&c);
    CHECK(said[0] == 'E');
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 1);
    gethostname(host, sizeof host);
    snprintf(want, sizeof want, "b.h5 is in use by another run: rmscore score on host %s, pid %ld, since ", host,
             (long)getpid());
    CHECK_CONTAINS(said, want);
    CHECK_CONTAINS(said, "(lock file ");
    CHECK_CONTAINS(said, "b.h5.lock)");
    rms_file_lock_release(&l);
    // released: the next process gets it
    c = start_child(target, 0);
    child_says(&c, said, sizeof said);
    CHECK(said[0] == 'L');
    CHECK_EQ_INT(finish_child(&c), 0);
}

static void test_a_lock_left_by_a_killed_holder_is_taken_over(void) {
    const char *target = file_path("c.h5");
    char lock_file[4300], text[600], said[RMS_ERR_MSG_MAX + 2], want[64];
    snprintf(lock_file, sizeof lock_file, "%s.lock", target);
    child c = start_child(target, 1);
    child_says(&c, said, sizeof said);
    CHECK(said[0] == 'L');
    const pid_t dead = c.pid;
    const int ws = finish_child(&c);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    read_text(lock_file, text, sizeof text); // the stale file stays, naming the dead holder
    snprintf(want, sizeof want, "pid %ld,", (long)dead);
    CHECK_CONTAINS(text, want);
    int held = -1;
    char holder[RMS_LOCK_HOLDER_MAX];
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_file_lock_probe(target, &held, holder, sizeof holder, &err), RMS_OK);
    CHECK_EQ_INT(held, 0); // nobody holds it
    rms_file_lock l;
    CHECK_EQ_INT(rms_file_lock_acquire(&l, target, "score", &err), RMS_OK);
    read_text(lock_file, text, sizeof text);
    snprintf(want, sizeof want, "pid %ld,", (long)getpid());
    CHECK_CONTAINS(text, want); // rewritten: the new holder
    CHECK(strchr(text, '\n') == text + strlen(text) - 1); // one line, nothing of the old one left
    rms_file_lock_release(&l);
}

static void test_probe_tells_a_held_lock_from_an_absent_one_without_creating_files(void) {
    const char *target = file_path("d.h5");
    char lock_file[4300], said[RMS_ERR_MSG_MAX + 2], want[64];
    snprintf(lock_file, sizeof lock_file, "%s.lock", target);
    int held = -1;
    char holder[RMS_LOCK_HOLDER_MAX];
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_file_lock_probe(target, &held, holder, sizeof holder, &err), RMS_OK);
    CHECK_EQ_INT(held, 0);
    CHECK(access(lock_file, F_OK) != 0);
    child c = start_child(target, 0);
    child_says(&c, said, sizeof said);
    CHECK(said[0] == 'L');
    CHECK_EQ_INT(rms_file_lock_probe(target, &held, holder, sizeof holder, &err), RMS_OK);
    CHECK_EQ_INT(held, 1);
    snprintf(want, sizeof want, "rmscore test-child on host ");
    CHECK_CONTAINS(holder, want);
    snprintf(want, sizeof want, "pid %ld,", (long)c.pid);
    CHECK_CONTAINS(holder, want);
    CHECK_EQ_INT(finish_child(&c), 0);
    CHECK_EQ_INT(rms_file_lock_probe(target, &held, holder, sizeof holder, &err), RMS_OK);
    CHECK_EQ_INT(held, 0);
}

/* A holder whose lock file was replaced (removed by hand, then taken by another run) leaves the new file alone when
 * it releases. */
static void test_release_leaves_a_lock_file_that_is_not_its_own(void) {
    const char *target = file_path("e.h5");
    char lock_file[4300], said[RMS_ERR_MSG_MAX + 2];
    snprintf(lock_file, sizeof lock_file, "%s.lock", target);
    rms_file_lock l;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_file_lock_acquire(&l, target, "score", &err), RMS_OK);
    CHECK(unlink(lock_file) == 0);
    child c = start_child(target, 0); // a new file at the path: the child gets it
    child_says(&c, said, sizeof said);
    CHECK(said[0] == 'L');
    rms_file_lock_release(&l);
    CHECK(access(lock_file, F_OK) == 0);
    int held = 0;
    char holder[RMS_LOCK_HOLDER_MAX];
    CHECK_EQ_INT(rms_file_lock_probe(target, &held, holder, sizeof holder, &err), RMS_OK);
    CHECK_EQ_INT(held, 1);
    CHECK_EQ_INT(finish_child(&c), 0);
    CHECK(access(lock_file, F_OK) != 0);
}

static void test_a_lock_in_a_missing_directory_is_an_error_naming_the_lock_file(void) {
    rms_file_lock l;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_file_lock_acquire(&l, file_path("no-such-dir/x.h5"), "score", &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "cannot create its lock file");
    CHECK_CONTAINS(err.msg, "no-such-dir/x.h5.lock");
    CHECK_EQ_INT(l.fd, -1);
    rms_file_lock_release(&l);
}

/* Which mounts share locks between nodes: judged from mountinfo lines (the mount with the longest mount point). */
static void test_mounts_with_node_local_locks_are_told_from_shared_ones(void) {
    const char *info =
        "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "40 22 0:45 / /shared rw,relatime shared:20 - nfs4 srv:/export rw,vers=4.2,hard,proto=tcp,local_lock=none,"
        "addr=10.0.0.1\n"
        "41 22 0:46 / /scratch rw,relatime - nfs srv:/scratch rw,vers=3,nolock,proto=tcp,local_lock=all,addr=10.0.0.2\n"
        "42 40 0:47 / /shared/local rw - nfs srv:/l rw,vers=3,local_lock=posix\n"
        "43 22 0:48 / /lustre rw - lustre 10.0.0.3@tcp:/fs rw,localflock\n"
        "44 22 0:49 / /lustre2 rw - lustre 10.0.0.3@tcp:/fs rw,flock\n";
    char why[128];
    rms_file_lock_scope(info, "/home/me/run", why, sizeof why);
    CHECK(why[0] == '\0');
    rms_file_lock_scope(info, "/shared/run", why, sizeof why); // NFSv4 with shared locks
    CHECK(why[0] == '\0');
    rms_file_lock_scope(info, "/scratch/run", why, sizeof why);
    CHECK_CONTAINS(why, "an NFS mount with local_lock=all|posix");
    rms_file_lock_scope(info, "/shared/local/x", why, sizeof why); // the longest mount point wins
    CHECK_CONTAINS(why, "local_lock=all|posix");
    rms_file_lock_scope(info, "/sharedother", why, sizeof why); // a prefix, not a parent
    CHECK(why[0] == '\0');
    rms_file_lock_scope(info, "/lustre/out", why, sizeof why);
    CHECK_CONTAINS(why, "a Lustre mount with localflock");
    rms_file_lock_scope(info, "/lustre2/out", why, sizeof why);
    CHECK(why[0] == '\0');
    rms_file_lock_scope("40 22 0:45 / /n rw - nfs s:/e rw,vers=3,nolock\n", "/n/x", why, sizeof why);
    CHECK_CONTAINS(why, "an NFS mount with nolock");
    rms_file_lock_scope("", "/x", why, sizeof why);
    CHECK(why[0] == '\0');
}

int main(void) {
    dir = check_tmpdir("file-lock");
    signal(SIGPIPE, SIG_IGN); // finish_child writes to children that may have exited
    RUN(test_a_lock_names_its_holder_and_release_removes_the_lock_file);
    RUN(test_a_second_process_is_refused_at_once_naming_the_holder);
    RUN(test_a_lock_left_by_a_killed_holder_is_taken_over);
    RUN(test_probe_tells_a_held_lock_from_an_absent_one_without_creating_files);
    RUN(test_release_leaves_a_lock_file_that_is_not_its_own);
    RUN(test_a_lock_in_a_missing_directory_is_an_error_naming_the_lock_file);
    RUN(test_mounts_with_node_local_locks_are_told_from_shared_ones);
    return check_summary();
}
