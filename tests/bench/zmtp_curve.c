/*  zmtp_curve.c -- a minimal ZMTP 3.0 + CurveZMQ SUB client (see zmtp_curve.h).

    The wire, as RFC 23 and RFC 26 give it:
    - greeting, 64 bytes each way: %xFF, 8 bytes of padding, %x7F, version 3.0, the
      mechanism "CURVE" padded with NULs to 20 bytes, as-server (0 for us), 31 bytes of NULs;
    - then frames: a flags byte (0x01 more, 0x02 a long size, 0x04 a command), the size (one
      byte, or eight big-endian when long), the body; a command's body is its name's length,
      its name, its data;
    - the handshake: HELLO (C', Box[64 zeros](C'->S)), WELCOME (Box[S' + cookie](S->C')),
      INITIATE (cookie, Box[C + vouch + metadata](C'->S'), the vouch Box[C' + S](C->S')),
      READY (Box[metadata](S'->C'));
    - then every frame of a message is a MESSAGE (short nonce, Box[flags + data]), its own
      flags inside the box (0x01 more, 0x02 a command such as PING); libzmq sends MESSAGE as
      a plain frame, so the outer command bit is not relied on.
    Short nonces are 8 bytes big-endian and strictly increase in each direction; each box's
    nonce is a 16-byte prefix ("CurveZMQHELLO---", ...) and the short nonce, or "WELCOME-" /
    "VOUCH---" and 16 random bytes.
*/
#include "zmtp_curve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define S_GREETING 64
#define S_BUF 8192             /* receive buffer; grows to hold a larger frame */
#define S_FRAME_MAX (1u << 20) /* a larger frame is a failure, not an allocation */
#define S_TOPIC_MAX 256        /* docs/protocol.md: a topic frame is at most 256 bytes */
#define S_COOKIE 96
#define S_BOXED(n) ((n) + crypto_box_MACBYTES)
#define S_METADATA "\x0bSocket-Type\x00\x00\x00\x03SUB"
#define S_METADATA_LEN 19

typedef enum { S_WAIT_GREETING, S_WAIT_WELCOME, S_WAIT_READY, S_LIVE } s_state_t;

struct zmtp_curve {
    int fd;                                   /* the TCP socket */
    s_state_t state;                          /* where the handshake is */
    uint8_t server[ZMTP_CURVE_KEY];           /* S: the publisher's long-term key */
    uint8_t pub[ZMTP_CURVE_KEY];              /* C */
    uint8_t sec[ZMTP_CURVE_KEY];              /* c */
    uint8_t cn_pub[ZMTP_CURVE_KEY];           /* C': ours for this connection */
    uint8_t cn_sec[ZMTP_CURVE_KEY];           /* c' */
    uint8_t shared[crypto_box_BEFORENMBYTES]; /* C'/S', once WELCOME came */
    uint64_t nonce;                           /* our last short nonce */
    uint64_t peer_nonce;                      /* the publisher's last one */
    uint8_t *buf;                             /* bytes read, not yet handled */
    size_t used, cap;                         /* in buf, and its size */
    uint8_t *plain;                           /* a frame opened */
    size_t plain_cap;                         /* its size */
    uint8_t topic[S_TOPIC_MAX];               /* the first frame of the current message */
    size_t topic_len;                         /* its length */
    bool in_message;                          /* a frame with "more" came: the topic is set */
    const char *const *topics;                /* the prefixes to subscribe to once in (borrowed) */
    size_t topic_count;                       /* how many; 0: everything */
    char error[160];                          /* the last failure */
};

static void s_put64(uint8_t *at, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        at[i] = (uint8_t) v;
        v >>= 8;
    }
}

static uint64_t s_get64(const uint8_t *at)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | at[i];
    }
    return v;
}

