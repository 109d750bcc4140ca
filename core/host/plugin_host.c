/* Plugin loading. The ABI rule is libev's: same major, plugin minor <= host
 * minor. A plugin that fails is unregistered from everything it registered,
 * so an optional plugin's failure leaves no half-registered state. */
#include "plugin_host.h"

#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "endpoint.h"
#include "hooks.h"
#include "http.h"
#include "http_routes.h"
#include "log.h"

static sb_plugin_ctx **plugins;
static size_t n_plugins;
/* --check-config: plugins with a `check` run it instead of init. */
static int checking;
static int n_checked; /* plugins validated by check alone */

int sb_plugin_loaded(const char *name)
{
    for (size_t i = 0; i < n_plugins; i++)
        if (strcmp(plugins[i]->name, name) == 0)
            return 1;
    return 0;
}

/* Everything a plugin registered or created through the host table goes
 * here, in one place: after a failed init, and after fini at unload (a
 * plugin's fini may have freed some of it already). */
static void plugin_forget(sb_plugin_ctx *pc)
{
    sb_dispatch_remove_owner(pc);
    sb_endpoint_remove_owner(pc);
    sb_http_route_remove_owner(pc);
    sb_hooks_remove_owner(pc);
    sb_host_api_release(pc);
}

/* Load and init one plugin; on failure *why says why. */
static int plugin_load(const sb_section *s, const char *plugin_dir, sb_plugin_ctx **out, char *why,
                       size_t why_len)
{
    const char *name = sb_section_name(s);
    char path[PATH_MAX];
    /* `module =` names the .so. `path` used to, but [store_lmdb] path is a
     * data directory: a `path` ending in ".so" is still taken as the module,
     * with a warning. */
    const char *old = sb_section_get(s, "path");
    size_t ol = old ? strlen(old) : 0;
    const char *key = NULL;
    if (sb_section_get(s, "module"))
        key = "module";
    else if (ol > 3 && strcmp(old + ol - 3, ".so") == 0)
        key = "path";
    if (key) {
        if (sb_section_path(s, key, NULL, path, sizeof(path)) != SB_OK) {
            snprintf(why, why_len, "bad %s", key);
            return SB_EINVAL;
        }
        if (strcmp(key, "path") == 0)
            sb_log(SB_LOG_WARN,
                   "plugin %s: path = %s: naming the module with path is deprecated, "
                   "use module =",
                   name, old);
    } else if (snprintf(path, sizeof(path), "%s/%s.so", plugin_dir, name) >= (int)sizeof(path)) {
        snprintf(why, why_len, "plugin path too long");
        return SB_EINVAL;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!dl) {
        snprintf(why, why_len, "cannot load %s: %s", path, dlerror());
        return SB_ENOTFOUND;
    }
    const sb_plugin *desc = dlsym(dl, SB_PLUGIN_SYMBOL);
    if (!desc) {
        snprintf(why, why_len, "%s exports no %s symbol", path, SB_PLUGIN_SYMBOL);
        dlclose(dl);
        return SB_EINVAL;
    }
    if (desc->size < offsetof(sb_plugin, reload) || desc->abi_major != SB_ABI_MAJOR ||
        desc->abi_minor > SB_ABI_MINOR) {
        snprintf(why, why_len, "ABI mismatch: plugin built for %u.%u, server speaks %d.%d",
                 desc->abi_major, desc->abi_minor, SB_ABI_MAJOR, SB_ABI_MINOR);
        dlclose(dl);
        return SB_EINVAL;
    }
    if (!desc->init) {
        snprintf(why, why_len, "descriptor has no init");
        dlclose(dl);
        return SB_EINVAL;
    }
    sb_plugin_ctx *pc = calloc(1, sizeof(*pc));
    if (!pc || !(pc->name = strdup(name))) {
        free(pc);
        dlclose(dl);
        snprintf(why, why_len, "out of memory");
        return SB_ENOMEM;
    }
    pc->dl = dl;
    pc->desc = desc;
    pc->section = s;
    int has_check = desc->size >= offsetof(sb_plugin, check) + sizeof(desc->check) && desc->check;
    int rc;
    if (checking && has_check) {
        rc = desc->check(sb_host_api_table(), pc, s);
        n_checked += rc == 0;
    } else {
        rc = desc->init(sb_host_api_table(), pc, s, &pc->ud);
    }
    if (rc != 0) {
        snprintf(why, why_len, "%s failed (%d)", checking && has_check ? "check" : "init", rc);
        plugin_forget(pc);
        free(pc->name);
        free(pc);
        dlclose(dl);
        return SB_EPLUGIN;
    }
    pc->ready = !(checking && has_check); /* fini only after an init */
    sb_section_warn_unknown(s);
    *out = pc;
    return SB_OK;
}

