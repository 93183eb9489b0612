/*  feed_file.c -- a feed file's atomic rewrite: write a temporary file beside it, fsync,
    rename over it, fsync the directory (so that the rename itself survives a power cut).
*/
#include "feed_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_fail(const char *what, const char *path, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

/*  fsyncs the directory holding path, so that a rename in it is durable. 0 or -1. */
static int s_sync_dir(const char *path, char *err, size_t errlen)
{
    char *copy = strdup(path);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : s_fail("fsync directory", dir, err, errlen);
    if (fd >= 0) {
        close(fd);
    }
    free(copy);
    return rc;
}

int feed_file_write(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t) snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return s_fail("create", tmp, err, errlen);
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            s_fail("write", tmp, err, errlen);
            close(fd);
            unlink(tmp);
            return -1;
        }
        done += (size_t) n;
    }
    if (fsync(fd) != 0) {
        s_fail("fsync", tmp, err, errlen);
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0) {
        s_fail("close", tmp, err, errlen);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        s_fail("rename to", path, err, errlen);
        unlink(tmp);
        return -1;
    }
    return s_sync_dir(path, err, errlen);
}
