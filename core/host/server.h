/* The server's state: one libev loop, the listener, every connection by id,
 * the loaded config. The single instance is sb_srv (one loop, one thread). */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include "config.h"
#include "runtime.h"

/* Load the TLS certificate, bind the listeners and set up signals; logs why
 * on failure. -> SB_OK | SB_EINVAL (cannot listen) | SB_ENOTFOUND (the
 * certificate or key cannot be used: a configuration error, exit 2) */
int sb_server_init(sb_config *config);
/* Run until shutdown; returns the exit code. */
int sb_server_run(void);
/* Release what init made (after plugins' fini). */
void sb_server_free(void);

#endif
