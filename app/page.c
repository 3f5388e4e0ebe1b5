/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * page.c - GET /: the upload page.
 *
 * The page (app/page.html: HTML, CSS and a small tus client in plain
 * JavaScript, no framework, no third-party code) is built into the binary
 * with the assembler's .incbin, so a deployment is one file and the page
 * always matches the API it talks to.  It only needs the person's token,
 * which it keeps in the browser's localStorage.
 */
#include <string.h>

#include "batchup/page.h"

__asm__(".section .rodata\n"
        ".global batchup_page_html\n"
        ".type batchup_page_html, @object\n"
        "batchup_page_html:\n"
        ".incbin \"app/page.html\"\n"
        ".byte 0\n"
        ".previous\n");

extern const char batchup_page_html[];

int page_get(struct http_request *req, struct bu_error *err)
{
    size_t len = strlen(batchup_page_html);

    req->out.status = 200;
    http_add_header(req, "Content-Type", "text/html; charset=utf-8");
    http_add_header(req, "Content-Length", "%zu", len);
    http_add_header(req, "Cache-Control", "no-cache");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_add_header(req, "Content-Security-Policy",
                    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
    if (strcmp(req->method, "HEAD") == 0)
        http_flush(req);
    else
        http_write(req, batchup_page_html, len);
    (void)err;
    return 0;
}
