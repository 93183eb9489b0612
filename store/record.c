/*  record.c -- record validation shared by the store, the import and the wire codec.

    Every check names the offending field (a static string) and says why in the caller's
    buffer, in words an operator can act on: "must be two upper-case letters (got 'FRA')".
    UTF-8 is checked before anything else so that a value is never echoed back broken.
*/
#include "record.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define S_MAX_ID 200 /* bytes in a record id */

/*  The length of the UTF-8 sequence that starts at p[0] >= 0x80, avail bytes there, or 0
    if it is not one: a continuation byte, an overlong form, a surrogate, beyond U+10FFFF. */
static size_t s_utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t need;
    unsigned int cp;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
    } else {
        return 0; /* continuation byte, overlong lead (C0, C1) or beyond U+10FFFF */
    }
    if (avail <= need) {
        return 0;
    }
    for (size_t k = 1; k <= need; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return need + 1;
}

#define S_ONES UINT64_C(0x0101010101010101)
#define S_HIGH UINT64_C(0x8080808080808080)

/*  true if the eight bytes of w are all printable ASCII (0x20 to 0x7E): none has its high
    bit, none is below 0x20, none is 0x7F (the classic "has a byte less than n" test). */
static bool s_printable8(uint64_t w)
{
    uint64_t del = w ^ (S_ONES * 0x7F);
    return ((w & S_HIGH) | ((w - S_ONES * 0x20) & ~w & S_HIGH) |
            ((del - S_ONES) & ~del & S_HIGH)) == 0;
}

bool store_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    if (!s) {
        return len == 0;
    }
    while (i < len) {
        /* ASCII, the common case, eight bytes at a time */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, p + i, sizeof word);
            if (word & S_HIGH) {
                break;
            }
            i += 8;
        }
        if (i >= len) {
            break;
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = s_utf8_seq(p + i, len - i);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

/*  One pass over a text of len bytes: true if it is valid UTF-8 without control characters
    (but \n and \t when multiline). The common case of a valid text costs this pass alone. */
static bool s_text_clean(const char *s, size_t len, bool multiline)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < len) {
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, p + i, sizeof word);
            if (!s_printable8(word)) {
                break;
            }
            i += 8;
        }
        if (i >= len) {
            break;
        }
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = s_utf8_seq(p + i, len - i);
            if (n == 0) {
                return false;
            }
            i += n;
        } else if ((c < 0x20 || c == 0x7F) && !(multiline && (c == '\n' || c == '\t'))) {
            return false;
        } else {
            i++;
        }
    }
    return true;
}

static bool s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool store_date_valid(const char *s)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return false;
    }
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !s_is_digit(s[i])) {
            return false;
        }
    }
    int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int month = (s[5] - '0') * 10 + (s[6] - '0');
    int day = (s[8] - '0') * 10 + (s[9] - '0');
    if (year < 1 || month < 1 || month > 12 || day < 1) {
        return false;
    }
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int max = days[month - 1] + (month == 2 && leap ? 1 : 0);
    return day <= max;
}

/*  Checks one text field: UTF-8, length, control characters (a summary may hold \n and \t).
    Returns 0 or -1 with the reason in why. */
static int s_text(const char *s, bool required, size_t max, bool multiline, char *why,
                  size_t whylen)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0) {
        if (required) {
            snprintf(why, whylen, "missing");
            return -1;
        }
        return 0;
    }
    if (len <= max && s_text_clean(s, len, multiline)) {
        return 0;
    }
    /* something is wrong: the checks one by one, to say what, UTF-8 first */
    if (!store_utf8_valid(s, len)) {
        snprintf(why, whylen, "not valid UTF-8");
        return -1;
    }
    if (len > max) {
        snprintf(why, whylen, "too long (%zu bytes, at most %zu)", len, max);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c < 0x20 || c == 0x7F) {
            if (multiline && (c == '\n' || c == '\t')) {
                continue;
            }
            snprintf(why, whylen, "contains a control character (byte %zu)", i + 1);
            return -1;
        }
    }
    return 0;
}

static int s_id(const char *s, char *why, size_t whylen)
{
    if (s_text(s, true, S_MAX_ID, false, why, whylen) != 0) {
        return -1;
    }
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || s_is_digit(c) || c == '.' ||
              c == '_' || c == '~' || c == ':' || c == '-')) {
            snprintf(why, whylen,
                     "must be letters, digits, '.', '_', '~', ':' or '-' (got '%.80s')", s);
            return -1;
        }
    }
    return 0;
}

static int s_date(const char *s, char *why, size_t whylen)
{
    if (s_text(s, true, 10, false, why, whylen) != 0) {
        if (s && *s && strcmp(why, "not valid UTF-8") != 0) {
            snprintf(why, whylen, "not a date (%.40s)", s);
        }
        return -1;
    }
    if (!store_date_valid(s)) {
        snprintf(why, whylen, "not a date (%s)", s);
        return -1;
    }
    return 0;
}

static int s_url(const char *s, char *why, size_t whylen)
{
    if (s_text(s, false, STORE_MAX_FIELD, false, why, whylen) != 0) {
        return -1;
    }
    if (!s || !*s) {
        return 0;
    }
    bool scheme = strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
    if (!scheme || strchr(s, ' ') || strlen(s) <= (strncmp(s, "https", 5) == 0 ? 8u : 7u)) {
        snprintf(why, whylen, "must be an http:// or https:// URL without spaces (got '%.80s')", s);
        return -1;
    }
    return 0;
}

