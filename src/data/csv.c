/* CSV/TSV reader (see csv.h). Raw bytes come from read(2) in chunks and are
 * cut into physical lines. A line without quotes or stray CRs (the common
 * numeric line), and every line of a whitespace-separated file, is split
 * here in one pass; lines with quotes (whose fields may span lines) go to
 * libcsv. Completed rows wait in a small ring of reused row buffers until
 * csv_read converts them to floats (decimal.c). It does not shuffle, cache
 * or batch-assemble. The reader owns every buffer; csv_close frees it. */
#include "csv.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decimal.h"

/* Limits that keep memory bounded whatever the input. */
enum {
    CHUNK = 64 << 10,        /* bytes asked of one read(2) */
    MAX_FIELD = 1 << 20,     /* bytes in one field (libcsv's buffer is capped) */
    MAX_ROW = 1 << 24,       /* bytes in one row, a NUL per field included */
    MAX_FIELDS = 1 << 20,    /* fields in one row */
    DETECT_MAX = 1 << 20,    /* bytes scanned to settle the delimiter */
    MAX_CLASSES = 1 << 16,   /* distinct names in a class column */
    SHOW_MAX = 40 * 4 + 8,   /* bytes show() writes at most */
};

/* One parsed row: fields back to back in text, each NUL-terminated. */
struct csv_row {
    size_t line;            /* physical line (1-based, LF-counted) where it starts */
    size_t n;               /* fields */
    char *text;             /* text[0..len), capacity cap */
    size_t len, cap;
    size_t *start;          /* start[i]: offset of field i in text; capacity start_cap */
    size_t start_cap;
};

enum cb_error { CB_OK, CB_ROW_TOO_LONG, CB_TOO_MANY_FIELDS };

struct csv_reader {
    char *path;             /* the name in messages ("<stdin>" for "-") */
    int fd;
    bool own_fd;

    char *buf;              /* raw input read but not yet parsed: buf[pos..len) */
    size_t pos, len, cap;   /* cap <= MAX_ROW + CHUNK */
    size_t scanned;         /* buf[pos..pos+scanned) is known to hold no LF */
    bool eof;               /* read(2) returned 0 */
    bool finished;          /* csv_fini done: the ring holds the last rows */
    size_t raw_line;        /* line of buf[pos] */

    int delim;              /* the field separator (' ' when blanks) */
    bool blanks;            /* whitespace-separated: runs of spaces and tabs, quotes literal */
    char *comment;          /* lines starting with it are skipped (NULL: none) */
    size_t comment_len;
    bool in_comment;        /* skipping a comment line longer than the buffer */
    bool has_na;            /* missing feature values become na_value */
    float na_value;

    struct csv_parser parser;
    bool parser_live;
    bool quote_open;        /* libcsv is inside a quoted field (odd count of quotes given) */

    /* state of the libcsv callbacks */
    struct csv_row cur;     /* the row being assembled */
    size_t cb_line;         /* 1 + newlines reported by callbacks so far */
    size_t field_line;      /* line where the next field starts */
    enum cb_error cb_err;
    size_t cb_err_line;

    /* completed rows: ring q[(head + i) % q_cap], i < q_n */
    struct csv_row *q;
    size_t q_head, q_n, q_cap;

    size_t n_columns;
    bool has_header;
    char **names;           /* n_columns trimmed header names, or NULL */

    size_t *sel;            /* n_features feature columns, then n_target targets */
    size_t n_features, n_target;

    int class_state;        /* -1 undecided (first data row decides), 0 numbers, 1 names */
    bool classes_fixed;
    char **classes;         /* n_classes names, capacity classes_cap */
    size_t n_classes, classes_cap;
    size_t *slots;          /* open-addressing index: class index + 1, 0 empty */
    size_t n_slots;         /* a power of two, more than twice n_classes */

    size_t rows_read;       /* data rows returned so far */
    size_t *lines;          /* lines of the rows the last csv_read returned */
    size_t lines_cap;
    bool failed;            /* a read failed: every later call repeats errmsg */
    char errmsg[sizeof(((struct diag *)0)->msg)];
};

/* ---- small helpers ---------------------------------------------------------- */

/* libcsv grows its field buffer through this; refusing past MAX_FIELD turns an
 * endless field into CSV_ENOMEM instead of unbounded memory. */
static void *capped_realloc(void *p, size_t n)
{
    return n > (size_t)MAX_FIELD + 64 ? NULL : realloc(p, n);
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (1 for ASCII), 0 when
 * it is not one (stray continuation bytes, overlong forms, surrogates,
 * beyond U+10FFFF, cut short). */
static size_t utf8_seq(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    unsigned lo = 0x80, hi = 0xBF;
    size_t k;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        k = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        k = 3, lo = s[0] == 0xE0 ? 0xA0 : lo, hi = s[0] == 0xED ? 0x9F : hi;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        k = 4, lo = s[0] == 0xF0 ? 0x90 : lo, hi = s[0] == 0xF4 ? 0x8F : hi;
    else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

static bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_seq(s + i, n - i)) == 0)
            return false;
    return true;
}

/* A field for a message: at most 40 characters, control bytes as '?', bytes
 * that are not UTF-8 as \xNN, "..." when cut. out holds SHOW_MAX bytes. */
