/* hello: the smallest useful switchboard plugin, built outside the source
 * tree from the installed SDK only. It registers the command `hello` and
 * answers `hello {"greeting": ...}` with the `greeting` key of its section,
 * or "hello, <user>" when the section has none. */
#include <stdio.h>

#include <switchboard/plugin.h>

typedef struct hello_state {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    const char *greeting; /* owned by the config; NULL: greet the user by name */
} hello_state;

static hello_state hello_st;

static int hello_cmd(void *ud, const sb_cmd *cmd)
{
    hello_state *st = ud;
    char text[SB_USER_MAX + 16];
    const char *greeting = st->greeting;
    if (!greeting) {
        /* Only `auth` and `ping` run before authentication, so user is set. */
        snprintf(text, sizeof(text), "hello, %s", cmd->user ? cmd->user : "stranger");
        greeting = text;
    }
    cJSON *data = cJSON_CreateObject();
    if (!data || !cJSON_AddStringToObject(data, "greeting", greeting)) {
        cJSON_Delete(data);
        return SB_ENOMEM; /* the host answers `internal` and logs it */
    }
    st->host->reply(st->pc, cmd, "hello", data);
    cJSON_Delete(data); /* reply serialized it: the host keeps no cJSON */
    return SB_OK;
}

static int hello_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                      void **userdata)
{
    hello_st.host = host;
    hello_st.pc = pc;
    hello_st.greeting = host->cfg_string(cfg, "greeting", NULL);
    *userdata = &hello_st;
    int rc = host->register_command(pc, "hello", hello_cmd, &hello_st);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot register the hello command (%d)", rc);
        return rc;
    }
    host->log(pc, SB_LOG_INFO, "greeting with %s%s%s", hello_st.greeting ? "\"" : "",
              hello_st.greeting ? hello_st.greeting : "the user's name",
              hello_st.greeting ? "\"" : "");
    return SB_OK;
}

static void hello_fini(void *userdata)
{
    (void)userdata; /* nothing allocated: the config owns the greeting */
}

/* The one exported symbol. SB_PLUGIN_INIT records the ABI this was built for. */
SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT, .name = "hello", .version = "1.0.0", .init = hello_init, .fini = hello_fini,
};
