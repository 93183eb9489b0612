/*  sink_log.c -- the log sink: one line per change, a JSON object (default; json_line.c) or
    a short text line for a person at a terminal (the seq, the id, the record, the change, a
    cancellation's reason), on stdout or appended to a file.

    Lines are written straight into a 1 MiB buffer of the sink's own (the stream itself is
    unbuffered), which goes out in one fwrite per batch, or sooner when a line might not fit,
    so a busy feed costs one write() per batch rather than one per change and a write()
    carries whole lines. A line that might not fit even in an empty buffer is made apart, in a
    buffer that grows to it, and written alone. The file is opened with O_APPEND, so a restarted
    subscriber continues it; SIGHUP reopens it after a log rotation.

    With --state, a file is written exactly once across crashes: each batch's lines are
    flushed and fdatasync'ed, and the file's identity and length noted for the state file
    (state_note_out), which commits them in the row of the batch's position. On start, a file
    that is longer than its committed length (lines of a batch whose position never committed,
    or a torn line) is cut back to it: those changes come again from the replay.
*/
#include "json_line.h"
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "state.h"

#define S_BUFFER_SIZE (256 * 1024)

typedef struct {
    char *path;      /* --out, NULL for stdout */
    FILE *out;       /* where lines go */
    char *buffer;    /* whole lines not yet written, S_BUFFER_SIZE bytes */
    size_t buffered; /* bytes of lines at buffer */
    state_t *state;  /* the --state file (borrowed), NULL without: no length kept */
    bool regular;    /* out is a regular file (not a pipe, a terminal, /dev/null) */
    bool text;       /* --format text */
    char *line;      /* a line too long for buffer, grows to the longest one */
    size_t line_cap; /* bytes at line */
    char error[512]; /* reason of the last failure */
} sink_log_t;

/*  Cuts the file back to the length committed with the position in the state file, when it
    is the same file (device and inode) and longer. 0 or -1 (reason in self->error). */
static int s_cut_back(sink_log_t *self, int fd)
{
    state_out_t committed;
    int found = state_get_out(self->state, &committed);
    struct stat st;
    if (found < 0 || fstat(fd, &st) != 0) {
        snprintf(self->error, sizeof self->error, "%s: %s", self->path,
                 found < 0 ? state_error(self->state) : strerror(errno));
        return -1;
    }
    if (found == 0) {
        /* no position committed with a length: on a first start (no position at all), cut
           back to the file as it was before this subscriber's first lines, noted here */
        char stream_id[64];
        int64_t seq = 0;
        int has_position = state_get(self->state, stream_id, sizeof stream_id, &seq);
        found = has_position == 0 ? state_get_out_base(self->state, &committed) : has_position;
        state_out_t now = {
            .dev = (int64_t) st.st_dev, .ino = (int64_t) st.st_ino, .length = (int64_t) st.st_size};
        if (found < 0 ||
            (has_position == 0 && found == 0 && state_put_out_base(self->state, &now) != 0)) {
            snprintf(self->error, sizeof self->error, "%s: %s", self->path,
                     state_error(self->state));
            return -1;
        }
        if (found == 0 || has_position == 1) {
            return 0;
        }
    }
    if ((int64_t) st.st_dev != committed.dev || (int64_t) st.st_ino != committed.ino) {
        log_info("sub.log_other_file", "{s:s, s:s}", "path", self->path, "reason",
                 "not the file of the committed position (rotated or replaced): kept as is");
        return 0;
    }
    if ((int64_t) st.st_size < committed.length) {
        log_warn("sub.log_short", "{s:s, s:I, s:I}", "path", self->path, "length",
                 (json_int_t) st.st_size, "committed", (json_int_t) committed.length);
        return 0;
    }
    if ((int64_t) st.st_size == committed.length) {
        return 0;
    }
    if (ftruncate(fd, (off_t) committed.length) != 0) {
        snprintf(self->error, sizeof self->error, "%s: cut back to %lld bytes: %s", self->path,
                 (long long) committed.length, strerror(errno));
        return -1;
    }
    log_info("sub.log_cut_back", "{s:s, s:I, s:I}", "path", self->path, "length",
             (json_int_t) committed.length, "bytes_cut",
             (json_int_t) (st.st_size - committed.length));
    return 0;
}

/*  Opens --out (or stdout); cut: cut the file back to its committed length first (on start,
    not on a reopen, where lines beyond it are this process's own). 0 or -1. */
