/*  mail_dead.h -- herald-sub mail-dead list|retry: the dead letters of a mail sink's --state
    file (digests a recipient refused for good), listed as JSON lines or sent again.
*/
#ifndef HERALD_SUB_MAIL_DEAD_H
#define HERALD_SUB_MAIL_DEAD_H

#include <stddef.h>
#include <stdio.h>

#include "mail_config.h"

/*  Writes one JSON object a line to out for every dead letter of the state file at path:
    id, message_id, recipient, stream_id, first_seq, last_seq, items (their number), code,
    error, failed_at_ms. 0, or -1 with the reason in err. */
int mail_dead_list(const char *state_path, FILE *out, char *err, size_t errlen);

/*  Sends every dead letter of config->state_path again, to its recipient, with the same
    Message-ID, through config's server; removes each one the server accepts (logged as
    sub.mail_sent; a new refusal as sub.mail_dead, a failure as sub.mail_retry). Returns how
    many are left (0: all sent), or -1 with the reason in err. */
int mail_dead_retry(const mail_config_t *config, char *err, size_t errlen);

#endif
