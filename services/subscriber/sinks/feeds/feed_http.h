/*  feed_http.h -- serves one feed file over HTTP (libmicrohttpd, its own thread), so that
    calendar clients and feed readers subscribe by URL and poll cheaply: ETag answered 304 on
    If-None-Match (and If-Modified-Since), Last-Modified, HEAD.

    The document is served at /NAME (NAME: the feed file's base name). With a tokens file
    ("AGENCY TOKEN" a line, # comments) only a reader holding a token gets it: by bearer
    (Authorization: Bearer TOKEN on /NAME, else 401) or by secret URL (/TOKEN/NAME, else 404).
    Without one the feed is public; the sinks allow that on loopback only, or when the
    operator says --http-insecure.

    The service thread publishes each rewrite; the server thread answers from the last one
    published (an immutable, reference-counted copy: no lock held while sending).
*/
#ifndef HERALD_FEED_HTTP_H
#define HERALD_FEED_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct feed_http feed_http_t;

/*  Starts serving on addr (HOST:PORT, or a bare PORT on 127.0.0.1) the document called name
    (e.g. "calendar.ics") as content_type, readable by the tokens of tokens_path (NULL: by
    anyone). Call with the service's signals blocked. Returns the server (the caller's,
    feed_http_destroy), or NULL with the reason in err. Until feed_http_publish, requests get
    503. */
feed_http_t *feed_http_new(const char *addr, const char *name, const char *content_type,
                           const char *tokens_path, char *err, size_t errlen);

/*  Stops the server and frees it; sets *self_p to NULL. Safe on NULL and twice. */
void feed_http_destroy(feed_http_t **self_p);

/*  Serves data (len bytes, copied) from now on, Last-Modified modified_ms (ms since the
    epoch) and an ETag of its content. 0, or -1 when out of memory (the old one stays). */
int feed_http_publish(feed_http_t *self, const char *data, size_t len, int64_t modified_ms);

/*  Re-reads the tokens file (after SIGHUP). 0, or -1 with the reason in err (the old tokens
    stay). */
int feed_http_reload(feed_http_t *self, char *err, size_t errlen);

/*  Counts since the start: documents sent (200), 304 answers, requests refused (401/404). */
void feed_http_stats(feed_http_t *self, int64_t *served, int64_t *not_modified, int64_t *refused);

/*  true when addr (as feed_http_new takes it) listens on a loopback address only. */
bool feed_http_loopback(const char *addr);

/*  Reads a tokens file into a count of tokens: 0..n, or -1 with the reason in err (a line
    without a token, a token shorter than 16 characters, an unreadable file). */
int feed_http_tokens_check(const char *path, char *err, size_t errlen);

#endif
