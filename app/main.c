/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * main.c - the batchup command line: find the command in the command
 * table (which also prints the usage), read the -c option, load the
 * configuration, and hand over.  The only place that decides the process's
 * exit status, from the error the command returned; a child process never
 * comes back here (spawn.c).
 *
 * It also fixes how malloc returns memory, for every process it becomes:
 * glibc raises its mmap threshold to the size of the largest block freed,
 * so after one large request body every later one of that size comes from
 * the heap and stays there; a fixed threshold keeps large blocks (request
 * bodies, their parse) in mappings that free() gives back at once, so a
 * worker's memory after a request is what it was before.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchup/cli.h"
#include "batchup/config.h"
#include "batchup/gc.h"
#include "batchup/error.h"
#include "batchup/log.h"
#include "batchup/push.h"
#include "batchup/spawn.h"
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

/* Words on the command line besides the options. */
#define MAIN_MAX_ARGS 64

/* -c FILE, kept for `serve`, which reads the file again on SIGHUP. */
static const char *main_cfg_path;

/* What a command's handler gets: the configuration, and its words and
 * operands as typed (argv[0] is the command's first word). */
struct main_call {
    struct bu_config *cfg;
    int argc;
    char **argv;
};

/* One command of the command line: its words ("user add"), the shape of
 * its operands for the usage, how many operands it takes (max -1: any,
 * the handler checks them), its handler, and its one line of help.  The
 * usage text is printed from this table, and main dispatches through it. */
struct main_command {
    const char *words;
    const char *args;
    int min_args;
    int max_args;
    int (*run)(const struct main_call *call, struct bu_error *err);
    const char *help;
};

static int main_serve(const struct main_call *call, struct bu_error *err)
{
    if (log_open(call->cfg->log_file, err) != 0)
        return -1;
    return supervisor_run(call->cfg, main_cfg_path, err);
}

static int main_migrate(const struct main_call *call, struct bu_error *err)
{
    return migrate_run(call->cfg, err);
}

static int main_gc(const struct main_call *call, struct bu_error *err)
{
    return gc_run(call->cfg, err);
}

/* users.c checks the operands of each user command itself. */
static int main_user(const struct main_call *call, struct bu_error *err)
{
    return users_command(call->cfg, call->argc - 1, call->argv + 1, err);
}

static int main_status(const struct main_call *call, struct bu_error *err)
{
    if (call->argc == 2 && strcmp(call->argv[1], "--json") != 0)
        return error_set(err, BU_E_USAGE, "usage: batchup status [--json]");
    return status_command(call->cfg, call->argc == 2, err);
}

static int main_push(const struct main_call *call, struct bu_error *err)
{
    return push_command(call->argc - 1, call->argv + 1, err);
}

static int main_pull(const struct main_call *call, struct bu_error *err)
{
    return pull_command(call->argc - 1, call->argv + 1, err);
}

static const struct main_command main_commands[] = {
    {"serve", "", 0, 0, main_serve, "run the preforked FastCGI server"},
    {"migrate", "", 0, 0, main_migrate,
     "apply the sql/ migrations (idempotent, safe concurrently)"},
    {"user add", "NAME [--limit N]", 1, 3, main_user,
     "create a user; prints its API token alone on stdout"},
    {"user token", "NAME", 1, 1, main_user, "issue a new token for NAME"},
    {"user limit", "NAME N", 2, 2, main_user,
     "set NAME's concurrent-upload limit (0 = server default)"},
    {"user list", "", 0, 0, main_user, "users, limits, active and queued uploads"},
    {"gc", "", 0, 0, main_gc, "one maintenance pass"},
    {"status", "[--json]", 0, 1, main_status, "the running server's pool (needs status_path)"},
    {"push", "[--url URL] [--token T] [--parallel N] [--json] PATH...", 0, -1, main_push,
     "upload files and directories as one batch; prints its link"},
    {"pull", "LINK [-o DIR] [--zip]", 0, -1, main_pull,
     "download a batch by its link (unpacked, or the ZIP)"},
};

#define MAIN_NCOMMANDS (sizeof main_commands / sizeof main_commands[0])
/* The help column of the usage text. */
#define MAIN_HELP_COLUMN 30

/* The command line keeps the default dispositions a program starts with
 * (an ignored SIGINT of a background job stays ignored), except that
 * SIGPIPE is the default even when the caller ignored it: `batchup user
 * list | head` ends quietly.  No signal is blocked.  `serve` installs the
 * master's table on top (supervisor.c). */
static const struct spawn_signal main_signals[] = {
    {SIGPIPE, SPAWN_DEFAULT, NULL, false},
};

static const struct spawn_role main_role = SPAWN_ROLE("command line", main_signals, false, 0);

