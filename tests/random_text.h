/*  random_text.h -- random texts for the tests that compare a hand-written encoder with its
    library (codec_test: protobuf-c; subscriber_test: jansson). */
#ifndef HERALD_RANDOM_TEXT_H
#define HERALD_RANDOM_TEXT_H

#include <stdlib.h>
#include <string.h>

/*  A valid UTF-8 text of fewer than max bytes (max at least 1) into buf, from seed: empty a
    quarter of the time, else control characters, quotes, backslashes, slashes, DEL, and
    two-, three- and four-byte characters among plain ones. */
static inline char *random_text(char *buf, size_t max, unsigned *seed)
{
    static const char *pieces[] = {"a",
                                   "Z",
                                   "0",
                                   " ",
                                   "\"",
                                   "\\",
                                   "/",
                                   "\x7f",
                                   "é",
                                   "€",
                                   "\xf0\x9d\x84\x9e",
                                   "\xe2\x80\xa8",
                                   "Jürgen",
                                   "<>&'"};
    size_t len = 0;
    size_t want = rand_r(seed) % 4 == 0 ? 0 : (size_t) rand_r(seed) % max;
    while (len < want) {
        char control[2] = {(char) (1 + rand_r(seed) % 31), '\0'};
        const char *piece = rand_r(seed) % 20 < 3
                                ? control
                                : pieces[rand_r(seed) % (sizeof pieces / sizeof pieces[0])];
        size_t n = strlen(piece);
        if (len + n >= max) {
            break;
        }
        memcpy(buf + len, piece, n);
        len += n;
    }
    buf[len] = '\0';
    return buf;
}

#endif
