/* YAML/JSON -> positioned tree (see spec.h). Built from libyaml's event
 * stream with an explicit stack; all nodes and strings go into one arena
 * (a list of blocks) that spec_free releases at once. An alias shares the
 * anchored node (the tree becomes a DAG; nothing is copied), so alias bombs
 * cost no memory, and their number is bounded. */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Limits that bound time and memory whatever the input: about 100 MB at
 * most for the nodes, 2 x MAX_FILE_BYTES for the text. A Keras model.json of
 * 10000 layers has ~500000 values; a checkpoint's history a few per epoch. */
enum {
    MAX_DEPTH = 64,              /* nesting deeper than this is an error */
    MAX_NODES = 1000 * 1000,
    MAX_MAP_KEYS = 100000,
    MAX_SCALAR_BYTES = 1 << 20,  /* one value */
    MAX_FILE_BYTES = 64 << 20,
    MAX_ANCHORS = 10000,
    MAX_ALIASES = 100000,
    HASH_KEYS_FROM = 16,         /* maps this large get a hash index of their keys */
};

struct anchor {
    char *name;
    struct spec_node *node;
};

/* ---- arena ---------------------------------------------------------------- */

struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct arena_block *head;
    size_t n_nodes;
    char *file;  /* the source name all nodes point at */
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->size - a->head->used < n) {
        size_t size = n > 65536 ? n : 65536;
        struct arena_block *b = xmalloc(sizeof *b + size);
        b->next = a->head;
        b->used = 0;
        b->size = size;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static char *arena_strdup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ---- tree building ------------------------------------------------------- */

struct frame {
    struct spec_node *node;
    struct spec_node **items, **keys;
    size_t n, cap;
    bool want_value;  /* map: a key was read, its value comes next */
    /* Large maps: open addressing over keys[], key index + 1 (0 = empty),
     * so that duplicate detection stays linear in the number of keys. */
    size_t *slots, n_slots;
};

struct builder {
    struct arena *arena;
    struct frame stack[MAX_DEPTH + 1];
    int depth;  /* frames in use */
    struct spec_node *root;
    const char *name;
    struct diag *d;
    struct anchor *anchors;
    size_t n_anchors, n_aliases;
    /* The anchor of the collection being built, registered at its end. */
    char *pending_anchor[MAX_DEPTH + 1];
};

static int add_anchor(struct builder *b, const char *name, struct spec_node *n)
{
    if (b->n_anchors == MAX_ANCHORS) {
        spec_error(n, b->d, "too many YAML anchors");
        return -1;
    }
    if (b->n_anchors % 64 == 0)
        b->anchors = xrealloc(b->anchors, (b->n_anchors + 64) * sizeof *b->anchors);
    b->anchors[b->n_anchors].name = xstrdup(name);
    b->anchors[b->n_anchors++].node = n;
    return 0;
}

static struct spec_node *new_node(struct builder *b, enum spec_kind kind, yaml_mark_t mark)
{
    if (++b->arena->n_nodes > MAX_NODES)
        return NULL;
    struct spec_node *n = arena_alloc(b->arena, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = mark.line + 1;
    n->col = mark.column + 1;
    n->file = b->arena->file;
    return n;
}

static size_t hash_key(const char *s)
{
    size_t h = 14695981039346656037u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The slot of key in f's index, or the empty slot where it would go. */
static size_t key_slot(const struct frame *f, const char *key)
{
    size_t mask = f->n_slots - 1, i = hash_key(key) & mask;
    while (f->slots[i] && strcmp(f->keys[f->slots[i] - 1]->str, key) != 0)
        i = (i + 1) & mask;
    return i;
}

/* The earlier key equal to key in map frame f, or NULL. */
static const struct spec_node *find_key(const struct frame *f, const char *key)
{
    if (!f->n_slots) {
        for (size_t i = 0; i < f->n; i++)
            if (strcmp(f->keys[i]->str, key) == 0)
                return f->keys[i];
        return NULL;
    }
    size_t i = key_slot(f, key);
    return f->slots[i] ? f->keys[f->slots[i] - 1] : NULL;
}

/* Adds keys[k] to the index, (re)building it when it is missing or half full. */
static void index_key(struct frame *f, size_t k)
{
    if (k + 1 < HASH_KEYS_FROM)
        return;
    if (2 * (k + 1) > f->n_slots) {
        f->n_slots = f->n_slots ? 2 * f->n_slots : 4 * HASH_KEYS_FROM;
        free(f->slots);
        f->slots = xcalloc(f->n_slots, sizeof *f->slots);
        for (size_t i = 0; i < k; i++)
            f->slots[key_slot(f, f->keys[i]->str)] = i + 1;
    }
    f->slots[key_slot(f, f->keys[k]->str)] = k + 1;
}

static int attach(struct builder *b, struct spec_node *n)
{
    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == SPEC_MAP && !f->want_value) {
        if (n->kind != SPEC_SCALAR)
            return spec_error(n, b->d, "a map key must be a plain value, not %s",
                              n->kind == SPEC_MAP ? "a map" : "a list");
        const struct spec_node *first = find_key(f, n->str);
        if (first)
            return spec_error(n, b->d, "duplicate key '%.200s' (first at line %zu)", n->str,
                              first->line);
        if (f->n >= MAX_MAP_KEYS)
            return spec_error(n, b->d, "too many keys in one map");
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 8;
        f->items = xrealloc(f->items, f->cap * sizeof *f->items);
        if (f->node->kind == SPEC_MAP)
            f->keys = xrealloc(f->keys, f->cap * sizeof *f->keys);
    }
    if (f->node->kind == SPEC_MAP) {
        if (!f->want_value) {
            f->keys[f->n] = n;
            index_key(f, f->n);
            f->want_value = true;
            return 0;
        }
        f->want_value = false;
    }
    f->items[f->n++] = n;
    return 0;
}

/* Moves a finished collection's children into the arena. */
static void finish_frame(struct builder *b, struct frame *f)
{
    struct spec_node *n = f->node;
    n->n = f->n;
    if (f->n) {
        n->items = arena_alloc(b->arena, f->n * sizeof *n->items);
        memcpy(n->items, f->items, f->n * sizeof *n->items);
        if (n->kind == SPEC_MAP) {
            n->keys = arena_alloc(b->arena, f->n * sizeof *n->keys);
            memcpy(n->keys, f->keys, f->n * sizeof *n->keys);
        }
    }
    free(f->items);
    free(f->keys);
    free(f->slots);
    memset(f, 0, sizeof *f);
}

static int too_many_nodes(struct builder *b, yaml_mark_t m)
{
    diag_at(b->d, b->name, m.line + 1, m.column + 1, "document too large (over %d values)",
            MAX_NODES);
    return -1;
}

static int handle_event(struct builder *b, yaml_event_t *ev, int *documents)
{
    struct spec_node *n;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*documents > 1) {
            diag_at(b->d, b->name, ev->start_mark.line + 1, ev->start_mark.column + 1,
                    "more than one YAML document in the file");
            return -1;
        }
        return 0;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        /* The latest anchor of that name wins, as YAML says. */
        for (size_t i = b->n_anchors; i-- > 0;)
            if (!strcmp(b->anchors[i].name, name)) {
                if (++b->n_aliases > MAX_ALIASES) {
                    diag_at(b->d, b->name, ev->start_mark.line + 1, ev->start_mark.column + 1,
                            "too many YAML aliases");
                    return -1;
                }
                return attach(b, b->anchors[i].node);
            }
        diag_at(b->d, b->name, ev->start_mark.line + 1, ev->start_mark.column + 1,
                "unknown YAML alias *%s (anchors must come first, and a collection cannot "
                "refer to itself)",
                name);
        return -1;
    }
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.length > MAX_SCALAR_BYTES) {
            diag_at(b->d, b->name, ev->start_mark.line + 1, ev->start_mark.column + 1,
                    "value longer than %d bytes", MAX_SCALAR_BYTES);
            return -1;
        }
        if (!(n = new_node(b, SPEC_SCALAR, ev->start_mark)))
            return too_many_nodes(b, ev->start_mark);
        n->str = arena_strdup(b->arena, (const char *)ev->data.scalar.value,
                              ev->data.scalar.length);
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                    (ev->data.scalar.tag &&
                     strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG) == 0);
        if (strlen(n->str) != ev->data.scalar.length)
            return spec_error(n, b->d, "NUL byte in a value");
        if (ev->data.scalar.anchor &&
            add_anchor(b, (const char *)ev->data.scalar.anchor, n) < 0)
            return -1;
        return attach(b, n);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->depth >= MAX_DEPTH) {
            diag_at(b->d, b->name, ev->start_mark.line + 1, ev->start_mark.column + 1,
                    "nesting deeper than %d levels", MAX_DEPTH);
            return -1;
        }
        if (!(n = new_node(b, ev->type == YAML_SEQUENCE_START_EVENT ? SPEC_SEQ : SPEC_MAP,
                           ev->start_mark)))
            return too_many_nodes(b, ev->start_mark);
        if (attach(b, n) < 0)
            return -1;
        memset(&b->stack[b->depth], 0, sizeof b->stack[0]);
        {
            const yaml_char_t *anchor = ev->type == YAML_SEQUENCE_START_EVENT
                                            ? ev->data.sequence_start.anchor
                                            : ev->data.mapping_start.anchor;
            b->pending_anchor[b->depth] = anchor ? xstrdup((const char *)anchor) : NULL;
        }
        b->stack[b->depth++].node = n;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        NNC_ASSERT(b->depth > 0);
        n = b->stack[b->depth - 1].node;
        finish_frame(b, &b->stack[--b->depth]);
        if (b->pending_anchor[b->depth]) {
            int rc = add_anchor(b, b->pending_anchor[b->depth], n);
            free(b->pending_anchor[b->depth]);
            b->pending_anchor[b->depth] = NULL;
            return rc;
        }
        return 0;
    default:
        return 0;
    }
}

