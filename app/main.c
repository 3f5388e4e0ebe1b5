/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * main.c - the batchup command line: parse the subcommand and the -c
 * option, load the configuration, and hand over.  The only place that
 * decides the process's exit status, from the error the command returned.
 *
 * It also fixes how malloc returns memory, for every process it becomes:
 * glibc raises its mmap threshold to the size of the largest block freed,
 * so after one large request body every later one of that size comes from
 * the heap and stays there; a fixed threshold keeps large blocks (request
 * bodies, their parse) in mappings that free() gives back at once, so a
 * worker's memory after a request is what it was before.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/cli.h"
#include "batchup/config.h"
#include "batchup/gc.h"
#include "batchup/error.h"
#include "batchup/log.h"
#include "batchup/push.h"
#include "batchup/status.h"
#include "batchup/supervisor.h"

/* Blocks from this size on are mapped on their own (see the top). */
#define MAIN_MMAP_THRESHOLD (256 * 1024)

/* The commit a build from git was made from (`git describe`, given by the
 * Makefile); empty for a build from a release tarball. */
#ifndef BATCHUP_COMMIT
#define BATCHUP_COMMIT ""
#endif
static const char main_commit[] = BATCHUP_COMMIT;

static const char usage_text[] =
    "usage: batchup COMMAND [-c FILE]\n"
    "\n"
    "  serve                       run the preforked FastCGI server\n"
    "  migrate                     apply the sql/ migrations (idempotent, safe concurrently)\n"
    "  user add NAME [--limit N]   create a user; prints its API token alone on stdout\n"
    "  user token NAME             issue a new token for NAME\n"
    "  user limit NAME N           set NAME's concurrent-upload limit (0 = server default)\n"
    "  user list                   users, limits, active and queued uploads\n"
    "  gc                          one maintenance pass\n"
    "  status [--json]             the running server's pool (needs status_path)\n"
    "  push [--url URL] [--token T] [--parallel N] [--json] PATH...\n"
    "                              upload files and directories as one batch; prints its link\n"
    "  pull LINK [-o DIR] [--zip]  download a batch by its link (unpacked, or the ZIP)\n"
    "  --version | --help\n"
    "\n"
    "Configuration: -c FILE, else $BATCHUP_CONFIG, else /etc/batchup/batchup.conf,\n"
    "else defaults; BATCHUP_<KEY> variables override any key.\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad usage or configuration.\n";

/* Run the subcommand in args (the configuration is loaded). */
static int run(struct bu_config *cfg, const char *cfg_path, int nargs, char **args,
               struct bu_error *err)
{
    if (strcmp(args[0], "serve") == 0 && nargs == 1)
        return log_open(cfg->log_file, err) != 0 ? -1 : supervisor_run(cfg, cfg_path, err);
    if (strcmp(args[0], "migrate") == 0 && nargs == 1)
        return migrate_run(cfg, err);
    if (strcmp(args[0], "gc") == 0 && nargs == 1)
        return gc_run(cfg, err);
    if (strcmp(args[0], "user") == 0)
        return users_command(cfg, nargs - 1, args + 1, err);
    if (strcmp(args[0], "status") == 0 &&
        (nargs == 1 || (nargs == 2 && strcmp(args[1], "--json") == 0)))
        return status_command(cfg, nargs == 2, err);
    if (strcmp(args[0], "push") == 0)
        return push_command(nargs - 1, args + 1, err);
    if (strcmp(args[0], "pull") == 0)
        return pull_command(nargs - 1, args + 1, err);
    return error_set(err, BU_E_USAGE, "unknown command '%s'; see 'batchup --help'", args[0]);
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL;
    char *args[64];
    int nargs = 0;
    struct bu_config cfg;
    struct bu_error err;

    mallopt(M_MMAP_THRESHOLD, MAIN_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, MAIN_MMAP_THRESHOLD);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "batchup: -c needs a file name\n");
                return 2;
            }
            cfg_path = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            if (main_commit[0] != '\0')
                printf("batchup %s (git %s)\n", BATCHUP_VERSION, main_commit);
            else
                printf("batchup %s\n", BATCHUP_VERSION);
            return 0;
        } else if (nargs < 64) {
            args[nargs++] = argv[i];
        } else {
            fprintf(stderr, "batchup: too many arguments\n");
            return 2;
        }
    }
    if (nargs == 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (config_load(&cfg, cfg_path, &err) == 0) {
        log_set_level(cfg.log_level);
        if (run(&cfg, cfg_path, nargs, args, &err) == 0)
            return 0;
    }
    /* A worker or the maintenance child returning through here has nothing
     * to report: its error was logged where it happened. */
    if (err.message[0] != '\0')
        fprintf(stderr, "batchup: %s\n", err.message);
    return error_exit_status(&err);
}
