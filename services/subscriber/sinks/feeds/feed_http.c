/*  feed_http.c -- one feed served over HTTP with libmicrohttpd: conditional GET, HEAD,
    tokens by bearer or secret URL.

    The document is a reference-counted blob: publish swaps the current one under the lock,
    a request takes a reference under the lock and hands the blob to libmicrohttpd, which
    drops the reference when the response is gone. The tokens are replaced the same way on
    reload. Nothing here runs on the subscriber's hot path: publish is called once per
    rewrite.
*/
#define _GNU_SOURCE /* strptime, timegm */
#include "feed_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http_server.h"
#include "log.h"
#include "metrics.h"

#define S_MIN_TOKEN 16   /* characters in a token at least */
#define S_MAX_TOKENS 256 /* tokens in a file at most */
#define S_MAX_LINE 512

typedef struct {
    atomic_int refs;   /* holders: the server's current pointer and the responses */
    char *data;        /* the document */
    size_t len;        /* its bytes */
    char etag[24];     /* "16 hex digits" with the quotes */
    char modified[40]; /* Last-Modified, an HTTP-date */
    time_t modified_s; /* the same, in seconds since the epoch */
} s_blob_t;

typedef struct {
    char agency[64];        /* who holds it, for the log ("" if unnamed) */
    char token[S_MAX_LINE]; /* the secret */
} s_token_t;

typedef struct {
    s_token_t items[S_MAX_TOKENS];
    size_t count;
} s_tokens_t;

struct feed_http {
    struct MHD_Daemon *daemon; /* the server */
    pthread_mutex_t lock;      /* guards blob and tokens */
    s_blob_t *blob;            /* the document served, NULL before the first publish */
    s_tokens_t *tokens;        /* the readers allowed, NULL: anyone */
    char *tokens_path;         /* the tokens file, NULL without */
    char name[256];            /* the document's name in the URL */
    char content_type[64];     /* its Content-Type */
    atomic_llong served;       /* 200 answers */
    atomic_llong not_modified; /* 304 answers */
    atomic_llong refused;      /* 401 and 404 answers */
};

static void s_blob_unref(s_blob_t *blob)
{
    if (blob && atomic_fetch_sub(&blob->refs, 1) == 1) {
        free(blob->data);
        free(blob);
    }
}

static void s_blob_free_cb(void *cls)
{
    s_blob_unref(cls);
}

//  ---------------------------------------------------------------------------------------
//  Tokens

/*  Reads path into *out (the caller's, free). 0 or -1 with the reason. */
static int s_tokens_read(const char *path, s_tokens_t **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--http-tokens %s: %s", path, strerror(errno));
        return -1;
    }
    s_tokens_t *tokens = calloc(1, sizeof *tokens);
    if (!tokens) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char line[S_MAX_LINE];
    int number = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        number++;
        line[strcspn(line, "#\r\n")] = '\0';
        char *save = NULL;
        char *first = strtok_r(line, " \t", &save);
        char *second = first ? strtok_r(NULL, " \t", &save) : NULL;
        if (!first) {
            continue; /* blank or comment */
        }
        const char *agency = second ? first : "";
        const char *token = second ? second : first;
        if (strtok_r(NULL, " \t", &save) || strlen(token) < S_MIN_TOKEN ||
            strlen(agency) >= sizeof tokens->items[0].agency) {
            snprintf(err, errlen,
                     "--http-tokens %s:%d: not \"AGENCY TOKEN\" with a token of %d characters "
                     "or more",
                     path, number, S_MIN_TOKEN);
            rc = -1;
        } else if (tokens->count == S_MAX_TOKENS) {
            snprintf(err, errlen, "--http-tokens %s: more than %d tokens", path, S_MAX_TOKENS);
            rc = -1;
        } else {
            s_token_t *t = &tokens->items[tokens->count++];
            snprintf(t->agency, sizeof t->agency, "%s", agency);
            snprintf(t->token, sizeof t->token, "%s", token);
        }
    }
    fclose(f);
    if (rc != 0) {
        free(tokens);
        return -1;
    }
    *out = tokens;
    return 0;
}

