/* secret.c - the shared secret: one parser for its file (the C worker, the
 * Python worker and the drivers all call this one), the strength check, and
 * the generator behind `pydron-secret` and `python -m pydron secret`.
 *
 * A secret is text: the file's bytes with trailing whitespace removed, at
 * least PYDRON_SECRET_MIN characters. It is never taken from argv. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/sha256.h"
#include "util/util.h"
#include "wire/wire.h"

#define HOW_TO_MAKE "make one with `pydron-secret > FILE` or `python -m pydron secret > FILE`"

int pydron_secret_check(const char *secret, size_t len)
{
    pdi_err_clear();
    if (!secret || len == 0)
        return pdi_err(PYDRON_EINVAL, "no shared secret; " HOW_TO_MAKE);
    if (memchr(secret, 0, len))
        return pdi_err(PYDRON_EINVAL, "the shared secret contains a NUL byte");
    if (len > PYDRON_SECRET_MAX)
        return pdi_err(PYDRON_EINVAL, "the shared secret is longer than %d bytes",
                       PYDRON_SECRET_MAX);
    /* Text secrets: 32 characters of hex are 128 bits. A person's password
     * is guessable offline by anyone who sees one handshake (by posing as a
     * driver, or on the wire when TLS is off), so short or repetitive ones
     * are refused. */
    unsigned char seen[256] = {0};
    unsigned distinct = 0;
    for (size_t i = 0; i < len; i++)
        if (!seen[(unsigned char)secret[i]]++)
            distinct++;
    if (len < PYDRON_SECRET_MIN || distinct < 8)
        return pdi_err(PYDRON_EINVAL,
                       "the shared secret is too weak (%zu characters, %u different; at "
                       "least %d characters of random text are needed, 128 bits); " HOW_TO_MAKE,
                       len, distinct, PYDRON_SECRET_MIN);
    return 0;
}

int pydron_secret_read_file(const char *path, char *buf, size_t cap, size_t *len)
{
    pdi_err_clear();
    if (!path || !buf || cap == 0)
        return pdi_err(PYDRON_EINVAL, "pydron_secret_read_file: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return pdi_err(PYDRON_EIO, "cannot open secret file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pdi_err(PYDRON_EIO, "cannot stat secret file %s: %s", path, strerror(e));
    }
    if (S_ISREG(st.st_mode) && (st.st_mode & 077)) {
        close(fd);
        return pdi_err(PYDRON_EINVAL,
                       "secret file %s can be read by other users (mode %04o): run `chmod 600 "
                       "%s`",
                       path, (unsigned)(st.st_mode & 07777), path);
    }
    char tmp[PYDRON_SECRET_MAX + 2];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, tmp + n, sizeof tmp - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return pdi_err(PYDRON_EIO, "cannot read secret file %s: %s", path, strerror(e));
        }
        if (r == 0 || (n += (size_t)r) == sizeof tmp)
            break;
    }
    close(fd);
    while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r' || tmp[n - 1] == ' ' ||
                     tmp[n - 1] == '\t'))
        n--;
    int rc = pydron_secret_check(tmp, n);
    if (rc == 0 && n + 1 > cap)
        rc = pdi_err(PYDRON_EINVAL, "secret buffer too small");
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pydron_error_last());
        sodium_memzero(tmp, sizeof tmp);
        return pdi_err(rc, "secret file %s: %s", path, msg);
    }
    memcpy(buf, tmp, n);
    buf[n] = 0;
    sodium_memzero(tmp, sizeof tmp);
    if (len)
        *len = n;
    return 0;
}

int pydron_secret_generate(char *buf, size_t cap)
{
    pdi_err_clear();
    uint8_t r[32];
    if (!buf || cap < 2 * sizeof r + 1)
        return pdi_err(PYDRON_EINVAL, "pydron_secret_generate needs a buffer of %zu bytes",
                       2 * sizeof r + 1);
    int rc = pdi_random_bytes(r, sizeof r);
    if (rc)
        return pdi_err(rc, "no random bytes for a secret");
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(buf + 2 * i, 3, "%02x", r[i]);
    sodium_memzero(r, sizeof r);
    return 0;
}

int pdi_secret_resolve(const char *given, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    const char *s = given && *given ? given : getenv("PYDRON_SECRET");
    const char *file = getenv("PYDRON_SECRET_FILE");
    char *buf;
    if (s && *s) {
        size_t n = strlen(s);
        int rc = pydron_secret_check(s, n);
        if (rc)
            return rc;
        if (!(buf = pdi_strdup(s)))
            return pdi_err(PYDRON_ENOMEM, "out of memory");
        *out = buf;
        *len = n;
        return 0;
    }
    if (!file || !*file)
        return pdi_err(PYDRON_EAUTH, "no shared secret: give a secret file (--secret-file, "
                                     "PYDRON_SECRET_FILE) or set PYDRON_SECRET; " HOW_TO_MAKE);
    if (!(buf = malloc(PYDRON_SECRET_MAX + 1)))
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    int rc = pydron_secret_read_file(file, buf, PYDRON_SECRET_MAX + 1, len);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

void pdi_secret_free(char *s, size_t len)
{
    if (!s)
        return;
    sodium_memzero(s, len);
    free(s);
}
