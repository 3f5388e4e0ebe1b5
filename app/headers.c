/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * headers.c - the header values of a file download, as pure functions.
 *
 * Everything here reads bytes a client chose (Range, If-None-Match,
 * If-Range, If-Modified-Since) or writes bytes a client will parse
 * (Content-Disposition, ETag, dates), so it is kept apart from the request
 * handling, unit-tested and fuzzed (tests/fuzz/fuzz_headers.c).
 *
 * Choices:
 * - Range: one byte range is served; several, another unit, or a value that
 *   does not parse are ignored and the whole file is sent with 200, which RFC
 *   9110 (14.2) allows and which a multipart/byteranges body would not
 *   improve for downloads. Numbers saturate instead of overflowing: a first
 *   position past 2^64 is still past the end (416), a last position or suffix
 *   length past 2^64 still means "to the end".
 * - Conditions: If-None-Match uses weak comparison, If-Range strong
 *   comparison, as RFC 9110 requires. A malformed condition never produces
 *   a 304 or a partial response: the safe answer is the whole file.
 * - Dates are formatted and parsed by hand: strftime and strptime follow the
 *   locale, and timegm is not needed for the proleptic Gregorian calendar.
 * - Names in Content-Disposition: both parameters are sent, a plain ASCII
 *   fallback for old clients and the exact UTF-8 name in filename*.
 *
 * What it must never do: write past a buffer, read past a NUL, emit a CR, LF
 * or unescaped quote into a header, or trust a number a client sent.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "batchup/headers.h"
#include "batchup/utf8.h"

/* ------------------------------------------------------------------------
 * Small parsing helpers.
 */

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Read one or more digits, saturating at UINT64_MAX. Returns false when
 * there is no digit at *p. */
static bool parse_u64(const char **p, uint64_t *v)
{
    const char *s = *p;

    *v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        *v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
    }
    *p = s;
    return true;
}

/* ------------------------------------------------------------------------
 * Range and Content-Range.
 */

struct range_spec {
    bool suffix;       /* "-n": the last n bytes */
    bool open;         /* "a-": from a to the end */
    uint64_t from, to; /* "a-b", or n for a suffix */
};

/* Parse one range-spec at *p (no whitespace inside, RFC 9110 14.1.1). */
static bool parse_range_spec(const char **p, struct range_spec *r)
{
    memset(r, 0, sizeof *r);
    if (**p == '-') {
        (*p)++;
        r->suffix = true;
        return parse_u64(p, &r->from);
    }
    if (!parse_u64(p, &r->from) || **p != '-')
        return false;
    (*p)++;
    if (**p < '0' || **p > '9') {
        r->open = true;
        return true;
    }
    return parse_u64(p, &r->to) && r->to >= r->from;
}

enum headers_range headers_parse_range(const char *value, uint64_t size, uint64_t *first,
                                       uint64_t *last)
{
    struct range_spec r = {0}, spec;
    int count = 0;

    if (value == NULL)
        return HEADERS_RANGE_NONE;
    const char *p = skip_ows(value);
    if (strncasecmp(p, "bytes", 5) != 0)
        return HEADERS_RANGE_NONE;
    p = skip_ows(p + 5);
    if (*p != '=')
        return HEADERS_RANGE_NONE;
    p++;

    /* 1#range-spec: a list; empty elements are allowed (RFC 9110 5.6.1). */
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (!parse_range_spec(&p, &spec) || ++count > 1)
            return HEADERS_RANGE_NONE;
        r = spec;
        p = skip_ows(p);
        if (*p != ',' && *p != '\0')
            return HEADERS_RANGE_NONE;
    }
    if (count != 1)
        return HEADERS_RANGE_NONE;

    if (r.suffix) {
        if (r.from == 0 || size == 0)
            return HEADERS_RANGE_UNSATISFIABLE;
        *first = size - (r.from < size ? r.from : size);
        *last = size - 1;
        return HEADERS_RANGE_SATISFIABLE;
    }
    if (r.from >= size)
        return HEADERS_RANGE_UNSATISFIABLE;
    *first = r.from;
    *last = r.open || r.to >= size ? size - 1 : r.to;
    return HEADERS_RANGE_SATISFIABLE;
}

/* snprintf's result as this file's convention: the length, or -1 (and an
 * empty string) when it did not fit. */
