/*  backup.c -- copies of a live store and replacing one online, through SQLite's backup API,
    and letting go of a store file that was replaced under us.

    A store must never be copied or replaced as a file while it is open (cp, mv, rsync): its
    latest commits may be in the -wal, and SQLite finds the -wal and -shm by the database's
    name, so a file moved onto the path of an open store is read through the old store's log
    and the next checkpoint writes the old store's pages into it. The backup API copies pages
    under SQLite's own locks instead: a backup is a consistent snapshot taken while writers go
    on, and a restore is one write transaction that every other connection sees as a commit.

    A restore gives the store a new stream id (a restored backup is older than what was
    announced: its seqs would repeat ones subscribers already have) and drops the publisher's
    cursor, so that herald-pub announces it as a new stream and subscribers resync.
*/
#include "store_private.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_BUSY_STEP_MS 5  /* a copy step that found the source or target locked waits */
#define S_BUSY_STEPS 2000 /* ... this many times (about 10 s) before giving up */

/*  Copies every page of src into dst (both "main"), waiting out short locks. 0, or -1
    with SQLite's words in err. */
static int s_copy(sqlite3 *dst, sqlite3 *src, const char *what, char *err, size_t errlen)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(dst));
        return -1;
    }
    int rc;
    int waits = 0;
    while ((rc = sqlite3_backup_step(b, -1)) != SQLITE_DONE) {
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && waits++ < S_BUSY_STEPS) {
            sqlite3_sleep(S_BUSY_STEP_MS);
            continue;
        }
        break;
    }
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s: %s%s", what, sqlite3_errstr(rc),
                 rc == SQLITE_BUSY       ? " (another writer held the lock for 10 s)"
                 : rc == SQLITE_READONLY ? " (the page sizes differ: restore into a new file)"
                                         : "");
        return -1;
    }
    return 0;
}

