/* The server's state: one libev loop, the listener, every connection by id,
 * the loaded config. The single instance is sb_srv (one loop, one thread). */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include "config.h"
#include "runtime.h"

/* The loop, the fd limit and signals, but no listener (--check-config).
 * -> SB_OK | SB_EINVAL | SB_ENOMEM */
int sb_server_prepare(sb_config *config);
/* sb_server_prepare, then bind the listener; logs why on failure.
 * -> SB_OK | SB_EINVAL | SB_ENOMEM */
int sb_server_init(sb_config *config);
/* Run until shutdown; returns the exit code. */
int sb_server_run(void);
/* Release what init made (after plugins' fini). */
void sb_server_free(void);

#endif
