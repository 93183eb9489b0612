/*  webhook_http.c -- the webhook client: libcurl's easy handle, kept for the connection.

    The request's header list is five curl_slist nodes of our own whose texts live in the
    struct and are rewritten for each request, so a request allocates nothing of ours.
*/
#include "webhook_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook_event.h"
#include "webhook_sign.h"

enum { S_H_TYPE, S_H_ID, S_H_TIMESTAMP, S_H_SIGNATURE, S_H_EXPECT, S_H_COUNT };

struct webhook_http {
    CURL *curl;                           /* the handle, reused so the connection is kept */
    webhook_signer_t *signer;             /* the secrets */
    struct curl_slist headers[S_H_COUNT]; /* the request's headers, a list of our own */
    char id_header[WEBHOOK_ID_MAX + 16];  /* "webhook-id: ..." */
    char ts_header[48];                   /* "webhook-timestamp: ..." */
    char sig_header[WEBHOOK_SIGN_HEADER_MAX + 24]; /* "webhook-signature: ..." */
    char errbuf[CURL_ERROR_SIZE];                  /* CURLOPT_ERRORBUFFER */
};

static pthread_once_t s_init_once = PTHREAD_ONCE_INIT;
static CURLcode s_init_rc = CURLE_FAILED_INIT;

static void s_init(void)
{
    s_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/*  The answer's body is not read: a receiver says what it means with its status. */
static size_t s_discard(char *data, size_t size, size_t n, void *arg)
{
    (void) data;
    (void) arg;
    return size * n;
}

static char s_type_header[] = "Content-Type: application/cloudevents+json";
static char s_expect_header[] = "Expect:"; /* no 100-continue round trip for a large body */

webhook_http_t *webhook_http_new(const char *url, const char *secrets, const char *ca_file,
                                 int64_t timeout_ms, char *err, size_t errlen)
{
    pthread_once(&s_init_once, s_init);
    if (s_init_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(s_init_rc));
        return NULL;
    }
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        snprintf(err, errlen, "the URL is not http://... or https://...");
        return NULL;
    }
    webhook_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->signer = webhook_signer_new(secrets, err, errlen);
    if (!self->signer) {
        webhook_http_destroy(&self);
        return NULL;
    }
    if (!(self->curl = curl_easy_init())) {
        snprintf(err, errlen, "libcurl: cannot make a handle");
        webhook_http_destroy(&self);
        return NULL;
    }
    char *texts[S_H_COUNT] = {s_type_header, self->id_header, self->ts_header, self->sig_header,
                              s_expect_header};
    for (int i = 0; i < S_H_COUNT; i++) {
        self->headers[i].data = texts[i];
        self->headers[i].next = i + 1 < S_H_COUNT ? &self->headers[i + 1] : NULL;
    }
    long connect_ms = timeout_ms < 10000 ? (long) timeout_ms : 10000;
    CURL *c = self->curl;
    CURLcode rc = CURLE_OK;
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_URL, url);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_POST, 1L);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_HTTPHEADER, self->headers);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_USERAGENT, "herald-sub");
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard);
    rc = rc ? rc : curl_easy_setopt(c, CURLOPT_ERRORBUFFER, self->errbuf);
    if (!rc && ca_file) {
        rc = curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    }
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
        webhook_http_destroy(&self);
        return NULL;
    }
    return self;
}

void webhook_http_destroy(webhook_http_t **self_p)
{
    if (self_p && *self_p) {
        webhook_http_t *self = *self_p;
        curl_easy_cleanup(self->curl);
        webhook_signer_destroy(&self->signer);
        free(self);
        *self_p = NULL;
    }
}

webhook_result_t webhook_http_post(webhook_http_t *self, const char *msg_id, const char *body,
                                   size_t len, int64_t now_s, long *code, int64_t *retry_after_s,
                                   char *err, size_t errlen)
{
    *code = 0;
    *retry_after_s = -1;
    err[0] = '\0';
    snprintf(self->id_header, sizeof self->id_header, "webhook-id: %s", msg_id);
    snprintf(self->ts_header, sizeof self->ts_header, "webhook-timestamp: %lld", (long long) now_s);
    size_t prefix = strlen("webhook-signature: ");
    memcpy(self->sig_header, "webhook-signature: ", prefix);
    if (webhook_signer_sign(self->signer, msg_id, now_s, body, len, self->sig_header + prefix,
                            sizeof self->sig_header - prefix) < 0) {
        snprintf(err, errlen, "libcrypto: cannot sign");
        return WEBHOOK_RETRY;
    }
    self->errbuf[0] = '\0';
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    CURLcode rc = curl_easy_perform(self->curl);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", self->errbuf[0] ? self->errbuf : curl_easy_strerror(rc));
        return WEBHOOK_RETRY;
    }
    curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, code);
    if (*code >= 200 && *code <= 299) {
        return WEBHOOK_DELIVERED;
    }
    snprintf(err, errlen, "HTTP %ld", *code);
    if (*code == 408 || *code == 429 || (*code >= 500 && *code <= 599)) {
        curl_off_t after = -1;
        if (curl_easy_getinfo(self->curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0) {
            *retry_after_s = (int64_t) after;
        }
        return WEBHOOK_RETRY;
    }
    return WEBHOOK_REJECTED;
}
