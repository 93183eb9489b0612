/*  watch.c -- inotify on the store's directory, and the short wait that confirms a commit.

    SQLite in WAL mode appends the transaction's pages to the -wal file and then publishes
    the commit in the shared wal-index. Our inotify event comes from the append, so it can
    arrive before a reader can see the commit (about 40% of the time on a fast machine).
    Going back to sleep then would delay the announcement until the next safety poll, so
    watch_settle polls PRAGMA data_version for a couple of milliseconds first. zmq_poll
    cannot wait less than a millisecond; nanosleep can.
*/
#include "watch.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

struct watch {
    int fd;     /* inotify descriptor, non-blocking */
    int wd;     /* the watch on the store's directory */
    char *name; /* the store file's name in its directory */
    char *wal;  /* the name of its -wal file */
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
    self->fd = -1;
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
    free(self->name);
    free(self->wal);
    free(self);
    *self_p = NULL;
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

int watch_settle(store_t *store, int64_t seen, int64_t *now)
{
    assert(store);
    assert(now);
    /* Short steps first: the commit is usually a few hundred microseconds away (the -wal
       fsync). The steps stay small after that, because each one is what a late commit costs
       in latency, while a data_version read costs a few microseconds. */
    enum { S_STEPS = 120 }; /* about 6 ms: a slow fsync on a busy disk */
    for (int i = 0; i < S_STEPS; i++) {
        struct timespec ts = {0, (i < 2 ? 25 : 50) * 1000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
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
