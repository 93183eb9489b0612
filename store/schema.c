/*  schema.c -- the store's schema as a list of migrations, one per PRAGMA user_version.

    The change log is written only by triggers, so that no writer (this library, a script,
    the sqlite3 shell) can change a record without its change row, in the same transaction.
    Version 1: meta, events, press_releases, the append-only change log and its triggers.
    Version 2: record_heads (the latest change of every existing record, kept by a trigger on
    the log, so that a snapshot is an index scan), cursors, origins, an index on commit time.
    Version 3: events.people_flat, the people list flattened for the scans (see
    S_PEOPLE_FLAT), backfilled, and kept right for every writer by a trigger.
    Version 4: changes.record_rowid, where the record's row is, for the scans (see s_v4).
*/
#include "store_private.h"

#include <stdio.h>

/*  Milliseconds since the epoch, exact: %s gives whole seconds, %f gives "SS.SSS". */
#define S_NOW_MS                                                                                   \
    "(CAST(strftime('%s','now') AS INTEGER) * 1000"                                                \
    " + CAST(substr(strftime('%f','now'), 4) AS INTEGER))"

#define S_EVENT_DIFFERS                                                                            \
    "(new.kind IS NOT old.kind OR new.title IS NOT old.title"                                      \
    " OR new.start_date IS NOT old.start_date OR new.end_date IS NOT old.end_date"                 \
    " OR new.city IS NOT old.city OR new.country IS NOT old.country"                               \
    " OR new.summary IS NOT old.summary OR new.url IS NOT old.url"                                 \
    " OR new.status IS NOT old.status OR new.cancel_reason IS NOT old.cancel_reason"               \
    " OR new.people IS NOT old.people)"

#define S_PRESS_DIFFERS                                                                            \
    "(new.event_id IS NOT old.event_id OR new.title IS NOT old.title"                              \
    " OR new.published_on IS NOT old.published_on OR new.url IS NOT old.url"                       \
    " OR new.summary IS NOT old.summary)"

/*  An event's people as the scans read them: name, char(31), role per person, persons joined
    by char(30); '' when there are none. store.c computes the same text in C (s_people_flat)
    when it writes an event; both must change together. */
#define S_PEOPLE_FLAT(people)                                                                      \
    "coalesce((SELECT group_concat(coalesce(json_extract(value, '$.name'), '') || char(31)"        \
    " || coalesce(json_extract(value, '$.role'), ''), char(30)) FROM json_each(" people ")), '')"

#define S_EVENT_TOPIC(row) "'event.' || " row ".kind || '.' || " row ".country || '.'"

/*  The six triggers that write the change log, written once for two migrations: version 1
    created them; version 4 made them note where the record's row is too (record_rowid, see
    s_v4). col is "" or ", record_rowid"; new_rowid and old_rowid are "" or the value, after a
    comma. */
#define S_EVENTS_AI_SQL(col, new_rowid)                                                            \
    "CREATE TRIGGER events_ai AFTER INSERT ON events BEGIN"                                        \
    " UPDATE events SET version = 1 WHERE rowid = new.rowid AND version IS NOT 1;"                 \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('event', new.id, 'created', " S_NOW_MS ", " S_EVENT_TOPIC("new") new_rowid ");"       \
    " END;"
#define S_EVENTS_AU_SQL(col, new_rowid)                                                            \
    "CREATE TRIGGER events_au AFTER UPDATE ON events"                                              \
    " WHEN " S_EVENT_DIFFERS " OR (new.version IS NOT old.version AND new.version IS NOT 1)"       \
    " BEGIN"                                                                                       \
    " UPDATE events SET version = CASE WHEN " S_EVENT_DIFFERS                                      \
    "  THEN old.version + 1 ELSE old.version END WHERE rowid = new.rowid;"                         \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " SELECT 'event', new.id,"                                                                     \
    "  CASE WHEN old.status = 'scheduled' AND new.status = 'cancelled'"                            \
    "  THEN 'cancelled' ELSE 'updated' END,"                                                       \
    "  " S_NOW_MS ", " S_EVENT_TOPIC("new") new_rowid " WHERE " S_EVENT_DIFFERS ";"                \
    " END;"
#define S_EVENTS_AD_SQL(col, old_rowid)                                                            \
    "CREATE TRIGGER events_ad AFTER DELETE ON events BEGIN"                                        \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('event', old.id, 'deleted', " S_NOW_MS ", " S_EVENT_TOPIC("old") old_rowid ");"       \
    " END;"
#define S_PRESS_AI_SQL(col, new_rowid)                                                             \
    "CREATE TRIGGER press_releases_ai AFTER INSERT ON press_releases BEGIN"                         \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('press_release', new.id, 'created', " S_NOW_MS ", 'press.'" new_rowid ");"           \
    " END;"