/* JSON may be indented with tabs, which YAML forbids: outside strings they
 * are plain blanks, so turn them into spaces. Only done for text that starts
 * like JSON. */
static void untab_json(char *text, size_t len)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i == len || (text[i] != '{' && text[i] != '['))
        return;
    bool in_string = false;
    for (; i < len; i++) {
        if (in_string) {
            if (text[i] == '\\' && i + 1 < len)
                i++;
            else if (text[i] == '"')
                in_string = false;
        } else if (text[i] == '"') {
            in_string = true;
        } else if (text[i] == '\t') {
            text[i] = ' ';
        }
    }
}

/* The 1-based line and column of byte `off` of text (NUL-terminated), the
 * column in characters as libyaml counts them. */
static void offset_position(const char *text, size_t off, size_t *line, size_t *col)
{
    *line = *col = 1;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || (c == '\r' && text[i + 1] != '\n')) {
            ++*line;
            *col = 1;
        } else if ((c & 0xC0) != 0x80 && c != '\r') {
            ++*col;
        }
    }
}

/* libyaml's reader (encoding) errors carry a byte offset, not a mark. A bad
 * UTF-8 sequence is reported at its first byte. */
static void reader_error(const yaml_parser_t *p, const char *name, const char *text, size_t len,
                         struct diag *d)
{
    size_t off = p->problem_offset < len ? p->problem_offset : len, line, col;
    const char *problem = p->problem ? p->problem : "unreadable text";
    if (strstr(problem, "UTF-8") && off < len) {
        /* "invalid trailing UTF-8 octet" points at the byte that should
         * have continued the sequence; the others at its first byte. */
        if (strstr(problem, "trailing") && off > 0)
            for (off--; off > 0 && ((unsigned char)text[off] & 0xC0) == 0x80;)
                off--;
        offset_position(text, off, &line, &col);
        diag_at(d, name, line, col, "invalid UTF-8 (byte 0x%02X; is the file UTF-8 text?)",
                (unsigned char)text[off]);
        return;
    }
    offset_position(text, off, &line, &col);
    if (p->problem_value >= 0)
        diag_at(d, name, line, col, "%s (0x%X)", problem, (unsigned)p->problem_value);
    else
        diag_at(d, name, line, col, "%s", problem);
}

