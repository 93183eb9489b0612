/*  json_line.c -- the log sink's JSON line, written by hand (see json_line.h).

    The line is written in one pass, each text measured once: a writer checks that a text fits
    (JSON_TEXT_BOUND, as if every byte became \u00XX) before it copies it (json_text.h), so
    that the caller can hand over whatever room it has and learn that it was too little.
*/
#include "json_line.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "json_text.h"

#define S_INT_BOUND 20 /* INT64_MIN in decimal */
#define S_KEY_BOUND 24 /* ,"committed_at_ms": and the like */

static size_t s_text_bound(const char *s)
{
    return S_KEY_BOUND + JSON_TEXT_BOUND(strlen(s));
}

/*  The line being written: at moves on; a piece that might not fit before end marks it full
    and is not written, nor is anything after it. */
typedef struct {
    char *at;  /* where the next byte goes */
    char *end; /* the end of the room */
    bool full; /* a piece did not fit: the line is void */
} s_line_t;

static bool s_room(s_line_t *w, size_t need)
{
    if (w->full || (size_t) (w->end - w->at) < need) {
        w->full = true;
        return false;
    }
    return true;
}

/*  value in decimal, two digits at a time. */
static char *s_int(char *at, int64_t value)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                "31323334353637383940414243444546474849505152535455565758596061"
                                "6263646566676869707172737475767778798081828384858687888990919293"
                                "949596979899";
    char digits[S_INT_BOUND];
    char *d = digits + sizeof digits;
    uint64_t v = value < 0 ? 0 - (uint64_t) value : (uint64_t) value;
    while (v >= 100) {
        d -= 2;
        memcpy(d, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        d -= 2;
        memcpy(d, pairs + 2 * v, 2);
    } else {
        *--d = (char) ('0' + v);
    }
    if (value < 0) {
        *at++ = '-';
    }
    size_t n = (size_t) (digits + sizeof digits - d);
    memcpy(at, d, n);
    return at + n;
}

/*  A literal (a key and its colon after a comma, a bracket) of len bytes. */
static void s_put(s_line_t *w, const char *lit, size_t len)
{
    if (s_room(w, len)) {
        memcpy(w->at, lit, len);
        w->at += len;
    }
}

/*  A literal key (or any literal before a text) and a text. */
static void s_put_text(s_line_t *w, const char *lit, size_t lit_len, const char *s)
{
    size_t len = strlen(s);
    if (s_room(w, lit_len + JSON_TEXT_BOUND(len))) {
        memcpy(w->at, lit, lit_len);
        w->at = json_text(w->at + lit_len, s, len);
    }
}

/*  A literal key and an integer. */
static void s_put_int(s_line_t *w, const char *lit, size_t lit_len, int64_t value)
{
    if (s_room(w, lit_len + S_INT_BOUND)) {
        memcpy(w->at, lit, lit_len);
        w->at = s_int(w->at + lit_len, value);
    }
}

#define S_LIT(lit) (lit), sizeof(lit) - 1

size_t json_line_bound(const announcement_t *a)
{
    size_t n = 16 + 3 * (S_KEY_BOUND + S_INT_BOUND) + 3 * (S_KEY_BOUND + JSON_TEXT_BOUND(16)) +
               s_text_bound(a->stream_id);
    if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT) {
        const Herald__V1__Event *e = a->event;
        const char *texts[] = {e->id,   e->kind,    e->title,   e->start_date, e->end_date,
                               e->city, e->country, e->summary, e->url,        e->cancel_reason};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            n += s_text_bound(texts[i]);
        }
        n += 2 * S_KEY_BOUND + JSON_TEXT_BOUND(16) + S_INT_BOUND + 2;
        for (size_t i = 0; i < e->n_people; i++) {
            n += 4 + s_text_bound(e->people[i]->name) + s_text_bound(e->people[i]->role);
        }
    } else if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_PRESS_RELEASE) {
        const Herald__V1__PressRelease *p = a->press_release;
        const char *texts[] = {p->id, p->event_id, p->title, p->published_on, p->url, p->summary};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            n += s_text_bound(texts[i]);
        }
    }
    return n;
}

static void s_event(s_line_t *w, const Herald__V1__Event *e)
{
    s_put_text(w, S_LIT(",\"kind\":"), e->kind);
    s_put_text(w, S_LIT(",\"title\":"), e->title);
    s_put_text(w, S_LIT(",\"start_date\":"), e->start_date);
    s_put_text(w, S_LIT(",\"end_date\":"), e->end_date);
    s_put_text(w, S_LIT(",\"city\":"), e->city);
    s_put_text(w, S_LIT(",\"country\":"), e->country);
    s_put_text(w, S_LIT(",\"summary\":"), e->summary);
    s_put_text(w, S_LIT(",\"url\":"), e->url);
    bool cancelled = e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED;
    if (cancelled) {
        s_put(w, S_LIT(",\"status\":\"cancelled\",\"people\":["));
    } else {
        s_put(w, S_LIT(",\"status\":\"scheduled\",\"people\":["));
    }
    for (size_t i = 0; i < e->n_people; i++) {
        if (i) {
            s_put_text(w, S_LIT(",{\"name\":"), e->people[i]->name);
        } else {
            s_put_text(w, S_LIT("{\"name\":"), e->people[i]->name);
        }
        s_put_text(w, S_LIT(",\"role\":"), e->people[i]->role);
        s_put(w, S_LIT("}"));
    }
    s_put_int(w, S_LIT("],\"version\":"), e->version);
    if (cancelled && e->cancel_reason[0]) {
        s_put_text(w, S_LIT(",\"cancel_reason\":"), e->cancel_reason);
    }
}

static void s_press(s_line_t *w, const Herald__V1__PressRelease *p)
{
    if (p->event_id[0]) {
        s_put_text(w, S_LIT(",\"event_id\":"), p->event_id);
    } else {
        s_put(w, S_LIT(",\"event_id\":null"));
    }
    s_put_text(w, S_LIT(",\"title\":"), p->title);
    s_put_text(w, S_LIT(",\"published_on\":"), p->published_on);
    s_put_text(w, S_LIT(",\"url\":"), p->url);
    s_put_text(w, S_LIT(",\"summary\":"), p->summary);
}

size_t json_line_write(const announcement_t *a, char *out, size_t cap)
{
    bool is_event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    s_line_t w = {.at = out, .end = out + cap, .full = false};
    s_put_int(&w, S_LIT("{\"seq\":"), (int64_t) a->seq);
    s_put_text(&w, S_LIT(",\"stream_id\":"), a->stream_id);
    s_put_text(&w, S_LIT(",\"change\":"), codec_change_name(a->change));
    if (is_event) {
        s_put(&w, S_LIT(",\"type\":\"event\""));
    } else {
        s_put(&w, S_LIT(",\"type\":\"press_release\""));
    }
    s_put_int(&w, S_LIT(",\"committed_at_ms\":"), a->committed_at_ms);
    s_put_text(&w, S_LIT(",\"id\":"), is_event ? a->event->id : a->press_release->id);
    /* a deleted record, or one deleted since this change (replayed): the id alone */
    if (!codec_is_id_only(a)) {
        if (is_event) {
            s_event(&w, a->event);
        } else {
            s_press(&w, a->press_release);
        }
    }
    s_put(&w, S_LIT("}"));
    return w.full ? 0 : (size_t) (w.at - out);
}
