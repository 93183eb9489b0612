/*  watch.h -- commit detection for the publisher: inotify on the store's directory wakes
    us, PRAGMA data_version on our own connection confirms that another connection committed.

    The directory is watched rather than the files, so the watch survives the -wal file being
    created and deleted by SQLite, and a store replaced by a new file is noticed. Events for
    other files of the directory are read and ignored.
*/
#ifndef HERALD_WATCH_H
#define HERALD_WATCH_H

#include <stdint.h>

#include "store.h"

typedef struct watch watch_t;

/* Bits returned by watch_drain. */
#define WATCH_CHANGED 1  /* the store file or its -wal was written */
#define WATCH_REPLACED 2 /* a file was created, moved onto or removed from the store's name */

/*  Watches the directory of db_path for writes to db_path and db_path-wal. Returns the
    watch, or NULL with errno set (the directory does not exist, out of inotify watches). */
watch_t *watch_new(const char *db_path);

/*  Closes the inotify descriptor and frees the watch; sets *self_p to NULL. Safe on NULL. */
void watch_destroy(watch_t **self_p);

/*  The descriptor to poll for reading. Non-blocking; owned by the watch. */
int watch_fd(watch_t *self);

/*  Reads every pending event without blocking. Returns the WATCH_* bits of the events that
    concern the store (0 if none; a queue overflow counts as both), or -1 on a read error. */
int watch_drain(watch_t *self);

/*  Waits briefly for a commit that inotify announced but that is not visible yet (a write
    to the -wal precedes its fsync and the commit being published in the wal-index): re-reads
    store_data_version after 25 us, 25 us, then every 50 us, about 2 ms in
    total, and stops as soon as it differs from seen. Returns 1 if it changed (the new value in
   *now), 0 if not, -1 if the store failed (its reason in store_error). */
int watch_settle(store_t *store, int64_t seen, int64_t *now);

#endif