int spec_load_string(struct spec_doc *doc, const char *name, const char *text, size_t len,
                     struct diag *d)
{
    memset(doc, 0, sizeof *doc);
    struct arena *a = xcalloc(1, sizeof *a);
    a->file = xstrdup(name);
    doc->arena = a;

    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *nul = memchr(copy, '\0', len);
    if (nul) {
        size_t line, col;
        offset_position(copy, (size_t)(nul - copy), &line, &col);
        diag_at(d, name, line, col, "NUL byte in the file (not a text file?)");
        free(copy);
        spec_free(doc);
        return -1;
    }
    untab_json(copy, len);

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(copy);
        spec_free(doc);
        diag_set(d, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)copy, len);

    struct builder b = {.arena = a, .name = a->file, .d = d};
    int documents = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_READER_ERROR) {
                reader_error(&parser, name, copy, len, d);
                rc = -1;
                break;
            }
            yaml_mark_t m = parser.problem_mark;
            const char *problem = parser.problem ? parser.problem : "syntax error";
            if (parser.context)
                diag_at(d, name, m.line + 1, m.column + 1, "%s %s", problem, parser.context);
            else
                diag_at(d, name, m.line + 1, m.column + 1, "%s", problem);
            rc = -1;
            break;
        }
        bool done = ev.type == YAML_STREAM_END_EVENT;
        if (handle_event(&b, &ev, &documents) < 0)
            rc = -1;
        yaml_event_delete(&ev);
        if (done || rc < 0)
            break;
    }
    while (b.depth > 0) {
        finish_frame(&b, &b.stack[--b.depth]);
        free(b.pending_anchor[b.depth]);
    }
    for (size_t i = 0; i < b.n_anchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    yaml_parser_delete(&parser);
    free(copy);
    if (rc < 0) {
        spec_free(doc);
        return -1;
    }
    doc->root = b.root;
    return 0;
}

