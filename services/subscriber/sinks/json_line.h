/*  json_line.h -- the log sink's JSON line of an announcement, written by hand.

    The line is the hot path of a JSON log: jansson's dump decodes every character of every
    string through a function call (utf8_iterate), about 4 µs a line, four times the rest of
    the subscriber's work. So the line is written here, straight from the decoded
    announcement, and is byte for byte what jansson's json_dumpb(JSON_COMPACT) prints for
    the same object (subscriber_test builds that object with jansson for thousands of random
    records and compares): keys in this order, integers in decimal, texts escaped as jansson
    escapes them (\" \\ \b \f \n \r \t, other control characters as \u00XX in upper case,
    everything else as it is). jansson stays the project's JSON library everywhere else.

    Keys: seq, stream_id, change, type, committed_at_ms, id; then for an event kind, title,
    start_date, end_date, city, country, summary, url, status, people ([{name, role}]),
    version and, for a cancelled one with a reason, cancel_reason; for a press release
    event_id (null when empty), title, published_on, url, summary. A record that carries its
    id alone (deleted, or gone since) stops after id.
*/
#ifndef HERALD_JSON_LINE_H
#define HERALD_JSON_LINE_H

#include "codec.h"

#include <stddef.h>

/*  Bytes that json_line_write may need for a (a bound, not the length): with that much room
    it never fails. */
size_t json_line_bound(const announcement_t *a);

/*  Writes a's line (no newline, no NUL) at out, which holds cap bytes. The texts must be
    valid UTF-8 (codec_decode checked them). Returns its length, or 0 when cap might be too
    little (each text is checked as if every byte were escaped; what is at out is then
    garbage): give it more room, json_line_bound(a) at most. */
size_t json_line_write(const announcement_t *a, char *out, size_t cap);

#endif
