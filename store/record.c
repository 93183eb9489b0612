/*  record.c -- record validation shared by the store, the import and the wire codec.

    Every check names the offending field (a static string) and says why in the caller's
    buffer, in words an operator can act on: "must be two upper-case letters (got 'FRA')".
    UTF-8 is checked before anything else so that a value is never echoed back broken. Each
    record type is a table of rules, one per field, checked in order by s_check.
*/
#include "record.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
    (but \n and \t when multiline). The common case of a valid text costs this pass alone:
    printable ASCII goes sixteen bytes at a time (SSE2), else eight. */
static bool s_text_clean(const char *s, size_t len, bool multiline)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
#if defined(__SSE2__)
    /* signed bytes: 0x80 and above are negative, so "above 0x1F and below 0x7F" is printable */
    const __m128i low = _mm_set1_epi8(0x1F);
    const __m128i del = _mm_set1_epi8(0x7F);
#endif
    while (i < len) {
#if defined(__SSE2__)
        while (len - i >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *) (const void *) (p + i));
            __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(x, low), _mm_cmplt_epi8(x, del));
            if (_mm_movemask_epi8(ok) != 0xFFFF) {
                break;
            }
            i += 16;
        }
#endif
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
    if (!s) {
        return false;
    }
    /* in order, so that a shorter text stops at its NUL */
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7 ? s[i] != '-' : !s_is_digit(s[i])) {
            return false;
        }
    }
    if (s[10] != '\0') {
        return false;
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

static bool s_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || s_is_digit(c) || c == '.' ||
           c == '_' || c == '~' || c == ':' || c == '-';
}

static int s_id(const char *s, char *why, size_t whylen)
{
    /* the common case in one pass: 1 to S_MAX_ID id characters pass every check below */
    size_t len = 0;
    while (s && len <= S_MAX_ID && s_id_char(s[len])) {
        len++;
    }
    if (s && len > 0 && len <= S_MAX_ID && s[len] == '\0') {
        return 0;
    }
    if (s_text(s, true, S_MAX_ID, false, why, whylen) != 0) {
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (!s_id_char(*p)) {
            snprintf(why, whylen,
                     "must be letters, digits, '.', '_', '~', ':' or '-' (got '%.80s')", s);
            return -1;
        }
    }
    return 0;
}

static int s_date(const char *s, char *why, size_t whylen)
{
    if (store_date_valid(s)) {
        return 0; /* ten digits and dashes: a text that passes s_text too */
    }
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

/*  How a text field is checked, before its rule's own further check. */
typedef enum {
    S_ID,    /* an id (optional: may be empty) */
    S_TEXT,  /* a text of max bytes at most */
    S_DATE,  /* a date YYYY-MM-DD */
    S_URL,   /* empty, or an http(s) URL */
    S_RECORD /* no text of its own: only the further check, on the whole record */
} s_kind_t;

/*  A further check of a field: the record, the field's value (NULL for S_RECORD). */
typedef int(s_also_fn)(const void *record, const char *value, char *why, size_t whylen);

/*  One field's rule. A record's rules are checked in table order; the first that fails is
    the field named. */
typedef struct {
    const char *name; /* the field's name, as the JSON and the messages say it */
    size_t offset;    /* of its const char * in the record (not for S_RECORD) */
    s_kind_t kind;    /* the check every value gets */
    bool required;    /* S_ID, S_TEXT: not empty */
    size_t max;       /* S_TEXT: bytes at most */
    bool multiline;   /* S_TEXT: \n and \t allowed */
    s_also_fn *also;  /* a further check, or NULL */
} s_rule_t;

static int s_kind_token(const void *record, const char *value, char *why, size_t whylen)
{
    (void) record;
    for (const char *p = value; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || s_is_digit(*p) || *p == '-')) {
            snprintf(why, whylen, "must be a lower-case token of a-z, 0-9 and '-' (got '%s')",
                     value);
            return -1;
        }
    }
    return 0;
}

static int s_end_date(const void *record, const char *value, char *why, size_t whylen)
{
    const store_event_t *event = record;
    if (strcmp(value, event->start_date) < 0) {
        snprintf(why, whylen, "before start_date (%s < %s)", value, event->start_date);
        return -1;
    }
    return 0;
}

