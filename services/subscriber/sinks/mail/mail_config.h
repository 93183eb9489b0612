/*  mail_config.h -- the mail sink's settings: its options (the table mail_config_options,
    read by herald-sub into mail_args_t) checked and turned into one plain struct, with the
    files they name read.

    The SMTP password never comes from the command line: HERALD_SMTP_PASSWORD, or the first
    line of --smtp-password-file / HERALD_SMTP_PASSWORD_FILE (not both; options.h's rule).
*/
#ifndef HERALD_SUB_MAIL_CONFIG_H
#define HERALD_SUB_MAIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"

#define MAIL_MAX_RECIPIENTS 1000 /* --mail-to and --mail-to-file addresses together */
#define MAIL_MAX_LIST 64         /* --mail-to values given as flags or in HERALD_MAIL_TO */

/*  The options as read (strings borrowed, NULL when not given). */
typedef struct {
    const char *smtp;        /* --smtp smtp://host:port or smtps://host:port */
    int starttls;            /* --smtp-starttls: a mail_tls_t (default opportunistic) */
    const char *user;        /* --smtp-user */
    const char *password;    /* HERALD_SMTP_PASSWORD or --smtp-password-file's first line */
    const char *ca_file;     /* --smtp-ca-file: PEM certificates to trust */
    const char *from;        /* --mail-from */
    option_list_t to;        /* --mail-to (repeatable, MAIL_MAX_LIST at most) */
    const char *to_file;     /* --mail-to-file: one address a line, # comments */
    const char *list_id;     /* --list-id */
    const char *unsubscribe; /* --unsubscribe mailto:... */
    int64_t digest_every;    /* --digest-every in ms, 0: one mail per announcement */
    bool digest_every_given; /* it was given (else 15m, or none with --digest-at) */
    const char *digest_at;   /* --digest-at HH:MM */
    int digest_max;          /* --digest-max N, 0: none */
    const char *state_path;  /* --state: where the queue lives (not an option of the table) */
    bool no_recipients;      /* --mail-to may be missing (mail-dead retry) */
} mail_args_t;

/*  The mail sink's options table (options.h), its offsets into mail_args_t. */
extern const option_t mail_config_options[];

/*  CURLOPT_USE_SSL: CURLUSESSL_TRY, CURLUSESSL_ALL, CURLUSESSL_NONE (--smtp-starttls's words
    in this order). */
typedef enum { MAIL_TLS_OPPORTUNISTIC, MAIL_TLS_REQUIRED, MAIL_TLS_OFF } mail_tls_t;

typedef struct mail_config {
    char *smtp_url;    /* server URL */
    mail_tls_t tls;    /* STARTTLS policy (smtps:// is TLS from the start anyway) */
    char *user;        /* SMTP AUTH user, NULL for none */
    char *password;    /* SMTP AUTH password, NULL for none; never logged */
    char *ca_file;     /* CA certificates (PEM) trusted instead of the system's, NULL: those */
    char *from;        /* envelope sender and From: address */
    char **to;         /* recipients, to_count of them, each unique */
    size_t to_count;   /* at least one */
    char *list_id;     /* List-Id value, e.g. "Herald <herald.host.example>" */
    char *unsubscribe; /* List-Unsubscribe URL (mailto:...) */
    char *domain;      /* the right-hand side of Message-IDs (the host name) */
    int64_t every_ms;  /* --digest-every: 0 one mail per announcement, -1 not used */
    int at_minute;     /* --digest-at: minute of the local day, -1 not used */
    int64_t max_items; /* --digest-max: 0 not used */
    char *state_path;  /* --state */
} mail_config_t;

/*  Checks args and builds the settings (reading the recipient file). Returns
    them (the caller's, freed with mail_config_destroy), or NULL with a message naming the
    flag or variable in err. */
mail_config_t *mail_config_new(const mail_args_t *args, char *err, size_t errlen);

/*  Frees the settings (the password memory is cleared first); sets *self_p to NULL. Safe on
    NULL and twice. */
void mail_config_destroy(mail_config_t **self_p);

#endif
