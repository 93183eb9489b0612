/*  sink_log.c -- the log sink: one line per change, a JSON object (default) or a short text
    line for a person at a terminal, on stdout or appended to a file.

    Lines go into a 1 MiB stdio buffer and are flushed once per batch, so a busy feed costs one
    write() per batch rather than one per change. The file is opened with O_APPEND, so a
    restarted subscriber continues it; SIGHUP reopens it after a log rotation.
*/
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_BUFFER_SIZE (1024 * 1024)

typedef struct {
    char *path;      /* --out, NULL for stdout */
    FILE *out;       /* where lines go */
    char *buffer;    /* stdio buffer of out, S_BUFFER_SIZE bytes */
    bool text;       /* --format text */
    char error[512]; /* reason of the last failure */
} sink_log_t;

static int s_open(sink_log_t *self)
{
    /* stdout is used through a stream of our own, so that our buffer dies with it */
    const char *name = self->path ? self->path : "stdout";
    int fd = self->path ? open(self->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
                        : fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(self->error, sizeof self->error, "%s: %s", name, strerror(errno));
        return -1;
    }
    self->out = fdopen(fd, "a");
    if (!self->out) {
        snprintf(self->error, sizeof self->error, "%s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    setvbuf(self->out, self->buffer, _IOFBF, S_BUFFER_SIZE);
    return 0;
}

static void s_close(sink_log_t *self)
{
    if (self->out) {
        fclose(self->out);
        self->out = NULL;
    }
}

/*  Text fields were validated as UTF-8 by the codec, so they skip jansson's check. */
static json_t *s_str(const char *s)
{
    return json_stringn_nocheck(s, strlen(s));
}

static json_t *s_event_json(json_t *obj, const Herald__V1__Event *e)
{
    json_object_set_new(obj, "kind", s_str(e->kind));
    json_object_set_new(obj, "title", s_str(e->title));
    json_object_set_new(obj, "start_date", s_str(e->start_date));
    json_object_set_new(obj, "end_date", s_str(e->end_date));
    json_object_set_new(obj, "city", s_str(e->city));
    json_object_set_new(obj, "country", s_str(e->country));
    json_object_set_new(obj, "summary", s_str(e->summary));
    json_object_set_new(obj, "url", s_str(e->url));
    bool cancelled = e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED;
    json_object_set_new(obj, "status", json_string(cancelled ? "cancelled" : "scheduled"));
    if (cancelled && e->cancel_reason[0]) {
        json_object_set_new(obj, "cancel_reason", s_str(e->cancel_reason));
    }
    json_t *people = json_array();
    for (size_t i = 0; i < e->n_people; i++) {
        json_t *person = json_object();
        json_object_set_new(person, "name", s_str(e->people[i]->name));
        json_object_set_new(person, "role", s_str(e->people[i]->role));
        json_array_append_new(people, person);
    }
    json_object_set_new(obj, "people", people);
    json_object_set_new(obj, "version", json_integer(e->version));
    return obj;
}

static json_t *s_press_json(json_t *obj, const Herald__V1__PressRelease *p)
{
    json_object_set_new(obj, "event_id", p->event_id[0] ? s_str(p->event_id) : json_null());
    json_object_set_new(obj, "title", s_str(p->title));
    json_object_set_new(obj, "published_on", s_str(p->published_on));
    json_object_set_new(obj, "url", s_str(p->url));
    json_object_set_new(obj, "summary", s_str(p->summary));
    return obj;
}

static int s_write_json(sink_log_t *self, const announcement_t *a)
{
    bool is_event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    json_t *obj = json_object();
    if (!obj) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return -1;
    }
    json_object_set_new(obj, "seq", json_integer((json_int_t) a->seq));
    json_object_set_new(obj, "stream_id", s_str(a->stream_id));
    json_object_set_new(obj, "change", json_string(codec_change_name(a->change)));
    json_object_set_new(obj, "type", json_string(is_event ? "event" : "press_release"));
    json_object_set_new(obj, "committed_at_ms", json_integer(a->committed_at_ms));
    json_object_set_new(obj, "id", s_str(is_event ? a->event->id : a->press_release->id));
    /* a deleted record, or one deleted since this change (replayed): the id alone */
    if (!codec_is_id_only(a)) {
        if (is_event) {
            s_event_json(obj, a->event);
        } else {
            s_press_json(obj, a->press_release);
        }
    }
    int rc = json_dumpf(obj, self->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (rc != 0 || putc('\n', self->out) == EOF) {
        snprintf(self->error, sizeof self->error, "write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/*  "2016-01-27..29" within a month, "2016-01-30..2016-02-02" across, "2016-01-27" for a day. */
static void s_dates(char *buf, size_t cap, const char *start, const char *end)
{
    if (strcmp(start, end) == 0 || !end[0]) {
        snprintf(buf, cap, "%s", start);
    } else if (strlen(start) == 10 && strlen(end) == 10 && strncmp(start, end, 8) == 0) {
        snprintf(buf, cap, "%s..%s", start, end + 8);
    } else {
        snprintf(buf, cap, "%s..%s", start, end);
    }
}

static int s_write_text(sink_log_t *self, const announcement_t *a)
{
    const char *change = codec_change_name(a->change);
    int rc;
    if (codec_is_id_only(a)) {
        const char *id = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT
                             ? a->event->id
                             : a->press_release->id;
        rc = fprintf(self->out, "%s  [%s]\n", id, change);
    } else if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT) {
        const Herald__V1__Event *e = a->event;
        char dates[64];
        s_dates(dates, sizeof dates, e->start_date, e->end_date);
        rc = fprintf(self->out, "%s  %s%s%s  %s  %s  [%s]\n", dates, e->city,
                     e->city[0] ? ", " : "", e->country, e->kind, e->title, change);
    } else {
        const Herald__V1__PressRelease *p = a->press_release;
        rc = fprintf(self->out, "%s  press  %s  [%s]\n", p->published_on, p->title, change);
    }
    if (rc < 0) {
        snprintf(self->error, sizeof self->error, "write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int s_apply(void *self_, const announcement_t *a)
{
    sink_log_t *self = self_;
    return self->text ? s_write_text(self, a) : s_write_json(self, a);
}

static int s_flush(void *self_, const char *stream_id, int64_t last_seq)
{
    sink_log_t *self = self_;
    (void) stream_id;
    (void) last_seq;
    if (fflush(self->out) != 0) {
        snprintf(self->error, sizeof self->error, "write %s: %s",
                 self->path ? self->path : "stdout", strerror(errno));
        return -1;
    }
    return 0;
}

static int s_reset(void *self_)
{
    (void) self_;
    return 0; /* a log keeps the old stream's lines: they happened */
}

static int s_reopen(void *self_)
{
    sink_log_t *self = self_;
    if (!self->path) {
        return 0;
    }
    s_close(self);
    return s_open(self);
}

static const char *s_error(void *self_)
{
    sink_log_t *self = self_;
    return self->error;
}

static void s_destroy(void **self_p)
{
    if (self_p && *self_p) {
        sink_log_t *self = *self_p;
        s_close(self);
        free(self->buffer);
        free(self->path);
        free(self);
        *self_p = NULL;
    }
}

sink_t *sink_log_new(const sink_options_t *options, char *err, size_t errlen)
{
    const char *format = options->format ? options->format : "json";
    if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        snprintf(err, errlen, "--format: '%s' is not json or text", format);
        return NULL;
    }
    sink_t *sink = calloc(1, sizeof *sink);
    sink_log_t *self = calloc(1, sizeof *self);
    if (self) {
        self->buffer = malloc(S_BUFFER_SIZE);
        self->path = options->out ? strdup(options->out) : NULL;
    }
    if (!sink || !self || !self->buffer || (options->out && !self->path)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->text = strcmp(format, "text") == 0;
    if (s_open(self) != 0) {
        snprintf(err, errlen, "--out %s", self->error);
        goto fail;
    }
    sink->name = "log";
    sink->self = self;
    sink->apply = s_apply;
    sink->flush = s_flush;
    sink->position = NULL;
    sink->reset = s_reset;
    sink->reopen = s_reopen;
    sink->error = s_error;
    sink->destroy = s_destroy;
    return sink;
fail:
    if (self) {
        void *p = self;
        s_destroy(&p);
    }
    free(sink);
    return NULL;
}
