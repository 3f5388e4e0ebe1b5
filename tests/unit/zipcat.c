/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * zipcat.c - write a ZIP of files with batchup's ZIP stream, for tests.
 *
 *   zipcat OUT.zip FILE...
 *
 * Each file is stored under its base name made safe (zip_safe_names). The
 * size zip_archive_size announced is printed on stdout, so a test can
 * compare it with the archive written. Used by zip64_big.sh; it is not a
 * cmocka test (its name does not start with test_), so `make unit` does not
 * build it. Files are opened one at a time, while their entry is streamed.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batchup/zip.h"

struct zipcat {
    char **paths;
    size_t current; /* the entry whose file is open in fd */
    int fd;
    int out;
};

static ssize_t zipcat_read(void *ctx, size_t index, void *buf, size_t cap)
{
    struct zipcat *z = ctx;

    if (z->fd < 0 || z->current != index) {
        if (z->fd >= 0)
            close(z->fd);
        z->fd = open(z->paths[index], O_RDONLY);
        z->current = index;
        if (z->fd < 0)
            return -1;
    }
    return read(z->fd, buf, cap);
}

static int zipcat_write(void *ctx, const void *buf, size_t len)
{
    struct zipcat *z = ctx;
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(z->out, p, len);
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static unsigned char buf[ZIP_BUFFER_SIZE];
    size_t n = argc > 2 ? (size_t)argc - 2 : 0;
    const char **bases = calloc(n + 1, sizeof *bases);
    char **names = calloc(n + 1, sizeof *names);
    struct zip_entry *entries = calloc(n + 1, sizeof *entries);
    struct zipcat z = {argv + 2, 0, -1, -1};
    uint64_t size;

    if (argc < 2) {
        fprintf(stderr, "usage: zipcat OUT.zip FILE...\n");
        return 2;
    }
    if (bases == NULL || names == NULL || entries == NULL)
        return 1;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(argv[i + 2], &st) < 0) {
            perror(argv[i + 2]);
            return 1;
        }
        bases[i] = basename(argv[i + 2]);
        entries[i].size = (uint64_t)st.st_size;
        entries[i].mtime = st.st_mtime;
    }
    if (zip_safe_names(bases, n, names) < 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        entries[i].name = names[i];
    if (zip_archive_size(entries, n, &size) < 0) {
        fprintf(stderr, "zipcat: these entries cannot be archived\n");
        return 1;
    }
    z.out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (z.out < 0) {
        perror(argv[1]);
        return 1;
    }
    if (zip_stream(entries, n, zipcat_read, zipcat_write, &z, buf, sizeof buf) < 0 ||
        close(z.out) < 0) {
        fprintf(stderr, "zipcat: writing %s failed\n", argv[1]);
        return 1;
    }
    printf("%" PRIu64 "\n", size);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(bases);
    free(names);
    free(entries);
    return 0;
}