static const char *show(const char *s, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (int chars = 0; i < len && chars < 40; chars++) {
        unsigned char c = (unsigned char)s[i];
        size_t k = utf8_seq(s + i, len - i);
        if (k == 0) {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
            k = 1;
        } else if (k == 1) {
            out[o++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
        } else {
            memcpy(out + o, s + i, k);
            o += k;
        }
        i += k;
    }
    strcpy(out + o, i < len ? "..." : "");
    return out;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Trims blanks in place; returns the start, *len the new length. */
static char *trim(char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    s[n] = '\0';
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    *len = n;
    return s;
}

/* Text = neither empty nor a number (what header detection looks for). */
static bool is_text(const char *s)
{
    double v;
    while (is_blank(*s))
        s++;
    return *s && !parse_double(s, &v);
}

static char *row_field(const struct csv_row *row, size_t i, size_t *len)
{
    size_t end = i + 1 < row->n ? row->start[i + 1] : row->len;
    *len = end - row->start[i] - 1;
    return row->text + row->start[i];
}

static void row_free(struct csv_row *row)
{
    free(row->text);
    free(row->start);
}

/* Stores the current error so later calls repeat it. */
static int fail(struct csv_reader *r, struct diag *d)
{
    r->failed = true;
    memcpy(r->errmsg, d->msg, sizeof r->errmsg);
    return -1;
}

/* Moves the completed row r->cur into the ring and leaves r->cur empty. */
static void push_row(struct csv_reader *r)
{
    if (r->q_n == r->q_cap) {
        /* Grow the ring, unrolling it so that head = 0. */
        size_t cap = r->q_cap ? 2 * r->q_cap : 4;
        struct csv_row *q = xcalloc(cap, sizeof *q);
        for (size_t i = 0; i < r->q_n; i++)
            q[i] = r->q[(r->q_head + i) % r->q_cap];
        free(r->q);
        r->q = q;
        r->q_cap = cap;
        r->q_head = 0;
    }
    /* Swap buffers with the free slot: no copy, and buffers get reused. */
    struct csv_row *slot = &r->q[(r->q_head + r->q_n) % r->q_cap];
    struct csv_row spare = *slot;
    *slot = r->cur;
    r->cur = spare;
    r->cur.n = r->cur.len = 0;
    r->q_n++;
}

static void pop_row(struct csv_reader *r)
{
    r->q_head = (r->q_head + 1) % r->q_cap;
    r->q_n--;
}

/* ---- libcsv callbacks ----------------------------------------------------------
 * Lines: every LF is reported exactly once, either inside a field's data (a
 * quoted newline) or as the terminator of a row (CSV_REPALL_NL also reports
 * blank lines as rows of 0 fields), so cb_line is exact at every callback and
 * the first field of a row starts on cb_line. */

static void on_field(void *data, size_t n, void *user)
{
    struct csv_reader *r = user;
    struct csv_row *row = &r->cur;
    if (r->cb_err)
        return;
    if (row->n == 0)
        row->line = r->cb_line;
    const char *s = data;
    for (const char *p = s; n && (p = memchr(p, '\n', n - (size_t)(p - s))); p++)
        r->cb_line++;
    r->field_line = r->cb_line;
    if (row->len + n + 1 > MAX_ROW || row->n == MAX_FIELDS) {
        r->cb_err = row->n == MAX_FIELDS ? CB_TOO_MANY_FIELDS : CB_ROW_TOO_LONG;
        r->cb_err_line = row->line;
        return;
    }
    if (row->len + n + 1 > row->cap) {
        size_t cap = row->cap ? row->cap : 256;
        while (cap < row->len + n + 1)
            cap *= 2;
        row->text = xrealloc(row->text, cap);
        row->cap = cap;
    }
    if (row->n == row->start_cap) {
        row->start_cap = row->start_cap ? 2 * row->start_cap : 16;
        row->start = xrealloc(row->start, row->start_cap * sizeof *row->start);
    }
    row->start[row->n++] = row->len;
    if (n)
        memcpy(row->text + row->len, s, n);
    row->text[row->len + n] = '\0';
    row->len += n + 1;
}

static void on_row(int c, void *user)
{
    struct csv_reader *r = user;
    if (r->cb_err)
        return;
    if (r->cur.n > 0)
        push_row(r);
    if (c == '\n')
        r->cb_line++;
    r->field_line = r->cb_line;
}

/* ---- the fast splitters ------------------------------------------------------
 * For a whole physical line at a row start, without its LF (and CR). They
 * build r->cur as the callbacks would, with the same limits. */

/* Room for a row of len text bytes. */
static void row_reserve(struct csv_row *row, size_t len)
{
    if (len + 1 <= row->cap)
        return;
    size_t cap = row->cap ? row->cap : 256;
    while (cap < len + 1)
        cap *= 2;
    row->text = xrealloc(row->text, cap);
    row->cap = cap;
}

/* The limits on a field of n bytes about to be added to row. */
static int check_field(struct csv_reader *r, const struct csv_row *row, size_t n, struct diag *d)
{
    if (row->n == MAX_FIELDS) {
        diag_at(d, r->path, row->line, 0, "row with more than %d fields", MAX_FIELDS);
        return -1;
    }
    if (n > MAX_FIELD) {
        diag_at(d, r->path, row->line, row->n + 1, "field longer than %d bytes", MAX_FIELD);
        return -1;
    }
    return 0;
}

/* Records a field starting at text offset off. */
static inline void add_field(struct csv_row *row, size_t off)
{
    if (row->n == row->start_cap) {
        row->start_cap = row->start_cap ? 2 * row->start_cap : 16;
        row->start = xrealloc(row->start, row->start_cap * sizeof *row->start);
    }
    row->start[row->n++] = off;
}

/* A line of one delimiter-separated row, no quotes in it. Blank lines (spaces
 * and tabs that are not the delimiter) are skipped, as libcsv does. A line
 * shorter than MAX_FIELD bytes cannot break a limit, so only longer ones are
 * checked field by field. */
static int split_delimited(struct csv_reader *r, const char *s, size_t len, struct diag *d)
{
    struct csv_row *row = &r->cur;
    const char delim = (char)r->delim;
    const bool checked = len >= MAX_FIELD;
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t') && s[i] != delim)
        i++;
    if (i == len)
        return 0;
    NNC_ASSERT(row->n == 0);
    row_reserve(row, len);
    row->line = r->raw_line;
    char *t = row->text;
    size_t begin = 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        t[i] = c;
        if (c != delim)
            continue;
        t[i] = '\0';
        if (checked && check_field(r, row, i - begin, d) < 0)
            return -1;
        add_field(row, begin);
        begin = i + 1;
    }
    t[len] = '\0';
    if (checked && check_field(r, row, len - begin, d) < 0)
        return -1;
    add_field(row, begin);
    row->len = len + 1;
    push_row(r);
    return 0;
}

/* A line of a whitespace-separated file: fields are the runs of non-blanks. */
static int split_blanks(struct csv_reader *r, const char *s, size_t len, struct diag *d)
{
    struct csv_row *row = &r->cur;
    NNC_ASSERT(row->n == 0);
    row_reserve(row, len);
    row->line = r->raw_line;
    size_t i = 0, o = 0;
    for (;;) {
        while (i < len && is_blank(s[i]))
            i++;
        if (i == len)
            break;
        size_t b = i;
        while (i < len && !is_blank(s[i]))
            i++;
        if (len >= MAX_FIELD && check_field(r, row, i - b, d) < 0)
            return -1;
        add_field(row, o);
        memcpy(row->text + o, s + b, i - b);
        o += i - b;
        row->text[o++] = '\0';
    }
    if (row->n == 0)
        return 0;
    row->len = o;
    push_row(r);
    return 0;
}

/* ---- input ------------------------------------------------------------------------ */

/* Appends what read(2) has (at least one byte, or sets eof). On a pipe this
 * returns as soon as anything arrives, so a row is parsed when its line does. */
static int read_more(struct csv_reader *r, struct diag *d)
{
    if (r->pos == r->len)
        r->pos = r->len = 0;
    if (r->len == r->cap) {
        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        } else {
            NNC_ASSERT(r->cap < MAX_ROW + CHUNK);
            r->cap = 2 * r->cap < MAX_ROW + CHUNK ? 2 * r->cap : MAX_ROW + CHUNK;
            r->buf = xrealloc(r->buf, r->cap);
        }
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n > 0) {
            r->len += (size_t)n;
            return 0;
        }
        if (n == 0) {
            r->eof = true;
            return 0;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
            if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
                continue;
        } else if (errno == EINTR) {
            continue;
        }
        diag_at(d, r->path, 0, 0, "read error: %s", strerror(errno));
        return -1;
    }
}

