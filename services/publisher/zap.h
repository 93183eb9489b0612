/*  zap.h -- the publisher's ZAP handler (ZeroMQ RFC 27): admits the CURVE clients whose
    public key is in the client directory.

    The handler is a REP socket bound to inproc://zeromq.zap.01 in the publisher's context,
    serviced by the publisher's own poll loop (no thread): libzmq asks it about every CURVE
    handshake of the sockets in the "herald" ZAP domain. A known key is answered 200 with the
    agency's name as User-Id (messages from that connection then carry it as their "User-Id"
    property); anything else 400, logged as pub.auth_refused with the key and the peer's
    address. Handshakes that fail before ZAP (a client without CURVE, or with the wrong server
    key) are seen by the socket monitors (monitor.h) and logged as pub.handshake_failed.
*/
#ifndef HERALD_ZAP_H
#define HERALD_ZAP_H

#include <stdint.h>
#include <zmq.h>

#include "clients.h"

#define ZAP_MAX_ITEMS 1 /* poll items: the handler */

typedef struct zap zap_t;

/*  What the handler did since the start. */
typedef struct {
    uint64_t admitted; /* handshakes answered 200 */
    uint64_t refused;  /* handshakes answered 400 (or 500 for a bad request) */
} zap_stats_t;

/*  Binds the handler in ctx, answering from clients (borrowed; it may be reloaded in place).
    Bind it before the sockets it serves accept anyone. Returns NULL on failure (logged). */
zap_t *zap_new(void *ctx, const clients_t *clients);

/*  Closes the handler; sets *self_p to NULL. Safe on NULL. Call before zmq_ctx_term. */
void zap_destroy(zap_t **self_p);

/*  Fills items with what to poll (up to ZAP_MAX_ITEMS). Returns how many. */
int zap_pollitems(zap_t *self, zmq_pollitem_t *items, int cap);

/*  Answers every waiting ZAP request, without blocking. */
void zap_handle(zap_t *self);

/*  The counters. */
const zap_stats_t *zap_stats(const zap_t *self);

#endif
