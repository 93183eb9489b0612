/*  curve.h -- CURVE key files, our secret key from the environment or a file, and socket
    options, shared by herald-pub, herald-sub and herald-keygen.

    A key file holds the key as Z85 text (40 characters) on its first line; a public key file
    (NAME.pub) may go on with other lines (the publisher's client directory puts grants
    there), a secret key file (NAME.key) is readable by its owner only.
*/
#ifndef HERALD_CURVE_H
#define HERALD_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#define CURVE_Z85_LEN 40          /* a key in Z85 */
#define CURVE_KEY_SIZE 32         /* a key in binary */
#define CURVE_ZAP_DOMAIN "herald" /* ZMQ_ZAP_DOMAIN of the publisher's sockets */

/*  A client's keys, Z85 text with its NUL. */
typedef struct {
    char secret[CURVE_Z85_LEN + 1];     /* ours */
    char public_key[CURVE_Z85_LEN + 1]; /* ours, derived from the secret */
    char server[CURVE_Z85_LEN + 1];     /* the publisher's public key */
} curve_client_t;

/*  true if text is exactly a Z85 key: 40 characters of the Z85 alphabet. */
bool curve_key_valid(const char *text);

/*  An option_check_fn (options.h) for a CURVE secret key option: field is the char ** of
    the secret (writable); trailing blanks are cut, the rest must be a Z85 key. 0, or -1
    with the reason (never the key) in why. */
int curve_check_secret(void *field, char *why, size_t cap);

/*  Reads the first line of the file at path as a Z85 key into key (trailing blanks and CR
    ignored). Returns 0, or -1 with the reason, naming the file, in err. */
int curve_key_read(const char *path, char key[CURVE_Z85_LEN + 1], char *err, size_t errlen);

/*  Refuses a secret key file that is a public key (a secret key is any 32 bytes, so the
    text alone cannot tell): a name ending in ".pub", a file with 'grant' lines (a client
    directory's), or a NAME.key whose NAME.pub beside it is not the public key of secret (the
    Z85 secret read from path). Returns 0, or -1 with the reason, naming the file, in err. */
int curve_secret_file_check(const char *path, const char *secret, char *err, size_t errlen);

/*  Fills keys from our Z85 secret key (HERALD_CURVE_SECRET, read by options.h) and the
    server's public key file (our public key is derived with zmq_curve_public). 0, or -1 with
    the reason in err. */
int curve_client_load(curve_client_t *keys, const char *secret, const char *server_path, char *err,
                      size_t errlen);

/*  Makes socket a CURVE server with the Z85 secret, in the ZAP domain CURVE_ZAP_DOMAIN.
    Call before bind. 0, or -1 with errno set by zmq. */
int curve_server_apply(void *socket, const char *secret);

/*  Makes socket a CURVE client with keys. Call before connect. 0, or -1 with errno. */
int curve_client_apply(void *socket, const curve_client_t *keys);

/*  Writes a new key pair: the public key to base.pub (mode 0644) and the secret to base.key
    (mode 0600), each created exclusively: an existing file is never overwritten (and
    nothing is left behind on failure). 0, or -1 with the reason in err. */
int curve_keygen(const char *base, char *err, size_t errlen);

#endif