static int parse_error(struct csv_reader *r, const char *seg, size_t done, struct diag *d)
{
    char buf[SHOW_MAX];
    int err = csv_error(&r->parser);
    size_t field = r->cur.n + 1;
    if (r->cb_err == CB_ROW_TOO_LONG)
        diag_at(d, r->path, r->cb_err_line, 0, "row longer than %d bytes", MAX_ROW);
    else if (r->cb_err == CB_TOO_MANY_FIELDS)
        diag_at(d, r->path, r->cb_err_line, 0, "row with more than %d fields", MAX_FIELDS);
    else if (err == CSV_ENOMEM && csv_get_buffer_size(&r->parser) >= MAX_FIELD / 2)
        diag_at(d, r->path, r->raw_line, field, "field longer than %d bytes", MAX_FIELD);
    else if (err != CSV_EPARSE)
        diag_at(d, r->path, r->raw_line, field, "%s", csv_strerror(err));
    else if (seg[done] == '"')
        diag_at(d, r->path, r->raw_line, field,
                "unexpected '\"' in a field (quote the whole field and double the "
                "quotes inside it)");
    else
        diag_at(d, r->path, r->raw_line, field, "unexpected '%s' after a closing quote",
                show(seg + done, 1, buf));
    return -1;
}

/* One physical line (n bytes, its LF included when it has one) through
 * libcsv. Strict CSV only has quotes that open, close or are doubled inside
 * a quoted field, so an odd count of them leaves a field open. */
static int parse_libcsv(struct csv_reader *r, const char *seg, size_t n, struct diag *d)
{
    size_t done = csv_parse(&r->parser, seg, n, on_field, on_row, r);
    if (done != n || csv_error(&r->parser) != CSV_SUCCESS || r->cb_err)
        return parse_error(r, seg, done, d);
    for (const char *p = seg; (p = memchr(p, '"', n - (size_t)(p - seg))) != NULL; p++)
        r->quote_open = !r->quote_open;
    return 0;
}

