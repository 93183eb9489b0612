/*  mail_render.h -- a digest's words: the subject, the text/plain and text/html bodies from
    the queued items, and the header pieces no library here writes (RFC 2047 encoded words,
    the RFC 5322 date, sanitized values, HTML escaping).

    An item is the JSON object the mail sink queues: seq, type ("event" / "press_release"),
    change ("created", "updated", "cancelled", "deleted"), id, id_only, and the record's fields
    (an event's kind, title, start_date, end_date, city, country, summary, url, cancel_reason,
    people [{name, role}]; a press release's event_id, title, published_on, url, summary).
    The same items always give the same subject and bodies. Every line ends in CRLF.
*/
#ifndef HERALD_SUB_MAIL_RENDER_H
#define HERALD_SUB_MAIL_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

/*  A rendered digest; every string is the owner's (freed by mail_digest_clear). */
typedef struct {
    char *subject; /* one line of UTF-8, no control characters */
    char *text;    /* text/plain body, UTF-8, CRLF line ends */
    char *html;    /* text/html body, UTF-8, CRLF line ends, text escaped */
    size_t items;  /* items rendered */
} mail_digest_t;

/*  Renders items (a JSON array, borrowed) into *out. 0, or -1 when out of memory (*out is
    then empty). */
int mail_render_digest(const json_t *items, mail_digest_t *out);

/*  Frees the strings of a digest and zeroes it. Safe on a zeroed digest and twice. */
void mail_digest_clear(mail_digest_t *digest);

/*  "Name: value" for a header: control characters (CR and LF included) in value become
    spaces; a value that is not plain ASCII becomes RFC 2047 encoded words (=?UTF-8?B?...?=,
    each at most 75 characters, split between characters, folded with CRLF SP). Returns the
    line (the caller's, to free; no final CRLF), or NULL when out of memory. */
char *mail_render_header(const char *name, const char *value);

/*  Copies s with & < > " ' as entities, everything else as it is. The caller's; NULL when out
    of memory. */
char *mail_render_html_escape(const char *s);

/*  Writes t as an RFC 5322 date in the process's time zone ("Sat, 28 Nov 2026 10:00:00
    +0100") into buf. 0, or -1 if it does not fit. */
int mail_render_date(char *buf, size_t cap, time_t t);

#endif