#define S_PRESS_AU_SQL(col, new_rowid)                                                             \
    "CREATE TRIGGER press_releases_au AFTER UPDATE ON press_releases"                              \
    " WHEN " S_PRESS_DIFFERS " BEGIN"                                                              \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('press_release', new.id, 'updated', " S_NOW_MS ", 'press.'" new_rowid ");"           \
    " END;"
#define S_PRESS_AD_SQL(col, old_rowid)                                                             \
    "CREATE TRIGGER press_releases_ad AFTER DELETE ON press_releases BEGIN"                         \
    " INSERT INTO changes (record_type, record_id, change, committed_at_ms, topic" col ")"         \
    " VALUES ('press_release', old.id, 'deleted', " S_NOW_MS ", 'press.'" old_rowid ");"           \
    " END;"

#define S_CHANGES_NO_UPDATE                                                                        \
    "CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes BEGIN"                              \
    " SELECT RAISE(ABORT, 'the change log is append-only: UPDATE on changes refused');"            \
    " END;"

static const char *s_v1 =
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"

    "CREATE TABLE events ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 200),"
    " kind TEXT NOT NULL CHECK (kind <> '' AND kind NOT GLOB '*[^a-z0-9-]*'),"
    " title TEXT NOT NULL CHECK (title <> ''),"
    " start_date TEXT NOT NULL CHECK (date(start_date, '+0 days') IS start_date),"
    " end_date TEXT NOT NULL CHECK (date(end_date, '+0 days') IS end_date"
    "  AND end_date >= start_date),"
    " city TEXT NOT NULL DEFAULT '',"
    " country TEXT NOT NULL CHECK (country GLOB '[A-Z][A-Z]'),"
    " summary TEXT NOT NULL DEFAULT '',"
    " url TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),"
    " cancel_reason TEXT NOT NULL DEFAULT '',"
    " people TEXT NOT NULL DEFAULT '[]'"
    "  CHECK (json_valid(people) AND json_type(people) = 'array'),"
    " version INTEGER NOT NULL DEFAULT 1"
    ");"

    "CREATE TABLE press_releases ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 200),"
    " event_id TEXT REFERENCES events(id),"
    " title TEXT NOT NULL CHECK (title <> ''),"
    " published_on TEXT NOT NULL CHECK (date(published_on, '+0 days') IS published_on),"
    " url TEXT NOT NULL DEFAULT '',"
    " summary TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX press_releases_event ON press_releases(event_id);"

    "CREATE TABLE changes ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " record_type TEXT NOT NULL CHECK (record_type IN ('event', 'press_release')),"
    " record_id TEXT NOT NULL,"
    " change TEXT NOT NULL CHECK (change IN ('created', 'updated', 'cancelled', 'deleted')),"
    " committed_at_ms INTEGER NOT NULL,"
    " topic TEXT NOT NULL"
    ");"
    S_CHANGES_NO_UPDATE
    "CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes BEGIN"
    " SELECT RAISE(ABORT, 'the change log is append-only: DELETE on changes refused');"
    " END;"

    /* Ids are stable: renaming would hide a delete and a create in one update. */
    "CREATE TRIGGER events_id_stable BEFORE UPDATE OF id ON events"
    " WHEN new.id IS NOT old.id BEGIN"
    " SELECT RAISE(ABORT, 'event ids are stable: delete and create instead');"
    " END;"
    "CREATE TRIGGER press_releases_id_stable BEFORE UPDATE OF id ON press_releases"
    " WHEN new.id IS NOT old.id BEGIN"
    " SELECT RAISE(ABORT, 'press release ids are stable: delete and create instead');"
    " END;"

    /* The version is the store's: 1 on insert whatever the writer said. */
    S_EVENTS_AI_SQL("", "")
    /* One trigger for content and version: its own UPDATE does not fire it again
       (recursive_triggers is off, and even on, the second pass changes nothing). A
       version of 1 is let through because events_ai writes it. */
    S_EVENTS_AU_SQL("", "")
    S_EVENTS_AD_SQL("", "")
    S_PRESS_AI_SQL("", "")
    S_PRESS_AU_SQL("", "")
    S_PRESS_AD_SQL("", "");