int spec_load_file(struct spec_doc *doc, const char *path, struct diag *d)
{
    memset(doc, 0, sizeof *doc);
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_at(d, path, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_FILE_BYTES) {
                free(buf);
                fclose(f);
                diag_at(d, path, 0, 0, "file larger than %d MiB", MAX_FILE_BYTES >> 20);
                return -1;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        diag_at(d, path, 0, 0, "read error");
        return -1;
    }
    int rc = spec_load_string(doc, path, buf, len, d);
    free(buf);
    return rc;
}

void spec_free(struct spec_doc *doc)
{
    struct arena *a = doc->arena;
    if (a) {
        for (struct arena_block *b = a->head, *next; b; b = next) {
            next = b->next;
            free(b);
        }
        free(a->file);
        free(a);
    }
    memset(doc, 0, sizeof *doc);
}

/* ---- typed access -------------------------------------------------------- */

int spec_error(const struct spec_node *n, struct diag *d, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        diag_at(d, n->file, n->line, n->col, "%s", msg);
    else
        diag_set(d, "%s", msg);
    return -1;
}

struct spec_node *spec_get(const struct spec_node *map, const char *key)
{
    if (!map || map->kind != SPEC_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->str, key) == 0)
            return map->items[i];
    return NULL;
}

bool spec_is_null(const struct spec_node *n)
{
    if (!n)
        return true;
    if (n->kind != SPEC_SCALAR || n->quoted)
        return false;
    const char *s = n->str;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

const char *spec_describe(const struct spec_node *n, char *buf, size_t size)
{
    if (!n || spec_is_null(n))
        snprintf(buf, size, "null");
    else if (n->kind == SPEC_MAP)
        snprintf(buf, size, "a map");
    else if (n->kind == SPEC_SEQ)
        snprintf(buf, size, "a list");
    else
        snprintf(buf, size, "'%.60s'", n->str);
    return buf;
}

static int expected(const struct spec_node *n, struct diag *d, const char *what)
{
    char buf[80];
    return spec_error(n, d, "expected %s, found %s", what, spec_describe(n, buf, sizeof buf));
}

int spec_bool(const struct spec_node *n, bool *out, struct diag *d)
{
    if (n && n->kind == SPEC_SCALAR && !n->quoted) {
        const char *s = n->str;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
            *out = true;
            return 0;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
            *out = false;
            return 0;
        }
    }
    return expected(n, d, "true or false");
}