static sqlite3 *s_open(const char *path, int flags, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/*  PRAGMA quick_check on db: 0 when "ok", else -1 with its first complaint in err. */
static int s_check(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "checking %s: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    int rc = sqlite3_step(stmt);
    const char *first = rc == SQLITE_ROW ? (const char *) sqlite3_column_text(stmt, 0) : NULL;
    int ok = first && strcmp(first, "ok") == 0;
    if (!ok) {
        snprintf(err, errlen, "%s is damaged: %s", path, first ? first : sqlite3_errmsg(db));
    }
    sqlite3_finalize(stmt);
    return ok ? 0 : -1;
}

/*  Copies live (a Herald store, read through a read-only handle that validated it) into a new
    file at tmp, checks it, and syncs it. The caller renames or removes tmp. */
static int s_snapshot(const char *live, const char *tmp, char *err, size_t errlen)
{
    store_t *src = store_new(live, STORE_READONLY, err, errlen);
    if (!src) {
        return -1;
    }
    int rc = -1;
    sqlite3 *dst = s_open(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen);
    if (dst && s_copy(dst, store_db(src), "copying", err, errlen) == 0 &&
        s_check(dst, tmp, err, errlen) == 0) {
        rc = 0;
    }
    store_destroy(&src);
    if (dst && sqlite3_close(dst) != SQLITE_OK && rc == 0) {
        snprintf(err, errlen, "closing %s: %s", tmp, sqlite3_errmsg(dst));
        rc = -1;
    }
    return rc;
}

int store_backup(const char *live_path, const char *dest, char *err, size_t errlen)
{
    assert(live_path && dest && err && errlen);
    err[0] = '\0';
    struct stat st;
    if (stat(dest, &st) == 0) {
        snprintf(err, errlen, "%s exists: a backup never overwrites a file", dest);
        return -1;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.partial", dest) >= (int) sizeof tmp) {
        snprintf(err, errlen, "%s: name too long", dest);
        return -1;
    }
    unlink(tmp); /* a backup interrupted before */
    int rc = s_snapshot(live_path, tmp, err, errlen);
    if (rc == 0 && rename(tmp, dest) != 0) {
        snprintf(err, errlen, "renaming %s to %s: %s", tmp, dest, strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

/*  In the copy at tmp (nobody else's file): a new stream id and no publisher cursor. */
static int s_new_stream(const char *tmp, char *err, size_t errlen)
{
    sqlite3 *db = s_open(tmp, SQLITE_OPEN_READWRITE, err, errlen);
    if (!db) {
        return -1;
    }
    int rc =
        schema_exec(db,
                    "BEGIN IMMEDIATE;"
                    " UPDATE meta SET value = lower(printf('%s-%s-4%s-%s%s-%s',"
                    "  hex(randomblob(4)), hex(randomblob(2)), substr(hex(randomblob(2)), 2),"
                    "  substr('89ab', 1 + abs(random() % 4), 1), substr(hex(randomblob(2)), 2),"
                    "  hex(randomblob(6)))) WHERE key = 'stream_id';"
                    " INSERT OR REPLACE INTO meta (key, value) VALUES ('restored_at',"
                    "  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));"
                    " DELETE FROM cursors WHERE name = 'publisher';"
                    " COMMIT;",
                    "giving the restored store a new stream id", err, errlen);
    sqlite3_close(db);
    return rc;
}

int store_restore(const char *live_path, const char *src, char *err, size_t errlen)
{
    assert(live_path && src && err && errlen);
    err[0] = '\0';
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.restore", live_path) >= (int) sizeof tmp) {
        snprintf(err, errlen, "%s: name too long", live_path);
        return -1;
    }
    unlink(tmp);
    /* Validated and prepared in a file of our own: the live store sees one transaction. */
    char why[512];
    if (s_snapshot(src, tmp, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s is not a usable backup: %s", src, why);
        unlink(tmp);
        return -1;
    }
    int rc = -1;
    store_t *live = NULL;
    store_t *copy = NULL;
    if (s_new_stream(tmp, err, errlen) != 0) {
        goto done;
    }
    copy = store_new(tmp, STORE_READONLY, err, errlen);
    live = copy ? store_new(live_path, STORE_OPEN, err, errlen) : NULL;
    if (!live) {
        goto done;
    }
    if (s_copy(store_db(live), store_db(copy), "restoring", why, sizeof why) != 0) {
        snprintf(err, errlen, "restoring %s into %s: %s", src, live_path, why);
        goto done;
    }
    rc = 0;
done:
    store_destroy(&copy);
    store_destroy(&live);
    unlink(tmp);
    char side[4096 + 8];
    snprintf(side, sizeof side, "%s-wal", tmp);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", tmp);
    unlink(side);
    return rc;
}

void store_abandon(store_t **self_p)
{
    assert(self_p);
    if (!*self_p) {
        return;
    }
    /* Without a checkpoint at close SQLite neither writes the log into the database nor
       deletes the -wal and -shm, which it would find by name (they may be another store's). */
    sqlite3_db_config(store_db(*self_p), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    store_destroy(self_p);
}

struct store_probe {
    store_t *store;     /* borrowed */
    sqlite3_stmt *read; /* meta.stream_id */
};

store_probe_t *store_probe_new(store_t *store)
{
    assert(store);
    store_probe_t *self = calloc(1, sizeof *self);
    if (!self) {
        return NULL;
    }
    self->store = store;
    if (sqlite3_prepare_v3(store_db(store), "SELECT value FROM meta WHERE key = 'stream_id'", -1,
                           SQLITE_PREPARE_PERSISTENT, &self->read, NULL) != SQLITE_OK) {
        store_set_error(store, store_err_from_sqlite(sqlite3_extended_errcode(store_db(store))),
                        "preparing statement: %s", sqlite3_errmsg(store_db(store)));
        free(self);
        return NULL;
    }
    return self;
}

void store_probe_destroy(store_probe_t **self_p)
{
    assert(self_p);
    if (!*self_p) {
        return;
    }
    sqlite3_finalize((*self_p)->read);
    free(*self_p);
    *self_p = NULL;
}

int store_probe_stream_changed(store_probe_t *self)
{
    assert(self);
    int rc = sqlite3_step(self->read);
    int changed = -1;
    if (rc == SQLITE_ROW) {
        const char *now = (const char *) sqlite3_column_text(self->read, 0);
        changed = !now || strcmp(now, store_stream_id(self->store)) != 0;
    } else {
        store_set_error(self->store,
                        store_err_from_sqlite(sqlite3_extended_errcode(store_db(self->store))),
                        "reading the stream id: %s",
                        rc == SQLITE_DONE ? "missing" : sqlite3_errmsg(store_db(self->store)));
    }
    sqlite3_reset(self->read);
    return changed;
}
