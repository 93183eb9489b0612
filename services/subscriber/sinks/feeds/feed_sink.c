/*  feed_sink.c -- the frame of the feed sinks: a kind's tables live in the --state file and
    change inside the batch's transaction, which flush() ends by writing the position there
    (state_put) and committing, so a restart resumes exactly after what the tables hold.

    The file is rendered from the tables, never from memory: tick() rewrites it when a batch
    changed the feed, at most once per every_ms, so a replay of 100,000 changes costs a few
    rewrites. A rewrite that fails (a full disk) is logged and retried at the next interval;
    the tables keep everything meanwhile. The sink also rewrites at the start (the file then
    exists before the first change) and when it stops with a change not yet written.
*/
#include "feed_sink.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed_file.h"
#include "feed_http.h"
#include "log.h"
#include "state.h"

typedef struct {
    const feed_kind_t *kind;     /* its functions */
    void *k;                     /* its state */
    sink_feed_options_t options; /* the checked options (text borrowed) */
    state_t *state;              /* the --state file (borrowed) */
    sqlite3 *db;                 /* its connection (borrowed) */
    feed_http_t *http;           /* the server, NULL without --http */
    bool in_txn;                 /* a batch's transaction is open */
    bool dirty;                  /* the feed changed since the last rewrite */
    int64_t written_ms;          /* the last rewrite (wall clock), 0 before */
    int64_t rewrites;            /* rewrites done */
    int64_t rewrite_errors;      /* rewrites failed */
    int64_t items;               /* items in the last rewrite */
    int64_t rewrite_ms;          /* how long the last rewrite took */
    char error[512];             /* reason of the last failure */
} feed_sink_t;

