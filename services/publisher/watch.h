/*  watch.h -- commit detection for the publisher: inotify on the store's directory wakes
    us, PRAGMA data_version on our own connection confirms that another connection committed.

    The directory is watched rather than the files, so the watch survives the -wal file being
    created and deleted by SQLite, and a store replaced by a new file is noticed. Events for
    other files of the directory are read and ignored.

    SQLite finds a database's -wal and -shm by name. When the store file is replaced (a new
    file renamed onto the path), the old store's -wal and -shm stay beside the path, and a
    connection opened on the new file would read it through the old store's log, and its next
    checkpoint would copy the old store's pages into the new file. watch_logs_* keep the
    identity of the -wal and -shm our connection uses, so that a replaced store is opened only
    once they are gone.
*/
#ifndef HERALD_WATCH_H
#define HERALD_WATCH_H

#include <stdint.h>
#include <sys/types.h>

#include "store.h"

typedef struct watch watch_t;

/* Bits returned by watch_drain. */
#define WATCH_CHANGED 1  /* the store file or its -wal was written */
#define WATCH_REPLACED 2 /* a file was created, moved onto or removed from the store's name */

/*  Watches the directory of db_path for writes to db_path and db_path-wal. Returns the
    watch, or NULL with errno set (the directory does not exist, out of inotify watches). */
watch_t *watch_new(const char *db_path);

/*  0 when the watch wakes for a store's commit the moment it is visible (a second inotify
    descriptor, for the touch of the -wal); else the errno of why it could not be made (the
    user's inotify instances used up: fs.inotify.max_user_instances), and commits are found
    by reading data_version in steps, about 40 us later on average. */
int watch_commits_errno(watch_t *self);

/*  Closes the inotify descriptor and frees the watch; sets *self_p to NULL. Safe on NULL. */
void watch_destroy(watch_t **self_p);

/*  The descriptor to poll for reading. Non-blocking; owned by the watch. */
int watch_fd(watch_t *self);

/*  Reads every pending event without blocking. Returns the WATCH_* bits of the events that
    concern the store (0 if none; a queue overflow counts as both), or -1 on a read error. */
int watch_drain(watch_t *self);

/*  Waits briefly for a commit that inotify announced but that is not visible yet (a write
    to the -wal precedes its fsync and the commit being published in the wal-index): re-reads
    store_data_version at once when a store's connection touches the -wal after its commit
    (store/schema.c), and otherwise after 25 us, 25 us, then every 50 us, about 6 ms in total;
    stops as soon as it differs from seen. After watch_caught_up found events queued, it
    first sleeps until a new event (reading every 250 us meanwhile). Returns 1 if it changed
    (the new value in *now), 0 if not, -1 if the store failed (its reason in store_error). */
int watch_settle(watch_t *self, store_t *store, int64_t seen, int64_t *now);

/*  Everything committed so far is published (or was written by us, the cursor): the events
    queued now are of those writes, and must not make the next watch_settle read
    data_version every 50 us for a commit that has no write of its own yet. */
void watch_caught_up(watch_t *self);

/*  The -wal and -shm of the store our connection uses, held by O_PATH descriptors (which
    keep their inodes from being reused, and whose closing releases no lock of SQLite's);
    -1 when absent. */
typedef struct {
    int wal;
    int shm;
} watch_logs_t;

#define WATCH_LOGS_NONE ((watch_logs_t){-1, -1})

/*  Takes hold of db_path-wal and db_path-shm as they are now (right after our connection
    opened them), releasing what *logs held before. 0, or -1 with errno (logs then absent). */
int watch_logs_hold(const char *db_path, watch_logs_t *logs);

/*  Closes the descriptors of *logs; safe when absent. */
void watch_logs_release(watch_logs_t *logs);

/*  Before opening a store that replaced the one of *old (whose connection is closed): are
    the old store's -wal and -shm still beside db_path? Returns 0 when none is left: stale
    ones, which no process uses any more (no lock on the -shm), are removed, and *old is
    released. Returns 1 while another process still has them open (the old store is in use:
    its last connection removes them when it closes), with its pid in *holder (0 if not
    known). -1 with errno on an unexpected error. */
int watch_logs_left(const char *db_path, watch_logs_t *old, pid_t *holder);

#endif