static const char *s_v2 =
    "CREATE TABLE record_heads ("
    " record_type TEXT NOT NULL,"
    " record_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " PRIMARY KEY (record_type, record_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX record_heads_seq ON record_heads(seq);"
    "INSERT INTO record_heads (record_type, record_id, seq)"
    " SELECT record_type, record_id, max(seq) FROM changes"
    " WHERE (record_type = 'event' AND record_id IN (SELECT id FROM events))"
    "  OR (record_type = 'press_release' AND record_id IN (SELECT id FROM press_releases))"
    " GROUP BY record_type, record_id;"

    /* Every change row, whoever wrote it, moves its record's head in the same statement.
       Delete and insert rather than INSERT OR REPLACE: an outer upsert would override the
       trigger's conflict clause. */
    "CREATE TRIGGER changes_heads AFTER INSERT ON changes BEGIN"
    " DELETE FROM record_heads"
    "  WHERE record_type = new.record_type AND record_id = new.record_id;"
    " INSERT INTO record_heads (record_type, record_id, seq)"
    "  SELECT new.record_type, new.record_id, new.seq WHERE new.change <> 'deleted';"
    " END;"

    "CREATE TABLE cursors ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " seq INTEGER NOT NULL,"
    " stream_id TEXT"
    ");"
    "CREATE TABLE origins ("
    " record_type TEXT NOT NULL CHECK (record_type IN ('event', 'press_release')),"
    " record_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " PRIMARY KEY (record_type, record_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX changes_committed_at ON changes(committed_at_ms);";

/*  people_flat is derived, not content: it is not in S_EVENT_DIFFERS, so writing it alone
    writes no change row and leaves version alone. The library writes the right value with
    the record, so the triggers' WHEN is false and the body never runs; the WHEN costs one
    flattening per insert, and per update only when people or people_flat changed (an upsert
    that leaves both as they were keeps a row that was right). Raw SQL writers (the sqlite3
    shell, scripts) get the column written by the triggers. people_flat is in the column list
    so that a writer setting it by hand is corrected too; the trigger's own UPDATE does not
    fire it again (recursive_triggers is off, and even on, the WHEN is then false). */
/* clang-format off */
static const char *s_v3 =
    "ALTER TABLE events ADD COLUMN people_flat TEXT NOT NULL DEFAULT '';"
    "UPDATE events SET people_flat = " S_PEOPLE_FLAT("people") ";"
    "CREATE TRIGGER events_people_flat_ai AFTER INSERT ON events"
    " WHEN new.people_flat IS NOT " S_PEOPLE_FLAT("new.people") " BEGIN"
    " UPDATE events SET people_flat = " S_PEOPLE_FLAT("new.people") " WHERE rowid = new.rowid;"
    " END;"
    "CREATE TRIGGER events_people_flat_au AFTER UPDATE OF people, people_flat ON events"
    " WHEN (new.people IS NOT old.people OR new.people_flat IS NOT old.people_flat)"
    "  AND new.people_flat IS NOT " S_PEOPLE_FLAT("new.people") " BEGIN"
    " UPDATE events SET people_flat = " S_PEOPLE_FLAT("new.people") " WHERE rowid = new.rowid;"
    " END;";
/* clang-format on */

/*  Each change row notes the rowid of its record's row, so that the scans reach the record
    with one integer seek instead of a text seek in the id index and then the row: the larger
    part of a scan's cost. A rowid is only a hint. The scans check that the row holds the
    change's record id, and look the record up by id when it does not (a VACUUM may renumber
    rows, and a deleted record's rowid may be reused or its id created again). The log is
    append-only, so the backfill lifts the guard for its own statement only. */
/* clang-format off */
static const char *s_v4 =
    "ALTER TABLE changes ADD COLUMN record_rowid INTEGER;"
    "DROP TRIGGER changes_no_update;"
    "UPDATE changes SET record_rowid ="
    " (SELECT rowid FROM events WHERE id = changes.record_id) WHERE record_type = 'event';"
    "UPDATE changes SET record_rowid ="
    " (SELECT rowid FROM press_releases WHERE id = changes.record_id)"
    " WHERE record_type = 'press_release';"
    S_CHANGES_NO_UPDATE
    "DROP TRIGGER events_ai; DROP TRIGGER events_au; DROP TRIGGER events_ad;"
    "DROP TRIGGER press_releases_ai; DROP TRIGGER press_releases_au;"
    "DROP TRIGGER press_releases_ad;"
    S_EVENTS_AI_SQL(", record_rowid", ", new.rowid")
    S_EVENTS_AU_SQL(", record_rowid", ", new.rowid")
    S_EVENTS_AD_SQL(", record_rowid", ", old.rowid")
    S_PRESS_AI_SQL(", record_rowid", ", new.rowid")
    S_PRESS_AU_SQL(", record_rowid", ", new.rowid")
    S_PRESS_AD_SQL(", record_rowid", ", old.rowid");
/* clang-format on */

int schema_apply(sqlite3 *db, int version, char *err, size_t errlen)
{
    const char *sql = NULL;
    switch (version) {
    case 1:
        sql = s_v1;
        break;
    case 2:
        sql = s_v2;
        break;
    case 3:
        sql = s_v3;
        break;
    case 4:
        sql = s_v4;
        break;
    default:
        snprintf(err, errlen, "no migration to schema version %d", version);
        return -1;
    }
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "migration to schema version %d: %s", version,
                 msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version);
    if (sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "setting schema version %d: %s", version,
                 msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}