static int fitted(char *buf, size_t cap, int n)
{
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            buf[0] = '\0';
        return -1;
    }
    return n;
}

int headers_content_range(char *buf, size_t cap, enum headers_range range, uint64_t first,
                          uint64_t last, uint64_t size)
{
    if (range == HEADERS_RANGE_SATISFIABLE && first <= last && last < size)
        return fitted(buf, cap,
                      snprintf(buf, cap, "bytes %llu-%llu/%llu", (unsigned long long)first,
                               (unsigned long long)last, (unsigned long long)size));
    if (range == HEADERS_RANGE_UNSATISFIABLE)
        return fitted(buf, cap, snprintf(buf, cap, "bytes */%llu", (unsigned long long)size));
    return fitted(buf, cap, -1);
}

/* ------------------------------------------------------------------------
 * HTTP dates.
 */

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const long_days[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int headers_http_date(char buf[HEADERS_DATE_SIZE], time_t t)
{
    struct tm tm;

    buf[0] = '\0';
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return -1;
    return fitted(buf, HEADERS_DATE_SIZE,
                  snprintf(buf, HEADERS_DATE_SIZE, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                           days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
                           tm.tm_hour, tm.tm_min, tm.tm_sec));
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : len[m - 1];
}

static bool match(const char **p, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

/* Exactly n digits. */
static bool digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        *v = *v * 10 + (c - '0');
    }
    *p += n;
    return true;
}

static bool month(const char **p, int *m)
{
    for (int i = 0; i < 12; i++) {
        if (match(p, months[i])) {
            *m = i + 1;
            return true;
        }
    }
    return false;
}

static bool day_name(const char **p, bool long_form)
{
    for (int i = 0; i < 7; i++)
        if (match(p, long_form ? long_days[i] : days[i]))
            return true;
    return false;
}

/* "HH:MM:SS"; 60 seconds is a leap second (RFC 9110 5.6.7). */
static bool time_of_day(const char **p, int *h, int *mi, int *s)
{
    return digits(p, 2, h) && match(p, ":") && digits(p, 2, mi) && match(p, ":") &&
           digits(p, 2, s) && *h <= 23 && *mi <= 59 && *s <= 60;
}