static void main_usage(FILE *out)
{
    fputs("usage: batchup COMMAND [-c FILE]\n\n", out);
    for (size_t i = 0; i < MAIN_NCOMMANDS; i++) {
        const struct main_command *c = &main_commands[i];
        int n = fprintf(out, "  %s%s%s", c->words, c->args[0] ? " " : "", c->args);
        if (n >= MAIN_HELP_COLUMN)
            fprintf(out, "\n%*s%s\n", MAIN_HELP_COLUMN, "", c->help);
        else
            fprintf(out, "%*s%s\n", MAIN_HELP_COLUMN - n, "", c->help);
    }
    fprintf(out, "  %-*s%s\n", MAIN_HELP_COLUMN - 2, "--version | --help",
            "the release (and, built from git, the commit); this text");
    fputs("\nConfiguration: -c FILE, else $BATCHUP_CONFIG, else /etc/batchup/batchup.conf,\n"
          "else defaults; BATCHUP_<KEY> variables override any key.\n"
          "Exit status: 0 success, 1 runtime failure, 2 bad usage or configuration.\n",
          out);
}

/* How many of args the command's words match (0: not all of them). */
static int main_match(const struct main_command *c, int nargs, char **args)
{
    const char *w = c->words;
    int i = 0;

    for (; i < nargs; i++) {
        size_t len = strcspn(w, " ");
        if (strlen(args[i]) != len || strncmp(args[i], w, len) != 0)
            return 0;
        w += len;
        if (*w == '\0')
            return i + 1;
        w++;
    }
    return 0;
}

/* The commands whose first word is word, as one usage line in err. */
static int main_usage_of(const char *word, struct bu_error *err)
{
    char line[sizeof err->message] = "";
    size_t len = 0;

    for (size_t i = 0; i < MAIN_NCOMMANDS && len < sizeof line; i++) {
        const struct main_command *c = &main_commands[i];
        if (strncmp(c->words, word, strlen(word)) != 0 || c->words[strlen(word)] != ' ')
            continue;
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s%s%s", len ? " | " : "",
                                c->words, c->args[0] ? " " : "", c->args);
    }
    if (len == 0)
        return error_set(err, BU_E_USAGE, "unknown command '%s'; see 'batchup --help'", word);
    return error_set(err, BU_E_USAGE, "usage: batchup %s", line);
}

/* The command args name, with its operands counted; NULL with err when
 * there is none or its operands are too few or too many. */
static const struct main_command *main_find(int nargs, char **args, struct bu_error *err)
{
    for (size_t i = 0; i < MAIN_NCOMMANDS; i++) {
        const struct main_command *c = &main_commands[i];
        int words = main_match(c, nargs, args), ops = nargs - words;
        if (words == 0)
            continue;
        if (ops >= c->min_args && (c->max_args < 0 || ops <= c->max_args))
            return c;
        error_set(err, BU_E_USAGE, "usage: batchup %s%s%s", c->words, c->args[0] ? " " : "",
                  c->args);
        return NULL;
    }
    main_usage_of(args[0], err);
    return NULL;
}

/* A command's own usage error (a bad option, a missing operand) ends
 * with the command's usage line from the table, so that no command keeps
 * a usage text of its own. */
static void main_add_usage(const struct main_command *c, struct bu_error *err)
{
    size_t len = strlen(err->message);

    if (err->id != BU_E_USAGE || strstr(err->message, "usage: ") != NULL)
        return;
    snprintf(err->message + len, sizeof err->message - len, "; usage: batchup %s%s%s", c->words,
             c->args[0] ? " " : "", c->args);
}

/* Read the options (-c FILE, --help, --version) and gather the other
 * words into args.  -1 to go on, else the exit status. */
static int main_options(int argc, char **argv, char **args, int *nargs)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "batchup: -c needs a file name\n");
                return 2;
            }
            main_cfg_path = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            main_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            if (main_commit[0] != '\0')
                printf("batchup %s (git %s)\n", BATCHUP_VERSION, main_commit);
            else
                printf("batchup %s\n", BATCHUP_VERSION);
            return 0;
        } else if (*nargs < MAIN_MAX_ARGS) {
            args[(*nargs)++] = argv[i];
        } else {
            fprintf(stderr, "batchup: too many arguments\n");
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    char *args[MAIN_MAX_ARGS];
    int nargs = 0, rc;
    const struct main_command *cmd;
    struct bu_config cfg;
    struct bu_error err = {.message = ""};

    mallopt(M_MMAP_THRESHOLD, MAIN_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, MAIN_MMAP_THRESHOLD);
    spawn_signals(&main_role);
    if ((rc = main_options(argc, argv, args, &nargs)) >= 0)
        return rc;
    if (nargs == 0) {
        main_usage(stderr);
        return 2;
    }
    if ((cmd = main_find(nargs, args, &err)) != NULL &&
        config_load(&cfg, main_cfg_path, &err) == 0) {
        struct main_call call = {.cfg = &cfg, .argc = nargs, .argv = args};
        log_set_level(cfg.log_level);
        if (cmd->run(&call, &err) == 0)
            return 0;
        main_add_usage(cmd, &err);
    }
    if (err.message[0] != '\0')
        fprintf(stderr, "batchup: %s\n", err.message);
    return error_exit_status(&err);
}
