/*  zmtp_curve.h -- a minimal ZMTP 3.0 + CurveZMQ SUB client, the fan-out benchmark's light
    subscriber: written from the RFCs (23/ZMTP, 26/CURVEZMQ) and docs/protocol.md, with
    libsodium's boxes and no libzmq.

    Why: one harness process plays N agencies, and with libzmq each delivery costs it about
    as much as it costs the publisher (an I/O thread's read and decryption, a mailbox signal
    to the socket, the socket's receive), so on a machine of two cores the harness's own
    queue set the delays it measured. Here a delivery is one read (often several deliveries
    in one) and one decryption per frame, in the thread that measures.

    One connection per zmtp_curve_t, over a non-blocking TCP socket that the caller polls in
    its own epoll set: zmtp_curve_connect opens it and sends the greeting and HELLO;
    zmtp_curve_read, called whenever the socket is readable, reads what it holds, runs the
    handshake (WELCOME: INITIATE; READY: the subscription to every topic), answers the
    publisher's ZMTP PING with PONG, and hands each complete [topic][body] message to the
    caller. It writes only small commands, each whole or not at all: a short write is a
    failure, reported as such. Not thread-safe; one thread drives all connections.
*/
#ifndef HERALD_BENCH_ZMTP_CURVE_H
#define HERALD_BENCH_ZMTP_CURVE_H

#include <stddef.h>
#include <stdint.h>

#define ZMTP_CURVE_KEY 32 /* a binary CURVE key */

typedef struct zmtp_curve zmtp_curve_t;

/*  What zmtp_curve_read hands each message to: its first frame (the topic) and its last (the
    body), borrowed for the call. */
typedef void(zmtp_curve_message_fn)(void *arg, const uint8_t *topic, size_t topic_len,
                                    const uint8_t *body, size_t body_len);

/*  Connects to host:port (IPv4, dotted) as a CURVE client of server (the publisher's public
    key) with the key pair pub/sec (all binary, copied), and sends the greeting and HELLO; once
    in, it subscribes to the count topic prefixes (borrowed until then; none: everything).
    Returns the connection, or NULL with the reason in err. */
zmtp_curve_t *zmtp_curve_connect(const char *host, int port, const uint8_t server[ZMTP_CURVE_KEY],
                                 const uint8_t pub[ZMTP_CURVE_KEY],
                                 const uint8_t sec[ZMTP_CURVE_KEY], const char *const *topics,
                                 size_t count, char *err, size_t errlen);

/*  Closes the socket and frees; sets *self_p to NULL. Safe on NULL and twice. */
void zmtp_curve_destroy(zmtp_curve_t **self_p);

/*  The socket to poll for reading. */
int zmtp_curve_fd(const zmtp_curve_t *self);

/*  Reads what the socket holds and handles it, calling fn for each message. 0, or -1 when
    the connection failed (closed, refused by the publisher, a box that does not open, a
    frame out of order), the reason in zmtp_curve_error. */
int zmtp_curve_read(zmtp_curve_t *self, zmtp_curve_message_fn *fn, void *arg);

/*  The reason of the last failure ("" if none). Borrowed. */
const char *zmtp_curve_error(const zmtp_curve_t *self);

#endif
