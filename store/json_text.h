/*  json_text.h -- a text as a JSON string, quoted and escaped byte for byte as jansson's
    json_dumps escapes it (\" \\ \b \f \n \r \t, the other bytes below 0x20 as \u00XX in
    capitals, every other byte as it is), written by hand on hot paths: the log sink's lines,
    and the people column the store writes with every event (which must keep the bytes
    jansson wrote, or a record written again unchanged would look changed to the triggers).
*/
#ifndef HERALD_JSON_TEXT_H
#define HERALD_JSON_TEXT_H

#include <stddef.h>

/* room json_text needs for a text of len bytes: every byte as \u00XX, the quotes, 8 to spare */
#define JSON_TEXT_BOUND(len) (6 * (len) + 10)

/*  Writes the text s of len bytes at at, which has room for JSON_TEXT_BOUND(len) bytes (a
    block may be stored past the end of what is written, never past that room). Returns the
    end of what was written. */
char *json_text(char *at, const char *s, size_t len);

#endif