static int s_fail(zmtp_curve_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_fail(zmtp_curve_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
    return -1;
}

/*  Writes a frame (flags, body) whole. */
static int s_send_frame(zmtp_curve_t *self, uint8_t flags, const uint8_t *body, size_t len)
{
    uint8_t head[9];
    size_t head_len;
    if (len > 255) {
        head[0] = flags | 0x02;
        s_put64(head + 1, len);
        head_len = 9;
    } else {
        head[0] = flags;
        head[1] = (uint8_t) len;
        head_len = 2;
    }
    struct iovec iov[2] = {{head, head_len}, {(void *) body, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t w = sendmsg(self->fd, &msg, MSG_NOSIGNAL);
    if (w != (ssize_t) (head_len + len)) {
        return s_fail(self, "write: %s", w < 0 ? strerror(errno) : "short write");
    }
    return 0;
}

/*  Sends data (flags byte first, as the box holds it) in a MESSAGE. */
static int s_send_message(zmtp_curve_t *self, uint8_t inner_flags, const uint8_t *data, size_t len)
{
    uint8_t plain[2 + S_TOPIC_MAX], cmd[8 + 8 + S_BOXED(sizeof plain)];
    if (len + 1 > sizeof plain) {
        return s_fail(self, "%s", "message too long to send");
    }
    plain[0] = inner_flags;
    memcpy(plain + 1, data, len);
    uint8_t nonce[crypto_box_NONCEBYTES];
    memcpy(nonce, "CurveZMQMESSAGEC", 16);
    s_put64(nonce + 16, ++self->nonce);
    memcpy(cmd, "\x07MESSAGE", 8);
    memcpy(cmd + 8, nonce + 16, 8);
    crypto_box_easy_afternm(cmd + 16, plain, len + 1, nonce, self->shared);
    return s_send_frame(self, 0x00, cmd, 16 + S_BOXED(len + 1));
}

static int s_send_hello(zmtp_curve_t *self)
{
    uint8_t cmd[6 + 2 + 72 + 32 + 8 + S_BOXED(64)] = {0};
    uint8_t zeros[64] = {0}, nonce[crypto_box_NONCEBYTES];
    memcpy(cmd, "\x05HELLO\x01\x00", 8);
    memcpy(cmd + 80, self->cn_pub, 32);
    memcpy(nonce, "CurveZMQHELLO---", 16);
    s_put64(nonce + 16, ++self->nonce);
    memcpy(cmd + 112, nonce + 16, 8);
    if (crypto_box_easy(cmd + 120, zeros, sizeof zeros, nonce, self->server, self->cn_sec) != 0) {
        return s_fail(self, "%s", "HELLO: crypto_box failed");
    }
    return s_send_frame(self, 0x04, cmd, sizeof cmd);
}

/*  WELCOME: S' and the cookie; then INITIATE. */
static int s_on_welcome(zmtp_curve_t *self, const uint8_t *data, size_t len)
{
    uint8_t nonce[crypto_box_NONCEBYTES], plain[32 + S_COOKIE];
    if (len != 16 + S_BOXED(sizeof plain)) {
        return s_fail(self, "%s", "WELCOME of the wrong size");
    }
    memcpy(nonce, "WELCOME-", 8);
    memcpy(nonce + 8, data, 16);
    if (crypto_box_open_easy(plain, data + 16, len - 16, nonce, self->server, self->cn_sec) != 0) {
        return s_fail(self, "%s", "WELCOME does not open: a wrong server key?");
    }
    const uint8_t *server_cn = plain, *cookie = plain + 32;
    if (crypto_box_beforenm(self->shared, server_cn, self->cn_sec) != 0) {
        return s_fail(self, "%s", "crypto_box_beforenm failed");
    }
    /* the vouch: Box[C' + S](C->S') under a long nonce */
    uint8_t vouch_plain[64], vouch[16 + S_BOXED(64)], vouch_nonce[crypto_box_NONCEBYTES];
    memcpy(vouch_plain, self->cn_pub, 32);
    memcpy(vouch_plain + 32, self->server, 32);
    memcpy(vouch_nonce, "VOUCH---", 8);
    randombytes_buf(vouch_nonce + 8, 16);
    memcpy(vouch, vouch_nonce + 8, 16);
    if (crypto_box_easy(vouch + 16, vouch_plain, 64, vouch_nonce, server_cn, self->sec) != 0) {
        return s_fail(self, "%s", "vouch: crypto_box failed");
    }
    /* INITIATE: the cookie, a short nonce, Box[C + vouch + metadata](C'->S') */
    uint8_t init_plain[32 + sizeof vouch + S_METADATA_LEN];
    memcpy(init_plain, self->pub, 32);
    memcpy(init_plain + 32, vouch, sizeof vouch);
    memcpy(init_plain + 32 + sizeof vouch, S_METADATA, S_METADATA_LEN);
    uint8_t cmd[9 + S_COOKIE + 8 + S_BOXED(sizeof init_plain)];
    memcpy(cmd, "\x08INITIATE", 9);
    memcpy(cmd + 9, cookie, S_COOKIE);
    memcpy(nonce, "CurveZMQINITIATE", 16);
    s_put64(nonce + 16, ++self->nonce);
    memcpy(cmd + 9 + S_COOKIE, nonce + 16, 8);
    crypto_box_easy_afternm(cmd + 9 + S_COOKIE + 8, init_plain, sizeof init_plain, nonce,
                            self->shared);
    self->state = S_WAIT_READY;
    return s_send_frame(self, 0x04, cmd, sizeof cmd);
}

/*  Opens a box of the publisher's (prefix and the 8-byte short nonce at data) into plain;
    its length in *out_len. */
static int s_open(zmtp_curve_t *self, const char *prefix, const uint8_t *data, size_t len,
                  size_t *out_len)
{
    if (len < 8 + crypto_box_MACBYTES) {
        return s_fail(self, "%s: too short", prefix);
    }
    uint64_t short_nonce = s_get64(data);
    if (short_nonce <= self->peer_nonce) {
        return s_fail(self, "%s: a nonce that does not increase", prefix);
    }
    self->peer_nonce = short_nonce;
    size_t plain_len = len - 8 - crypto_box_MACBYTES;
    if (plain_len > self->plain_cap) {
        uint8_t *grown = realloc(self->plain, plain_len);
        if (!grown) {
            return s_fail(self, "%s: out of memory", prefix);
        }
        self->plain = grown;
        self->plain_cap = plain_len;
    }
    uint8_t nonce[crypto_box_NONCEBYTES];
    memcpy(nonce, prefix, 16);
    memcpy(nonce + 16, data, 8);
    if (crypto_box_open_easy_afternm(self->plain, data + 8, len - 8, nonce, self->shared) != 0) {
        return s_fail(self, "%s: a box that does not open", prefix);
    }
    *out_len = plain_len;
    return 0;
}

/*  A MESSAGE: a frame of a message, or a command (PING). */
static int s_on_message(zmtp_curve_t *self, const uint8_t *data, size_t len,
                        zmtp_curve_message_fn *fn, void *arg)
{
    size_t plain_len = 0;
    if (s_open(self, "CurveZMQMESSAGES", data, len, &plain_len) != 0) {
        return -1;
    }
    if (plain_len < 1) {
        return s_fail(self, "%s", "an empty MESSAGE");
    }
    uint8_t flags = self->plain[0];
    const uint8_t *frame = self->plain + 1;
    size_t frame_len = plain_len - 1;
    if (flags & 0x02) { /* a command: PING [ttl:2][context] gets PONG [context] */
        if (frame_len >= 7 && memcmp(frame, "\x04PING", 5) == 0) {
            uint8_t pong[5 + 16];
            size_t context = frame_len - 7 < 16 ? frame_len - 7 : 16;
            memcpy(pong, "\x04PONG", 5);
            memcpy(pong + 5, frame + 7, context);
            return s_send_message(self, 0x02, pong, 5 + context);
        }
        return 0;
    }
    if (!self->in_message) {
        self->topic_len = frame_len < S_TOPIC_MAX ? frame_len : S_TOPIC_MAX;
        memcpy(self->topic, frame, self->topic_len);
    }
    self->in_message = flags & 0x01;
    if (!self->in_message) {
        fn(arg, self->topic, self->topic_len, frame, frame_len);
    }
    return 0;
}

/*  Subscribes (ZMTP 3.0: a message of 0x01 and the prefix) to each topic, or to everything. */
static int s_subscribe(zmtp_curve_t *self)
{
    if (self->topic_count == 0) {
        return s_send_message(self, 0x00, (const uint8_t *) "\x01", 1);
    }
    for (size_t i = 0; i < self->topic_count; i++) {
        uint8_t sub[1 + S_TOPIC_MAX];
        size_t len = strlen(self->topics[i]);
        if (len > S_TOPIC_MAX - 1) {
            return s_fail(self, "a topic over %d bytes", S_TOPIC_MAX - 1);
        }
        sub[0] = 0x01;
        memcpy(sub + 1, self->topics[i], len);
        if (s_send_message(self, 0x00, sub, 1 + len) != 0) {
            return -1;
        }
    }
    return 0;
}

/*  One frame's body; its flags say whether it is a command. */
static int s_on_frame(zmtp_curve_t *self, const uint8_t *body, size_t len,
                      zmtp_curve_message_fn *fn, void *arg)
{
    if (len < 1 || (size_t) body[0] + 1 > len) {
        return s_fail(self, "%s", "a frame without a command name");
    }
    size_t name_len = body[0];
    const uint8_t *name = body + 1, *data = body + 1 + name_len;
    size_t data_len = len - 1 - name_len;
#define S_IS(literal) (name_len == sizeof literal - 1 && memcmp(name, literal, name_len) == 0)
    if (S_IS("ERROR")) {
        char reason[64] = "";
        size_t n = data_len > 0 && data[0] < sizeof reason && data[0] < data_len ? data[0] : 0;
        memcpy(reason, data + 1, n);
        return s_fail(self, "the publisher refused the handshake: ERROR \"%s\"", reason);
    }
    if (self->state == S_WAIT_WELCOME && S_IS("WELCOME")) {
        return s_on_welcome(self, data, data_len);
    }
    if (self->state == S_WAIT_READY && S_IS("READY")) {
        size_t plain_len;
        if (s_open(self, "CurveZMQREADY---", data, data_len, &plain_len) != 0) {
            return -1;
        }
        self->state = S_LIVE;
        return s_subscribe(self);
    }
    if (self->state == S_LIVE && S_IS("MESSAGE")) {
        return s_on_message(self, data, data_len, fn, arg);
    }
#undef S_IS
    return s_fail(self, "%s", "a frame out of order");
}

zmtp_curve_t *zmtp_curve_connect(const char *host, int port, const uint8_t server[ZMTP_CURVE_KEY],
                                 const uint8_t pub[ZMTP_CURVE_KEY],
                                 const uint8_t sec[ZMTP_CURVE_KEY], const char *const *topics,
                                 size_t count, char *err, size_t errlen)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "%s: not an IPv4 address", host);
        return NULL;
    }
    zmtp_curve_t *self = calloc(1, sizeof *self);
    if (!self || !(self->buf = malloc(S_BUF))) {
        free(self);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->cap = S_BUF;
    memcpy(self->server, server, ZMTP_CURVE_KEY);
    memcpy(self->pub, pub, ZMTP_CURVE_KEY);
    memcpy(self->sec, sec, ZMTP_CURVE_KEY);
    self->topics = topics;
    self->topic_count = count;
    crypto_box_keypair(self->cn_pub, self->cn_sec);
    /* A blocking connect (on loopback it completes from the listen queue), then
       non-blocking: the greeting and HELLO fit any socket buffer. */
    int one = 1;
    self->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint8_t greeting[S_GREETING] = {0xFF, 0, 0, 0,   0,   0,   0,   0,  1,
                                    0x7F, 3, 0, 'C', 'U', 'R', 'V', 'E'};
    if (self->fd < 0 || setsockopt(self->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(self->fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        snprintf(err, errlen, "connect %s:%d: %s", host, port, strerror(errno));
        zmtp_curve_destroy(&self);
        return NULL;
    }
    int flags = fcntl(self->fd, F_GETFL);
    if (flags < 0 || fcntl(self->fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
        send(self->fd, greeting, sizeof greeting, MSG_NOSIGNAL) != sizeof greeting ||
        s_send_hello(self) != 0) {
        snprintf(err, errlen, "greeting to %s:%d: %s", host, port,
                 self->error[0] ? self->error : strerror(errno));
        zmtp_curve_destroy(&self);
        return NULL;
    }
    self->state = S_WAIT_GREETING;
    return self;
}

void zmtp_curve_destroy(zmtp_curve_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    zmtp_curve_t *self = *self_p;
    if (self->fd >= 0) {
        close(self->fd);
    }
    sodium_memzero(self->sec, sizeof self->sec);
    sodium_memzero(self->cn_sec, sizeof self->cn_sec);
    sodium_memzero(self->shared, sizeof self->shared);
    free(self->buf);
    free(self->plain);
    free(self);
    *self_p = NULL;
}

int zmtp_curve_fd(const zmtp_curve_t *self)
{
    return self->fd;
}

const char *zmtp_curve_error(const zmtp_curve_t *self)
{
    return self->error;
}

/*  Handles the complete frames in buf; the rest stays for the next read. */
static int s_handle(zmtp_curve_t *self, zmtp_curve_message_fn *fn, void *arg)
{
    size_t at = 0;
    if (self->state == S_WAIT_GREETING) {
        if (self->used < S_GREETING) {
            return 0;
        }
        const uint8_t *g = self->buf;
        if (g[0] != 0xFF || g[9] != 0x7F || g[10] < 3 || memcmp(g + 12, "CURVE", 6) != 0) {
            return s_fail(self, "%s", "not a ZMTP 3 CURVE greeting");
        }
        at = S_GREETING;
        self->state = S_WAIT_WELCOME;
    }
    for (;;) {
        size_t left = self->used - at;
        const uint8_t *p = self->buf + at;
        if (left < 2) {
            break;
        }
        size_t head = p[0] & 0x02 ? 9 : 2;
        if (left < head) {
            break;
        }
        uint64_t len = head == 9 ? s_get64(p + 1) : p[1];
        if (len > S_FRAME_MAX) {
            return s_fail(self, "%s", "a frame over 1 MiB");
        }
        if (left < head + len) {
            if (head + len > self->cap) { /* room for it, once */
                uint8_t *grown = realloc(self->buf, head + len);
                if (!grown) {
                    return s_fail(self, "%s", "out of memory");
                }
                self->buf = grown;
                self->cap = head + len;
                p = self->buf + at;
            }
            break;
        }
        if (s_on_frame(self, p + head, (size_t) len, fn, arg) != 0) {
            return -1;
        }
        at += head + (size_t) len;
    }
    memmove(self->buf, self->buf + at, self->used - at);
    self->used -= at;
    return 0;
}

int zmtp_curve_read(zmtp_curve_t *self, zmtp_curve_message_fn *fn, void *arg)
{
    for (;;) {
        if (self->used == self->cap) {
            return s_fail(self, "%s", "receive buffer full");
        }
        ssize_t r = read(self->fd, self->buf + self->used, self->cap - self->used);
        if (r == 0) {
            return s_fail(self, "%s", "connection closed by the publisher");
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            return s_fail(self, "read: %s", strerror(errno));
        }
        self->used += (size_t) r;
        if (s_handle(self, fn, arg) != 0) {
            return -1;
        }
    }
}
