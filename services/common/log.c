/*  log.c -- JSON-line (or plain text) logging to stderr for Herald's services. */
#include "log.h"

#include "clock.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static log_level_t s_level = LOG_INFO;
static int s_text = 0;
const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
const char *const log_formats[] = {"json", "text", NULL};
static const char *const *s_names = log_levels;

void log_setup(log_level_t level, int text)
{
    s_level = level;
    s_text = text;
}

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (name && strcmp(name, s_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static void s_timestamp(char *buf, size_t cap)
{
    int64_t ms = clock_ms(CLOCK_REALTIME);
    time_t sec = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int) (ms % 1000));
}

/*  Writes the whole line to stderr. A line is one write(2), so lines from threads and
    processes do not interleave; a short write is finished, EINTR and EAGAIN are waited out,
    and any other failure (EIO, ENOSPC) is tried twice more before the line is dropped: the
    last line a service writes before it exits says why, and is worth a retry. */
static void s_write_line(const char *out, size_t len)
{
    int failures = 0;
    while (len > 0 && failures < 3) {
        ssize_t n = write(STDERR_FILENO, out, len);
        if (n > 0) {
            out += n;
            len -= (size_t) n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = STDERR_FILENO, .events = POLLOUT};
            if (poll(&pfd, 1, 1000) <= 0) {
                failures++;
            }
        } else {
            failures++;
        }
    }
}

void log_emit(log_level_t level, const char *event, const char *fmt, ...)
{
    if (level < s_level) {
        return;
    }
    char ts[40];
    s_timestamp(ts, sizeof ts);
    json_t *line = json_object();
    if (!line) {
        return;
    }
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(s_names[level]));
    json_object_set_new(line, "event", json_string(event));
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        json_error_t error;
        json_t *extra = json_vpack_ex(&error, 0, fmt, ap);
        va_end(ap);
        if (extra) {
            json_object_update(line, extra);
            json_decref(extra);
        } else {
            json_object_set_new(line, "log_error", json_string(error.text));
        }
    }
    char *out = NULL;
    if (s_text) {
        /* "TS LEVEL event key=value ...", for a person at a terminal */
        json_object_del(line, "ts");
        json_object_del(line, "level");
        json_object_del(line, "event");
        char *rest = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t need = strlen(ts) + strlen(event) + (rest ? strlen(rest) : 0) + 16;
        out = malloc(need);
        if (out) {
            snprintf(out, need, "%s %-5s %s %s\n", ts, s_names[level], event,
                     rest && strcmp(rest, "{}") ? rest : "");
        }
        free(rest);
    } else {
        char *body = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (body) {
            size_t n = strlen(body);
            out = malloc(n + 2);
            if (out) {
                memcpy(out, body, n);
                out[n] = '\n';
                out[n + 1] = '\0';
            }
            free(body);
        }
    }
    json_decref(line);
    if (out) {
        s_write_line(out, strlen(out));
        free(out);
    }
}

bool log_limit_quiet(const log_limit_t *self, int64_t now_ms, int64_t every_ms)
{
    return self->logged_ms && now_ms - self->logged_ms < every_ms;
}

void log_limit_wrote(log_limit_t *self, int64_t now_ms)
{
    self->logged_ms = now_ms;
    self->unlogged = 0;
}

bool log_limit_pass(log_limit_t *self, int64_t now_ms, int64_t every_ms, int64_t *count)
{
    self->unlogged++;
    if (log_limit_quiet(self, now_ms, every_ms)) {
        return false;
    }
    *count = self->unlogged;
    log_limit_wrote(self, now_ms);
    return true;
}

void log_printable(char *out, size_t cap, const void *data, size_t len)
{
    assert(out && cap > 0);
    const unsigned char *bytes = data;
    len = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < len; i++) {
        out[i] = bytes[i] >= ' ' && bytes[i] < 0x7f ? (char) bytes[i] : '?';
    }
    out[len] = '\0';
}