int sb_plugins_load(sb_config *cfg)
{
    const sb_server_cfg *scfg = sb_config_server(cfg);
    size_t n = sb_config_n_sections(cfg);
    plugins = calloc(n ? n : 1, sizeof(*plugins));
    if (!plugins)
        return SB_ENOMEM;
    /* A check goes on past a failure, to report every plugin's problems. */
    int failed = 0;
    for (size_t i = 0; i < n && !(failed && !checking); i++) {
        const sb_section *s = sb_config_section(cfg, i);
        int enabled = 1, optional = 0;
        if (sb_section_enabled(s, &enabled) != SB_OK ||
            sb_section_optional(s, &optional) != SB_OK) {
            failed = 1;
            continue;
        }
        if (!enabled) {
            sb_log(SB_LOG_INFO, "plugin %s: disabled", sb_section_name(s));
            continue;
        }
        sb_log_check_line(sb_section_header_line(s));
        char why[PATH_MAX + 256];
        sb_plugin_ctx *pc = NULL;
        if (plugin_load(s, scfg->plugin_dir, &pc, why, sizeof(why)) != SB_OK) {
            if (optional) {
                sb_log(SB_LOG_WARN, "plugin %s: %s; optional, going on without it",
                       sb_section_name(s), why);
                continue;
            }
            sb_log(SB_LOG_ERROR, "plugin %s: %s", sb_section_name(s), why);
            failed = 1;
            continue;
        }
        plugins[n_plugins++] = pc;
        sb_log(SB_LOG_INFO, "plugin %s %s loaded", pc->name,
               pc->desc->version ? pc->desc->version : "");
    }
    sb_log_check_line(0);
    if (failed)
        return SB_EPLUGIN;
    void *ud;
    /* A plugin checked without init may be the store: not knowable. */
    if (!sb_hooks_store(&ud) && n_checked == 0) {
        char names[256] = "";
        for (size_t i = 0; i < n_plugins; i++) {
            const sb_plugin *d = plugins[i]->desc;
            if (d->size >= offsetof(sb_plugin, flags) + sizeof(d->flags) &&
                (d->flags & SB_PLUGIN_NEEDS_STORE))
                snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                         names[0] ? ", " : "", plugins[i]->name);
        }
        if (names[0]) {
            sb_log(SB_LOG_ERROR,
                   "no store is enabled but %s need%s one: enable store_lmdb, store_memory or "
                   "store_redis",
                   names, strchr(names, ',') ? "" : "s");
            return SB_EPLUGIN;
        }
    }
    return SB_OK;
}

int sb_plugins_check(sb_config *cfg)
{
    checking = 1;
    n_checked = 0;
    int rc = sb_plugins_load(cfg);
    checking = 0;
    return rc;
}

void sb_plugins_reload(void)
{
    for (size_t i = 0; i < n_plugins; i++) {
        sb_plugin_ctx *pc = plugins[i];
        if (pc->desc->size > offsetof(sb_plugin, reload) && pc->desc->reload) {
            int rc = pc->desc->reload(pc->ud, pc->section);
            sb_log(rc == SB_OK ? SB_LOG_INFO : SB_LOG_WARN, "plugin %s: reload %s", pc->name,
                   rc == SB_OK ? "done" : "failed");
        }
    }
}

size_t sb_plugins_drain(void)
{
    size_t busy = 0;
    for (size_t i = 0; i < n_plugins; i++) {
        sb_plugin_ctx *pc = plugins[i];
        /* A plugin built before 1.2 has no drain member: read only within size. */
        if (pc->ready && pc->desc->size > offsetof(sb_plugin, drain) && pc->desc->drain &&
            pc->desc->drain(pc->ud) != 0)
            busy++;
    }
    return busy;
}

static void plugin_fini(sb_plugin_ctx *pc)
{
    if (pc->ready && pc->desc->fini)
        pc->desc->fini(pc->ud);
    pc->ready = 0;
    plugin_forget(pc);
}

/* The store and the bus go first: their fini completes what is in flight,
 * and those completions call into the command plugins, which must still be
 * alive, wherever the sections stand in plugins.conf. Then reverse order. */
void sb_plugins_unload(void)
{
    for (size_t i = n_plugins; i-- > 0;)
        if (sb_hooks_owns_slot(plugins[i]))
            plugin_fini(plugins[i]);
    for (size_t i = n_plugins; i-- > 0;)
        if (plugins[i]->ready)
            plugin_fini(plugins[i]);
    for (size_t i = 0; i < n_plugins; i++) {
        dlclose(plugins[i]->dl);
        free(plugins[i]->name);
        free(plugins[i]);
    }
    free(plugins);
    plugins = NULL;
    n_plugins = 0;
    sb_host_api_free();
}