int headers_parse_http_date(const char *s, time_t *out)
{
    const char *p, *end;
    int y = 0, m = 0, d = 0, h = 0, mi = 0, sec = 0;
    bool ok;

    if (s == NULL)
        return -1;
    p = skip_ows(s);
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;

    const char *q = p;
    if (day_name(&q, false) && *q == ',') {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        ok = match(&q, ", ") && digits(&q, 2, &d) && match(&q, " ") && month(&q, &m) &&
             match(&q, " ") && digits(&q, 4, &y) && match(&q, " ") &&
             time_of_day(&q, &h, &mi, &sec) && match(&q, " GMT");
    } else if (q = p, day_name(&q, true) && *q == ',') {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT; 70..99 are 19xx. */
        ok = match(&q, ", ") && digits(&q, 2, &d) && match(&q, "-") && month(&q, &m) &&
             match(&q, "-") && digits(&q, 2, &y) && match(&q, " ") &&
             time_of_day(&q, &h, &mi, &sec) && match(&q, " GMT");
        y += y < 70 ? 2000 : 1900;
    } else {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        q = p;
        ok = day_name(&q, false) && match(&q, " ") && month(&q, &m) && match(&q, " ");
        if (ok && *q == ' ') {
            q++;
            ok = digits(&q, 1, &d);
        } else {
            ok = ok && digits(&q, 2, &d);
        }
        ok = ok && match(&q, " ") && time_of_day(&q, &h, &mi, &sec) && match(&q, " ") &&
             digits(&q, 4, &y);
    }
    if (!ok || q != end || m < 1 || d < 1 || d > days_in_month(y, m))
        return -1;
    int64_t t = days_from_civil(y, m, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec;
    /* A leap second at the end of 9999 is a moment of the year 10000,
     * which no HTTP-date can name: refused like any other bad date. */
    if (t >= days_from_civil(10000, 1, 1) * 86400)
        return -1;
    *out = (time_t)t;
    return 0;
}

/* ------------------------------------------------------------------------
 * Entity tags.
 */

int headers_etag(char *buf, size_t cap, const char *sha256_hex)
{
    if (cap < HEADERS_ETAG_SIZE || sha256_hex == NULL || strlen(sha256_hex) != 64) {
        if (cap > 0)
            buf[0] = '\0';
        return -1;
    }
    for (size_t i = 0; i < 64; i++) {
        char c = sha256_hex[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            buf[0] = '\0';
            return -1;
        }
        buf[i + 1] = c;
    }
    buf[0] = '"';
    buf[65] = '"';
    buf[66] = '\0';
    return 66;
}

/* One entity-tag at *p: [W/] DQUOTE *etagc DQUOTE. Sets *opaque to the
 * quoted part, *len to its length (quotes included), *weak. */
static bool parse_entity_tag(const char **p, const char **opaque, size_t *len, bool *weak)
{
    const char *s = *p;

    *weak = s[0] == 'W' && s[1] == '/';
    if (*weak)
        s += 2;
    if (*s != '"')
        return false;
    *opaque = s++;
    while (*s == 0x21 || ((unsigned char)*s >= 0x23 && (unsigned char)*s != 0x7F))
        s++;
    if (*s != '"')
        return false;
    *len = (size_t)(s + 1 - *opaque);
    *p = s + 1;
    return true;
}

/* Our own ETag, parsed: it must be a single well-formed entity-tag. */
static bool own_tag(const char *etag, const char **opaque, size_t *len, bool *weak)
{
    if (etag == NULL || !parse_entity_tag(&etag, opaque, len, weak))
        return false;
    return *etag == '\0';
}

bool headers_etag_matches(const char *if_none_match, const char *etag)
{
    const char *ours, *theirs;
    size_t ours_len, theirs_len;
    bool ours_weak, theirs_weak, matched = false;

    if (if_none_match == NULL || !own_tag(etag, &ours, &ours_len, &ours_weak))
        return false;
    const char *p = skip_ows(if_none_match);
    if (*p == '*')
        return *skip_ows(p + 1) == '\0';
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (!parse_entity_tag(&p, &theirs, &theirs_len, &theirs_weak))
            return false;
        if (theirs_len == ours_len && memcmp(theirs, ours, ours_len) == 0)
            matched = true;
        p = skip_ows(p);
        if (*p != ',' && *p != '\0')
            return false;
    }
    return matched;
}

bool headers_if_range_allows(const char *if_range, const char *etag, time_t last_modified)
{
    const char *ours, *theirs;
    size_t ours_len, theirs_len;
    bool ours_weak, theirs_weak;
    time_t t;

    if (if_range == NULL)
        return true;
    const char *p = skip_ows(if_range);
    if (*p == '"' || (p[0] == 'W' && p[1] == '/')) {
        if (!parse_entity_tag(&p, &theirs, &theirs_len, &theirs_weak) || *skip_ows(p) != '\0' ||
            theirs_weak)
            return false;
        return own_tag(etag, &ours, &ours_len, &ours_weak) && !ours_weak &&
               theirs_len == ours_len && memcmp(theirs, ours, ours_len) == 0;
    }
    return headers_parse_http_date(p, &t) == 0 && t == last_modified;
}

/* ------------------------------------------------------------------------
 * Content-Disposition.
 */

/* Characters that never reach a file name: controls (C0, DEL, C1), the
 * direction overrides that disguise extensions, line separators, slashes. */
static bool char_is_unsafe(uint32_t cp)
{
    return utf8_is_hidden_control(cp) || cp == '/' || cp == '\\';
}

/* The longest extension a cut name keeps (".jpeg", ".tar.gz" keeps ".gz"). */
#define HEADERS_EXT_KEEP 16

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 8187 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" /
 * "." / "^" / "_" / "`" / "|" / "~". */
static bool is_attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

struct out {
    char *buf;
    size_t cap, len;
    bool full;
};

static void out_char(struct out *o, char c)
{
    if (o->len + 1 >= o->cap) {
        o->full = true;
        return;
    }
    o->buf[o->len++] = c;
}

static void out_str(struct out *o, const char *s)
{
    while (*s)
        out_char(o, *s++);
}

/* One character of the name (n bytes at p, n 0 for an invalid byte) in
 * the fallback: itself when plain printable ASCII, else '_'. */
static void out_fallback(struct out *o, const unsigned char *p, size_t n, uint32_t cp)
{
    bool plain = n == 1 && cp >= 0x20 && cp < 0x7F && !strchr("\"\\/%", (int)cp);

    (void)p;
    out_char(o, plain ? (char)cp : '_');
}

