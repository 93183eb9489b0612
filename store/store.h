/*  store.h -- the Herald event store: an SQLite catalogue of events and press releases
    with a gapless change log written by triggers in the same transaction as every change.

    A store_t is one connection to one store file. It is not thread-safe; use one per thread.
    Text returned through store_event_t / store_press_t / store_change_t is borrowed from the
    handle and stays valid until the next call on the same handle.
*/
#ifndef HERALD_STORE_H
#define HERALD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STORE_SCHEMA_VERSION 7 /* PRAGMA user_version this program writes and understands */

/*  What each kind of Herald database holds in SQLite's PRAGMA application_id (four ASCII
    letters), beside user_version: every program refuses a file of another kind, or a foreign
    SQLite file, before writing anything (docs/operations.md, "Database kinds"). An event
    store and a mirror share the schema; a file of an older Herald (0) gets its kind when a
    program that may write opens it. */
#define STORE_APPID_EVENTS 0x48524C53 /* "HRLS": an event store (herald-store init) */
#define STORE_APPID_MIRROR 0x48524C4D /* "HRLM": a mirror (herald-sub --sink mirror) */
#define STORE_APPID_STATE 0x48524C54  /* "HRLT": a subscriber's --state file */

/*  "an event store", "a mirror", "a subscriber state file" for a Herald application_id, NULL
    for any other. Static. */
const char *store_kind_name(int32_t application_id);

typedef struct store store_t;

/*  Called once per row by store_changes and store_snapshot. Return 0 to go on,
    non-zero to stop the scan (the scan then returns that value). */
typedef int(store_change_fn)(const store_change_t *change, void *arg);

typedef enum {
    STORE_OPEN = 0,           /* an existing store, migrated to STORE_SCHEMA_VERSION if older */
    STORE_CREATE = 1,         /* a new store; fails if the file already holds a store */
    STORE_READONLY = 2,       /* an existing store, read only, never migrated */
    STORE_OPEN_OR_CREATE = 3, /* STORE_OPEN, or STORE_CREATE when the file is missing or holds
                                 no table at all (a creation cut short, by a full disk say) */
    STORE_MIRROR = 4,         /* STORE_OPEN_OR_CREATE for a mirror: creates one, or opens one
                                 (an event store refused, STORE_ERR_NOT_STORE) */
} store_mode_t;

/*  Checks, reading only, that the file at path is of a kind mode may open (STORE_MIRROR: a
    mirror, else an event store or a mirror), blank, or of an older Herald, as store_open
    would, but without creating or changing anything: for a program's checks of its
    configuration (exit 2). 0 (a missing file too), -1 with what the file is in err, or -2
    when it could not be read (a runtime failure, the reason in err: opening it will say). */
int store_check_kind(const char *path, store_mode_t mode, char *err, size_t errlen);

/*  The page size of a new store: a replay or a backlog reads the change log (joined to the
    records before schema 5, with their images since), and 16 KiB pages make that scan about 12 %
   cheaper than SQLite's default 4 KiB (fewer page reads); docs/performance.md. An existing store
   keeps its page size. */
#define STORE_PAGE_SIZE 16384

/*  What kind of failure a call met, beside its message (store_error): callers decide by the
    code, never by the message's words. Codes that come from SQLite are mapped from its
    extended result code. */
typedef enum {
    STORE_ERR_NONE = 0,  /* no failure */
    STORE_ERR_BUSY,      /* another connection holds the lock (busy, locked): try again later */
    STORE_ERR_NEWER,     /* the store's schema is newer than this program's: upgrade herald */
    STORE_ERR_OLDER,     /* an older schema opened read-only: open it read-write once */
    STORE_ERR_NOT_STORE, /* not a Herald store: another database, or not a database at all */
    STORE_ERR_EXISTS,    /* STORE_CREATE on a file that already holds a database */
    STORE_ERR_READONLY,  /* a write on a read-only handle or file */
    STORE_ERR_CORRUPT,   /* the database file is damaged */
    STORE_ERR_FULL,      /* the disk is full */
    STORE_ERR_NOT_FOUND, /* the file, or the record named, does not exist */
    STORE_ERR_INVALID,   /* the input breaks a rule: a record's field, a foreign key, no id */
    STORE_ERR_IO,        /* an I/O error, or the file cannot be opened or read */
    STORE_ERR_NOMEM,     /* out of memory */
    STORE_ERR_OTHER,     /* anything else (an SQL error: a store edited by hand, or a bug) */
} store_err_t;