bool parse_double(const char *s, double *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    /* strtod also takes hex ("0x1p3"); numbers in models and data are decimal. */
    if (strpbrk(s, "xX"))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || (errno == ERANGE && fabs(v) > 1))
        return false;
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (*end)
        return false;
    *out = v;
    return true;
}

bool parse_long(const char *s, long *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno == ERANGE)
        return false;
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (*end)
        return false;
    *out = v;
    return true;
}

/* A decimal number too large for a double (1e999): worth its own message. */
static bool overflows(const char *s)
{
    if (strpbrk(s, "xX"))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != ERANGE || fabs(v) <= 1)
        return false;
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    return !*end;
}

int spec_long(const struct spec_node *n, long *out, struct diag *d)
{
    if (n && n->kind == SPEC_SCALAR && !n->quoted) {
        if (parse_long(n->str, out))
            return 0;
        /* 10.0 is an integer to Python-written JSON readers too. */
        double v;
        if (parse_double(n->str, &v) && v == floor(v)) {
            if (fabs(v) < 1e15) {
                *out = (long)v;
                return 0;
            }
            return spec_error(n, d, "integer '%.60s' is out of range", n->str);
        }
        if (overflows(n->str))
            return spec_error(n, d, "integer '%.60s' is out of range", n->str);
    }
    return expected(n, d, "an integer");
}

int spec_double(const struct spec_node *n, double *out, struct diag *d)
{
    if (n && n->kind == SPEC_SCALAR && !n->quoted && parse_double(n->str, out)) {
        if (isfinite(*out))
            return 0;
        return spec_error(n, d, "'%s' is not a finite number", n->str);
    }
    if (n && n->kind == SPEC_SCALAR && !n->quoted && overflows(n->str))
        return spec_error(n, d, "number '%.60s' is out of range", n->str);
    return expected(n, d, "a number");
}

int spec_string(const struct spec_node *n, const char **out, struct diag *d)
{
    if (n && n->kind == SPEC_SCALAR && !spec_is_null(n)) {
        *out = n->str;
        return 0;
    }
    return expected(n, d, "a name");
}

int spec_check_keys(const struct spec_node *map, const char *const *allowed, size_t n_allowed,
                    const char *where, struct diag *d)
{
    if (!map || map->kind != SPEC_MAP)
        return expected(map, d, "a map");
    for (size_t i = 0; i < map->n; i++) {
        const char *key = map->keys[i]->str;
        size_t j = 0;
        while (j < n_allowed && strcmp(key, allowed[j]) != 0)
            j++;
        if (j < n_allowed)
            continue;
        const char *hint = diag_suggest(key, allowed, n_allowed);
        if (hint)
            return spec_error(map->keys[i], d, "unknown key '%s' in %s (did you mean '%s'?)", key,
                              where, hint);
        return spec_error(map->keys[i], d, "unknown key '%s' in %s", key, where);
    }
    return 0;
}

int spec_keras_object(const struct spec_node *n, const char *what,
                      const struct spec_node **name, const struct spec_node **args,
                      struct diag *d)
{
    *name = *args = NULL;
    if (n->kind == SPEC_SCALAR) {
        *name = n;
        return 0;
    }
    if (n->kind == SPEC_MAP && spec_get(n, "class_name")) {
        static const char *const keys[] = {"class_name", "config", "module", "registered_name"};
        if (spec_check_keys(n, keys, 4, what, d) < 0)
            return -1;
        *name = spec_get(n, "class_name");
        *args = spec_get(n, "config");
        return 0;
    }
    if (n->kind == SPEC_MAP && n->n == 1) {
        *name = n->keys[0];
        *args = n->items[0];
        return 0;
    }
    return 1;
}