static int64_t s_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_exec(feed_sink_t *self, const char *sql)
{
    if (sqlite3_exec(self->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(self->error, sizeof self->error, "%s: %s", sql, sqlite3_errmsg(self->db));
        return -1;
    }
    return 0;
}

static int s_begin(feed_sink_t *self)
{
    if (!self->in_txn) {
        if (s_exec(self, "BEGIN IMMEDIATE") != 0) {
            return -1;
        }
        self->in_txn = true;
    }
    return 0;
}

static int s_kind_fail(feed_sink_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s: %s", what, self->kind->error(self->k));
    return -1;
}

/*  Renders and writes the file, and publishes it. 0 or -1 (logged, counted). */
static int s_rewrite(feed_sink_t *self, int64_t now_ms)
{
    int64_t t0 = s_clock_ms(CLOCK_MONOTONIC);
    size_t len = 0;
    int64_t items = 0;
    char *doc = self->kind->render(self->k, &len, &items);
    char err[512] = "";
    if (!doc) {
        snprintf(err, sizeof err, "render: %s", self->kind->error(self->k));
    } else if (feed_file_write(self->options.out, doc, len, err, sizeof err) == 0 && self->http &&
               feed_http_publish(self->http, doc, len, now_ms) != 0) {
        snprintf(err, sizeof err, "publish: out of memory");
    }
    free(doc);
    self->written_ms = now_ms;
    if (err[0]) {
        self->rewrite_errors++;
        log_error("sub.feed_write_failed", "{s:s, s:s, s:s}", "sink", self->kind->name, "path",
                  self->options.out, "error", err);
        return -1;
    }
    self->dirty = false;
    self->rewrites++;
    self->items = items;
    self->rewrite_ms = s_clock_ms(CLOCK_MONOTONIC) - t0;
    log_debug("sub.feed_written", "{s:s, s:s, s:I, s:I, s:I}", "sink", self->kind->name, "path",
              self->options.out, "items", (json_int_t) items, "bytes", (json_int_t) len, "ms",
              (json_int_t) self->rewrite_ms);
    return 0;
}

static int s_apply(void *self_, const announcement_t *a, const char *topic)
{
    (void) topic;
    feed_sink_t *self = self_;
    if (s_begin(self) != 0) {
        return -1;
    }
    int rc = self->kind->apply(self->k, a);
    if (rc < 0) {
        return s_kind_fail(self, "apply");
    }
    self->dirty = self->dirty || rc == 1;
    return 0;
}

static int s_flush(void *self_, const char *stream_id, int64_t last_seq)
{
    feed_sink_t *self = self_;
    if (s_begin(self) != 0) {
        return -1;
    }
    if (self->kind->flush && self->kind->flush(self->k) != 0) {
        return s_kind_fail(self, "flush");
    }
    if (state_put(self->state, stream_id, last_seq, s_clock_ms(CLOCK_REALTIME)) != 0) {
        snprintf(self->error, sizeof self->error, "cursor: %s", state_error(self->state));
        return -1;
    }
    self->in_txn = false;
    if (s_exec(self, "COMMIT") != 0) {
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int s_position(void *self_, char *stream_id_out, size_t cap, int64_t *seq_out)
{
    feed_sink_t *self = self_;
    int found = state_get(self->state, stream_id_out, cap, seq_out);
    if (found < 0) {
        snprintf(self->error, sizeof self->error, "cursor: %s", state_error(self->state));
    }
    return found;
}

static int s_reset(void *self_)
{
    feed_sink_t *self = self_;
    if (s_begin(self) != 0) {
        return -1;
    }
    if (self->kind->clear(self->k) != 0) {
        return s_kind_fail(self, "clear");
    }
    self->in_txn = false;
    if (s_exec(self, "COMMIT") != 0) {
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    self->dirty = true;
    return 0;
}

static int s_reopen(void *self_)
{
    feed_sink_t *self = self_;
    char err[512];
    if (self->http && feed_http_reload(self->http, err, sizeof err) != 0) {
        /* the old tokens stay: a typo in the file must not stop the feed */
        log_error("sub.feed_tokens_failed", "{s:s, s:s}", "sink", self->kind->name, "error", err);
    }
    return 0;
}

static int s_tick(void *self_, int64_t now_ms, int64_t *next_ms)
{
    feed_sink_t *self = self_;
    *next_ms = -1;
    if (!self->dirty || self->in_txn) {
        return 0;
    }
    int64_t due = self->written_ms + self->options.every_ms;
    if (self->written_ms && now_ms < due) {
        *next_ms = due - now_ms;
        return 0;
    }
    if (s_rewrite(self, now_ms) != 0) {
        *next_ms = self->options.every_ms > 1000 ? self->options.every_ms : 1000;
    }
    return 0;
}

const sink_metric_t feed_sink_metrics[FEED_SINK_METRIC_COUNT] = {
    {"herald_sub_feed_rewrites_total", "Feed files rewritten.", METRICS_COUNTER, 0},
    {"herald_sub_feed_rewrite_errors_total", "Feed rewrites that failed (retried).",
     METRICS_COUNTER, 0},
    {"herald_sub_feed_items", "Items in the feed at its last rewrite (events or entries).",
     METRICS_GAUGE, 0},
    {"herald_sub_feed_rewrite_duration_seconds", "How long the last rewrite took.", METRICS_GAUGE,
     0.001},
    {"herald_sub_feed_http_served_total", "Feed documents sent over HTTP (200).", METRICS_COUNTER,
     0},
    {"herald_sub_feed_http_not_modified_total", "Conditional requests answered 304.",
     METRICS_COUNTER, 0},
    {"herald_sub_feed_http_refused_total", "Requests refused (401, 404).", METRICS_COUNTER, 0},
};

static void s_stats(void *self_, int64_t *values)
{
    feed_sink_t *self = self_;
    values[0] = self->rewrites;
    values[1] = self->rewrite_errors;
    values[2] = self->items;
    values[3] = self->rewrite_ms;
    values[4] = values[5] = values[6] = 0;
    if (self->http) {
        feed_http_stats(self->http, &values[4], &values[5], &values[6]);
    }
}

static const char *s_error(void *self_)
{
    feed_sink_t *self = self_;
    return self->error;
}

static void s_destroy(void **self_p)
{
    if (self_p && *self_p) {
        feed_sink_t *self = *self_p;
        if (self->in_txn) {
            sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL); /* never flushed: not kept */
        }
        if (self->dirty && self->k) {
            s_rewrite(self, s_clock_ms(CLOCK_REALTIME));
        }
        feed_http_destroy(&self->http);
        if (self->k) {
            self->kind->destroy(&self->k);
        }
        free(self);
        *self_p = NULL;
    }
}

static const char *s_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

sink_t *feed_sink_open(const feed_kind_t *kind, const sink_options_t *options, char *err,
                       size_t errlen)
{
    sink_feed_options_t checked = options->feed;
    if (sink_feed_options_check(&checked, kind->name, err, errlen) != 0) {
        return NULL;
    }
    if (!options->state) {
        snprintf(err, errlen, "--sink %s needs --state PATH", kind->name);
        return NULL;
    }
    sink_t *sink = calloc(1, sizeof *sink);
    feed_sink_t *self = calloc(1, sizeof *self);
    if (!sink || !self) {
        snprintf(err, errlen, "out of memory");
        free(sink);
        free(self);
        return NULL;
    }
    self->kind = kind;
    self->options = checked;
    self->state = options->state;
    self->db = state_db(options->state);
    self->dirty = true; /* the file exists from the first tick on */
    void *vself = self;
    self->k = kind->open(self->db, &self->options, err, errlen);
    if (self->k && checked.http) {
        self->http = feed_http_new(checked.http, s_basename(checked.out), kind->content_type,
                                   checked.http_tokens, err, errlen);
    }
    if (!self->k || (checked.http && !self->http)) {
        self->dirty = false;
        s_destroy(&vself);
        free(sink);
        return NULL;
    }
    if (self->http) {
        log_info("sub.feed_http", "{s:s, s:s, s:s, s:b}", "sink", kind->name, "http", checked.http,
                 "path", s_basename(checked.out), "tokens", checked.http_tokens != NULL);
    }
    *sink = (sink_t){.name = kind->name,
                     .self = self,
                     .apply = s_apply,
                     .flush = s_flush,
                     .position = s_position,
                     .reset = s_reset,
                     .reopen = s_reopen,
                     .tick = s_tick,
                     .stats = s_stats,
                     .error = s_error,
                     .destroy = s_destroy};
    return sink;
}

//  ---------------------------------------------------------------------------------------
//  Options

static int s_bool(const char *value, bool *out)
{
    if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes")) {
        *out = true;
    } else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no")) {
        *out = false;
    } else {
        return -1;
    }
    return 0;
}

int feed_sink_check(const sink_options_t *options, const char *sink_name, char *err, size_t errlen)
{
    sink_feed_options_t checked = options->feed;
    return sink_feed_options_check(&checked, sink_name, err, errlen);
}

int sink_feed_options_check(sink_feed_options_t *o, const char *sink_name, char *err, size_t errlen)
{
    if (!o->out || !o->out[0]) {
        snprintf(err, errlen, "--sink %s needs --feed-out FILE (or HERALD_FEED_OUT)", sink_name);
        return -1;
    }
    if (o->name && (!o->name[0] || strpbrk(o->name, "\r\n"))) {
        snprintf(err, errlen, "--feed-name: a name on one line, not empty");
        return -1;
    }
    o->entries_n = SINK_FEED_DEFAULT_ENTRIES;
    if (o->entries) {
        char *end = NULL;
        long n = strtol(o->entries, &end, 10);
        if (end == o->entries || *end || n < 1 || n > SINK_FEED_MAX_ENTRIES) {
            snprintf(err, errlen, "--atom-entries: '%s' is not a number in 1..%d", o->entries,
                     SINK_FEED_MAX_ENTRIES);
            return -1;
        }
        o->entries_n = (int) n;
    }
    o->insecure = false;
    if (o->http_insecure && s_bool(o->http_insecure, &o->insecure) != 0) {
        snprintf(err, errlen, "--http-insecure: '%s' is not 1/0, true/false or yes/no",
                 o->http_insecure);
        return -1;
    }
    if (o->every_ms <= 0) {
        o->every_ms = SINK_FEED_DEFAULT_EVERY_MS;
    }
    if (!o->http) {
        if (o->http_tokens) {
            snprintf(err, errlen, "--http-tokens without --http ADDR");
            return -1;
        }
        return 0;
    }
    char host[256];
    int port = 0;
    if (metrics_parse_addr(o->http, host, sizeof host, &port, err, errlen) != 0) {
        return -1;
    }
    if (o->http_tokens && feed_http_tokens_check(o->http_tokens, err, errlen) < 0) {
        return -1;
    }
    if (!o->http_tokens && !o->insecure && !feed_http_loopback(o->http)) {
        snprintf(err, errlen,
                 "--http %s serves beyond loopback: give --http-tokens FILE (per-agency "
                 "tokens), or --http-insecure 1 for a public feed",
                 o->http);
        return -1;
    }
    return 0;
}