static bool is_comment(const struct csv_reader *r, const char *s, size_t n)
{
    return r->comment && n >= r->comment_len && memcmp(s, r->comment, r->comment_len) == 0;
}

/* Makes progress: reads when no whole line is buffered, else parses the next
 * line (through a fast splitter or libcsv), or finishes at the end. Lines are
 * buffered whole (up to MAX_ROW bytes) except comment lines, skipped as
 * they come. */
static int pump(struct csv_reader *r, struct diag *d)
{
    size_t avail = r->len - r->pos;
    if (avail == 0 && r->eof) {
        if (csv_fini(&r->parser, on_field, on_row, r) != 0) {
            diag_at(d, r->path, r->field_line, 0, "unterminated quoted field");
            return -1;
        }
        r->finished = true;
        return r->cb_err ? parse_error(r, "", 0, d) : 0;
    }
    if (avail == 0)
        return read_more(r, d);
    const char *seg = r->buf + r->pos;
    const char *nl = memchr(seg + r->scanned, '\n', avail - r->scanned);
    bool row_start = !r->quote_open;
    if (!nl && !r->eof) {
        if (r->in_comment || (row_start && is_comment(r, seg, avail))) {
            r->in_comment = true;
            r->pos = r->len;
            r->scanned = 0;
            return 0;
        }
        if (avail > MAX_ROW) {
            diag_at(d, r->path, r->raw_line, 0, "row longer than %d bytes", MAX_ROW);
            return -1;
        }
        r->scanned = avail;
        return read_more(r, d);
    }
    size_t n = nl ? (size_t)(nl - seg) + 1 : avail, len = n - (nl != NULL);
    bool own = true; /* a line we account for (libcsv counts its own) */
    int rc = 0;
    if (r->in_comment || (row_start && is_comment(r, seg, len))) {
        r->in_comment = false;
    } else if (len + 1 > MAX_ROW) {
        diag_at(d, r->path, r->raw_line, 0, "row longer than %d bytes", MAX_ROW);
        return -1;
    } else if (r->blanks) {
        rc = split_blanks(r, seg, len, d);
    } else {
        size_t k = len > 0 && seg[len - 1] == '\r' ? len - 1 : len;
        if (row_start && !memchr(seg, '"', k) && !memchr(seg, '\r', k)) {
            rc = split_delimited(r, seg, k, d);
        } else {
            rc = parse_libcsv(r, seg, n, d);
            own = false;
        }
    }
    if (rc < 0)
        return -1;
    r->pos += n;
    r->scanned = 0;
    if (nl) {
        r->raw_line++;
        if (own)
            r->field_line = ++r->cb_line;
    }
    return 0;
}

/* Parses until the ring holds `want` rows or the input ends. */
static int fill_rows(struct csv_reader *r, size_t want, struct diag *d)
{
    while (r->q_n < want && !r->finished)
        if (pump(r, d) < 0)
            return -1;
    return 0;
}

/* ---- detection ------------------------------------------------------------- */

/* Index of the LF at or after i in s[0..n), or n. */
static size_t line_end(const char *s, size_t n, size_t i)
{
    const char *nl = i < n ? memchr(s + i, '\n', n - i) : NULL;
    return nl ? (size_t)(nl - s) : n;
}

/* Index of the next line at or after i that is neither blank nor a comment;
 * n when the input (final) has none; SIZE_MAX when more input is needed. */
static size_t content_line(const struct csv_reader *r, const char *s, size_t n, size_t i,
                           bool final)
{
    while (i < n) {
        size_t e = line_end(s, n, i), k = i;
        if (e == n && !final)
            return SIZE_MAX;
        while (k < e && is_blank(s[k]))
            k++;
        if (k < e && !is_comment(r, s + i, e - i))
            return i;
        i = e + 1;
    }
    return n;
}

/* Whitespace-separated fields of s[0..n); *numbers tells whether all are
 * numbers (nan and inf included). */
static size_t count_blank_fields(const char *s, size_t n, bool *numbers)
{
    size_t count = 0, i = 0;
    *numbers = true;
    for (;;) {
        while (i < n && is_blank(s[i]))
            i++;
        if (i == n)
            return count;
        size_t b = i;
        while (i < n && !is_blank(s[i]))
            i++;
        char tok[64];
        float v;
        if (i - b >= sizeof tok) {
            *numbers = false;
        } else {
            memcpy(tok, s + b, i - b);
            tok[i - b] = '\0';
            *numbers = *numbers && decimal_to_float(tok, i - b, &v) != DECIMAL_INVALID;
        }
        count++;
    }
}

/* The delimiter of s[0..n) (BOM removed), or 0 when more input is needed
 * (final: there is no more). Blank and comment lines are passed over. The
 * first content line decides: the most frequent of , TAB ; | outside quotes
 * (ties to the earlier); without any, blanks when the line has two or more
 * blank-separated fields that are all numbers, or (a header) when the next
 * content line has as many; else ',' (one column). */