int feed_http_tokens_check(const char *path, char *err, size_t errlen)
{
    s_tokens_t *tokens = NULL;
    if (s_tokens_read(path, &tokens, err, errlen) != 0) {
        return -1;
    }
    int count = (int) tokens->count;
    free(tokens);
    return count;
}

/*  Compares without leaking where the first difference is. */
static bool s_equal(const char *a, size_t a_len, const char *b)
{
    size_t b_len = strlen(b);
    unsigned char diff = a_len != b_len;
    for (size_t i = 0; i < a_len && i < b_len; i++) {
        diff |= (unsigned char) (a[i] ^ b[i]);
    }
    return diff == 0;
}

/*  The agency holding the token of len bytes, or NULL. Called with the lock held. */
static const char *s_token_find(const s_tokens_t *tokens, const char *token, size_t len)
{
    const char *found = NULL;
    for (size_t i = 0; i < tokens->count; i++) {
        if (s_equal(token, len, tokens->items[i].token) && !found) {
            found = tokens->items[i].agency;
        }
    }
    return found;
}

//  ---------------------------------------------------------------------------------------
//  Requests

static enum MHD_Result s_plain(feed_http_t *self, struct MHD_Connection *c, unsigned int status,
                               const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"herald\"");
    }
    if (status == MHD_HTTP_UNAUTHORIZED || status == MHD_HTTP_NOT_FOUND) {
        atomic_fetch_add(&self->refused, 1);
    }
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/*  true when the request's validators match blob: If-None-Match first (a list, or *), else
    If-Modified-Since. */
static bool s_not_modified(struct MHD_Connection *c, const s_blob_t *blob)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    if (inm) {
        return strstr(inm, blob->etag) != NULL || strcmp(inm, "*") == 0;
    }
    const char *ims = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Modified-Since");
    struct tm tm = {0};
    const char *end = ims ? strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
    return end && *end == '\0' && timegm(&tm) >= blob->modified_s;
}

