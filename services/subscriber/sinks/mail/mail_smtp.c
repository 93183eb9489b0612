/*  mail_smtp.c -- one digest to one recipient over SMTP with libcurl's MIME API.

    The message: our headers through CURLOPT_HTTPHEADER (libcurl puts them on the top-level
    MIME part, and a Content-Type there gives that part its type: multipart/alternative, with
    libcurl's boundary), then the text/plain part first and the text/html part last, both
    quoted-printable (so no line of the message exceeds 76 bytes, whatever the records hold).
*/
#include "mail_smtp.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mail_smtp {
    const mail_config_t *config;  /* the settings (borrowed) */
    CURL *curl;                   /* the handle, reused so the connection is kept */
    char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
};

static pthread_once_t s_init_once = PTHREAD_ONCE_INIT;
static CURLcode s_init_rc = CURLE_FAILED_INIT;

static void s_init(void)
{
    s_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

mail_smtp_t *mail_smtp_new(const mail_config_t *config, char *err, size_t errlen)
{
    pthread_once(&s_init_once, s_init);
    if (s_init_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(s_init_rc));
        return NULL;
    }
    mail_smtp_t *self = calloc(1, sizeof *self);
    if (!self || !(self->curl = curl_easy_init())) {
        free(self);
        snprintf(err, errlen, "libcurl: cannot make a handle");
        return NULL;
    }
    self->config = config;
    return self;
}

void mail_smtp_destroy(mail_smtp_t **self_p)
{
    if (self_p && *self_p) {
        mail_smtp_t *self = *self_p;
        curl_easy_cleanup(self->curl);
        free(self);
        *self_p = NULL;
    }
}

/*  Appends the header line built by mail_render_header; false when out of memory. */
static bool s_header(struct curl_slist **list, const char *name, const char *value)
{
    char *line = mail_render_header(name, value);
    if (!line) {
        return false;
    }
    struct curl_slist *grown = curl_slist_append(*list, line);
    free(line);
    if (!grown) {
        return false;
    }
    *list = grown;
    return true;
}

static struct curl_slist *s_headers(mail_smtp_t *self, const mail_digest_t *digest,
                                    const char *message_id, const char *recipient)
{
    const mail_config_t *c = self->config;
    char date[64];
    if (mail_render_date(date, sizeof date, time(NULL)) != 0) {
        return NULL;
    }
    size_t cap = strlen(c->from) + strlen(c->list_id) + strlen(c->unsubscribe) + 64;
    char *from = malloc(cap), *list_id = malloc(cap), *unsubscribe = malloc(cap);
    struct curl_slist *list = NULL;
    bool ok = from && list_id && unsubscribe;
    if (ok) {
        snprintf(from, cap, "Herald <%s>", c->from);
        /* a bare list id "herald.host" becomes "Herald <herald.host>" (RFC 2919) */
        if (strchr(c->list_id, '<')) {
            snprintf(list_id, cap, "%s", c->list_id);
        } else {
            snprintf(list_id, cap, "Herald <%s>", c->list_id);
        }
        snprintf(unsubscribe, cap, "<%s>", c->unsubscribe);
        ok = s_header(&list, "Date", date) && s_header(&list, "From", from) &&
             s_header(&list, "To", recipient) && s_header(&list, "Message-ID", message_id) &&
             s_header(&list, "Subject", digest->subject) && s_header(&list, "List-Id", list_id) &&
             s_header(&list, "List-Unsubscribe", unsubscribe) &&
             s_header(&list, "Auto-Submitted", "auto-generated") &&
             s_header(&list, "MIME-Version", "1.0") &&
             s_header(&list, "Content-Type", "multipart/alternative");
    }
    free(from);
    free(list_id);
    free(unsubscribe);
    if (!ok) {
        curl_slist_free_all(list);
        return NULL;
    }
    return list;
}

/*  The two alternatives, plain first: MUAs show the last one they can render. */
static curl_mime *s_body(mail_smtp_t *self, const mail_digest_t *digest)
{
    curl_mime *mime = curl_mime_init(self->curl);
    if (!mime) {
        return NULL;
    }
    const char *bodies[2] = {digest->text, digest->html};
    const char *types[2] = {"text/plain; charset=utf-8", "text/html; charset=utf-8"};
    for (int i = 0; i < 2; i++) {
        curl_mimepart *part = curl_mime_addpart(mime);
        if (!part || curl_mime_data(part, bodies[i], CURL_ZERO_TERMINATED) != CURLE_OK ||
            curl_mime_type(part, types[i]) != CURLE_OK ||
            curl_mime_encoder(part, "quoted-printable") != CURLE_OK) {
            curl_mime_free(mime);
            return NULL;
        }
    }
    return mime;
}

