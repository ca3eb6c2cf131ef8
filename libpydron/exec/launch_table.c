/* launch_table.c - the command launchers by name, for cluster= (C option
 * pydron_process_options.cluster, Python configure(cluster=...),
 * PYDRON_CLUSTER). One line per launcher; see proc.h for how one plugs in. */
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>

#include "exec/proc.h"

extern const pdi_launcher_ops pdi_launcher_ssh;      /* launch_ssh.c */
extern const pdi_launcher_ops pdi_launcher_template; /* launch_template.c */

static const struct {
    const char *name;
    const pdi_launcher_ops *ops;
} launchers[] = {
    {"ssh", &pdi_launcher_ssh},
    {"command", &pdi_launcher_template},
};

const pdi_launcher_ops *pdi_launcher_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof launchers / sizeof launchers[0]; i++)
        if (strcmp(launchers[i].name, name) == 0)
            return launchers[i].ops;
    return NULL;
}

const char *pdi_launcher_names(void)
{
    return "ssh, command";
}
