/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * push.h - the command-line client: `batchup push` uploads files and
 * directories as one batch and prints its link; `batchup pull` downloads a
 * batch by its link.  Both speak to a server over HTTP (libcurl), never to
 * the database, so they need no configuration file.  Each returns 0, or -1
 * with err (main prints it; BU_E_USAGE exits 2, anything else 1).
 */
#ifndef BATCHUP_PUSH_H
#define BATCHUP_PUSH_H

#include <curl/curl.h>

#include "batchup/error.h"

/* `batchup push ...`: argv holds the words after "push". */
int push_command(int argc, char **argv, struct bu_error *err);
/* `batchup pull ...`: argv holds the words after "pull". */
int pull_command(int argc, char **argv, struct bu_error *err);
/* The options every request of push and pull sets on c, reset here first:
 * its URL and headers, where the answer's headers and body go (both
 * callbacks get data), a 20 s connect timeout, and no signals (push's
 * requests run in threads). */
void push_curl_begin(CURL *c, const char *url, struct curl_slist *headers,
                     curl_write_callback on_header, curl_write_callback on_body, void *data);

#endif
