/* The server's state: one libev loop, the listener, every connection by id,
 * the loaded config. The single instance is sb_srv (one loop, one thread). */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include "config.h"
#include "runtime.h"

/* The loop, the fd limit, signals and the TLS certificate, but no listener
 * (--check-config). -> SB_OK | SB_EINVAL | SB_ENOMEM | SB_ENOTFOUND (the
 * certificate or key cannot be used: a configuration error, exit 2) */
int sb_server_prepare(sb_config *config);
/* sb_server_prepare, then bind the listeners; logs why on failure.
 * -> SB_OK | SB_EINVAL (cannot listen) | SB_ENOMEM | SB_ENOTFOUND */
int sb_server_init(sb_config *config);
/* Run until shutdown; returns the exit code. */
int sb_server_run(void);
/* Release what init made (after plugins' fini). */
void sb_server_free(void);

#endif
