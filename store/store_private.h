/*  store_private.h -- declarations shared by the store's own .c files; not part of the API. */
#ifndef HERALD_STORE_PRIVATE_H
#define HERALD_STORE_PRIVATE_H

#include "store.h"

#include <sqlite3.h>

/*  Opens the database at path for mode, ready for the handle's statements: the file must
    exist unless mode is STORE_CREATE; the pragmas (a new store's page size, WAL,
    synchronous=FULL, foreign_keys, a busy timeout of 5 s); then a new store's schema and
    stream id (STORE_CREATE), or the schema version checked and an older one migrated
    (STORE_OPEN) or refused (STORE_READONLY). Returns the connection, or NULL with the code in
    *code and the reason, naming the path, in err. */
sqlite3 *schema_open(const char *path, store_mode_t mode, store_err_t *code, char *err,
                     size_t errlen);

/*  A checkpoint every this many pages of the -wal (2 MiB of 16 KiB pages, where SQLite's
    default of 1000 would let the -wal reach 16 MiB). */
#define STORE_CHECKPOINT_PAGES 128

/*  After each commit on db, once it is visible to other connections: touches the -wal (a
    publisher's watch waits for that, services/publisher/watch.c), then checkpoints passively
    once the -wal holds pages or more (0: never; other writers do). Replaces SQLite's own
    wal_autocheckpoint, which the same hook carries: set it with this, not with the PRAGMA. */
void schema_commit_hook(sqlite3 *db, int pages);

/*  The name of the VFS the store opens its files with (subjournal.c): SQLite's default one,
    except that statement journals stay in memory up to 4 MiB instead of going to temporary
    files past 64 KiB. Registered on the first call; NULL (SQLite's default VFS) if it could
    not be. */
#define STORE_VFS "herald"
const char *store_vfs(void);

/*  Runs the migration that takes a store from version - 1 to version (1 creates the schema)
    on db, inside the caller's transaction. 0 or -1 with sqlite's words in err. */
int schema_apply(sqlite3 *db, int version, char *err, size_t errlen);

/*  Runs sql on db: 0, or -1 with "what: sqlite's words" in err (the code is db's). */
int schema_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen);

/*  true while an explicit transaction is open on the handle. */
bool store_in_transaction(store_t *self);

/*  Opens a deferred transaction: a consistent read snapshot, fine on a read-only store.
    End it with store_rollback. 0 or -1. */
int store_begin_read(store_t *self);

/*  Sets the handle's last error: its code and its message (printf-style). */
void store_set_error(store_t *self, store_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*  The code for an SQLite result code (primary or extended). */
store_err_t store_err_from_sqlite(int rc);

/*  The handle's SQLite connection (backup.c). Borrowed. */
sqlite3 *store_db(store_t *self);

/*  Names the process holding the write lock of the store at db_path (its -shm's WAL write
    lock, or a write lock on the file), as "pid N (comm)" in out (locks.c; from /proc/locks,
    best effort). 1 if found, 0 if not known. */
int store_lock_holder(const char *db_path, char *out, size_t cap);

#endif
