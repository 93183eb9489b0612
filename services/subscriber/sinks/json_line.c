/*  json_line.c -- the log sink's JSON line, written by hand (see json_line.h). */
#include "json_line.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define S_TEXT_BOUND(len) (6 * (len) + 2) /* every byte as \u00XX, and the quotes */
#define S_INT_BOUND 20                    /* INT64_MIN in decimal */
#define S_KEY_BOUND 24                    /* ,"committed_at_ms": and the like */

static size_t s_text_bound(const char *s)
{
    return S_KEY_BOUND + S_TEXT_BOUND(strlen(s));
}

#define S_ONES 0x0101010101010101ULL
#define S_HIGH 0x8080808080808080ULL

/*  True if one of the eight bytes of w needs escaping: below 0x20, '"' or '\\'. */
static bool s_special8(uint64_t w)
{
    uint64_t quote = w ^ (S_ONES * '"');
    uint64_t backslash = w ^ (S_ONES * '\\');
    return (((w - S_ONES * 0x20) & ~w) | ((quote - S_ONES) & ~quote) |
            ((backslash - S_ONES) & ~backslash)) &
           S_HIGH;
}

/*  A text, quoted and escaped as jansson escapes it; plain runs, eight bytes at a time, are
    copied whole. */
static char *s_text(char *at, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    size_t run = 0;
    size_t i = 0;
    *at++ = '"';
    while (i < len) {
        uint64_t word;
        if (len - i >= 8 && (memcpy(&word, s + i, sizeof word), !s_special8(word))) {
            i += 8;
            continue;
        }
        unsigned char c = (unsigned char) s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        memcpy(at, s + run, i - run);
        at += i - run;
        run = ++i;
        *at++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *at++ = (char) c;
            break;
        case '\b':
            *at++ = 'b';
            break;
        case '\f':
            *at++ = 'f';
            break;
        case '\n':
            *at++ = 'n';
            break;
        case '\r':
            *at++ = 'r';
            break;
        case '\t':
            *at++ = 't';
            break;
        default:
            memcpy(at, "u00", 3);
            at[3] = hex[c >> 4];
            at[4] = hex[c & 15];
            at += 5;
        }
    }
    memcpy(at, s + run, len - run);
    at += len - run;
    *at++ = '"';
    return at;
}

static char *s_int(char *at, int64_t value)
{
    char digits[S_INT_BOUND];
    size_t n = 0;
    uint64_t v = value < 0 ? 0 - (uint64_t) value : (uint64_t) value;
    do {
        digits[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    if (value < 0) {
        *at++ = '-';
    }
    while (n) {
        *at++ = digits[--n];
    }
    return at;
}

/*  A key and its colon, after a comma unless it opens the object; key is a literal. */
#define S_KEY(at, lit) (memcpy((at), (lit), sizeof(lit) - 1), (at) + sizeof(lit) - 1)

size_t json_line_bound(const announcement_t *a)
{
    size_t n = 16 + 3 * (S_KEY_BOUND + S_INT_BOUND) + 3 * (S_KEY_BOUND + S_TEXT_BOUND(16)) +
               s_text_bound(a->stream_id);
    if (a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT) {
        const Herald__V1__Event *e = a->event;
        const char *texts[] = {e->id,   e->kind,    e->title,   e->start_date, e->end_date,
                               e->city, e->country, e->summary, e->url,        e->cancel_reason};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            n += s_text_bound(texts[i]);
        }
        n += 2 * S_KEY_BOUND + S_TEXT_BOUND(16) + S_INT_BOUND + 2;
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

static char *s_event(char *at, const Herald__V1__Event *e)
{
    at = s_text(S_KEY(at, ",\"kind\":"), e->kind);
    at = s_text(S_KEY(at, ",\"title\":"), e->title);
    at = s_text(S_KEY(at, ",\"start_date\":"), e->start_date);
    at = s_text(S_KEY(at, ",\"end_date\":"), e->end_date);
    at = s_text(S_KEY(at, ",\"city\":"), e->city);
    at = s_text(S_KEY(at, ",\"country\":"), e->country);
    at = s_text(S_KEY(at, ",\"summary\":"), e->summary);
    at = s_text(S_KEY(at, ",\"url\":"), e->url);
    bool cancelled = e->status == HERALD__V1__EVENT_STATUS__EVENT_STATUS_CANCELLED;
    at = s_text(S_KEY(at, ",\"status\":"), cancelled ? "cancelled" : "scheduled");
    at = S_KEY(at, ",\"people\":[");
    for (size_t i = 0; i < e->n_people; i++) {
        at = s_text(i ? S_KEY(at, ",{\"name\":") : S_KEY(at, "{\"name\":"), e->people[i]->name);
        at = s_text(S_KEY(at, ",\"role\":"), e->people[i]->role);
        *at++ = '}';
    }
    *at++ = ']';
    at = s_int(S_KEY(at, ",\"version\":"), e->version);
    if (cancelled && e->cancel_reason[0]) {
        at = s_text(S_KEY(at, ",\"cancel_reason\":"), e->cancel_reason);
    }
    return at;
}

static char *s_press(char *at, const Herald__V1__PressRelease *p)
{
    at = S_KEY(at, ",\"event_id\":");
    at = p->event_id[0] ? s_text(at, p->event_id) : S_KEY(at, "null");
    at = s_text(S_KEY(at, ",\"title\":"), p->title);
    at = s_text(S_KEY(at, ",\"published_on\":"), p->published_on);
    at = s_text(S_KEY(at, ",\"url\":"), p->url);
    at = s_text(S_KEY(at, ",\"summary\":"), p->summary);
    return at;
}

size_t json_line_write(const announcement_t *a, char *out)
{
    bool is_event = a->body_case == HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    char *at = out;
    at = s_int(S_KEY(at, "{\"seq\":"), (int64_t) a->seq);
    at = s_text(S_KEY(at, ",\"stream_id\":"), a->stream_id);
    at = s_text(S_KEY(at, ",\"change\":"), codec_change_name(a->change));
    at = s_text(S_KEY(at, ",\"type\":"), is_event ? "event" : "press_release");
    at = s_int(S_KEY(at, ",\"committed_at_ms\":"), a->committed_at_ms);
    at = s_text(S_KEY(at, ",\"id\":"), is_event ? a->event->id : a->press_release->id);
    /* a deleted record, or one deleted since this change (replayed): the id alone */
    if (!codec_is_id_only(a)) {
        at = is_event ? s_event(at, a->event) : s_press(at, a->press_release);
    }
    *at++ = '}';
    return (size_t) (at - out);
}
