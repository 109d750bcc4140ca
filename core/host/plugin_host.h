/* The plugin host: loads <plugin_dir>/<section>.so (or the section's path)
 * for every enabled section, checks the ABI, calls init with the host API
 * table, and fini in reverse order at shutdown. */
#ifndef SB_PLUGIN_HOST_H
#define SB_PLUGIN_HOST_H

#include "config.h"
#include "plugin_ctx.h"
#include "switchboard/plugin.h"

/* Load every enabled plugin. A failure of a non-optional plugin is logged
 * with its name and reason. -> SB_OK | SB_EPLUGIN */
int sb_plugins_load(sb_config *cfg);
/* --check-config: load every enabled plugin as sb_plugins_load does, but a
 * plugin with a `check` runs it instead of init (and gets no fini). Problems
 * are logged; sb_plugins_unload still follows. -> SB_OK | SB_EPLUGIN */
int sb_plugins_check(sb_config *cfg);
/* SIGHUP: each plugin's reload. */
void sb_plugins_reload(void);
/* Shutdown: each plugin's drain (1.2, optional). -> how many still have work. */
size_t sb_plugins_drain(void);
/* fini: the store and bus owners first, then reverse load order. */
void sb_plugins_unload(void);
/* Whether a plugin of that name is loaded. */
int sb_plugin_loaded(const char *name);
/* The table handed to init (host_api.c). */
const sb_host_api *sb_host_api_table(void);
/* Stop every timer, watch and wake-up of pc and take its counters and gauges
 * off /metrics; the handles stay valid for the plugin's *_free until
 * sb_host_api_free. Part of forgetting a plugin. */
void sb_host_api_release(sb_plugin_ctx *pc);
/* Free the released handles: after every plugin is unloaded. */
void sb_host_api_free(void);

#endif
