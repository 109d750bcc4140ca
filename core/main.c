/* switchboard: parse the command line, load the config and the plugins,
 * run the loop, and tear everything down in reverse. Exit codes: 0 after a
 * clean shutdown, 1 when start-up fails, 2 for a bad command line or config.
 * --check-config loads the config and the plugins without listening and
 * prints each problem as "FILE:LINE: message": 0 when it would start, else 2. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "server.h"

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out, "usage: switchboard [-c FILE] [--check-config] [--help] [--version]\n"
                 "  -c, --config FILE  configuration (default: plugins.conf)\n"
                 "  --check-config     check the configuration and every enabled plugin's\n"
                 "                     section without listening; exit 0 if it is good, else 2\n"
                 "  -h, --help         this text\n"
                 "  -V, --version      print the version and the plugin ABI\n"
                 "Every key can be overridden as SWITCHBOARD_<SECTION>_<KEY>.\n");
}

static int check_config(const char *path)
{
    sb_log_set_check(path);
    sb_config *config = NULL;
    int rc = sb_config_load_check(path, environ, &config);
    if (!config)
        return 2; /* the loader printed why */
    /* With a bad [server] the plugin sections are still checked. */
    if (sb_core_check(config) != SB_OK)
        rc = SB_EPLUGIN;
    sb_core_free();
    sb_config_free(config);
    if (rc != SB_OK)
        return 2;
    printf("%s: OK\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = "plugins.conf";
    int check = 0;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'C'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("switchboard %s (plugin ABI %d.%d)\n", SB_VERSION, SB_ABI_MAJOR, SB_ABI_MINOR);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sb_log_set_format(SB_LOG_TEXT); /* the journal's shape from the first line */
    if (check)
        return check_config(path);

    sb_config *config = NULL;
    int rc = sb_config_load(path, environ, &config);
    if (rc != SB_OK)
        return 2; /* the loader said why */
    int code = 1;
    rc = sb_core_init(config);
    if (rc == SB_OK)
        code = sb_server_run();
    else if (rc == SB_ENOTFOUND)
        code = 2; /* tls_cert or tls_key unusable: said why, like a bad value */
    else if (rc == SB_EPLUGIN)
        sb_log(SB_LOG_ERROR, "start-up failed: see the plugin errors above");
    sb_core_free();
    sb_config_free(config);
    if (code == 0)
        sb_log(SB_LOG_INFO, "stopped");
    return code;
}