/*  1 when path is an SQLite database with no schema yet (user_version 0, no table): a store
    another program is creating right now (its first transaction not committed), or an empty
    database; 0 when it has a schema, or is no database; -1 when it cannot be read now.
    Read-only. */
int store_being_created(const char *path);

/*  Opens the store at path. Returns NULL on failure with the failure's code in *code (code
    may be NULL; STORE_ERR_NONE on success) and the reason in err (always NUL-terminated,
    names the path). A store whose user_version is newer than STORE_SCHEMA_VERSION is refused
    (STORE_ERR_NEWER). Sets WAL, synchronous=FULL, foreign_keys, busy_timeout. */
store_t *store_open(const char *path, store_mode_t mode, store_err_t *code, char *err,
                    size_t errlen);

/*  store_open without the code. */
store_t *store_new(const char *path, store_mode_t mode, char *err, size_t errlen);

/*  Closes the store and frees everything; sets *self_p to NULL. Safe on NULL. */
void store_destroy(store_t **self_p);

/*  The reason the last failed call failed ("" if none). Borrowed. */
const char *store_error(store_t *self);

/*  The code of the last failed call (STORE_ERR_NONE if none). */
store_err_t store_errcode(const store_t *self);

/*  A code's name for logs and tests: "busy", "newer", "not_store", ... ("unknown" for a value
    that is not a store_err_t). Static. */
const char *store_err_name(store_err_t code);

/*  The store's stream id (a random UUID made at creation). Borrowed. */
const char *store_stream_id(store_t *self);

/*  The highest seq in the change log (0 when empty), or -1 on error. */
int64_t store_head_seq(store_t *self);

/*  PRAGMA data_version: changes when another connection commits. -1 on error. */
int64_t store_data_version(store_t *self);

/*  The file the store lives in. Borrowed. */
const char *store_path(store_t *self);

/*  How long a statement waits for another writer's lock before failing with SQLITE_BUSY
    (default 5000 ms). A service loop that must stay responsive sets it short. A write that
    waited in vain names the lock's holder in its error; with 0 (no wait) it does not look
    (that reads /proc/locks, milliseconds on a busy machine). 0 or -1. */
int store_set_busy_timeout(store_t *self, int ms);

/*  durable (the default): every commit is synced (synchronous=FULL) and survives a power cut.
    Not durable: synchronous=NORMAL, a commit survives a crash of the process but may be lost
    with the last ones at a power cut; for writes that are cheap to lose, such as a
    publisher's cursor (subscribers drop what they already have); such a connection also
    leaves WAL checkpoints to the store's other writers. 0 or -1. */
int store_set_durable(store_t *self, bool durable);

/*  The most memory SQLite's page cache of this connection may hold, in KiB (SQLite's default
    is 2000). A connection that reads the log in order, like the publisher's, gains nothing
    from more than the B-tree's inner pages and a few leaves. 0 or -1. */
int store_set_cache_kib(store_t *self, int kib);

/*  Explicit transactions, so several edits form one all-or-nothing change.
    Without them every edit is its own transaction. 0 or -1. */
int store_begin(store_t *self);
int store_commit(store_t *self);
int store_rollback(store_t *self);

/*  Inserts or updates the event (upsert by id). The record is validated first. An update
    that changes nothing writes nothing. 0 or -1. */
int store_put_event(store_t *self, const store_event_t *event);
int store_put_press(store_t *self, const store_press_t *press);

/*  Marks an event cancelled, with an optional reason (NULL or ""). -1 if it does not exist. */
int store_cancel_event(store_t *self, const char *id, const char *reason);

/*  Deletes a record. -1 if it does not exist. Deleting an event that press releases refer
    to fails (foreign key) unless they are deleted first in the same transaction. */
int store_delete_event(store_t *self, const char *id);
int store_delete_press(store_t *self, const char *id);

/*  Reads a record by id into *out (borrowed text). 1 found, 0 not found, -1 error. */
int store_get_event(store_t *self, const char *id, store_event_t *out);
int store_get_press(store_t *self, const char *id, store_press_t *out);

