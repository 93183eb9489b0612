/*  clients.h -- the publisher's client directory (--clients DIR): the agencies admitted by
    CURVE, their public keys and their grants.

    One file per agency, DIR/AGENCY.pub: its first line is the agency's public key in Z85,
    then optional lines "grant PREFIX" (a topic prefix it may receive; none: everything),
    blank lines and "# comments". The agency's name is the file name without ".pub"
    (letters, digits, '.', '_', '-'; at most CLIENTS_MAX_NAME bytes). A file with any other
    line, a bad key, or a key already held by another agency is skipped whole (and logged):
    a typo must never widen what an agency receives.
*/
#ifndef HERALD_CLIENTS_H
#define HERALD_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#define CLIENTS_MAX_NAME 64    /* bytes of an agency's name */
#define CLIENTS_MAX_GRANTS 64  /* grant lines per agency */
#define CLIENTS_MAX_PREFIX 255 /* bytes of a granted prefix */
#define CLIENTS_MAX_FILE 65536 /* bytes of one .pub file */

typedef struct clients clients_t;

/*  Reads the directory. Returns the set (possibly empty), or NULL with the reason in err
    when the directory cannot be read. Skipped files are logged (pub.client_invalid). */
clients_t *clients_new(const char *dir, char *err, size_t errlen);

/*  Frees the set; sets *self_p to NULL. Safe on NULL. */
void clients_destroy(clients_t **self_p);

/*  Reads the directory again. Returns 0 with the new set in place, or -1 with the reason in
    err and the old set kept (a directory that cannot be read must not lock everyone out or
    in by accident). */
int clients_reload(clients_t *self, char *err, size_t errlen);

/*  The number of agencies admitted. */
size_t clients_count(const clients_t *self);

/*  The agency holding the binary public key, or NULL. Borrowed until the next reload. */
const char *clients_find(const clients_t *self, const uint8_t key[32]);

/*  The grants of agency: returns 1 and sets *prefixes / *count (count 0: everything; borrowed
    until the next reload), or 0 if the agency is not (any more) in the directory. */
int clients_grants(const clients_t *self, const char *agency, const char *const **prefixes,
                   size_t *count);

#endif