static int s_open(sink_log_t *self, bool cut)
{
    /* stdout is used through a stream of our own, so that our buffer dies with it */
    const char *name = self->path ? self->path : "stdout";
    int fd = self->path ? open(self->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
                        : fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(self->error, sizeof self->error, "%s: %s", name, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(self->error, sizeof self->error, "%s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    self->regular = S_ISREG(st.st_mode);
    if (cut && self->path && self->regular && self->state && s_cut_back(self, fd) != 0) {
        close(fd);
        return -1;
    }
    self->out = fdopen(fd, "a");
    if (!self->out) {
        snprintf(self->error, sizeof self->error, "%s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    setvbuf(self->out, NULL, _IONBF, 0); /* the lines are buffered by the sink */
    self->buffered = 0;
    return 0;
}

/*  Writes len bytes of whole lines to out at once. 0 or -1. */
static int s_write_out(sink_log_t *self, const char *lines, size_t len)
{
    if (len > 0 && fwrite(lines, 1, len, self->out) != len) {
        snprintf(self->error, sizeof self->error, "write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/*  Writes the buffered lines (they are dropped on a failure too). 0 or -1. */
static int s_drain(sink_log_t *self)
{
    size_t len = self->buffered;
    self->buffered = 0;
    return s_write_out(self, self->buffer, len);
}

/*  Closes out; the lines still buffered go first, as a stdio buffer's would. */
static void s_close(sink_log_t *self)
{
    if (self->out) {
        s_drain(self);
        fclose(self->out);
        self->out = NULL;
    }
}

/*  Grows the line buffer to hold need bytes (twice that, so that it rarely grows again).
    0, or -1 when out of memory. */
static int s_line_room(sink_log_t *self, size_t need)
{
    char *bigger = realloc(self->line, need * 2);
    if (!bigger) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return -1;
    }
    self->line = bigger;
    self->line_cap = need * 2;
    return 0;
}

/*  The line goes at the end of the buffer; when it might not fit, after the buffer is written;
    when it might not fit even then, alone, through the line buffer. */
static int s_write_json(sink_log_t *self, const announcement_t *a)
{
    /* one byte kept for the newline */
    size_t len =
        json_line_write(a, self->buffer + self->buffered, S_BUFFER_SIZE - 1 - self->buffered);
    if (len == 0 && self->buffered > 0) {
        if (s_drain(self) != 0) {
            return -1;
        }
        len = json_line_write(a, self->buffer, S_BUFFER_SIZE - 1);
    }
    if (len == 0) {
        size_t bound = json_line_bound(a) + 1;
        if (bound > self->line_cap && s_line_room(self, bound) != 0) {
            return -1;
        }
        len = json_line_write(a, self->line, bound - 1);
        self->line[len++] = '\n';
        return s_write_out(self, self->line, len);
    }
    self->buffer[self->buffered + len] = '\n';
    self->buffered += len + 1;
    return 0;
}

/*  A text line is assembled from pieces with memcpy and written with one fwrite. */
typedef struct {
    const char *text;
    size_t len;
} s_piece_t;

#define S_MAX_PIECES 24

static size_t s_piece(s_piece_t *pieces, size_t n, const char *text)
{
    pieces[n].text = text;
    pieces[n].len = strlen(text);
    return n + 1;
}

/*  The line goes at the end of the buffer, as a JSON line does (s_write_json). */
static int s_write_pieces(sink_log_t *self, const s_piece_t *pieces, size_t n)
{
    size_t need = 1;
    for (size_t i = 0; i < n; i++) {
        need += pieces[i].len;
    }
    if (need > S_BUFFER_SIZE - self->buffered && s_drain(self) != 0) {
        return -1;
    }
    bool alone = need > S_BUFFER_SIZE;
    if (alone && need > self->line_cap && s_line_room(self, need) != 0) {
        return -1;
    }
    char *line = alone ? self->line : self->buffer + self->buffered;
    char *at = line;
    for (size_t i = 0; i < n; i++) {
        memcpy(at, pieces[i].text, pieces[i].len);
        at += pieces[i].len;
    }
    *at = '\n';
    if (alone) {
        return s_write_out(self, line, need);
    }
    self->buffered += need;
    return 0;
}

/*  "2016-01-27..29" within a month, "2016-01-30..2016-02-02" across, "2016-01-27" for a day. */
static size_t s_dates(s_piece_t *pieces, size_t n, const char *start, const char *end)
{
    n = s_piece(pieces, n, start);
    if (strcmp(start, end) == 0 || !end[0]) {
        return n;
    }
    n = s_piece(pieces, n, "..");
    bool same_month = strlen(start) == 10 && strlen(end) == 10 && strncmp(start, end, 8) == 0;
    return s_piece(pieces, n, same_month ? end + 8 : end);
}

/*  "SEQ  " in decimal at the end of buf (24 bytes), which it returns (snprintf costs as much
    as the rest of a line). */
static const char *s_seq(char *buf, uint64_t seq)
{
    char *at = buf + 23;
    *at = '\0';
    *--at = ' ';
    *--at = ' ';
    do {
        *--at = (char) ('0' + seq % 10);
        seq /= 10;
    } while (seq);
    return at;
}

/*  "SEQ  ID  what  [change]", what being the dates, place, kind and title of an event, the
    date and title of a press release, nothing for an id-only change; "  reason: R" after a
    cancelled event's (R "-" when none was given). */
static int s_write_text(sink_log_t *self, const announcement_t *a)
{
    s_piece_t pieces[S_MAX_PIECES];
    size_t n = 0;
    char seq[24];
    n = s_piece(pieces, n, s_seq(seq, a->seq));
    bool event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    n = s_piece(pieces, n, event ? a->event->id : a->press_release->id);
    const char *reason = NULL;
    if (codec_is_id_only(a)) {
        /* the id says it all */
    } else if (event) {
        const Herald__V1__Event *e = a->event;
        n = s_piece(pieces, n, "  ");
        n = s_dates(pieces, n, e->start_date, e->end_date);
        n = s_piece(pieces, n, "  ");
        if (e->city[0]) {
            n = s_piece(pieces, n, e->city);
            n = s_piece(pieces, n, ", ");
        }
        n = s_piece(pieces, n, e->country);
        n = s_piece(pieces, n, "  ");
        n = s_piece(pieces, n, e->kind);
        n = s_piece(pieces, n, "  ");
        n = s_piece(pieces, n, e->title);
        if (e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED) {
            reason = e->cancel_reason && e->cancel_reason[0] ? e->cancel_reason : "-";
        }
    } else {
        const Herald__V1__PressRelease *p = a->press_release;
        n = s_piece(pieces, n, "  ");
        n = s_piece(pieces, n, p->published_on);
        n = s_piece(pieces, n, "  press  ");
        n = s_piece(pieces, n, p->title);
    }
    n = s_piece(pieces, n, "  [");
    n = s_piece(pieces, n, codec_change_name(a->change));
    n = s_piece(pieces, n, "]");
    if (reason) {
        n = s_piece(pieces, n, "  reason: ");
        n = s_piece(pieces, n, reason);
    }
    return s_write_pieces(self, pieces, n);
}

static int s_apply(void *self_, const announcement_t *a, const char *topic)
{
    (void) topic;
    sink_log_t *self = self_;
    return self->text ? s_write_text(self, a) : s_write_json(self, a);
}

static int s_flush(void *self_, const char *stream_id, int64_t last_seq)
{
    sink_log_t *self = self_;
    (void) stream_id;
    (void) last_seq;
    const char *name = self->path ? self->path : "stdout";
    if (s_drain(self) != 0 || fflush(self->out) != 0) {
        snprintf(self->error, sizeof self->error, "write %s: %s", name, strerror(errno));
        return -1;
    }
    if (!self->path || !self->regular || !self->state) {
        return 0; /* a pipe or a device has no length to come back to */
    }
    /* the lines reach the disk before the position that covers them (a power cut included) */
    int fd = fileno(self->out);
    struct stat st;
    if (fdatasync(fd) != 0 || fstat(fd, &st) != 0) {
        snprintf(self->error, sizeof self->error, "sync %s: %s", name, strerror(errno));
        return -1;
    }
    state_out_t out = {
        .dev = (int64_t) st.st_dev, .ino = (int64_t) st.st_ino, .length = (int64_t) st.st_size};
    state_note_out(self->state, &out);
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
    return s_open(self, false);
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
        free(self->line);
        free(self->buffer);
        free(self->path);
        free(self);
        *self_p = NULL;
    }
}

/*  --format: json or text (NULL: json). 0, or -1 with the reason in why. */
static int s_check_format(void *field, char *why, size_t cap)
{
    const char *format = *(const char **) field;
    if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        snprintf(why, cap, "'%s' is not json or text", format);
        return -1;
    }
    return 0;
}

static sink_t *s_open_sink(const sink_options_t *sink_options, char *err, size_t errlen)
{
    const sink_log_options_t *options = &sink_options->log;
    const char *format = options->format ? options->format : "json";
    char why[128];
    if (s_check_format(&format, why, sizeof why) != 0) {
        snprintf(err, errlen, "--format: %s", why);
        return NULL;
    }
    sink_t *sink = calloc(1, sizeof *sink);
    sink_log_t *self = calloc(1, sizeof *self);
    if (self) {
        self->buffer = malloc(S_BUFFER_SIZE);
        self->line_cap = 4096;
        self->line = malloc(self->line_cap);
        self->path = options->out ? strdup(options->out) : NULL;
        self->state = sink_options->state;
    }
    if (!sink || !self || !self->buffer || !self->line || (options->out && !self->path)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->text = strcmp(format, "text") == 0;
    if (s_open(self, true) != 0) {
        snprintf(err, errlen, "--out %s", self->error);
        goto fail;
    }
    *sink = (sink_t){.name = "log",
                     .self = self,
                     .apply = s_apply,
                     .flush = s_flush,
                     .reset = s_reset,
                     .reopen = s_reopen,
                     .error = s_error,
                     .destroy = s_destroy};
    return sink;
fail:
    if (self) {
        void *p = self;
        s_destroy(&p);
    }
    free(sink);
    return NULL;
}

#define S_FIELD(name) .offset = offsetof(sink_log_options_t, name)

/* clang-format off */
static const option_t s_options[] = {
    {.name = "out", .kind = OPTION_STRING, S_FIELD(out), .arg = "FILE",
     .help = "append to FILE (default stdout)"},
    {.name = "format", .kind = OPTION_STRING, S_FIELD(format), .arg = "json|text", .def = "json",
     .check = s_check_format, .help = "the lines' format"},
    OPTION_END};
/* clang-format on */

const sink_type_t sink_log_type = {
    .name = "log",
    .options = s_options,
    .options_offset = offsetof(sink_options_t, log),
    .default_from = "latest",
    .open = s_open_sink,
};
