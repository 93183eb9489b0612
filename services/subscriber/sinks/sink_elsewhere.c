/*  sink_elsewhere.c -- the sinks that run in a program of their own (handover.h): of each,
    what herald-sub needs to read a command line as that program does, its name, its
    options and its subcommands' names; nothing that links a library beyond the
    subscriber's own.
*/
#include <stddef.h>

#include "feed_sink.h"
#include "sink.h"

const char *const sink_dead_actions[] = {"list", "retry", NULL};

static const sink_command_t s_mail_commands[] = {
    {.name = "mail-dead", .actions = sink_dead_actions, .needs_state = true},
};

static const sink_command_t s_webhook_commands[] = {
    {.name = "webhook-dead", .actions = sink_dead_actions, .needs_state = true},
};

#define S_ELSEWHERE(VAR, NAME, OPTIONS, FIELD, COMMANDS, COMMAND_COUNT)                            \
    const sink_type_t VAR = {.name = NAME,                                                         \
                             .options = OPTIONS,                                                   \
                             .options_offset = offsetof(sink_options_t, FIELD),                    \
                             .commands = COMMANDS,                                                 \
                             .command_count = COMMAND_COUNT}

S_ELSEWHERE(sink_mail_elsewhere, "mail", mail_config_options, mail, s_mail_commands, 1);
S_ELSEWHERE(sink_webhook_elsewhere, "webhook", sink_webhook_options, webhook, s_webhook_commands,
            1);
S_ELSEWHERE(sink_calendar_elsewhere, "calendar", feed_sink_options, feed, NULL, 0);
S_ELSEWHERE(sink_atom_elsewhere, "atom", feed_sink_options, feed, NULL, 0);
S_ELSEWHERE(sink_nats_elsewhere, "nats", sink_nats_options, nats, NULL, 0);
