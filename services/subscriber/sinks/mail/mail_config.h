/*  mail_config.h -- the mail sink's settings: the raw option strings (flags or HERALD_*
    variables, collected by main.c) checked and turned into one plain struct.

    The SMTP password never comes from the command line: HERALD_SMTP_PASSWORD, or the first
    line of --smtp-password-file / HERALD_SMTP_PASSWORD_FILE (not both).
*/
#ifndef HERALD_SUB_MAIL_CONFIG_H
#define HERALD_SUB_MAIL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define MAIL_MAX_RECIPIENTS 1000 /* --mail-to and --mail-to-file addresses together */
#define MAIL_MAX_LIST 64         /* --mail-to values given as flags or in HERALD_MAIL_TO */

/*  The strings as given (borrowed); NULL when not given. */
typedef struct {
    const char *smtp;              /* --smtp smtp://host:port or smtps://host:port */
    const char *starttls;          /* --smtp-starttls required|opportunistic|off */
    const char *user;              /* --smtp-user */
    const char *password_file;     /* --smtp-password-file (or HERALD_SMTP_PASSWORD_FILE) */
    const char *ca_file;           /* --smtp-ca-file: PEM certificates to trust */
    const char *from;              /* --mail-from */
    const char *to[MAIL_MAX_LIST]; /* --mail-to (repeatable) */
    size_t to_count;
    const char *to_file;      /* --mail-to-file: one address a line, # comments */
    const char *list_id;      /* --list-id */
    const char *unsubscribe;  /* --unsubscribe mailto:... */
    const char *digest_every; /* --digest-every 30s|15m|1h|1d|0 */
    const char *digest_at;    /* --digest-at HH:MM */
    const char *digest_max;   /* --digest-max N */
    const char *state_path;   /* --state: where the queue lives */
    int no_recipients;        /* 1: --mail-to may be missing (mail-dead retry) */
} mail_args_t;

/*  CURLOPT_USE_SSL: CURLUSESSL_ALL, CURLUSESSL_TRY, CURLUSESSL_NONE. */
typedef enum { MAIL_TLS_REQUIRED, MAIL_TLS_OPPORTUNISTIC, MAIL_TLS_OFF } mail_tls_t;

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

/*  Checks args and builds the settings (reading the password and recipient files). Returns
    them (the caller's, freed with mail_config_destroy), or NULL with a message naming the
    flag or variable in err. */
mail_config_t *mail_config_new(const mail_args_t *args, char *err, size_t errlen);

/*  Frees the settings (the password memory is cleared first); sets *self_p to NULL. Safe on
    NULL and twice. */
void mail_config_destroy(mail_config_t **self_p);

/*  Parses a duration: "0", or a number followed by s, m, h or d ("30s", "15m"). Returns 0
    with the milliseconds in ms, or -1. */
int mail_config_duration(const char *text, int64_t *ms);

#endif
