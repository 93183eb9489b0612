/*  curve.c -- CURVE key files (Z85 on the first line), our keys, and the socket options that
    make a socket a CURVE server or client.
*/
#include "curve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static const char s_z85_alphabet[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool curve_key_valid(const char *text)
{
    if (!text || strlen(text) != CURVE_Z85_LEN) {
        return false;
    }
    for (const char *p = text; *p; p++) {
        if (!strchr(s_z85_alphabet, *p)) {
            return false;
        }
    }
    uint8_t bin[CURVE_KEY_SIZE];
    return zmq_z85_decode(bin, text) != NULL;
}

int curve_check_secret(void *field, char *why, size_t cap)
{
    char *secret = *(char **) field;
    size_t len = strlen(secret);
    while (len > 0 && (secret[len - 1] == ' ' || secret[len - 1] == '\t')) {
        secret[--len] = '\0';
    }
    if (!curve_key_valid(secret)) {
        snprintf(why, cap, "not a CURVE secret key (40 characters of Z85)");
        return -1;
    }
    return 0;
}

int curve_key_read(const char *path, char key[CURVE_Z85_LEN + 1], char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[256];
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got) {
        snprintf(err, errlen, "%s: empty file, expected a Z85 key on the first line", path);
        return -1;
    }
    size_t len = strcspn(line, "\r\n");
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t')) {
        len--;
    }
    line[len] = '\0';
    if (!curve_key_valid(line)) {
        snprintf(err, errlen, "%s: the first line is not a CURVE key (40 characters of Z85)", path);
        return -1;
    }
    memcpy(key, line, CURVE_Z85_LEN + 1);
    return 0;
}

int curve_client_load(curve_client_t *keys, const char *secret, const char *server_path, char *err,
                      size_t errlen)
{
    memset(keys, 0, sizeof *keys);
    if (!curve_key_valid(secret)) {
        snprintf(err, errlen, "our secret key is not a CURVE key (40 characters of Z85)");
        return -1;
    }
    memcpy(keys->secret, secret, CURVE_Z85_LEN + 1);
    if (curve_key_read(server_path, keys->server, err, errlen) != 0) {
        return -1;
    }
    if (zmq_curve_public(keys->public_key, keys->secret) != 0) {
        snprintf(err, errlen, "our secret key: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int curve_server_apply(void *socket, const char *secret)
{
    int on = 1;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &on, sizeof on) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret, CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, CURVE_ZAP_DOMAIN, strlen(CURVE_ZAP_DOMAIN)) != 0) {
        return -1;
    }
    return 0;
}

int curve_client_apply(void *socket, const curve_client_t *keys)
{
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, keys->server, CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, keys->public_key, CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, keys->secret, CURVE_Z85_LEN) != 0) {
        return -1;
    }
    return 0;
}

/*  Creates path exclusively with mode and writes line and a newline. 0, or -1 with err. */
static int s_write_new(const char *path, mode_t mode, const char *line, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (refusing to overwrite a key)" : "");
        return -1;
    }
    char buf[CURVE_Z85_LEN + 2];
    int len = snprintf(buf, sizeof buf, "%s\n", line);
    bool ok = write(fd, buf, (size_t) len) == (ssize_t) len && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: %s", path, strerror(saved));
        unlink(path);
        return -1;
    }
    return 0;
}

int curve_keygen(const char *base, char *err, size_t errlen)
{
    char public_key[CURVE_Z85_LEN + 1];
    char secret[CURVE_Z85_LEN + 1];
    if (zmq_curve_keypair(public_key, secret) != 0) {
        snprintf(err, errlen, "zmq_curve_keypair: %s", zmq_strerror(errno));
        return -1;
    }
    char pub_path[4096];
    char key_path[4096];
    if (snprintf(pub_path, sizeof pub_path, "%s.pub", base) >= (int) sizeof pub_path ||
        snprintf(key_path, sizeof key_path, "%s.key", base) >= (int) sizeof key_path) {
        snprintf(err, errlen, "%s: path too long", base);
        return -1;
    }
    int rc = s_write_new(key_path, 0600, secret, err, errlen);
    if (rc == 0 && s_write_new(pub_path, 0644, public_key, err, errlen) != 0) {
        unlink(key_path);
        rc = -1;
    }
    memset(secret, 0, sizeof secret);
    return rc;
}

/*  true if name ends with suffix. */
static bool s_ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name);
    size_t k = strlen(suffix);
    return n >= k && strcmp(name + n - k, suffix) == 0;
}

int curve_secret_file_check(const char *path, const char *secret, char *err, size_t errlen)
{
    if (s_ends_with(path, ".pub")) {
        snprintf(err, errlen,
                 "%s is a public key file (.pub); give the secret key that herald-keygen wrote "
                 "beside it (NAME.key)",
                 path);
        return -1;
    }
    /* A client directory's file: a key, then grant lines. A secret file has one line. */
    FILE *f = fopen(path, "r");
    if (f) {
        char line[256];
        bool grants = false;
        while (fgets(line, sizeof line, f)) {
            grants = grants || strncmp(line, "grant ", 6) == 0;
        }
        fclose(f);
        if (grants) {
            snprintf(err, errlen,
                     "%s has 'grant' lines: it is an agency's public key file from a --clients "
                     "directory, not a secret key",
                     path);
            return -1;
        }
    }
    if (!s_ends_with(path, ".key") || strlen(path) >= 4096) {
        return 0;
    }
    char pub_path[4096];
    snprintf(pub_path, sizeof pub_path, "%.*s.pub", (int) (strlen(path) - 4), path);
    char pub[CURVE_Z85_LEN + 1];
    char ignored[512];
    if (curve_key_read(pub_path, pub, ignored, sizeof ignored) != 0) {
        return 0; /* no readable pair beside it: nothing to compare with */
    }
    char derived[CURVE_Z85_LEN + 1];
    if (zmq_curve_public(derived, secret) != 0) {
        snprintf(err, errlen, "%s: %s", path, zmq_strerror(errno));
        return -1;
    }
    if (strcmp(derived, pub) == 0) {
        return 0;
    }
    if (strcmp(secret, pub) == 0) {
        snprintf(err, errlen, "%s holds the public key of %s, not the secret key", path, pub_path);
    } else {
        snprintf(err, errlen,
                 "%s does not belong to %s beside it (its public key would be %s): the pair "
                 "was mixed up",
                 path, pub_path, derived);
    }
    return -1;
}
