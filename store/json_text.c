/*  json_text.c -- see json_text.h.

    A text is copied sixteen bytes at a time (SSE2, eight without it), each block stored whole
    before it is looked at: a block without a byte to escape costs one load, one store and one
    test; the last bytes of a text of eight or more are looked at in the eight bytes that end
    it. A store may run past the text's last byte, by eight bytes at most, into the room
    JSON_TEXT_BOUND reserves.
*/
#include "json_text.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define S_ONES UINT64_C(0x0101010101010101)
#define S_HIGH UINT64_C(0x8080808080808080)

/*  The high bit of each of the eight bytes of w that needs escaping (below 0x20, '"' or '\\'),
    exact up to the first such byte (a borrow may mark bytes above it too). */
static uint64_t s_special8(uint64_t w)
{
    uint64_t quote = w ^ (S_ONES * '"');
    uint64_t backslash = w ^ (S_ONES * '\\');
    return (((w - S_ONES * 0x20) & ~w) | ((quote - S_ONES) & ~quote) |
            ((backslash - S_ONES) & ~backslash)) &
           S_HIGH;
}

/*  One byte that needs escaping, as jansson escapes it. */
static char *s_escape(char *at, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
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
    return at;
}

char *json_text(char *at, const char *s, size_t len)
{
    const char *end = s + len;
    *at++ = '"';
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i below = _mm_set1_epi8(0x1F);
    while (end - s >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *) (const void *) s);
        _mm_storeu_si128((__m128i *) (void *) at, x);
        __m128i special =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                         _mm_cmpeq_epi8(_mm_min_epu8(x, below), x)); /* x <= 0x1F, unsigned */
        unsigned mask = (unsigned) _mm_movemask_epi8(special);
        if (mask == 0) {
            s += 16;
            at += 16;
            continue;
        }
        unsigned k = (unsigned) __builtin_ctz(mask);
        at = s_escape(at + k, (unsigned char) s[k]);
        s += k + 1;
    }
#endif
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - s >= 8) {
        uint64_t word;
        memcpy(&word, s, sizeof word);
        memcpy(at, &word, sizeof word);
        uint64_t mask = s_special8(word);
        if (mask == 0) {
            s += 8;
            at += 8;
            continue;
        }
        unsigned k = (unsigned) __builtin_ctzll(mask) / 8;
        at = s_escape(at + k, (unsigned char) s[k]);
        s += k + 1;
    }
    if (s < end && len >= 8) {
        /* the last r bytes, at the top of the word that ends the text; a byte to escape
           among them is always marked (a false mark, from one below them, only sends them
           through the loop below) */
        unsigned shift = 8 * (unsigned) (8 - (end - s));
        uint64_t word;
        memcpy(&word, end - 8, sizeof word);
        if ((s_special8(word) >> shift) == 0) {
            word >>= shift;
            memcpy(at, &word, sizeof word);
            at += end - s;
            s = end;
        }
    }
#endif
    for (; s < end; s++) {
        unsigned char c = (unsigned char) *s;
        if (c < 0x20 || c == '"' || c == '\\') {
            at = s_escape(at, c);
        } else {
            *at++ = (char) c;
        }
    }
    *at++ = '"';
    return at;
}
