/*  pub_lock.h -- one publisher per store: an fcntl lock on PATH.pub.lock beside the store,
    with the holder's PID written in it, so that a second publisher refuses to start and
    says who holds the store.
*/
#ifndef HERALD_PUB_LOCK_H
#define HERALD_PUB_LOCK_H

#include <stddef.h>

/*  Takes the write lock on db_path + ".pub.lock" (created 0644 if missing) without waiting
    and writes our PID in it. Returns the lock's file descriptor (held until it is closed or
    the process ends: close it last), or -1 with the reason in err: another process holds it
    (err names its PID, from F_GETLK), or the file cannot be created. */
int pub_lock_acquire(const char *db_path, char *err, size_t errlen);

#endif
