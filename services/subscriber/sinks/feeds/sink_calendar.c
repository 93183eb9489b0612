/*  sink_calendar.c -- the calendar sink: the catalogue's events as an RFC 5545 calendar
    (feed_ical.h), one all-day VEVENT per event, cancelled ones STATUS:CANCELLED, deleted ones
    gone. The events live in the --state file (table feed_calendar, one row per event with the
    seq of its latest change: a snapshot and a replay overlap, and an older change never
    overwrites a newer one; a deletion leaves a row marked deleted for the same reason).
*/
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_ical.h"
#include "feed_sink.h"
#include "sink.h"

static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS feed_calendar ("
    " id TEXT PRIMARY KEY, seq INTEGER NOT NULL, stream_id TEXT NOT NULL,"
    " deleted INTEGER NOT NULL, version INTEGER NOT NULL, stamp_ms INTEGER NOT NULL,"
    " title TEXT NOT NULL, start_date TEXT NOT NULL, end_date TEXT NOT NULL,"
    " city TEXT NOT NULL, country TEXT NOT NULL, summary TEXT NOT NULL, people TEXT NOT NULL,"
    " url TEXT NOT NULL, cancelled INTEGER NOT NULL, cancel_reason TEXT NOT NULL)";

static const char *s_put_sql =
    "INSERT INTO feed_calendar VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
    " ?14, ?15, ?16) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq,"
    " stream_id = excluded.stream_id, deleted = excluded.deleted, version = excluded.version,"
    " stamp_ms = excluded.stamp_ms, title = excluded.title, start_date = excluded.start_date,"
    " end_date = excluded.end_date, city = excluded.city, country = excluded.country,"
    " summary = excluded.summary, people = excluded.people, url = excluded.url,"
    " cancelled = excluded.cancelled, cancel_reason = excluded.cancel_reason"
    " WHERE excluded.seq > feed_calendar.seq";

static const char *s_list_sql =
    "SELECT id, stream_id, version, stamp_ms, title, start_date, end_date, city, country,"
    " summary, people, url, cancelled, cancel_reason FROM feed_calendar WHERE deleted = 0"
    " ORDER BY start_date, id";

typedef struct {
    sqlite3 *db;         /* the --state file's connection (borrowed) */
    sqlite3_stmt *put;   /* s_put_sql */
    sqlite3_stmt *list;  /* s_list_sql */
    sqlite3_stmt *clear; /* DELETE FROM feed_calendar */
    const char *name;    /* X-WR-CALNAME (borrowed from the options) */
    char *people;        /* scratch for the people's lines, grown as needed */
    size_t people_cap;   /* its room */
    char error[512];     /* reason of the last failure */
} calendar_t;

static int s_db_fail(calendar_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s: %s", what, sqlite3_errmsg(self->db));
    return -1;
}

static void s_destroy(void **k_p)
{
    if (k_p && *k_p) {
        calendar_t *self = *k_p;
        sqlite3_finalize(self->put);
        sqlite3_finalize(self->list);
        sqlite3_finalize(self->clear);
        free(self->people);
        free(self);
        *k_p = NULL;
    }
}

static void *s_open(sqlite3 *db, const sink_feed_options_t *options, char *err, size_t errlen)
{
    calendar_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->db = db;
    self->name = options->name ? options->name : SINK_FEED_DEFAULT_NAME;
    if (sqlite3_exec(db, s_schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, s_put_sql, -1, &self->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, s_list_sql, -1, &self->list, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM feed_calendar", -1, &self->clear, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "calendar tables: %s", sqlite3_errmsg(db));
        void *k = self;
        s_destroy(&k);
        return NULL;
    }
    return self;
}

/*  The people as "Name (Role)" lines in self->people. 0 or -1 (out of memory). */
static int s_people(calendar_t *self, const Herald__V1__Event *e)
{
    size_t need = 1;
    for (size_t i = 0; i < e->n_people; i++) {
        need += strlen(e->people[i]->name) + strlen(e->people[i]->role) + 4;
    }
    if (need > self->people_cap) {
        char *grown = realloc(self->people, need);
        if (!grown) {
            return -1;
        }
        self->people = grown;
        self->people_cap = need;
    }
    size_t used = 0;
    self->people[0] = '\0';
    for (size_t i = 0; i < e->n_people; i++) {
        const Herald__V1__Person *p = e->people[i];
        used += (size_t) snprintf(self->people + used, self->people_cap - used, "%s%s%s%s%s",
                                  used ? "\n" : "", p->name, p->role[0] ? " (" : "", p->role,
                                  p->role[0] ? ")" : "");
    }
    return 0;
}

static int s_apply(void *k, const announcement_t *a)
{
    calendar_t *self = k;
    if (a->body_case != HERALD__V1__ANNOUNCEMENT__BODY_EVENT) {
        return 0; /* press releases are not in the calendar */
    }
    bool deleted = a->change == HERALD__V1__CHANGE__DELETED;
    if (!deleted && codec_is_id_only(a)) {
        return 0; /* a replayed change of an event deleted since: its deletion follows */
    }
    const Herald__V1__Event *e = a->event;
    if (!deleted && s_people(self, e) != 0) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return -1;
    }
    sqlite3_stmt *st = self->put;
    sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64) a->seq);
    sqlite3_bind_text(st, 3, a->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, deleted);
    sqlite3_bind_int64(st, 5, deleted ? 0 : e->version);
    sqlite3_bind_int64(st, 6, a->committed_at_ms);
    const char *text[] = {e->title,
                          e->start_date,
                          e->end_date,
                          e->city,
                          e->country,
                          e->summary,
                          deleted ? "" : self->people,
                          e->url};
    for (int i = 0; i < 8; i++) {
        sqlite3_bind_text(st, 7 + i, deleted ? "" : text[i], -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, 15,
                     !deleted && e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED);
    sqlite3_bind_text(st, 16, deleted ? "" : e->cancel_reason, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        return s_db_fail(self, "put event");
    }
    return sqlite3_changes(self->db) > 0 ? 1 : 0;
}

