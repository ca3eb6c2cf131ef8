/* pydron-secret: print a fresh shared secret (64 hex characters, 256 random
 * bits) for remote workers and their driver:
 *     umask 077; pydron-secret > secret; chmod 600 secret
 * Files readable by others are refused by pydron, so the umask matters. */
#include <stdio.h>
#include <string.h>

#include "pydron.h"

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: pydron-secret > FILE   (then chmod 600 FILE)\n"
                        "prints a new random shared secret for pydron workers\n");
        return 2;
    }
    char s[PYDRON_SECRET_MAX + 1];
    if (pydron_secret_generate(s, sizeof s) != 0) {
        fprintf(stderr, "pydron-secret: %s\n", pydron_error_last());
        return 1;
    }
    puts(s);
    return fflush(stdout) == 0 ? 0 : 1;
}
