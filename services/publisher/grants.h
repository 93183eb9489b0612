/*  grants.h -- per-agency access to topics: what a subscription or a replay request of an
    agency becomes under its grants (from the client directory).

    For a requested prefix P and the agency's granted prefixes G: if P starts with some G, P
    itself is allowed (it is narrower than a grant); otherwise every G that starts with P is
    allowed instead (the request was wider: "" or "event." becomes each grant inside it);
    otherwise nothing. An agency without grant lines gets every prefix as requested. On the
    live socket the heartbeat topic "hb" counts as granted to every admitted agency.
*/
#ifndef HERALD_GRANTS_H
#define HERALD_GRANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clients.h"
#include "log.h"

#define GRANTS_MAX_SUBSCRIPTION 1024 /* ZMQ_MAXMSGSIZE of the live socket: subscriptions */

/*  Called with each prefix a request maps to (not NUL-terminated: len bytes). */
typedef void(grants_fn)(const char *prefix, size_t len, void *arg);

/*  Maps the requested prefix req (len bytes) against granted[0..n) as described above and
    calls fn for each resulting prefix; n == 0 maps req to itself. Returns the number of
    calls. */
size_t grants_map(const char *const *granted, size_t n, const char *req, size_t len, grants_fn *fn,
                  void *arg);

/*  The live socket's subscription handling: counters and the state kept between calls. */
typedef struct {
    uint64_t subscribed;   /* subscriptions applied (each request counted once) */
    uint64_t unsubscribed; /* unsubscriptions received */
    uint64_t narrowed;     /* subscriptions applied to other (granted) prefixes than asked */
    uint64_t refused;      /* subscriptions that mapped to nothing */
    uint64_t bad;          /* messages that were not subscriptions, or skipped (see .c) */
    bool misaligned;       /* see grants_handle_xpub in grants.c */
    log_limit_t bad_log;   /* rate limit of pub.bad_subscription */
} grants_live_t;

/*  Reads up to max waiting subscription messages from xpub (an XPUB with ZMQ_XPUB_MANUAL)
    and applies each with ZMQ_SUBSCRIBE / ZMQ_UNSUBSCRIBE to the peer that sent it, mapped by
    the grants of the agency named by the message's User-Id property. clients NULL (no CURVE):
    every subscription is applied as requested. Counts in *live. Returns the number of
    messages read, or -1 if the socket failed (errno set). */
int grants_handle_xpub(void *xpub, const clients_t *clients, grants_live_t *live, int max);

/*  The topics a replay request of agency may scan: topics[0..n) (none: everything) mapped by
    the agency's grants into out[0..cap) (pointers borrowed from topics and the clients set).
    Returns 0 when the request is not restricted (no clients, or an agency without grants:
    use topics as they are), 1 when it is (*out_n prefixes in out, possibly 0: nothing may be
    sent), or -1 when the agency is not in the directory any more (refuse the request). */
int grants_narrow(const clients_t *clients, const char *agency, char *const *topics, size_t n,
                  const char **out, size_t cap, size_t *out_n);

#endif