#define S_FAIL(name)                                                                               \
    do {                                                                                           \
        if (field) {                                                                               \
            *field = (name);                                                                       \
        }                                                                                          \
        return -1;                                                                                 \
    } while (0)

int store_event_check(const store_event_t *event, const char **field, char *why, size_t whylen)
{
    char scratch[256];
    if (!why || whylen == 0) {
        why = scratch;
        whylen = sizeof scratch;
    }
    why[0] = '\0';
    if (field) {
        *field = NULL;
    }
    if (!event) {
        snprintf(why, whylen, "no record");
        S_FAIL("id");
    }
    if (s_id(event->id, why, whylen) != 0) {
        S_FAIL("id");
    }
    if (s_text(event->kind, true, 64, false, why, whylen) != 0) {
        S_FAIL("kind");
    }
    for (const char *p = event->kind; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || s_is_digit(*p) || *p == '-')) {
            snprintf(why, whylen, "must be a lower-case token of a-z, 0-9 and '-' (got '%s')",
                     event->kind);
            S_FAIL("kind");
        }
    }
    if (s_text(event->title, true, STORE_MAX_FIELD, false, why, whylen) != 0) {
        S_FAIL("title");
    }
    if (s_date(event->start_date, why, whylen) != 0) {
        S_FAIL("start_date");
    }
    if (s_date(event->end_date, why, whylen) != 0) {
        S_FAIL("end_date");
    }
    if (strcmp(event->end_date, event->start_date) < 0) {
        snprintf(why, whylen, "before start_date (%s < %s)", event->end_date, event->start_date);
        S_FAIL("end_date");
    }
    if (s_text(event->city, false, STORE_MAX_FIELD, false, why, whylen) != 0) {
        S_FAIL("city");
    }
    if (s_text(event->country, true, STORE_MAX_FIELD, false, why, whylen) != 0) {
        S_FAIL("country");
    }
    const char *cc = event->country;
    if (strlen(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z') {
        snprintf(why, whylen, "must be two upper-case letters (got '%.40s')", cc);
        S_FAIL("country");
    }
    if (s_text(event->summary, false, STORE_MAX_SUMMARY, true, why, whylen) != 0) {
        S_FAIL("summary");
    }
    if (s_url(event->url, why, whylen) != 0) {
        S_FAIL("url");
    }
    const char *status = event->status && *event->status ? event->status : "scheduled";
    if (strcmp(status, "scheduled") != 0 && strcmp(status, "cancelled") != 0) {
        if (s_text(status, true, 64, false, why, whylen) == 0) {
            snprintf(why, whylen, "must be 'scheduled' or 'cancelled' (got '%s')", status);
        }
        S_FAIL("status");
    }
    if (s_text(event->cancel_reason, false, STORE_MAX_FIELD, false, why, whylen) != 0) {
        S_FAIL("cancel_reason");
    }
    if (event->cancel_reason && *event->cancel_reason && strcmp(status, "cancelled") != 0) {
        snprintf(why, whylen, "only allowed on a cancelled event");
        S_FAIL("cancel_reason");
    }
    if (event->people_count > STORE_MAX_PEOPLE) {
        snprintf(why, whylen, "more than %d people (%zu)", STORE_MAX_PEOPLE, event->people_count);
        S_FAIL("people");
    }
    if (event->people_count > 0 && !event->people) {
        snprintf(why, whylen, "people_count is %zu but people is NULL", event->people_count);
        S_FAIL("people");
    }
    for (size_t i = 0; i < event->people_count; i++) {
        char inner[200];
        if (s_text(event->people[i].name, true, STORE_MAX_FIELD, false, inner, sizeof inner) != 0) {
            snprintf(why, whylen, "person %zu: name: %s", i + 1, inner);
            S_FAIL("people");
        }
        if (s_text(event->people[i].role, false, STORE_MAX_FIELD, false, inner, sizeof inner) !=
            0) {
            snprintf(why, whylen, "person %zu: role: %s", i + 1, inner);
            S_FAIL("people");
        }
    }
    return 0;
}

int store_press_check(const store_press_t *press, const char **field, char *why, size_t whylen)
{
    char scratch[256];
    if (!why || whylen == 0) {
        why = scratch;
        whylen = sizeof scratch;
    }
    why[0] = '\0';
    if (field) {
        *field = NULL;
    }
    if (!press) {
        snprintf(why, whylen, "no record");
        S_FAIL("id");
    }
    if (s_id(press->id, why, whylen) != 0) {
        S_FAIL("id");
    }
    if (press->event_id && *press->event_id && s_id(press->event_id, why, whylen) != 0) {
        S_FAIL("event_id");
    }
    if (s_text(press->title, true, STORE_MAX_FIELD, false, why, whylen) != 0) {
        S_FAIL("title");
    }
    if (s_date(press->published_on, why, whylen) != 0) {
        S_FAIL("published_on");
    }
    if (s_url(press->url, why, whylen) != 0) {
        S_FAIL("url");
    }
    if (s_text(press->summary, false, STORE_MAX_SUMMARY, true, why, whylen) != 0) {
        S_FAIL("summary");
    }
    return 0;
}
