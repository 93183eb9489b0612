/*  sink_mail.h -- the mail sink (sinks/mail/): announcements queued in the --state file and
    mailed as digests on a schedule; its settings are mail_config.h's, its tables
    mail_queue.h's, and `herald-sub mail-dead list|retry` (mail_dead.h) is its subcommand.
    Opened through the table of sinks (sink.h).
*/
#ifndef HERALD_SINK_MAIL_H
#define HERALD_SINK_MAIL_H

#include "mail_config.h" /* mail_args_t: the sink's options */

/*  Its entry in the table of sinks (sink.c): name "mail", --from latest by default, needs
    --state, four metrics (mails sent and failed, items waiting, dead letters) and the
    mail-dead subcommand. */
extern const struct sink_type sink_mail_type;

#endif