static int s_clear(void *k)
{
    calendar_t *self = k;
    int rc = sqlite3_step(self->clear);
    sqlite3_reset(self->clear);
    return rc == SQLITE_DONE ? 0 : s_db_fail(self, "clear");
}

static const char *s_col(sqlite3_stmt *st, int i)
{
    const unsigned char *text = sqlite3_column_text(st, i);
    return text ? (const char *) text : "";
}

static char *s_render(void *k, size_t *len, int64_t *items)
{
    calendar_t *self = k;
    feed_ical_t *cal = feed_ical_new(self->name);
    if (!cal) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return NULL;
    }
    *items = 0;
    int rc;
    char uid[1024];
    sqlite3_stmt *st = self->list;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(uid, sizeof uid, "%s@%s.herald", s_col(st, 0), s_col(st, 1));
        feed_ical_event_t e = {.uid = uid,
                               .version = sqlite3_column_int64(st, 2),
                               .stamp_ms = sqlite3_column_int64(st, 3),
                               .title = s_col(st, 4),
                               .start_date = s_col(st, 5),
                               .end_date = s_col(st, 6),
                               .city = s_col(st, 7),
                               .country = s_col(st, 8),
                               .summary = s_col(st, 9),
                               .people = s_col(st, 10),
                               .url = s_col(st, 11),
                               .cancelled = sqlite3_column_int(st, 12) != 0,
                               .cancel_reason = s_col(st, 13)};
        if (feed_ical_add(cal, &e) == 0) {
            (*items)++;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        s_db_fail(self, "list events");
        feed_ical_destroy(&cal);
        return NULL;
    }
    char *text = feed_ical_render(cal, len);
    feed_ical_destroy(&cal);
    if (!text) {
        snprintf(self->error, sizeof self->error, "out of memory");
    }
    return text;
}

static const char *s_error(void *k)
{
    calendar_t *self = k;
    return self->error;
}

static const feed_kind_t s_kind = {
    .name = "calendar",
    .content_type = "text/calendar; charset=utf-8",
    .open = s_open,
    .apply = s_apply,
    .clear = s_clear,
    .render = s_render,
    .error = s_error,
    .destroy = s_destroy,
};

FEED_SINK_TYPE(sink_calendar_type, s_kind, "calendar",
               "the calendar's events are kept there, next to the position");
