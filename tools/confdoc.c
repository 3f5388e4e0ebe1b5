/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * confdoc.c - writes the documentation of the configuration keys from the
 * key table of app/config.c, so that each key is written once.
 *
 * `build/confdoc FILE < FILE` copies FILE from standard input to standard
 * output and replaces the lines between its markers (the whole lines
 * "BEGIN KEYS (make docs)" and "END KEYS" in the file's comment syntax, as
 * in confdoc_begin below) by every key of the table, in
 * the form FILE's name asks for: a sample configuration (*.conf), a man
 * page (*.5, *.8) or a Markdown table (*.md).  The rest of the file stays
 * as written by hand.  `make docs` runs it over conf/batchup.conf,
 * man/batchup.conf.5 and docs/operations.md; tests/integration/06-docs-keys.sh
 * runs it into a scratch folder and fails when the committed files differ.
 *
 * It is a program of its own, linked with config.o, rather than a hidden
 * command of batchup: the server carries no code that only the build uses,
 * and the command line (app/main.c) stays the operator's.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "batchup/config.h"

enum confdoc_form { CONFDOC_CONF, CONFDOC_MAN, CONFDOC_MD };

/* The comment lines of a sample configuration are filled to this width. */
#define CONFDOC_WIDTH 78

/* Print text as comment lines ("# ..."), filled to CONFDOC_WIDTH. */
static void confdoc_comment(const char *text)
{
    const char *p = text;
    bool first = true;

    while (*p != '\0') {
        size_t room = CONFDOC_WIDTH - 2, len = strlen(p);
        if (len > room) {
            len = room;
            while (len > 0 && p[len] != ' ')
                len--;
            if (len == 0)
                len = strcspn(p, " ");
        }
        /* A sentence starts with a capital letter; the table's lines
         * start in lower case, as they continue a name in a table. */
        printf("# %c%.*s\n", first ? toupper((unsigned char)*p) : *p, (int)len - 1, p + 1);
        first = false;
        p += len;
        while (*p == ' ')
            p++;
    }
}

/* One key of the sample: what it does, the values it takes and its
 * default, then its line, commented out where the sample keeps the
 * default. */
static void confdoc_conf(const struct config_doc *d)
{
    char text[2048];

    snprintf(text, sizeof text, "%s. %s%s%sDefault: %s%s%s.", d->doc,
             d->values[0] ? "Values: " : "", d->values, d->values[0] ? ". " : "",
             d->def[0] ? "`" : "empty", d->def, d->def[0] ? "`" : "");
    confdoc_comment(text);
    if (d->sample != NULL)
        printf("%s = %s\n\n", d->name, d->sample);
    else
        printf("#%s =%s%s\n\n", d->name, d->def[0] ? " " : "", d->def);
}

/* Text for a man page: `literal` in bold, with its hyphens as minus signs;
 * a line never starts with a control character. */
static void confdoc_roff(const char *text)
{
    bool literal = false;

    if (text[0] == '.' || text[0] == '\'')
        fputs("\\&", stdout);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '`')
            fputs((literal = !literal) ? "\\fB" : "\\fR", stdout);
        else if (*p == '\\')
            fputs("\\e", stdout);
        else if (*p == '-' && literal)
            fputs("\\-", stdout);
        else
            putchar(*p);
    }
}

static void confdoc_man(const struct config_doc *d)
{
    char text[2048];

    printf(".TP\n.B %s\n", d->name);
    snprintf(text, sizeof text, "%s.\n%s%s%sDefault: %s%s%s.", d->doc,
             d->values[0] ? "Values: " : "", d->values, d->values[0] ? ".\n" : "",
             d->def[0] ? "`" : "empty", d->def, d->def[0] ? "`" : "");
    confdoc_roff(text);
    putchar('\n');
    if (d->sample != NULL) {
        snprintf(text, sizeof text, "The sample configuration sets `%s`.", d->sample);
        confdoc_roff(text);
        putchar('\n');
    }
}

/* A Markdown table cell: a '|' would end it. */
static void confdoc_cell(const char *text)
{
    for (const char *p = text; *p != '\0'; p++)
        fputs(*p == '|' ? "\\|" : (char[]){*p, '\0'}, stdout);
}

static void confdoc_md(const struct config_doc *d)
{
    printf("| `%s` | ", d->name);
    if (d->def[0] != '\0')
        printf("`%s`", d->def);
    else
        fputs("empty", stdout);
    fputs(" | ", stdout);
    confdoc_cell(d->values);
    fputs(" | ", stdout);
    confdoc_cell(d->doc);
    puts(" |");
}

/* Every key of the table, in the form asked for. */
static void confdoc_keys(enum confdoc_form form)
{
    struct config_doc d;

    if (form == CONFDOC_MD)
        puts("| key | default | values | meaning |\n|---|---|---|---|");
    for (size_t i = 0; config_doc(i, &d); i++) {
        if (form == CONFDOC_CONF)
            confdoc_conf(&d);
        else if (form == CONFDOC_MAN)
            confdoc_man(&d);
        else
            confdoc_md(&d);
    }
}

/* The lines that open and close the generated part, whole lines, in each
 * form's comment syntax. */
static const char *const confdoc_begin[] = {"# BEGIN KEYS (make docs)\n",
                                            ".\\\" BEGIN KEYS (make docs)\n",
                                            "<!-- BEGIN KEYS (make docs) -->\n"};
static const char *const confdoc_end[] = {"# END KEYS\n", ".\\\" END KEYS\n",
                                          "<!-- END KEYS -->\n"};

/* The form a file's name asks for, or -1. */
static int confdoc_form_of(const char *name)
{
    size_t len = strlen(name);

    if (len > 5 && strcmp(name + len - 5, ".conf") == 0)
        return CONFDOC_CONF;
    if (len > 2 && (strcmp(name + len - 2, ".5") == 0 || strcmp(name + len - 2, ".8") == 0))
        return CONFDOC_MAN;
    if (len > 3 && strcmp(name + len - 3, ".md") == 0)
        return CONFDOC_MD;
    return -1;
}

int main(int argc, char **argv)
{
    char line[4096];
    int form = argc == 2 ? confdoc_form_of(argv[1]) : -1, state = 0;

    if (form < 0) {
        fprintf(stderr, "usage: confdoc FILE.conf|FILE.5|FILE.md < FILE (the generated keys on "
                        "standard output)\n");
        return 2;
    }
    /* state 0: before the opening line; 1: between the two (the old keys,
     * dropped); 2: after the closing line. */
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (state == 1 && strcmp(line, confdoc_end[form]) == 0)
            state = 2;
        if (state != 1)
            fputs(line, stdout);
        if (state == 0 && strcmp(line, confdoc_begin[form]) == 0) {
            confdoc_keys((enum confdoc_form)form);
            state = 1;
        }
    }
    if (state != 2) {
        fprintf(stderr, "confdoc: %s has not the lines %s and %s", argv[1], confdoc_begin[form],
                confdoc_end[form]);
        return 1;
    }
    return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
}