mail_result_t mail_smtp_send(mail_smtp_t *self, const mail_digest_t *digest, const char *message_id,
                             const char *recipient, long *code, char *err, size_t errlen)
{
    const mail_config_t *c = self->config;
    *code = 0;
    size_t from_cap = strlen(c->from) + 3, rcpt_cap = strlen(recipient) + 3;
    char *envelope_from = malloc(from_cap), *envelope_rcpt = malloc(rcpt_cap);
    struct curl_slist *headers = s_headers(self, digest, message_id, recipient);
    struct curl_slist *rcpt = NULL;
    curl_mime *mime = s_body(self, digest);
    if (envelope_from && envelope_rcpt) {
        snprintf(envelope_from, from_cap, "<%s>", c->from);
        snprintf(envelope_rcpt, rcpt_cap, "<%s>", recipient);
        rcpt = curl_slist_append(NULL, envelope_rcpt);
    }
    mail_result_t result = MAIL_RETRY;
    if (!envelope_from || !envelope_rcpt || !headers || !rcpt || !mime) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    CURL *curl = self->curl;
    long use_ssl = c->tls == MAIL_TLS_REQUIRED        ? (long) CURLUSESSL_ALL
                   : c->tls == MAIL_TLS_OPPORTUNISTIC ? (long) CURLUSESSL_TRY
                                                      : (long) CURLUSESSL_NONE;
    self->errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, c->smtp_url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, self->errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) MAIL_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) MAIL_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_USE_SSL, use_ssl);
    /* the server's certificate and name are always checked; --smtp-ca-file only says which
       CAs to trust (a private CA, a self-signed server) instead of the system's */
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(curl, CURLOPT_CAPATH, NULL); /* not /etc/ssl/certs as well */
    }
    curl_easy_setopt(curl, CURLOPT_USERNAME, c->user);
    curl_easy_setopt(curl, CURLOPT_PASSWORD, c->user ? c->password : NULL);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, envelope_from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, code);
    /* no SMTP session: no reply at all, or libcurl's codes of the steps before MAIL FROM
       (resolving, connecting, TLS, the login), whatever the reply code */
    bool no_session = *code == 0 || rc == CURLE_COULDNT_RESOLVE_HOST ||
                      rc == CURLE_COULDNT_CONNECT || rc == CURLE_LOGIN_DENIED ||
                      rc == CURLE_USE_SSL_FAILED || rc == CURLE_SSL_CONNECT_ERROR ||
                      rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                      rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL;
    if (rc == CURLE_OK) {
        result = MAIL_SENT;
    } else {
        bool permanent = *code >= 500 && *code <= 599 && rc != CURLE_LOGIN_DENIED;
        result = no_session ? MAIL_NO_SESSION : permanent ? MAIL_REJECTED : MAIL_RETRY;
        /* libcurl's words, then the reply code and what to look at, where that helps */
        const char *why = self->errbuf[0] ? self->errbuf : curl_easy_strerror(rc);
        const char *hint = rc == CURLE_USE_SSL_FAILED ? " (--smtp-starttls required: not sent "
                                                        "without TLS)"
                           : rc == CURLE_PEER_FAILED_VERIFICATION
                               ? " (the server's certificate is not trusted for this host: "
                                 "see --smtp, --smtp-ca-file)"
                           : rc == CURLE_LOGIN_DENIED ? " (--smtp-user and its password)"
                                                      : "";
        char reply[16] = "";
        snprintf(reply, sizeof reply, "%ld", *code);
        const char *stage = result != MAIL_NO_SESSION  ? ""
                            : rc == CURLE_LOGIN_DENIED ? "SMTP login failed: "
                                                       : "SMTP connection failed: ";
        if (*code >= 400 && !strstr(why, reply)) {
            snprintf(err, errlen, "%s%s: %s%s", stage, why, reply, hint);
        } else {
            snprintf(err, errlen, "%s%s%s", stage, why, hint);
        }
    }
    /* the handle must not keep pointers to what is freed below */
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, NULL);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
done:
    curl_mime_free(mime);
    curl_slist_free_all(headers);
    curl_slist_free_all(rcpt);
    free(envelope_from);
    free(envelope_rcpt);
    return result;
}