/*  Scans the change log after after_seq in seq order, at most limit rows (limit > 0),
    each with the image of its record as that change left it (store_change_t.present). If
    since_ms > 0 the scan starts at the first change committed at or after since_ms instead
    (after_seq still bounds it below).
    Returns the number of rows visited, the callback's non-zero value if it stopped the
    scan, or -1 on error. No allocation per row. */
int64_t store_changes(store_t *self, int64_t after_seq, int64_t since_ms, int limit,
                      store_change_fn *fn, void *arg);

/*  Scans the current catalogue: every existing record whose latest change has seq >
    after_seq, in the order of that seq, at most limit rows. Each row's seq and change are
    those of the record's latest change (cancelled events as STORE_CANCELLED); its image is
    the record's current state. */
int64_t store_snapshot(store_t *self, int64_t after_seq, int limit, store_change_fn *fn, void *arg);

/*  Scans the catalogue as it stood at at_seq: for every record, its latest change with
    seq <= at_seq unless that is a deletion, with the image that change left, in the order of
    that seq after after_seq, at most limit rows (page with after_seq = the last seq seen and
    the same at_seq). Each row's change is as in store_snapshot. A record whose state at
    at_seq was not kept (a change a schema 4 store had superseded when it was migrated) comes
    with present false. Returns as store_changes does. */
int64_t store_snapshot_at(store_t *self, int64_t at_seq, int64_t after_seq, int limit,
                          store_change_fn *fn, void *arg);

/*  Retention (compact.c): removes from the change log every change with seq < before that
    a later change of the same record with seq < before supersedes, and every deletion below
    before with what it superseded, in one transaction of its own (not inside store_begin).
    What stays below the horizon is each record as it stood at before - 1, so that a snapshot
    as of any seq >= before - 1, and a replay after any seq >= before - 1, are what they were;
    a replay from lower is refused (store_compacted). Records the horizon in meta:
    compacted_before = before, compacted_before_ms = the latest commit time of a change below
    it. before must be 1 .. head + 1 (STORE_ERR_INVALID otherwise); one at or below the
    horizon recorded removes nothing. The file does not shrink: its free pages are reused by
    later writes, and VACUUM returns them. Returns the number of change rows removed, or -1
    (the store untouched). No other DELETE on the change log is taken (schema 6's trigger). */
int64_t store_compact(store_t *self, int64_t before);

/*  The horizon of the store's compactions: changes with seq < *before may have been removed
    (0: never compacted), and *before_ms is the latest commit time of a change below it (0: not
    known), so that a replay from a later time misses nothing. Either pointer may be NULL.
    0 or -1. */
int store_compacted(store_t *self, int64_t *before, int64_t *before_ms);

/*  The seq of the first change committed at or after since_ms (head + 1 when none is): the
    horizon that keeps the changes of a period whole (herald-store compact --keep-days). -1 on
    error. */
int64_t store_first_seq_since(store_t *self, int64_t since_ms);

/*  Called once per record by store_list_events / store_list_press (text borrowed until
    the callback returns). Return 0 to go on, non-zero to stop the listing. */
typedef int(store_event_fn)(const store_event_t *event, void *arg);
typedef int(store_press_fn)(const store_press_t *press, void *arg);

/*  Lists every event (press release) in id order. Returns 0 when all were listed, the
    callback's non-zero value if it stopped, or -1 on error. */
int store_list_events(store_t *self, store_event_fn *fn, void *arg);
int store_list_press(store_t *self, store_press_fn *fn, void *arg);

/*  Named cursors kept in the store (the publisher's last published seq, a mirror's last
    applied origin seq). get: 1 and *seq / stream_id (may be NULL; borrowed) when the cursor
    exists, 0 when not, -1 on error. set: 0 or -1; joins the current transaction if any. */
int store_cursor_get(store_t *self, const char *name, int64_t *seq, const char **stream_id);
int store_cursor_set(store_t *self, const char *name, int64_t seq, const char *stream_id);

/*  Per-record origin seq for mirrors: the seq of the latest announcement applied to the
    record (kept after a delete, as a tombstone). get: 1 found, 0 not, -1 error. */
