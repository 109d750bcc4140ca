/* Start-up and shutdown of the whole core in one place, so the server
 * (main.c) and the harnesses that run the real core (fuzz_dispatch, unit
 * tests) bring it up and take it down the same way. */
#ifndef SB_CORE_H
#define SB_CORE_H

#include "config.h"

/* Log level, ids, the listener and signals, the registry, the native
 * endpoint, then every plugin in plugins.conf order. On failure the reason
 * is logged; sb_core_free still releases what was made.
 * -> SB_OK | SB_EINVAL | SB_ENOTFOUND (TLS files) | SB_ENOMEM | SB_EPLUGIN */
int sb_core_init(sb_config *config);
/* --check-config: sb_core_init without the listener, and each plugin's
 * `check` instead of its init where it has one (else init; sb_core_free
 * runs the fini). Problems are logged. -> as sb_core_init */
int sb_core_check(sb_config *config);
/* Release everything sb_core_init or sb_core_check made, in reverse (the plugins' fini
 * first, once the deferred calls have run). The config stays the caller's. */
void sb_core_free(void);

#endif