/* The same character in filename*: attr-chars as they are, other bytes
 * as %XX, unsafe characters and invalid bytes as '_'. */
static void out_extended(struct out *o, const unsigned char *p, size_t n, uint32_t cp)
{
    static const char hex[] = "0123456789ABCDEF";

    if (n == 0 || char_is_unsafe(cp)) {
        out_char(o, '_');
        return;
    }
    for (size_t k = 0; k < n; k++) {
        if (is_attr_char(p[k])) {
            out_char(o, (char)p[k]);
        } else {
            out_char(o, '%');
            out_char(o, hex[p[k] >> 4]);
            out_char(o, hex[p[k] & 0x0F]);
        }
    }
}

/* Write name[from, to) one whole character at a time through put. */
static void out_name(struct out *o, const unsigned char *name, size_t from, size_t to,
                     void (*put)(struct out *, const unsigned char *, size_t, uint32_t))
{
    for (size_t i = from; i < to;) {
        uint32_t cp = 0;
        size_t n = utf8_decode(name + i, &cp);
        if (i + (n ? n : 1) > to)
            break;
        put(o, name + i, n, cp);
        i += n ? n : 1;
    }
}

/* Bytes one character takes in both parameters together. */
static size_t char_cost(const unsigned char *p, size_t n, uint32_t cp)
{
    char scratch[16];
    struct out o = {scratch, sizeof scratch, 0, false};

    out_fallback(&o, p, n, cp);
    out_extended(&o, p, n, cp);
    return o.len;
}

/* The end of the longest prefix of name[from, to) whose characters take at
 * most budget bytes in both parameters; *used gets what they take. */
static size_t name_fit(const unsigned char *name, size_t from, size_t to, size_t budget,
                       size_t *used)
{
    size_t i = from;

    *used = 0;
    while (i < to) {
        uint32_t cp = 0;
        size_t n = utf8_decode(name + i, &cp), cost = char_cost(name + i, n, cp);
        if (*used + cost > budget)
            break;
        *used += cost;
        i += n ? n : 1;
    }
    return i;
}

int headers_content_disposition(char *buf, size_t cap, const char *disposition,
                                const char *utf8_name)
{
    static const char mid[] = "\"; filename*=UTF-8''";
    struct out o = {buf, cap, 0, false};
    const unsigned char *name;
    size_t len, ext, cut, used, ext_used, fixed, budget;

    if (cap == 0)
        return -1;
    buf[0] = '\0';
    if (disposition == NULL)
        disposition = "attachment";
    for (const char *d = disposition; *d; d++)
        if (!is_tchar((unsigned char)*d))
            return -1;
    if (*disposition == '\0')
        return -1;
    name = (const unsigned char *)(utf8_name && *utf8_name ? utf8_name : "file");
    len = strlen((const char *)name);

    /* A name too long for cap is cut at a character boundary, in both
     * parameters alike, keeping its extension (a last ".xyz" of at most
     * HEADERS_EXT_KEEP bytes): never inside a %XX escape or a character. */
    fixed = strlen(disposition) + strlen("; filename=\"") + strlen(mid);
    if (fixed + 1 >= cap)
        return -1;
    budget = cap - 1 - fixed;
    cut = name_fit(name, 0, len, budget, &used);
    ext = len;
    if (cut < len) {
        const char *dot = strrchr((const char *)name, '.');
        ext = dot != NULL && (size_t)((const char *)name + len - dot) <= HEADERS_EXT_KEEP
                  ? (size_t)(dot - (const char *)name)
                  : len;
        if (name_fit(name, ext, len, budget, &ext_used) != len) {
            ext = len;
            ext_used = 0;
        }
        cut = name_fit(name, 0, ext, budget - ext_used, &used);
    }
    if (cut == 0)
        return -1; /* not one character of the name fits */
    out_str(&o, disposition);
    out_str(&o, "; filename=\"");
    out_name(&o, name, 0, cut, out_fallback);
    out_name(&o, name, ext, len, out_fallback);
    out_str(&o, mid);
    out_name(&o, name, 0, cut, out_extended);
    out_name(&o, name, ext, len, out_extended);
    if (o.full) {
        buf[0] = '\0';
        return -1;
    }
    buf[o.len] = '\0';
    return (int)o.len;
}