static int detect_delimiter(const struct csv_reader *r, const char *s, size_t n, bool final)
{
    static const char cand[] = {',', '\t', ';', '|'};
    size_t i = content_line(r, s, n, 0, final);
    if (i == SIZE_MAX)
        return 0;
    size_t count[4] = {0}, j;
    bool quoted = false, any_quote = false;
    for (j = i; j < n; j++) {
        char c = s[j];
        if (c == '"') {
            quoted = !quoted;
            any_quote = true;
        } else if (!quoted) {
            if (c == '\n')
                break;
            for (int k = 0; k < 4; k++)
                count[k] += c == cand[k];
        }
    }
    if (j == n && !final)
        return 0;
    int best = 0;
    for (int k = 1; k < 4; k++)
        if (count[k] > count[best])
            best = k;
    if (count[best] > 0 || any_quote)
        return cand[best];
    bool numbers;
    size_t n1 = count_blank_fields(s + i, j - i, &numbers);
    if (n1 < 2)
        return ',';
    if (numbers)
        return ' ';
    i = content_line(r, s, n, j + 1, final);
    if (i == SIZE_MAX)
        return 0;
    if (i >= n)
        return ',';
    j = line_end(s, n, i);
    if (j == n && !final)
        return 0;
    return count_blank_fields(s + i, j - i, &numbers) == n1 ? ' ' : ',';
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Header rule (header: -1). Only text fields (non-empty, not a number) count:
 *   - row 1 without text is data (decided without waiting for row 2, so a
 *     pipe of numbers is answered line by line);
 *   - otherwise row 1 is a header when some column holds text in row 1 and a
 *     number in row 2, or row 1 is all text and row 2 has any number;
 *   - a single row with text is a header (and then there is no data).
 * Two rows of text (a file of names only) are both data. */
static bool row_has_text(const struct csv_row *row)
{
    for (size_t i = 0; i < row->n; i++)
        if (is_text(row->text + row->start[i]))
            return true;
    return false;
}

static bool looks_like_header(const struct csv_row *r1, const struct csv_row *r2)
{
    if (!row_has_text(r1))
        return false;
    if (!r2)
        return true;
    bool all_text = true, any_number = false;
    for (size_t i = 0; i < r1->n; i++) {
        bool t1 = is_text(r1->text + r1->start[i]);
        all_text = all_text && t1;
        if (i < r2->n) {
            const char *s2 = r2->text + r2->start[i];
            double v;
            bool num2 = parse_double(s2, &v);
            if (t1 && num2)
                return true;
            any_number = any_number || num2;
        }
    }
    for (size_t i = r1->n; i < r2->n && !any_number; i++) {
        double v;
        any_number = parse_double(r2->text + r2->start[i], &v);
    }
    return all_text && any_number;
}

int csv_open(struct csv_reader **out, const char *path, const struct csv_options *opt,
             struct diag *d)
{
    static const struct csv_options defaults = {.header = -1, .delimiter = 0};
    if (!opt)
        opt = &defaults;
    *out = NULL;
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    if (opt->delimiter < 0 || opt->delimiter > 255 || opt->delimiter == '"' ||
        opt->delimiter == '\n' || opt->delimiter == '\r') {
        diag_at(d, name, 0, 0, "invalid delimiter");
        return -1;
    }
    if (opt->comment && (!opt->comment[0] || strpbrk(opt->comment, "\n\r"))) {
        diag_at(d, name, 0, 0, "invalid comment marker");
        return -1;
    }

    struct csv_reader *r = xcalloc(1, sizeof *r);
    r->class_state = -1;
    r->raw_line = r->cb_line = r->field_line = 1;
    r->has_na = opt->has_na;
    r->na_value = opt->na_value;
    if (opt->comment) {
        r->comment = xstrdup(opt->comment);
        r->comment_len = strlen(r->comment);
    }
    r->path = xstrdup(name);
    if (strcmp(path, "-") == 0) {
        r->fd = STDIN_FILENO;
    } else {
        r->fd = open(path, O_RDONLY);
        if (r->fd < 0) {
            diag_at(d, path, 0, 0, "cannot open: %s", strerror(errno));
            goto fail;
        }
        r->own_fd = true;
        struct stat st;
        if (fstat(r->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            diag_at(d, path, 0, 0, "is a directory");
            goto fail;
        }
    }
    r->cap = CHUNK;
    r->buf = xmalloc(r->cap);

    /* Drop a UTF-8 BOM, then buffer enough (at most DETECT_MAX bytes) to
     * settle the delimiter. */
    while (!r->eof && r->len < 3 && memcmp(r->buf, "\xEF\xBB\xBF", r->len) == 0)
        if (read_more(r, d) < 0)
            goto fail;
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
    int delim = opt->delimiter;
    if (!delim && has_suffix(path, ".tsv"))
        delim = '\t';
    while (!delim) {
        bool final = r->eof || r->len - r->pos >= DETECT_MAX;
        delim = detect_delimiter(r, r->buf + r->pos, r->len - r->pos, final);
        if (!delim && read_more(r, d) < 0)
            goto fail;
    }
    r->delim = delim;
    r->blanks = delim == ' ';

    if (csv_init(&r->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0) {
        diag_set(d, "out of memory");
        goto fail;
    }
    r->parser_live = true;
    csv_set_delim(&r->parser, (unsigned char)delim);
    csv_set_realloc_func(&r->parser, capped_realloc);
    csv_set_blk_size(&r->parser, 4096);

    if (fill_rows(r, 1, d) < 0)
        goto fail;
    if (r->q_n == 0)
        goto no_data;
    const struct csv_row *first = &r->q[r->q_head];
    r->n_columns = first->n;
    if (opt->header < 0 && row_has_text(first)) {
        if (fill_rows(r, 2, d) < 0)
            goto fail;
        first = &r->q[r->q_head];
        r->has_header = looks_like_header(first, r->q_n > 1 ? &r->q[(r->q_head + 1) % r->q_cap]
                                                            : NULL);
    } else {
        r->has_header = opt->header > 0;
    }
    if (r->has_header) {
        r->names = xcalloc(r->n_columns, sizeof *r->names);
        for (size_t i = 0; i < r->n_columns; i++) {
            size_t len;
            char *s = trim(row_field(first, i, &len), &len);
            if (!utf8_valid(s, len) || memchr(s, '\0', len)) {
                char buf[SHOW_MAX];
                diag_at(d, r->path, first->line, i + 1, "column name '%s' is not valid UTF-8 text",
                        show(s, len, buf));
                goto fail;
            }
            r->names[i] = xstrdup(s);
        }
        pop_row(r);
        if (r->q_n == 0 && r->finished)
            goto no_data;
    }
    r->n_features = r->n_columns;
    r->sel = xcalloc(r->n_columns, sizeof *r->sel);
    for (size_t i = 0; i < r->n_columns; i++)
        r->sel[i] = i;
    *out = r;
    return 0;

no_data:
    diag_at(d, r->path, 0, 0, "no data rows");
fail:
    csv_close(r);
    return -1;
}

void csv_close(struct csv_reader *r)
{
    if (!r)
        return;
    if (r->own_fd)
        close(r->fd);
    if (r->parser_live)
        csv_free(&r->parser);
    row_free(&r->cur);
    for (size_t i = 0; i < r->q_cap; i++)
        row_free(&r->q[i]);
    free(r->q);
    if (r->names)
        for (size_t i = 0; i < r->n_columns; i++)
            free(r->names[i]);
    free(r->names);
    for (size_t i = 0; i < r->n_classes; i++)
        free(r->classes[i]);
    free(r->classes);
    free(r->slots);
    free(r->sel);
    free(r->buf);
    free(r->comment);
    free(r->lines);
    free(r->path);
    free(r);
}

size_t csv_n_columns(const struct csv_reader *r) { return r->n_columns; }
bool csv_has_header(const struct csv_reader *r) { return r->has_header; }
const char *csv_path(const struct csv_reader *r) { return r->path; }

const char *csv_column_name(const struct csv_reader *r, size_t i)
{
    NNC_ASSERT(i < r->n_columns);
    return r->names ? r->names[i] : NULL;
}

/* ---- column selection ------------------------------------------------------ */

struct colvec {
    size_t *a;
    size_t n, cap;
};

static void colvec_push(struct colvec *v, size_t c)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        v->a = xrealloc(v->a, v->cap * sizeof *v->a);
    }
    v->a[v->n++] = c;
}

/* "a:b" with optional integer ends, Python slice semantics (negative counts
 * from the end, out-of-range ends clamp). False when s is not of that form. */
static bool parse_range(const char *s, long n, long *lo, long *hi)
{
    const char *colon = strchr(s, ':');
    if (!colon || strchr(colon + 1, ':'))
        return false;
    char a[32], b[32];
    size_t la = (size_t)(colon - s), lb = strlen(colon + 1);
    if (la >= sizeof a || lb >= sizeof b)
        return false;
    memcpy(a, s, la);
    a[la] = '\0';
    memcpy(b, colon + 1, lb + 1);
    long v[2] = {0, n};
    const char *part[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        const char *p = part[k];
        while (is_blank(*p))
            p++;
        if (!*p)
            continue;
        if (!parse_long(p, &v[k]))
            return false;
        if (v[k] < 0)
            v[k] = v[k] < -n ? 0 : v[k] + n;
        if (v[k] > n)
            v[k] = n;
    }
    *lo = v[0];
    *hi = v[1];
    return true;
}

static int resolve_one(const struct csv_reader *r, const struct spec_node *node,
                       struct colvec *v, struct diag *d)
{
    char buf[80];
    size_t n = r->n_columns;
    if (node->kind != SPEC_SCALAR || spec_is_null(node))
        return spec_error(node, d, "expected a column name, index or range, found %s",
                          spec_describe(node, buf, sizeof buf));
    const char *s = node->str;
    long idx;
    if (!node->quoted && parse_long(s, &idx)) {
        long i = idx < 0 ? idx + (long)n : idx;
        if (i < 0 || (size_t)i >= n)
            return spec_error(node, d, "column index %ld out of range for %s (%zu columns)", idx,
                              r->path, n);
        colvec_push(v, (size_t)i);
        return 0;
    }
    size_t found = SIZE_MAX;
    for (size_t i = 0; r->names && i < n; i++) {
        if (strcmp(r->names[i], s) != 0)
            continue;
        if (found != SIZE_MAX)
            return spec_error(node, d,
                              "column '%s' appears more than once in %s (indices %zu and %zu)",
                              s, r->path, found, i);
        found = i;
    }
    if (found != SIZE_MAX) {
        colvec_push(v, found);
        return 0;
    }
    long lo, hi;
    if (parse_range(s, (long)n, &lo, &hi)) {
        if (lo >= hi)
            return spec_error(node, d, "range '%s' selects no columns of %s (%zu columns)", s,
                              r->path, n);
        for (long i = lo; i < hi; i++)
            colvec_push(v, (size_t)i);
        return 0;
    }
    if (!r->names)
        return spec_error(node, d, "column '%s' not in %s (it has no header row)", s, r->path);
    const char *near = diag_suggest(s, (const char *const *)r->names, n);
    if (near)
        return spec_error(node, d, "column '%s' not in %s (did you mean '%s'?)", s, r->path,
                          near);
    return spec_error(node, d, "column '%s' not in %s", s, r->path);
}

int csv_resolve_columns(const struct csv_reader *r, const struct spec_node *sel, size_t **cols,
                        size_t *n_cols, struct diag *d)
{
    NNC_ASSERT(sel);
    struct colvec v = {0};
    int rc = 0;
    if (sel->kind == SPEC_SEQ)
        for (size_t i = 0; i < sel->n && rc == 0; i++)
            rc = resolve_one(r, sel->items[i], &v, d);
    else
        rc = resolve_one(r, sel, &v, d);
    if (rc < 0) {
        free(v.a);
        *cols = NULL;
        *n_cols = 0;
        return -1;
    }
    *cols = v.a ? v.a : xmalloc(sizeof **cols);
    *n_cols = v.n;
    return 0;
}

int csv_select(struct csv_reader *r, const size_t *feature_cols, size_t n_features,
               const size_t *target_cols, size_t n_target, struct diag *d)
{
    size_t total = n_features + n_target;
    for (size_t i = 0; i < total; i++) {
        size_t c = i < n_features ? feature_cols[i] : target_cols[i - n_features];
        if (c >= r->n_columns) {
            diag_at(d, r->path, 0, 0, "column index %zu out of range (%zu columns)", c,
                    r->n_columns);
            return -1;
        }
    }
    free(r->sel);
    r->sel = xmalloc(total * sizeof *r->sel);
    for (size_t i = 0; i < total; i++)
        r->sel[i] = i < n_features ? feature_cols[i] : target_cols[i - n_features];
    r->n_features = n_features;
    r->n_target = n_target;
    return 0;
}

/* ---- class names ----------------------------------------------------------- */

static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t class_slot(const struct csv_reader *r, const char *name)
{
    size_t mask = r->n_slots - 1, i = hash_name(name) & mask;
    while (r->slots[i] && strcmp(r->classes[r->slots[i] - 1], name) != 0)
        i = (i + 1) & mask;
    return i;
}

static void class_add(struct csv_reader *r, const char *name)
{
    if (2 * (r->n_classes + 1) >= r->n_slots) {
        free(r->slots);
        r->n_slots = r->n_slots ? 2 * r->n_slots : 16;
        r->slots = xcalloc(r->n_slots, sizeof *r->slots);
        for (size_t k = 0; k < r->n_classes; k++)
            r->slots[class_slot(r, r->classes[k])] = k + 1;
    }
    if (r->n_classes == r->classes_cap) {
        r->classes_cap = r->classes_cap ? 2 * r->classes_cap : 8;
        r->classes = xrealloc(r->classes, r->classes_cap * sizeof *r->classes);
    }
    size_t slot = class_slot(r, name);
    r->classes[r->n_classes++] = xstrdup(name);
    if (!r->slots[slot])
        r->slots[slot] = r->n_classes;
}

/* Fixed classes make the single target column a class column whatever its
 * first value looks like (evaluate on a checkpoint trained with names). */
void csv_fix_classes(struct csv_reader *r, char *const *names, size_t n)
{
    for (size_t i = 0; i < r->n_classes; i++)
        free(r->classes[i]);
    r->n_classes = 0;
    if (r->slots)
        memset(r->slots, 0, r->n_slots * sizeof *r->slots);
    for (size_t i = 0; i < n; i++)
        class_add(r, names[i]);
    r->classes_fixed = n > 0;
}

char *const *csv_classes(const struct csv_reader *r, size_t *n)
{
    *n = r->n_classes;
    return r->classes;
}

bool csv_target_is_class(const struct csv_reader *r) { return r->class_state == 1; }

/* ---- conversion -------------------------------------------------------------- */

/* Markers of a missing value besides the empty field (pandas's defaults;
 * nan in any spelling strtod reads is caught by the caller). */
static bool is_na_marker(const char *s)
{
    static const char *const na[] = {"NA", "N/A", "n/a", "NULL", "null", "None", "<NA>", "#N/A"};
    for (size_t i = 0; i < sizeof na / sizeof na[0]; i++)
        if (!strcmp(s, na[i]))
            return true;
    return false;
}

/* A nan that decimal_to_float classed as not finite (as opposed to inf). */
static bool is_nan_text(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    return strncasecmp(s, "nan", 3) == 0;
}

/* A numeric field into *out. fill: a missing value (empty, an NA marker, nan)
 * becomes r->na_value instead of an error. */
static int field_number(struct csv_reader *r, const struct csv_row *row, size_t col, bool fill,
                        float *out, struct diag *d)
{
    char buf[SHOW_MAX];
    size_t len;
    char *s = row_field(row, col, &len);
    if (len && (is_blank(s[0]) || is_blank(s[len - 1])))
        s = trim(s, &len);
    enum decimal_status st = len ? decimal_to_float(s, len, out) : DECIMAL_INVALID;
    if (st == DECIMAL_OK)
        return 0;
    size_t line = row->line, field = col + 1;
    if (memchr(s, '\0', len))
        return diag_at(d, r->path, line, field, "NUL byte in field"), -1;
    bool missing = len == 0 || (st == DECIMAL_INVALID && is_na_marker(s)) ||
                   (st == DECIMAL_NOT_FINITE && is_nan_text(s));
    if (missing && fill) {
        *out = r->na_value;
        return 0;
    }
    if (len == 0)
        return diag_at(d, r->path, line, field, "missing value"), -1;
    show(s, len, buf);
    if (st == DECIMAL_NOT_FINITE)
        diag_at(d, r->path, line, field, "'%s' is not a finite number", buf);
    else if (st == DECIMAL_RANGE)
        diag_at(d, r->path, line, field, "'%s' is out of range for float32", buf);
    else
        diag_at(d, r->path, line, field, "'%s' is not a number", buf);
    return -1;
}

/* "a, b, c" (cut with ", ..." past ~300 bytes) for the unknown-class message. */
static void list_classes(const struct csv_reader *r, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->n_classes; i++) {
        char buf[SHOW_MAX];
        const char *name = show(r->classes[i], strlen(r->classes[i]), buf);
        if (used + strlen(name) + 8 > size) {
            snprintf(out + used, size - used, "%s...", i ? ", " : "");
            return;
        }
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", name);
    }
}

