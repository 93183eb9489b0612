/*  sink_atom.c -- the Atom sink: the latest N announcements as an RFC 4287 feed written with
    libxml2's xmlTextWriter (which escapes the text): new, changed, cancelled and deleted
    events and press releases, newest first, each entry's id a tag IRI of the stream and the
    seq (stable across rewrites and restarts), updated the change's commit time.

    The entries live in the --state file (table feed_atom, keyed by seq: an announcement seen
    twice, as a snapshot and a replay overlap, is one entry); each batch prunes it to N.
*/
#include <libxml/xmlwriter.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed_sink.h"
#include "sink.h"

static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS feed_atom ("
    " seq INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, type TEXT NOT NULL,"
    " record_id TEXT NOT NULL, change TEXT NOT NULL, committed_ms INTEGER NOT NULL,"
    " title TEXT NOT NULL, url TEXT NOT NULL, summary TEXT NOT NULL, detail TEXT NOT NULL)";

enum { S_PUT, S_LAST_TITLE, S_PRUNE, S_LIST, S_CLEAR, S_COUNT };

static const char *s_sql[S_COUNT] = {
    [S_PUT] = "INSERT OR IGNORE INTO feed_atom VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_LAST_TITLE] = "SELECT title, url FROM feed_atom WHERE type = ?1 AND record_id = ?2"
                     " AND change != 'deleted' ORDER BY seq DESC LIMIT 1",
    [S_PRUNE] = "DELETE FROM feed_atom WHERE seq <= (SELECT seq FROM feed_atom"
                " ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
    [S_LIST] = "SELECT seq, stream_id, type, record_id, change, committed_ms, title, url,"
               " summary, detail FROM feed_atom ORDER BY seq DESC LIMIT ?1",
    [S_CLEAR] = "DELETE FROM feed_atom",
};

typedef struct {
    sqlite3 *db;                  /* the --state file's connection (borrowed) */
    sqlite3_stmt *st[S_COUNT];    /* s_sql, prepared */
    const sink_feed_options_t *o; /* the options (borrowed: the frame's copy) */
    const char *name;             /* the feed's title */
    int entries;                  /* entries kept and written */
    bool added;                   /* an entry was added in this batch: prune at flush */
    char detail[1024];            /* scratch: an event's dates and place */
    char error[512];              /* reason of the last failure */
} atom_t;

static int s_db_fail(atom_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s: %s", what, sqlite3_errmsg(self->db));
    return -1;
}

static void s_destroy(void **k_p)
{
    if (k_p && *k_p) {
        atom_t *self = *k_p;
        for (int i = 0; i < S_COUNT; i++) {
            sqlite3_finalize(self->st[i]);
        }
        free(self);
        *k_p = NULL;
    }
}

static void *s_open(sqlite3 *db, const sink_feed_options_t *options, char *err, size_t errlen)
{
    atom_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->db = db;
    self->o = options;
    self->name = options->name ? options->name : SINK_FEED_DEFAULT_NAME;
    self->entries = options->entries_n;
    int rc = sqlite3_exec(db, s_schema, NULL, NULL, NULL);
    for (int i = 0; rc == SQLITE_OK && i < S_COUNT; i++) {
        rc = sqlite3_prepare_v2(db, s_sql[i], -1, &self->st[i], NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "atom tables: %s", sqlite3_errmsg(db));
        void *k = self;
        s_destroy(&k);
        return NULL;
    }
    return self;
}

static const char *s_col(sqlite3_stmt *st, int i)
{
    const unsigned char *text = sqlite3_column_text(st, i);
    return text ? (const char *) text : "";
}

static int s_apply(void *k, const announcement_t *a)
{
    atom_t *self = k;
    bool is_event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    bool deleted = a->change == HERALD__V1__CHANGE__DELETED;
    if (!deleted && codec_is_id_only(a)) {
        return 0; /* a replayed change of a record deleted since: nothing to show */
    }
    const char *type = is_event ? "event" : "press";
    const char *id = is_event ? a->event->id : a->press_release->id;
    const char *title = is_event ? a->event->title : a->press_release->title;
    const char *url = is_event ? a->event->url : a->press_release->url;
    const char *summary = is_event ? a->event->summary : a->press_release->summary;
    self->detail[0] = '\0';
    if (is_event && !deleted) {
        const Herald__V1__Event *e = a->event;
        snprintf(self->detail, sizeof self->detail, "%s to %s, %s%s%s%s%s", e->start_date,
                 e->end_date, e->city, e->city[0] ? ", " : "", e->country,
                 e->cancel_reason[0] ? ". Cancelled: " : "", e->cancel_reason);
    } else if (!is_event && !deleted) {
        snprintf(self->detail, sizeof self->detail, "Published %s", a->press_release->published_on);
    }
    sqlite3_stmt *last = self->st[S_LAST_TITLE];
    if (deleted) {
        /*  A deletion carries the id alone: the title is the last one this feed saw. */
        sqlite3_bind_text(last, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(last, 2, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(last);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            sqlite3_reset(last);
            return s_db_fail(self, "last title");
        }
        title = rc == SQLITE_ROW ? s_col(last, 0) : id;
        url = rc == SQLITE_ROW ? s_col(last, 1) : "";
        summary = "";
    }
    sqlite3_stmt *st = self->st[S_PUT];
    sqlite3_bind_int64(st, 1, (sqlite3_int64) a->seq);
    sqlite3_bind_text(st, 2, a->stream_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, codec_change_name(a->change), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, a->committed_at_ms);
    sqlite3_bind_text(st, 7, title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, url, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, summary, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, self->detail, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_reset(last);
    if (rc != SQLITE_DONE) {
        return s_db_fail(self, "put entry");
    }
    if (sqlite3_changes(self->db) == 0) {
        return 0;
    }
    self->added = true;
    return 1;
}

static int s_flush(void *k)
{
    atom_t *self = k;
    if (!self->added) {
        return 0;
    }
    sqlite3_stmt *st = self->st[S_PRUNE];
    sqlite3_bind_int(st, 1, self->entries);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    self->added = false;
    return rc == SQLITE_DONE ? 0 : s_db_fail(self, "prune");
}

static int s_clear(void *k)
{
    atom_t *self = k;
    int rc = sqlite3_step(self->st[S_CLEAR]);
    sqlite3_reset(self->st[S_CLEAR]);
    return rc == SQLITE_DONE ? 0 : s_db_fail(self, "clear");
}

/*  ms since the epoch as an RFC 3339 UTC time into out. */
static const char *s_time(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

/*  The entry's title: what happened, then the record's title. */
static void s_title(const char *type, const char *change, const char *title, char *out, size_t cap)
{
    static const struct {
        const char *type, *change, *word;
    } words[] = {
        {"event", "created", "New"},
        {"event", "updated", "Updated"},
        {"event", "cancelled", "Cancelled"},
        {"event", "deleted", "Removed"},
        {"press", "created", ""}, /* its title says it is a press release */
        {"press", "updated", "Updated"},
        {"press", "deleted", "Withdrawn"},
    };
    const char *word = "Changed";
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (!strcmp(type, words[i].type) && !strcmp(change, words[i].change)) {
            word = words[i].word;
        }
    }
    snprintf(out, cap, "%s%s%s", word, word[0] ? ": " : "", title);
}

#define W(call)                                                                                    \
    do {                                                                                           \
        if ((call) < 0) {                                                                          \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
#define X(s) ((const xmlChar *) (s))

static char *s_render(void *k, size_t *len, int64_t *items)
{
    atom_t *self = k;
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    sqlite3_stmt *st = self->st[S_LIST];
    char *out = NULL;
    char when[32], text[8192], id[512];
    *items = 0;
    if (!w) {
        goto fail;
    }
    sqlite3_bind_int(st, 1, self->entries);
    int rc = sqlite3_step(st);
    int64_t newest = rc == SQLITE_ROW ? sqlite3_column_int64(st, 5) : 0;
    if (!newest) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        newest = (int64_t) now.tv_sec * 1000;
    }
    W(xmlTextWriterSetIndent(w, 1));
    W(xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL));
    W(xmlTextWriterStartElementNS(w, NULL, X("feed"), X("http://www.w3.org/2005/Atom")));
    W(xmlTextWriterWriteElement(w, X("title"), X(self->name)));
    const char *base = strrchr(self->o->out, '/');
    snprintf(id, sizeof id, "tag:herald,2026:feed/%s", base ? base + 1 : self->o->out);
    W(xmlTextWriterWriteElement(w, X("id"), X(self->o->url ? self->o->url : id)));
    W(xmlTextWriterWriteElement(w, X("updated"), X(s_time(newest, when, sizeof when))));
    W(xmlTextWriterWriteElement(w, X("generator"), X("Herald")));
    W(xmlTextWriterStartElement(w, X("author")));
    W(xmlTextWriterWriteElement(w, X("name"), X("Herald")));
    W(xmlTextWriterEndElement(w));
    if (self->o->url) {
        W(xmlTextWriterStartElement(w, X("link")));
        W(xmlTextWriterWriteAttribute(w, X("rel"), X("self")));
        W(xmlTextWriterWriteAttribute(w, X("href"), X(self->o->url)));
        W(xmlTextWriterEndElement(w));
    }
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        snprintf(id, sizeof id, "tag:herald,2026:stream/%s/change/%lld", s_col(st, 1),
                 (long long) sqlite3_column_int64(st, 0));
        s_title(s_col(st, 2), s_col(st, 4), s_col(st, 6), text, sizeof text);
        W(xmlTextWriterStartElement(w, X("entry")));
        W(xmlTextWriterWriteElement(w, X("id"), X(id)));
        W(xmlTextWriterWriteElement(w, X("title"), X(text)));
        W(xmlTextWriterWriteElement(w, X("updated"),
                                    X(s_time(sqlite3_column_int64(st, 5), when, sizeof when))));
        W(xmlTextWriterStartElement(w, X("category")));
        W(xmlTextWriterWriteAttribute(w, X("term"), X(s_col(st, 4))));
        W(xmlTextWriterEndElement(w));
        W(xmlTextWriterStartElement(w, X("category")));
        W(xmlTextWriterWriteAttribute(w, X("term"), X(s_col(st, 2))));
        W(xmlTextWriterEndElement(w));
        if (s_col(st, 7)[0]) {
            W(xmlTextWriterStartElement(w, X("link")));
            W(xmlTextWriterWriteAttribute(w, X("rel"), X("alternate")));
            W(xmlTextWriterWriteAttribute(w, X("href"), X(s_col(st, 7))));
            W(xmlTextWriterEndElement(w));
        }
        const char *summary = s_col(st, 8), *detail = s_col(st, 9);
        if (summary[0] || detail[0]) {
            W(xmlTextWriterStartElement(w, X("summary")));
            W(xmlTextWriterWriteAttribute(w, X("type"), X("text")));
            W(xmlTextWriterWriteString(w, X(detail)));
            W(xmlTextWriterWriteString(w, X(detail[0] && summary[0] ? "\n\n" : "")));
            W(xmlTextWriterWriteString(w, X(summary)));
            W(xmlTextWriterEndElement(w));
        }
        W(xmlTextWriterEndElement(w));
        (*items)++;
    }
    if (rc != SQLITE_DONE) {
        s_db_fail(self, "list entries");
        goto done;
    }
    W(xmlTextWriterEndElement(w));
    W(xmlTextWriterEndDocument(w));
    xmlFreeTextWriter(w); /* flushes into buf */
    w = NULL;
    *len = (size_t) xmlBufferLength(buf);
    out = malloc(*len + 1);
    if (out) {
        memcpy(out, xmlBufferContent(buf), *len);
        out[*len] = '\0';
    } else {
        snprintf(self->error, sizeof self->error, "out of memory");
    }
    goto done;
fail:
    snprintf(self->error, sizeof self->error, "xmlTextWriter failed (out of memory?)");
done:
    sqlite3_reset(st);
    if (w) {
        xmlFreeTextWriter(w);
    }
    if (buf) {
        xmlBufferFree(buf);
    }
    return out;
}

static const char *s_error(void *k)
{
    atom_t *self = k;
    return self->error;
}

static const feed_kind_t s_kind = {
    .name = "atom",
    .content_type = "application/atom+xml",
    .open = s_open,
    .apply = s_apply,
    .flush = s_flush,
    .clear = s_clear,
    .render = s_render,
    .error = s_error,
    .destroy = s_destroy,
};

FEED_SINK_TYPE(sink_atom_type, s_kind, "atom",
               "the feed's entries are kept there, next to the position");