int store_origin_get(store_t *self, store_type_t type, const char *id, int64_t *seq);
int store_origin_set(store_t *self, store_type_t type, const char *id, int64_t seq);
/*  Deletes every record, origin seq and cursor of a mirror (a resync from a new stream),
    writing the deletions to the change log like any other. 0 or -1. */
int store_clear(store_t *self);

/*  Imports a JSON document in the shape store_export prints, or NDJSON (one object per line
    with "type": "event" or "press_release"). All or nothing: on the first bad record returns
    -1 with a message naming its line (NDJSON) or list and index (JSON) and field in err, and
    the store is untouched. On success returns the number of records read. */
int64_t store_import(store_t *self, const char *data, size_t len, char *err, size_t errlen);

/*  store_import reading from a stream: NDJSON is read and applied line by line in one
    transaction (bounded memory whatever the size); a document in the store_export shape is
    read whole. Same result and errors as store_import. */
int64_t store_import_file(store_t *self, FILE *in, char *err, size_t errlen);

/*  Told how far an import has come: records applied so far and bytes of input read. */
typedef void(store_progress_fn)(void *arg, int64_t records, int64_t bytes);

/*  store_import_file that calls progress(arg, ...) every STORE_PROGRESS_EVERY NDJSON lines
    (the callee reads the clock, not the importer); progress may be NULL. */
#define STORE_PROGRESS_EVERY 256
int64_t store_import_file_progress(store_t *self, FILE *in, store_progress_fn *progress, void *arg,
                                   char *err, size_t errlen);

/*  Writes the whole catalogue as canonical JSON (lists sorted by id, keys in a fixed order,
    indented) to out. 0 or -1. */
int store_export(store_t *self, FILE *out);

/*  Writes one record as store_export writes it in its lists, on one line (line: JSON lines,
    then a newline) or indented. 0, or -1 if out of memory or out could not be written. */
int store_write_event(const store_event_t *event, FILE *out, bool line);
int store_write_press(const store_press_t *press, FILE *out, bool line);
/*  Writes the record a change left (change->present) as one JSON line in the import's shape:
    "type" first, then the fields as store_write_event or store_write_press writes them. 0, or
    -1 if out of memory or out could not be written. */
int store_write_change(const store_change_t *change, FILE *out);

/*  Loads the five events of the seed page with their press releases and people. 0 or -1. */
int store_load_sample(store_t *self);

/*  Online backup (backup.c): copies the store at live_path, which may be in use (writers go
    on meanwhile), into a new file dest through SQLite's backup API: a consistent snapshot,
    checked (PRAGMA quick_check) and synced, written as dest.partial and renamed to dest when
    complete. Never overwrites: dest must not exist. 0, or -1 with the reason in err. */
int store_backup(const char *live_path, const char *dest, char *err, size_t errlen);

/*  Online restore (backup.c): replaces the content of the store at live_path, which may be
    in use, with that of src, in one write transaction that every other connection sees as a
    commit (never by replacing the file). src must be a Herald store (not newer than this
    program) that passes PRAGMA quick_check; it is not changed. The restored store gets a
    new stream id and no publisher cursor: a running herald-pub announces it as a new stream
    and subscribers resync. 0, or -1 with the reason in err (the live store is untouched). */
int store_restore(const char *live_path, const char *src, char *err, size_t errlen);

/*  Closes a handle whose file was replaced or removed under it, without a checkpoint: SQLite
    would otherwise write the log into the old file and delete the -wal and -shm found by
    name, which may be another store's by now. Sets *self_p to NULL; safe on NULL. */
void store_abandon(store_t **self_p);

/*  A cheap check that the store behind a handle is still the same stream (a restore gives
    it a new stream id): a prepared read of meta. new: NULL if out of memory or the statement
    cannot be prepared (reason in store_error). destroy before the store; safe on NULL. */
typedef struct store_probe store_probe_t;
store_probe_t *store_probe_new(store_t *store);
void store_probe_destroy(store_probe_t **self_p);
/*  1 if the stream id in the file differs from store_stream_id (the store was restored),
    0 if not, -1 on error (reason in store_error). */
int store_probe_stream_changed(store_probe_t *self);

/*  Test support: creates a store at path with the schema of an older version (1 ..
    STORE_SCHEMA_VERSION), so that the migration path can be tested. 0 or -1 (reason in err). */
int store_create_at_version(const char *path, int version, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
