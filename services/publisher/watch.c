/*  watch.c -- inotify on the store's directory, and the short wait that confirms a commit.

    SQLite in WAL mode appends the transaction's pages to the -wal file and then publishes
    the commit in the shared wal-index. Our inotify event comes from the append, so it can
    arrive before a reader can see the commit (about 40% of the time on a fast machine).
    Going back to sleep then would delay the announcement until the next safety poll, so
    watch_settle waits for the commit a few milliseconds first: for the touch of the -wal
    that a store's connection makes once its commit is visible (store/schema.c), on an
    inotify descriptor of its own, and, for other programs' commits, reading PRAGMA
    data_version in short steps. zmq_poll cannot wait less than a millisecond; nanosleep and
    ppoll can. A commit writes the -wal several times,
    so the events of its later writes are still queued when it has been published: the wake
    they bring has no commit to wait for, and watch_caught_up marks them so that the wait
    sleeps until a new write instead of polling.
*/
#define _GNU_SOURCE /* O_PATH */
#include "watch.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct watch {
    int fd;            /* inotify descriptor, non-blocking */
    int wd;            /* the watch on the store's directory */
    char *name;        /* the store file's name in its directory */
    char *wal;         /* the name of its -wal file */
    bool stale;        /* the events queued at watch_caught_up are of writes already published */
    int commits;       /* inotify for IN_ATTRIB in the directory alone: the touch a store gives its
                          -wal once a commit is visible (store/schema.c); -1 if unavailable */
    int commits_errno; /* why it is unavailable */
};

/* What we listen for in the directory. IN_DELETE / IN_MOVED_FROM tell us the store is gone
   or being replaced; the others are writes and commits. */
#define S_MASK (IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)

watch_t *watch_new(const char *db_path)
{
    assert(db_path);
    watch_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->fd = self->commits = -1;
    const char *slash = strrchr(db_path, '/');
    const char *base = slash ? slash + 1 : db_path;
    char dir[PATH_MAX];
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == db_path) {
        strcpy(dir, "/");
    } else if ((size_t) (slash - db_path) < sizeof dir) {
        memcpy(dir, db_path, (size_t) (slash - db_path));
        dir[slash - db_path] = '\0';
    } else {
        errno = ENAMETOOLONG;
        goto fail;
    }
    self->name = strdup(base);
    size_t len = strlen(base) + 5;
    self->wal = malloc(len);
    if (!self->name || !self->wal) {
        errno = ENOMEM;
        goto fail;
    }
    memcpy(self->wal, base, len - 5);
    memcpy(self->wal + len - 5, "-wal", 5);
    self->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (self->fd == -1) {
        goto fail;
    }
    self->wd = inotify_add_watch(self->fd, dir, S_MASK | IN_ONLYDIR);
    if (self->wd == -1) {
        goto fail;
    }
    /* Best effort: without it, watch_settle finds a commit by its reads alone. A write is no
       IN_ATTRIB, so a long transaction's writes do not wake this one. */
    self->commits = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (self->commits != -1 &&
        inotify_add_watch(self->commits, dir, IN_ATTRIB | IN_ONLYDIR) == -1) {
        int saved = errno;
        close(self->commits);
        self->commits = -1;
        errno = saved;
    }
    self->commits_errno = self->commits == -1 ? errno : 0;
    /* The kernel may stretch a sleep by the thread's timer slack (50 us by default), which
       is as long as our shortest waits: ask for 1 us. Best effort. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    return self;
fail:;
    int saved = errno;
    watch_destroy(&self);
    errno = saved;
    return NULL;
}

void watch_destroy(watch_t **self_p)
{
    assert(self_p);
    watch_t *self = *self_p;
    if (!self) {
        return;
    }
    if (self->fd != -1) {
        close(self->fd);
    }
    if (self->commits != -1) {
        close(self->commits);
    }
    free(self->name);
    free(self->wal);
    free(self);
    *self_p = NULL;
}

int watch_commits_errno(watch_t *self)
{
    assert(self);
    return self->commits_errno;
}

int watch_fd(watch_t *self)
{
    assert(self);
    return self->fd;
}

int watch_drain(watch_t *self)
{
    assert(self);
    int bits = 0;
    /* Aligned as the kernel expects; one read returns as many whole events as fit. */
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    /* Bounded: in a busy directory events may keep coming; what is left wakes us again. */
    for (int reads = 0; reads < 16; reads++) {
        ssize_t n = read(self->fd, buf, sizeof buf);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return bits;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            return bits;
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *) p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                bits |= WATCH_CHANGED | WATCH_REPLACED;
                continue;
            }
            if (ev->len == 0) {
                continue;
            }
            if (strcmp(ev->name, self->name) == 0) {
                if (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)) {
                    bits |= WATCH_REPLACED;
                }
                bits |= WATCH_CHANGED;
            } else if (strcmp(ev->name, self->wal) == 0) {
                bits |= WATCH_CHANGED;
            }
        }
    }
    return bits;
}