static int field_class(struct csv_reader *r, const struct csv_row *row, size_t col, float *out,
                       struct diag *d)
{
    char buf[SHOW_MAX], known[320];
    size_t len;
    char *raw = row_field(row, col, &len);
    if (memchr(raw, '\0', len))
        return diag_at(d, r->path, row->line, col + 1, "NUL byte in field"), -1;
    char *name = trim(raw, &len);
    if (len == 0)
        return diag_at(d, r->path, row->line, col + 1, "missing value"), -1;
    size_t slot = r->n_slots ? class_slot(r, name) : 0;
    if (r->n_slots && r->slots[slot]) {
        *out = (float)(r->slots[slot] - 1);
        return 0;
    }
    if (r->classes_fixed) {
        list_classes(r, known, sizeof known);
        return diag_at(d, r->path, row->line, col + 1, "unknown class '%s' (known: %s)",
                       show(name, len, buf), known),
               -1;
    }
    if (!utf8_valid(name, len))
        return diag_at(d, r->path, row->line, col + 1, "class name '%s' is not valid UTF-8 text",
                       show(name, len, buf)),
               -1;
    if (r->n_classes == MAX_CLASSES)
        return diag_at(d, r->path, row->line, col + 1, "more than %d distinct classes",
                       MAX_CLASSES),
               -1;
    class_add(r, name);
    *out = (float)(r->n_classes - 1);
    return 0;
}