static int s_country_code(const void *record, const char *cc, char *why, size_t whylen)
{
    (void) record;
    if (strlen(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z') {
        snprintf(why, whylen, "must be two upper-case letters (got '%.40s')", cc);
        return -1;
    }
    return 0;
}

static const char *s_status_of(const store_event_t *event)
{
    return event->status && *event->status ? event->status : "scheduled";
}

static int s_status(const void *record, const char *value, char *why, size_t whylen)
{
    (void) value;
    const char *status = s_status_of(record);
    if (strcmp(status, "scheduled") != 0 && strcmp(status, "cancelled") != 0) {
        if (s_text(status, true, 64, false, why, whylen) == 0) {
            snprintf(why, whylen, "must be 'scheduled' or 'cancelled' (got '%s')", status);
        }
        return -1;
    }
    return 0;
}

static int s_cancel_reason(const void *record, const char *value, char *why, size_t whylen)
{
    if (value && *value && strcmp(s_status_of(record), "cancelled") != 0) {
        snprintf(why, whylen, "only allowed on a cancelled event");
        return -1;
    }
    return 0;
}

static int s_people(const void *record, const char *value, char *why, size_t whylen)
{
    (void) value;
    const store_event_t *event = record;
    if (event->people_count > STORE_MAX_PEOPLE) {
        snprintf(why, whylen, "more than %d people (%zu)", STORE_MAX_PEOPLE, event->people_count);
        return -1;
    }
    if (event->people_count > 0 && !event->people) {
        snprintf(why, whylen, "people_count is %zu but people is NULL", event->people_count);
        return -1;
    }
    for (size_t i = 0; i < event->people_count; i++) {
        char inner[200];
        if (s_text(event->people[i].name, true, STORE_MAX_FIELD, false, inner, sizeof inner) != 0) {
            snprintf(why, whylen, "person %zu: name: %s", i + 1, inner);
            return -1;
        }
        if (s_text(event->people[i].role, false, STORE_MAX_FIELD, false, inner, sizeof inner) !=
            0) {
            snprintf(why, whylen, "person %zu: role: %s", i + 1, inner);
            return -1;
        }
    }
    return 0;
}

#define S_EV(field) #field, offsetof(store_event_t, field)
#define S_PR(field) #field, offsetof(store_press_t, field)
/* clang-format off */
static const s_rule_t s_event_rules[] = {
    {S_EV(id), S_ID, true, 0, false, NULL},
    {S_EV(kind), S_TEXT, true, 64, false, s_kind_token},
    {S_EV(title), S_TEXT, true, STORE_MAX_FIELD, false, NULL},
    {S_EV(start_date), S_DATE, true, 0, false, NULL},
    {S_EV(end_date), S_DATE, true, 0, false, s_end_date},
    {S_EV(city), S_TEXT, false, STORE_MAX_FIELD, false, NULL},
    {S_EV(country), S_TEXT, true, STORE_MAX_FIELD, false, s_country_code},
    {S_EV(summary), S_TEXT, false, STORE_MAX_SUMMARY, true, NULL},
    {S_EV(url), S_URL, false, 0, false, NULL},
    {S_EV(status), S_RECORD, false, 0, false, s_status},
    {S_EV(cancel_reason), S_TEXT, false, STORE_MAX_FIELD, false, s_cancel_reason},
    {S_EV(people), S_RECORD, false, 0, false, s_people},
    {NULL, 0, S_RECORD, false, 0, false, NULL}};

static const s_rule_t s_press_rules[] = {
    {S_PR(id), S_ID, true, 0, false, NULL},
    {S_PR(event_id), S_ID, false, 0, false, NULL},
    {S_PR(title), S_TEXT, true, STORE_MAX_FIELD, false, NULL},
    {S_PR(published_on), S_DATE, true, 0, false, NULL},
    {S_PR(url), S_URL, false, 0, false, NULL},
    {S_PR(summary), S_TEXT, false, STORE_MAX_SUMMARY, true, NULL},
    {NULL, 0, S_RECORD, false, 0, false, NULL}};
/* clang-format on */
#undef S_EV
#undef S_PR

/*  The check every value of rule gets: 0 or -1 with why. */
static int s_value(const s_rule_t *rule, const char *value, char *why, size_t whylen)
{
    switch (rule->kind) {
    case S_ID:
        return !rule->required && (!value || !*value) ? 0 : s_id(value, why, whylen);
    case S_TEXT:
        return s_text(value, rule->required, rule->max, rule->multiline, why, whylen);
    case S_DATE:
        return s_date(value, why, whylen);
    case S_URL:
        return s_url(value, why, whylen);
    case S_RECORD:
        break;
    }
    return 0;
}

/*  Checks record (NULL: "no record", field id) against rules; the contract of
    store_event_check. */
static int s_check(const void *record, const s_rule_t *rules, const char **field, char *why,
                   size_t whylen)
{
    char scratch[256];
    if (!why || whylen == 0) {
        why = scratch;
        whylen = sizeof scratch;
    }
    why[0] = '\0';
    const char *failed = NULL;
    if (!record) {
        snprintf(why, whylen, "no record");
        failed = "id";
    }
    for (const s_rule_t *rule = rules; !failed && rule->name; rule++) {
        const char *value = NULL;
        if (rule->kind != S_RECORD) {
            memcpy(&value, (const char *) record + rule->offset, sizeof value);
        }
        if (s_value(rule, value, why, whylen) != 0 ||
            (rule->also && rule->also(record, value, why, whylen) != 0)) {
            failed = rule->name;
        }
    }
    if (field) {
        *field = failed;
    }
    return failed ? -1 : 0;
}

int store_event_check(const store_event_t *event, const char **field, char *why, size_t whylen)
{
    return s_check(event, s_event_rules, field, why, whylen);
}

int store_press_check(const store_press_t *press, const char **field, char *why, size_t whylen)
{
    return s_check(press, s_press_rules, field, why, whylen);
}