void watch_caught_up(watch_t *self)
{
    assert(self);
    struct pollfd item = {self->fd, POLLIN, 0};
    self->stale = poll(&item, 1, 0) > 0 && (item.revents & POLLIN);
}

/*  Reads and drops what the commits descriptor holds. true if it held something. */
static bool s_discard(int fd)
{
    char buf[1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (int reads = 0; reads < 16; reads++) { /* bounded, as watch_drain */
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            any = true;
        } else if (n == -1 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    return any;
}

#define S_WRITE 1  /* the watch's descriptor has events: a write */
#define S_COMMIT 2 /* the commits descriptor has events: a commit is visible */

/*  Waits up to us microseconds for a write (when writes) or a commit's touch (when the
    descriptor exists). The S_* bits of what came, 0 when the time ran out. */
static int s_wait(watch_t *self, bool writes, long us)
{
    struct timespec ts = {0, us * 1000L};
    struct pollfd items[2];
    nfds_t n = 0;
    if (writes) {
        items[n++] = (struct pollfd){self->fd, POLLIN, 0};
    }
    if (self->commits != -1) {
        items[n++] = (struct pollfd){self->commits, POLLIN, 0};
    }
    if (n == 0) {
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        }
        return 0;
    }
    if (ppoll(items, n, &ts, NULL) <= 0) {
        return 0;
    }
    int bits = 0;
    for (nfds_t k = 0; k < n; k++) {
        if (items[k].revents & POLLIN) {
            bits |= items[k].fd == self->fd ? S_WRITE : S_COMMIT;
        }
    }
    return bits;
}

int watch_settle(watch_t *self, store_t *store, int64_t seen, int64_t *now)
{
    assert(self && store && now);
    /* A commit made through the store is announced by its touch of the -wal, once visible:
       the wait wakes for it at once. Another program's (the sqlite3 shell) touches nothing,
       and for it the wait reads data_version in short steps: the commit is usually a few
       hundred microseconds away (the -wal fsync). The steps stay small after that, because
       each one is what a late commit costs in latency, while a data_version read costs a
       few microseconds.
       After watch_caught_up found events queued, the wake that brought us here was theirs:
       writes whose commits are published already (a commit writes the -wal several times),
       or our own cursor. Then the next commit starts with a write of its own, so the wait
       sleeps until a new event, reading data_version every S_STALE_US only (in case the
       wake was a new commit's after all), and starts the short steps from that event.
       Without this, every published commit cost a wait of 6 ms of reads every 50 us. */
    enum {
        S_STEPS = 120,      /* short steps: about 6 ms, a slow fsync on a busy disk */
        S_STALE_US = 250,   /* a read every this long while waiting for a new write */
        S_STALE_STEPS = 24, /* of those: 6 ms too */
    };
    bool stale = self->stale;
    self->stale = false;
    /* Touches queued until now are of commits that the next read sees. */
    bool touched = self->commits != -1 && s_discard(self->commits);
    for (int i = 0, stale_steps = 0; i < S_STEPS && stale_steps < S_STALE_STEPS;) {
        if (touched) {
            touched = false; /* read at once */
        } else if (stale) {
            stale_steps++;
            int got = s_wait(self, true, S_STALE_US);
            if (got & S_COMMIT) {
                s_discard(self->commits);
            } else if (got & S_WRITE) {
                stale = false; /* a new write: its commit is a few hundred us away */
                continue;
            }
        } else {
            if (s_wait(self, false, i < 2 ? 25 : 50) & S_COMMIT) {
                s_discard(self->commits);
            }
            i++;
        }
        int64_t dv = store_data_version(store);
        if (dv == -1) {
            return -1;
        }
        if (dv != seen) {
            *now = dv;
            return 1;
        }
    }
    *now = seen;
    return 0;
}

/*  SQLite's unix VFS: every connection holds a read lock on this byte of the -shm (the "dead
    man switch", UNIX_SHM_DMS in os_unix.c) for as long as it has the -shm mapped. */
#define S_SHM_DMS 128

static int s_hold(const char *db_path, const char *suffix)
{
    char name[PATH_MAX];
    if (snprintf(name, sizeof name, "%s%s", db_path, suffix) >= (int) sizeof name) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return open(name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
}

void watch_logs_release(watch_logs_t *logs)
{
    assert(logs);
    if (logs->wal != -1) {
        close(logs->wal);
    }
    if (logs->shm != -1) {
        close(logs->shm);
    }
    logs->wal = logs->shm = -1;
}

int watch_logs_hold(const char *db_path, watch_logs_t *logs)
{
    assert(db_path && logs);
    watch_logs_release(logs);
    logs->wal = s_hold(db_path, "-wal");
    logs->shm = s_hold(db_path, "-shm");
    if (logs->wal == -1 || logs->shm == -1) {
        int saved = errno;
        watch_logs_release(logs);
        errno = saved;
        return -1;
    }
    return 0;
}

/*  true if the file named db_path + suffix is the one fd holds. */
static bool s_same(const char *db_path, const char *suffix, int fd, char *name, size_t cap)
{
    struct stat held;
    struct stat now;
    snprintf(name, cap, "%s%s", db_path, suffix);
    return fd != -1 && fstat(fd, &held) == 0 && stat(name, &now) == 0 &&
           held.st_dev == now.st_dev && held.st_ino == now.st_ino;
}

/*  The pid of a process with a lock on the -shm's dead man switch: 1 (and *holder) if
    there is one, 0 if none, -1 on error. */
static int s_shm_in_use(const char *shm, pid_t *holder)
{
    int fd = open(shm, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        return errno == ENOENT ? 0 : -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = S_SHM_DMS, .l_len = 1};
    int rc = fcntl(fd, F_GETLK, &fl);
    close(fd); /* we hold no lock on it: our connection to the old store is closed */
    if (rc == -1) {
        return -1;
    }
    if (fl.l_type == F_UNLCK) {
        return 0;
    }
    *holder = fl.l_pid > 0 ? fl.l_pid : 0;
    return 1;
}

int watch_logs_left(const char *db_path, watch_logs_t *old, pid_t *holder)
{
    assert(db_path && old && holder);
    *holder = 0;
    char wal[PATH_MAX];
    char shm[PATH_MAX];
    bool wal_left = s_same(db_path, "-wal", old->wal, wal, sizeof wal);
    bool shm_left = s_same(db_path, "-shm", old->shm, shm, sizeof shm);
    if (shm_left) {
        int used = s_shm_in_use(shm, holder);
        if (used != 0) {
            return used;
        }
    }
    /* Stale: no connection has them (a -wal without its -shm cannot be in use either: a
       new connection would make a new -shm and recover the old log into the new file).
       Checked again just before each unlink, so that only the old store's file goes. */
    if (wal_left && s_same(db_path, "-wal", old->wal, wal, sizeof wal) && unlink(wal) == -1 &&
        errno != ENOENT) {
        return -1;
    }
    if (shm_left && s_same(db_path, "-shm", old->shm, shm, sizeof shm) && unlink(shm) == -1 &&
        errno != ENOENT) {
        return -1;
    }
    watch_logs_release(old);
    return 0;
}
