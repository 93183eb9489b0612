/*  store_private.h -- declarations shared by the store's own .c files; not part of the API. */
#ifndef HERALD_STORE_PRIVATE_H
#define HERALD_STORE_PRIVATE_H

#include "store.h"

#include <sqlite3.h>

/*  Runs the migration that takes a store from version - 1 to version (1 creates the schema)
    on db, inside the caller's transaction. 0 or -1 with sqlite's words in err. */
int schema_apply(sqlite3 *db, int version, char *err, size_t errlen);

/*  true while an explicit transaction is open on the handle. */
bool store_in_transaction(store_t *self);

/*  Opens a deferred transaction: a consistent read snapshot, fine on a read-only store.
    End it with store_rollback. 0 or -1. */
int store_begin_read(store_t *self);

/*  Sets the handle's last error (printf-style). */
void store_set_error(store_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*  The handle's SQLite connection (backup.c). Borrowed. */
sqlite3 *store_db(store_t *self);

/*  Names the process holding the write lock of the store at db_path (its -shm's WAL write
    lock, or a write lock on the file), as "pid N (comm)" in out (locks.c; from /proc/locks,
    best effort). 1 if found, 0 if not known. */
int store_lock_holder(const char *db_path, char *out, size_t cap);

#endif