static int convert_row(struct csv_reader *r, const struct csv_row *row, float *x, float *y,
                       struct diag *d)
{
    if (row->n != r->n_columns) {
        diag_at(d, r->path, row->line, 0, "expected %zu fields, found %zu", r->n_columns, row->n);
        return -1;
    }
    for (size_t j = 0; j < r->n_features; j++)
        if (field_number(r, row, r->sel[j], r->has_na, &x[j], d) < 0)
            return -1;
    const size_t *tcol = r->sel + r->n_features;
    if (r->class_state < 0 && r->n_target > 0)
        r->class_state =
            r->n_target == 1 && (r->classes_fixed || is_text(row->text + row->start[tcol[0]]));
    for (size_t k = 0; k < r->n_target; k++) {
        int rc = r->class_state == 1 ? field_class(r, row, tcol[k], &y[k], d)
                                     : field_number(r, row, tcol[k], false, &y[k], d);
        if (rc < 0)
            return -1;
    }
    return 0;
}

long csv_read(struct csv_reader *r, size_t max_rows, float *x, float *y, struct diag *d)
{
    if (r->failed) {
        memcpy(d->msg, r->errmsg, sizeof d->msg);
        return -1;
    }
    size_t got = 0;
    while (got < max_rows) {
        if (r->q_n > 0) {
            float *xr = r->n_features ? x + got * r->n_features : NULL;
            float *yr = r->n_target ? y + got * r->n_target : NULL;
            if (convert_row(r, &r->q[r->q_head], xr, yr, d) < 0)
                return fail(r, d);
            if (got == r->lines_cap) {
                r->lines_cap = r->lines_cap ? 2 * r->lines_cap : 64;
                r->lines = xrealloc(r->lines, r->lines_cap * sizeof *r->lines);
            }
            r->lines[got] = r->q[r->q_head].line;
            pop_row(r);
            got++;
            continue;
        }
        if (r->finished)
            break;
        if (pump(r, d) < 0)
            return fail(r, d);
    }
    r->rows_read += got;
    if (got == 0 && max_rows > 0 && r->rows_read == 0) {
        diag_at(d, r->path, 0, 0, "no data rows");
        return fail(r, d);
    }
    return (long)got;
}

size_t csv_feature_column(const struct csv_reader *r, size_t j)
{
    NNC_ASSERT(j < r->n_features);
    return r->sel[j];
}

size_t csv_row_line(const struct csv_reader *r, size_t k)
{
    NNC_ASSERT(k < r->lines_cap && r->lines);
    return r->lines[k];
}
