/* A loaded plugin as the core knows it: the handle every registration
 * records as its owner, so a plugin's commands, routes, hooks, endpoints and
 * loop resources can be named in logs and released with it. The loader
 * (host/plugin_host.c) fills it; every layer may read its name. */
#ifndef SB_PLUGIN_CTX_H
#define SB_PLUGIN_CTX_H

#include "config.h"
#include "switchboard/plugin.h"

struct sb_plugin_ctx {
    char *name; /* the section's name */
    void *dl;
    const sb_plugin *desc;
    void *ud;
    const sb_section *section;
    int ready; /* init succeeded */
};

/* pc's name for logs; "core" for NULL (the core's own registrations). */
const char *sb_plugin_name(const sb_plugin_ctx *pc);

#endif
