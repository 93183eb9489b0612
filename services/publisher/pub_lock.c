/*  pub_lock.c -- one publisher per store (pub_lock.h).

    Two publishers on one store would share one cursor and announce every change twice. The
    lock is an fcntl record lock on a file of its own: SQLite holds fcntl locks on the store's
    file, which closing any other descriptor of that file would drop. The kernel releases
    the lock when the process ends, however it ends, so a stale lock file is harmless and is
    never removed (removing it would race with the next publisher).
*/
#include "pub_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int pub_lock_acquire(const char *db_path, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s.pub.lock", db_path) >= (int) sizeof path) {
        snprintf(err, errlen, "%s: path too long", db_path);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        snprintf(err, errlen, "cannot create the lock %s: %s", path, strerror(errno));
        return -1;
    }
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &lock) == -1) {
        int saved = errno;
        struct flock holder = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if ((saved == EAGAIN || saved == EACCES) && fcntl(fd, F_GETLK, &holder) == 0 &&
            holder.l_type != F_UNLCK) {
            snprintf(err, errlen,
                     "another herald-pub (PID %ld) publishes the store %s (it holds %s); stop it "
                     "first, one publisher per store",
                     (long) holder.l_pid, db_path, path);
        } else {
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(saved));
        }
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t) len, 0) != len) {
        /* The PID is for people; the lock is what counts. */
    }
    return fd;
}
