/*  mail_smtp.h -- sends a rendered digest to one recipient in one SMTP transaction through
    libcurl (MIME API: a multipart/alternative of a text/plain and a text/html part, both
    UTF-8 and quoted-printable), with bounded timeouts, and says what the server made of it.

    TLS: smtps:// from the start, or STARTTLS by the config's policy (required: no TLS, no
    mail); the server's certificate and host name are always verified, against the system's
    CAs or only those of --smtp-ca-file.

    One transaction per recipient is how a refusal is pinned on the right address: libcurl
    reports one result per transfer. The handle keeps its connection between sends.
*/
#ifndef HERALD_SUB_MAIL_SMTP_H
#define HERALD_SUB_MAIL_SMTP_H

#include <stddef.h>

#include "mail_config.h"
#include "mail_render.h"

#define MAIL_CONNECT_TIMEOUT_MS 5000 /* CURLOPT_CONNECTTIMEOUT_MS */
#define MAIL_TIMEOUT_MS 10000        /* CURLOPT_TIMEOUT_MS: a whole transaction */

typedef enum {
    MAIL_SENT,      /* the server accepted the message (250 at the end of DATA) */
    MAIL_RETRY,     /* not now: a timeout, a 4xx in the transaction: try later */
    MAIL_REJECTED,  /* a 5xx for this recipient or message: it will never be accepted */
    MAIL_NO_SESSION /* no SMTP session (the connection, TLS, the greeting or the login
                       failed): try later; every recipient would fail alike */
} mail_result_t;

typedef struct mail_smtp mail_smtp_t;

/*  Initialises libcurl (once per process) and a handle for the server of config (borrowed;
    it must outlive the handle). Returns it, or NULL with the reason in err. */
mail_smtp_t *mail_smtp_new(const mail_config_t *config, char *err, size_t errlen);

/*  Closes the handle and its connection; sets *self_p to NULL. Safe on NULL and twice. */
void mail_smtp_destroy(mail_smtp_t **self_p);

/*  Sends digest as message_id to recipient, with the headers Date, From, To, Message-ID,
    Subject (RFC 2047 when not ASCII), List-Id, List-Unsubscribe, Auto-Submitted and
    MIME-Version. Returns the outcome; *code is the server's last reply code (0 when none),
    and for MAIL_RETRY / MAIL_REJECTED err holds libcurl's words. Never writes the password
    anywhere. */
mail_result_t mail_smtp_send(mail_smtp_t *self, const mail_digest_t *digest, const char *message_id,
                             const char *recipient, long *code, char *err, size_t errlen);

#endif