static enum MHD_Result s_document(feed_http_t *self, struct MHD_Connection *c, s_blob_t *blob)
{
    bool fresh = s_not_modified(c, blob);
    struct MHD_Response *r =
        fresh ? MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT)
              : MHD_create_response_from_buffer_with_free_callback_cls(blob->len, blob->data,
                                                                       s_blob_free_cb, blob);
    if (!r) {
        s_blob_unref(blob);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, blob->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, blob->modified);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (!fresh) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, self->content_type);
    }
    atomic_fetch_add(fresh ? &self->not_modified : &self->served, 1);
    enum MHD_Result rc = MHD_queue_response(c, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    if (fresh) {
        s_blob_unref(blob); /* the response did not take it */
    }
    return rc;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_len, void **con_cls)
{
    (void) version;
    (void) upload;
    (void) upload_len;
    (void) con_cls;
    feed_http_t *self = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return s_plain(self, c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD only\n");
    }
    /* /NAME, or /TOKEN/NAME */
    const char *path = url[0] == '/' ? url + 1 : url;
    const char *slash = strchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (strcmp(name, self->name) != 0 || (slash && strchr(name, '/'))) {
        return s_plain(self, c, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *bearer = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
    pthread_mutex_lock(&self->lock);
    bool open = !self->tokens;
    const char *agency = NULL;
    if (!open && slash) {
        agency = s_token_find(self->tokens, path, (size_t) (slash - path));
    } else if (!open && bearer) {
        agency = s_token_find(self->tokens, bearer, strlen(bearer));
    }
    bool allowed = open ? !slash : agency != NULL;
    s_blob_t *blob = allowed ? self->blob : NULL;
    if (blob) {
        atomic_fetch_add(&blob->refs, 1);
    }
    pthread_mutex_unlock(&self->lock);
    if (!allowed) {
        return slash || open ? s_plain(self, c, MHD_HTTP_NOT_FOUND, "not found\n")
                             : s_plain(self, c, MHD_HTTP_UNAUTHORIZED, "a token is needed\n");
    }
    if (!blob) {
        return s_plain(self, c, MHD_HTTP_SERVICE_UNAVAILABLE, "not written yet\n");
    }
    return s_document(self, c, blob);
}

//  ---------------------------------------------------------------------------------------
//  The server

bool feed_http_loopback(const char *addr)
{
    char host[256], err[128];
    int port = 0;
    if (metrics_parse_addr(addr, host, sizeof host, &port, err, sizeof err) != 0) {
        return false;
    }
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

/*  Resolves addr to a socket address to listen on. 0, or -1 with the reason. */
static int s_resolve(const char *addr, struct sockaddr_storage *out, char *err, size_t errlen)
{
    char host[256], why[512];
    int port = 0;
    socklen_t len = 0;
    if (metrics_parse_addr(addr, host, sizeof host, &port, err, errlen) != 0) {
        return -1;
    }
    if (metrics_resolve(addr, true, out, &len, why, sizeof why) != 0) {
        snprintf(err, errlen, "--http %s", why);
        return -1;
    }
    return 0;
}

feed_http_t *feed_http_new(const char *addr, const char *name, const char *content_type,
                           const char *tokens_path, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    if (s_resolve(addr, &sa, err, errlen) != 0) {
        return NULL;
    }
    feed_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    snprintf(self->name, sizeof self->name, "%s", name);
    snprintf(self->content_type, sizeof self->content_type, "%s", content_type);
    if (tokens_path) {
        self->tokens_path = strdup(tokens_path);
        if (!self->tokens_path || s_tokens_read(tokens_path, &self->tokens, err, errlen) != 0) {
            feed_http_destroy(&self);
            return NULL;
        }
    }
    self->daemon = http_server_start(&sa, s_handle, self, "sub.feed_http_error", 30, 64);
    if (!self->daemon) {
        snprintf(err, errlen, "--http: cannot serve on %s: %s", addr, http_server_why());
        feed_http_destroy(&self);
        return NULL;
    }
    return self;
}

void feed_http_destroy(feed_http_t **self_p)
{
    if (self_p && *self_p) {
        feed_http_t *self = *self_p;
        if (self->daemon) {
            MHD_stop_daemon(self->daemon);
        }
        s_blob_unref(self->blob);
        free(self->tokens);
        free(self->tokens_path);
        pthread_mutex_destroy(&self->lock);
        free(self);
        *self_p = NULL;
    }
}

int feed_http_publish(feed_http_t *self, const char *data, size_t len, int64_t modified_ms)
{
    s_blob_t *blob = calloc(1, sizeof *blob);
    char *copy = malloc(len ? len : 1);
    if (!blob || !copy) {
        free(blob);
        free(copy);
        return -1;
    }
    memcpy(copy, data, len);
    uint64_t hash = 14695981039346656037ULL; /* FNV-1a 64 */
    for (size_t i = 0; i < len; i++) {
        hash = (hash ^ (unsigned char) data[i]) * 1099511628211ULL;
    }
    atomic_init(&blob->refs, 1);
    blob->data = copy;
    blob->len = len;
    snprintf(blob->etag, sizeof blob->etag, "\"%016llx\"", (unsigned long long) hash);
    blob->modified_s = (time_t) (modified_ms / 1000);
    struct tm tm;
    gmtime_r(&blob->modified_s, &tm);
    strftime(blob->modified, sizeof blob->modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    pthread_mutex_lock(&self->lock);
    s_blob_t *old = self->blob;
    self->blob = blob;
    pthread_mutex_unlock(&self->lock);
    s_blob_unref(old);
    return 0;
}

int feed_http_reload(feed_http_t *self, char *err, size_t errlen)
{
    if (!self->tokens_path) {
        return 0;
    }
    s_tokens_t *tokens = NULL;
    if (s_tokens_read(self->tokens_path, &tokens, err, errlen) != 0) {
        return -1;
    }
    pthread_mutex_lock(&self->lock);
    s_tokens_t *old = self->tokens;
    self->tokens = tokens;
    pthread_mutex_unlock(&self->lock);
    free(old);
    return 0;
}

void feed_http_stats(feed_http_t *self, int64_t *served, int64_t *not_modified, int64_t *refused)
{
    *served = atomic_load(&self->served);
    *not_modified = atomic_load(&self->not_modified);
    *refused = atomic_load(&self->refused);
}
