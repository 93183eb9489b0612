/*  nats_options.c -- the NATS sink's options' table. Apart from the sink because herald-sub
    reads every sink's options, and this file needs no library: herald-sub itself does not
    link libnats (the sink runs in herald-sub-nats, handover.h).
*/
#include <stddef.h>

#include "options.h"
#include "sink_nats.h"

#define S_FIELD(name) .offset = offsetof(sink_nats_options_t, name)

/* clang-format off */
const option_t sink_nats_options[] = {
    {.name = "nats-url", .kind = OPTION_STRING, S_FIELD(url), .arg = "URL",
     .def = SINK_NATS_DEFAULT_URL,
     .help = "nats://HOST:PORT or tls://HOST:PORT, comma-separated for a cluster"},
    {.name = "nats-stream", .kind = OPTION_STRING, S_FIELD(stream), .arg = "NAME",
     .def = SINK_NATS_DEFAULT_STREAM,
     .help = "the JetStream stream, created when missing with subjects herald.>"},
    {.name = "nats-creds-file", .kind = OPTION_STRING, S_FIELD(creds_file), .arg = "FILE",
     .help = "NATS credentials (.creds: JWT and NKey seed), optional"},
    {.name = "nats-token", .kind = OPTION_SECRET, S_FIELD(token), .arg = "FILE",
     .help = "a NATS token, optional"},
    OPTION_END};
/* clang-format on */
