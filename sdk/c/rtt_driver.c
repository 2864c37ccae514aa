/* rtt_driver.c: the protocol-1 engine of rtt_driver.h (C99, POSIX).
 *
 * Checks run in the SDKs' one order: parameters parse (bad_request), a Tx has
 * a session (not_open), the epoch is not below the highest seen (stale_epoch;
 * a higher one is made durable first), the capability and hosts were granted
 * (capability_denied), then the transaction's state decides. The journal
 * (<root>/.rtt-driver/) holds epoch.json and txns/<txn>.json, each written
 * through a fsynced temporary, a rename and a directory fsync. */
#define _POSIX_C_SOURCE 200809L
#include "rtt_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- strings ------------------------------------------------------------- */

typedef struct sb {
    char *p;
    size_t n, cap;
} sb;

static void sb_put(sb *b, const char *s, size_t len) {
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *p = (char *)realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}
static void sb_puts(sb *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_printf(sb *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0) return;
    if ((size_t)len < sizeof small) {
        sb_put(b, small, (size_t)len);
        return;
    }
    char *big = (char *)malloc((size_t)len + 1);
    if (!big) abort();
    va_start(ap, fmt);
    vsnprintf(big, (size_t)len + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)len);
    free(big);
}
static char *sb_take(sb *b) {
    if (!b->p) sb_put(b, "", 0);
    char *p = b->p;
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *out = (char *)malloc((size_t)(len < 0 ? 0 : len) + 1);
    if (!out) abort();
    va_start(ap, fmt);
    vsnprintf(out, (size_t)(len < 0 ? 0 : len) + 1, fmt, ap);
    va_end(ap);
    return out;
}
static char *copy(const char *s) { return format("%s", s); }

/* --- JSON ------------------------------------------------------------------ */

typedef enum { JNULL, JFALSE, JTRUE, JNUM, JSTR, JARR, JOBJ } jkind;

typedef struct jv {
    jkind kind;
    char *str; /* JSTR: UTF-8, may hold NUL */
    size_t len;
    int is_uint; /* JNUM: a non-negative integer literal that fits uint64 */
    uint64_t u;
    struct jv *items; /* JARR, JOBJ values */
    char **keys;      /* JOBJ */
    size_t count;
} jv;

static void jv_free(jv *v) {
    if (!v) return;
    free(v->str);
    for (size_t i = 0; i < v->count; i++) {
        jv_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

/* The last member named key (a later duplicate wins), or NULL. */
static const jv *jv_get(const jv *obj, const char *key) {
    if (!obj || obj->kind != JOBJ) return NULL;
    for (size_t i = obj->count; i-- > 0;)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

typedef struct parser {
    const char *s, *end;
    const char *why;
} parser;

static void skip_space(parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int parse_value(parser *p, jv *out, int depth);

static void put_utf8(sb *b, uint32_t c) {
    char u[4];
    if (c < 0x80) {
        u[0] = (char)c;
        sb_put(b, u, 1);
    } else if (c < 0x800) {
        u[0] = (char)(0xC0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3F));
        sb_put(b, u, 2);
    } else if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (char)(0x80 | (c & 0x3F));
        sb_put(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (char)(0x80 | (c & 0x3F));
        sb_put(b, u, 4);
    }
}

static int hex4(parser *p, uint32_t *out) {
    if (p->end - p->s < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    p->s += 4;
    *out = v;
    return 0;
}

static int parse_string(parser *p, char **str, size_t *len) {
    sb b = {0};
    p->s++; /* the opening quote */
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) {
            p->why = "control character in a string";
            free(b.p);
            return -1;
        }
        if (c != '\\') {
            sb_put(&b, p->s++, 1);
            continue;
        }
        p->s++;
        if (p->s >= p->end) break;
        char e = *p->s++;
        uint32_t cp;
        switch (e) {
            case '"': sb_puts(&b, "\""); break;
            case '\\': sb_puts(&b, "\\"); break;
            case '/': sb_puts(&b, "/"); break;
            case 'b': sb_puts(&b, "\b"); break;
            case 'f': sb_puts(&b, "\f"); break;
            case 'n': sb_puts(&b, "\n"); break;
            case 'r': sb_puts(&b, "\r"); break;
            case 't': sb_puts(&b, "\t"); break;
            case 'u':
                if (hex4(p, &cp) != 0) goto bad_escape;
                if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
                    uint32_t low;
                    p->s += 2;
                    if (hex4(p, &low) != 0 || low < 0xDC00 || low >= 0xE000) goto bad_escape;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                put_utf8(&b, cp);
                break;
            default:
            bad_escape:
                p->why = "bad escape in a string";
                free(b.p);
                return -1;
        }
    }
    if (p->s >= p->end) {
        p->why = "unterminated string";
        free(b.p);
        return -1;
    }
    p->s++;
    *len = b.n;
    *str = sb_take(&b);
    return 0;
}

static int parse_number(parser *p, jv *out) {
    const char *start = p->s;
    int negative = 0, integer = 1;
    if (*p->s == '-') negative = 1, p->s++;
    if (p->s < p->end && *p->s == '0') p->s++;
    else if (p->s < p->end && *p->s >= '1' && *p->s <= '9')
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    else return p->why = "bad number", -1;
    if (p->s < p->end && *p->s == '.') {
        integer = 0;
        p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return p->why = "bad fraction", -1;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        integer = 0;
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-')) p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return p->why = "bad exponent", -1;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    out->kind = JNUM;
    if (integer && !negative) {
        uint64_t u = 0;
        int fits = 1;
        for (const char *c = start; c < p->s; c++) {
            uint64_t digit = (uint64_t)(*c - '0');
            if (u > (UINT64_MAX - digit) / 10) fits = 0;
            u = u * 10 + digit;
        }
        out->is_uint = fits;
        out->u = u;
    }
    return 0;
}

static int parse_list(parser *p, jv *out, int depth, int object) {
    char close = object ? '}' : ']';
    size_t cap = 0;
    out->kind = object ? JOBJ : JARR;
    p->s++;
    skip_space(p);
    if (p->s < p->end && *p->s == close) return p->s++, 0;
    for (;;) {
        if (out->count == cap) {
            cap = cap ? cap * 2 : 4;
            jv *items = (jv *)realloc(out->items, cap * sizeof *items);
            if (!items) abort();
            out->items = items;
            if (object) {
                char **keys = (char **)realloc(out->keys, cap * sizeof *keys);
                if (!keys) abort();
                out->keys = keys;
            }
        }
        jv *item = &out->items[out->count];
        memset(item, 0, sizeof *item);
        skip_space(p);
        if (object) {
            size_t len;
            if (p->s >= p->end || *p->s != '"') return p->why = "expected a member name", -1;
            if (parse_string(p, &out->keys[out->count], &len) != 0) return -1;
            out->count++;
            skip_space(p);
            if (p->s >= p->end || *p->s != ':') return p->why = "expected ':'", -1;
            p->s++;
            skip_space(p);
        } else {
            out->count++;
        }
        if (parse_value(p, item, depth + 1) != 0) return -1;
        skip_space(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) return p->s++, 0;
        return p->why = object ? "expected ',' or '}'" : "expected ',' or ']'", -1;
    }
}

static int literal(parser *p, const char *word, jkind kind, jv *out) {
    size_t len = strlen(word);
    if ((size_t)(p->end - p->s) < len || memcmp(p->s, word, len) != 0) return p->why = "unexpected word", -1;
    p->s += len;
    out->kind = kind;
    return 0;
}

static int parse_value(parser *p, jv *out, int depth) {
    if (depth > 512) return p->why = "nested too deeply", -1;
    if (p->s >= p->end) return p->why = "unexpected end", -1;
    switch (*p->s) {
        case '{': return parse_list(p, out, depth, 1);
        case '[': return parse_list(p, out, depth, 0);
        case '"': out->kind = JSTR; return parse_string(p, &out->str, &out->len);
        case 't': return literal(p, "true", JTRUE, out);
        case 'f': return literal(p, "false", JFALSE, out);
        case 'n': return literal(p, "null", JNULL, out);
        default:
            if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9')) return parse_number(p, out);
            return p->why = "unexpected character", -1;
    }
}

/* Parses exactly one JSON value; on failure *why says what was wrong. */
static int json_parse(const char *text, size_t len, jv *out, const char **why) {
    parser p = {text, text + len, NULL};
    memset(out, 0, sizeof *out);
    skip_space(&p);
    if (parse_value(&p, out, 0) == 0) {
        skip_space(&p);
        if (p.s == p.end) return 0;
        p.why = "trailing characters";
    }
    jv_free(out);
    *why = p.why;
    return -1;
}

static void json_string(sb *b, const char *s, size_t len) {
    sb_puts(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') sb_puts(b, "\\\"");
        else if (c == '\\') sb_puts(b, "\\\\");
        else if (c == '\n') sb_puts(b, "\\n");
        else if (c == '\r') sb_puts(b, "\\r");
        else if (c == '\t') sb_puts(b, "\\t");
        else if (c < 0x20) sb_printf(b, "\\u%04x", c);
        else sb_put(b, (const char *)&s[i], 1);
    }
    sb_puts(b, "\"");
}
static void json_cstring(sb *b, const char *s) { json_string(b, s, strlen(s)); }

/* Whether bytes are well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
        else return 0;
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp < 0xE000)) return 0;
        i += n + 1;
    }
    return 1;
}

/* --- durable files ------------------------------------------------------------ */

static char *errno_message(const char *what, const char *path) { return format("%s %s: %s", what, path, strerror(errno)); }

static int sync_path(const char *path, char **error) {
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        *error = errno_message("cannot fsync", path);
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int write_synced(const char *path, const char *bytes, size_t len, char **error) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return *error = errno_message("cannot write", path), -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            *error = errno_message("cannot write", path);
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    if (fsync(fd) != 0) {
        *error = errno_message("cannot fsync", path);
        close(fd);
        return -1;
    }
    return close(fd);
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? format("%.*s", (int)(slash - path), path) : copy(".");
}

static int write_atomic(const char *path, const char *text, char **error) {
    char *dir = dir_of(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *temp = format("%s/.%s.tmp.%ld", dir, base, (long)getpid());
    int rc = write_synced(temp, text, strlen(text), error);
    if (rc == 0 && rename(temp, path) != 0) rc = -1, *error = errno_message("cannot rename", temp);
    if (rc == 0) rc = sync_path(dir, error);
    free(temp);
    free(dir);
    return rc;
}

/* Reads and parses a JSON file: 1 when read, 0 when missing, -1 on an error. */
static int read_json(const char *path, jv *out, char **error) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        return *error = errno_message("cannot read", path), -1;
    }
    sb text = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) sb_put(&text, chunk, n);
    fclose(f);
    const char *why = NULL;
    int rc = json_parse(text.p ? text.p : "", text.n, out, &why);
    free(text.p);
    if (rc != 0) return *error = format("corrupt %s: %s", path, why), -1;
    return 1;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int mkdir_p(const char *path, char **error) {
    if (is_dir(path)) return 0;
    char *parent = dir_of(path);
    int rc = strcmp(parent, path) != 0 && strcmp(parent, ".") != 0 && parent[0] ? mkdir_p(parent, error) : 0;
    free(parent);
    if (rc == 0 && mkdir(path, 0755) != 0 && errno != EEXIST) rc = -1, *error = errno_message("cannot create", path);
    return rc;
}

/* --- placements ------------------------------------------------------------------ */

static int placement_cmp(const void *a, const void *b) {
    const rtt_placement *x = (const rtt_placement *)a, *y = (const rtt_placement *)b;
    int c = strcmp(x->agent, y->agent);
    if (c) return c;
    if (x->numa != y->numa) return x->numa < y->numa ? -1 : 1;
    if (x->replicas != y->replicas) return x->replicas < y->replicas ? -1 : 1;
    return 0;
}

static void placements_json(sb *b, const rtt_placement *rows, size_t count) {
    sb_puts(b, "[");
    for (size_t i = 0; i < count; i++) {
        sb_puts(b, i ? ",{\"agent\":" : "{\"agent\":");
        json_cstring(b, rows[i].agent);
        sb_printf(b, ",\"numa\":%lu,\"replicas\":%lu}", (unsigned long)rows[i].numa, (unsigned long)rows[i].replicas);
    }
    sb_puts(b, "]");
}

static void free_placements(rtt_placement *rows, size_t count) {
    for (size_t i = 0; i < count; i++) free(rows[i].agent);
    free(rows);
}

/* --- the dir backend ----------------------------------------------------------------- */

static char *staged(const char *root, const char *host, const char *txn) {
    return format("%s/%s/placements.json.%s", root, host, txn);
}

static int dir_stage(void *state, const char *txn, const char *plan, const rtt_host *hosts, size_t count, char **reason,
                     char **error) {
    const char *root = (const char *)state;
    (void)reason;
    for (size_t i = 0; i < count; i++) {
        char *dir = format("%s/%s", root, hosts[i].name);
        int rc = 0;
        if (!is_dir(dir)) rc = mkdir_p(dir, error) || sync_path(root, error);
        if (rc == 0) {
            sb text = {0};
            sb_puts(&text, "{\"plan\":");
            json_cstring(&text, plan);
            sb_puts(&text, ",\"placements\":");
            placements_json(&text, hosts[i].rows, hosts[i].count);
            sb_puts(&text, "}\n");
            char *path = staged(root, hosts[i].name, txn);
            rc = write_synced(path, text.p, text.n, error);
            if (rc == 0) rc = sync_path(dir, error);
            free(path);
            free(text.p);
        }
        free(dir);
        if (rc != 0) return -1;
    }
    return 0;
}

static int dir_switch(const char *root, const char *txn, char *const *hosts, size_t count, int commit, char **error) {
    for (size_t i = 0; i < count; i++) {
        char *from = staged(root, hosts[i], txn);
        char *dir = format("%s/%s", root, hosts[i]);
        char *to = format("%s/placements.json", dir);
        int rc = 0;
        /* Gone: renamed by a commit (or dropped by an abort) that crashed before its record. */
        if (exists(from)) {
            if (commit ? rename(from, to) != 0 : unlink(from) != 0) rc = -1, *error = errno_message("cannot switch", from);
            else rc = sync_path(dir, error);
        }
        free(from);
        free(dir);
        free(to);
        if (rc != 0) return -1;
    }
    return 0;
}

static int dir_commit(void *state, const char *txn, char *const *hosts, size_t count, char **error) {
    return dir_switch((const char *)state, txn, hosts, count, 1, error);
}

static int dir_abort(void *state, const char *txn, char *const *hosts, size_t count, char **error) {
    return dir_switch((const char *)state, txn, hosts, count, 0, error);
}

static int dir_read(void *state, const char *host, rtt_placement **rows, size_t *count, char **error) {
    char *path = format("%s/%s/placements.json", (const char *)state, host);
    jv file;
    int found = read_json(path, &file, error);
    free(path);
    *rows = NULL;
    *count = 0;
    if (found <= 0) return found;
    const jv *list = jv_get(&file, "placements");
    if (list && list->kind == JARR && list->count) {
        *rows = (rtt_placement *)calloc(list->count, sizeof **rows);
        for (size_t i = 0; i < list->count; i++) {
            const jv *agent = jv_get(&list->items[i], "agent"), *numa = jv_get(&list->items[i], "numa"),
                     *replicas = jv_get(&list->items[i], "replicas");
            (*rows)[i].agent = copy(agent && agent->kind == JSTR ? agent->str : "");
            (*rows)[i].numa = numa ? (uint32_t)numa->u : 0;
            (*rows)[i].replicas = replicas ? (uint32_t)replicas->u : 0;
        }
        *count = list->count;
    }
    jv_free(&file);
    return 0;
}

static int dir_healthy(void *state) { return is_dir((const char *)state); }

rtt_backend rtt_dir_backend(const char *root) {
    rtt_backend b = {(void *)root, dir_stage, dir_commit, dir_abort, dir_read, dir_healthy};
    return b;
}

/* --- the engine ------------------------------------------------------------------------ */

struct rtt_driver {
    char *name;
    char *journal;
    uint64_t epoch;
    rtt_backend backend;
    int open;
    char *plan;
    jv capabilities; /* JARR of JSTR */
    jv hosts;        /* JARR of JSTR */
};

typedef struct refusal {
    const char *code;
    char *message;
} refusal;

static int refuse(refusal *r, const char *code, char *message) {
    r->code = code;
    r->message = message;
    return -1;
}
static int bad(refusal *r, char *message) { return refuse(r, "bad_request", message); }
static int internal(refusal *r, char *message) { return refuse(r, "internal", message); }

static int is_safe(const char *s, size_t len) {
    if (len == 0 || len > 128 || strlen(s) != len) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 (c == '.' && i > 0);
        if (!ok) return 0;
    }
    return 1;
}

static int want_string(const jv *params, const char *key, const jv **out, refusal *r) {
    *out = jv_get(params, key);
    if (!*out || (*out)->kind != JSTR) return bad(r, format("`%s` must be a string", key));
    return 0;
}

static int want_epoch(const jv *params, uint64_t *epoch, refusal *r) {
    const jv *v = jv_get(params, "epoch");
    if (!v || v->kind != JNUM || !v->is_uint) return bad(r, copy("`epoch` must be a non-negative integer"));
    *epoch = v->u;
    return 0;
}

static int want_strings(const jv *params, const char *key, const char *safe_what, const jv **out, refusal *r) {
    *out = jv_get(params, key);
    if (!*out || (*out)->kind != JARR) return bad(r, format("`%s` must be an array of strings", key));
    for (size_t i = 0; i < (*out)->count; i++) {
        const jv *item = &(*out)->items[i];
        if (item->kind != JSTR) return bad(r, format("`%s` must be an array of strings", key));
        if (safe_what && !is_safe(item->str, item->len))
            return bad(r, format("%s \"%s\" is not a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{0,127})", safe_what, item->str));
    }
    return 0;
}

static int has_string(const jv *list, const char *s) {
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].str, s) == 0) return 1;
    return 0;
}

static void jv_copy_strings(jv *to, const jv *from) {
    jv_free(to);
    to->kind = JARR;
    to->count = from->count;
    to->items = (jv *)calloc(from->count ? from->count : 1, sizeof *to->items);
    for (size_t i = 0; i < from->count; i++) {
        to->items[i].kind = JSTR;
        to->items[i].str = copy(from->items[i].str);
        to->items[i].len = from->items[i].len;
    }
}

static int fence(rtt_driver *d, uint64_t epoch, refusal *r) {
    if (epoch < d->epoch)
        return refuse(r, "stale_epoch",
                      format("epoch %llu is below %llu: a newer coordinator has taken over", (unsigned long long)epoch,
                             (unsigned long long)d->epoch));
    if (epoch > d->epoch) {
        char *path = format("%s/epoch.json", d->journal), *text = format("{\"epoch\":%llu}\n", (unsigned long long)epoch);
        char *error = NULL;
        int rc = write_atomic(path, text, &error);
        free(path);
        free(text);
        if (rc != 0) return internal(r, error);
        d->epoch = epoch;
    }
    return 0;
}

static int granted(rtt_driver *d, const char *host, refusal *r) {
    if (!has_string(&d->hosts, host)) return refuse(r, "capability_denied", format("host `%s` was not granted", host));
    return 0;
}

static int host_cmp(const void *a, const void *b) { return strcmp(((const rtt_host *)a)->name, ((const rtt_host *)b)->name); }

static void free_hosts(rtt_host *hosts, size_t count) {
    for (size_t i = 0; i < count; i++) free_placements(hosts[i].rows, hosts[i].count);
    free(hosts);
}

/* The prepare's hosts, checked and sorted (names borrowed from params). */
static int want_placements(const jv *params, rtt_host **out, size_t *count, refusal *r) {
    const jv *hosts = jv_get(params, "hosts");
    if (!hosts || hosts->kind != JOBJ) return bad(r, copy("`hosts` must be an object"));
    rtt_host *list = (rtt_host *)calloc(hosts->count ? hosts->count : 1, sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < hosts->count; i++) {
        const char *name = hosts->keys[i];
        /* A later duplicate key wins, as in every other reader. */
        if (jv_get(hosts, name) != &hosts->items[i]) continue;
        const jv *rows = &hosts->items[i];
        int rc = 0;
        if (!is_safe(name, strlen(name)))
            rc = bad(r, format("host \"%s\" is not a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{0,127})", name));
        else if (rows->kind != JARR) rc = bad(r, format("placements of %s must be an array", name));
        if (rc != 0) {
            free_hosts(list, n);
            return -1;
        }
        list[n].name = (char *)name;
        list[n].rows = (rtt_placement *)calloc(rows->count ? rows->count : 1, sizeof *list[n].rows);
        for (size_t k = 0; k < rows->count; k++) {
            const jv *agent = jv_get(&rows->items[k], "agent"), *numa = jv_get(&rows->items[k], "numa"),
                     *replicas = jv_get(&rows->items[k], "replicas");
            if (rows->items[k].kind != JOBJ || !agent || agent->kind != JSTR || strlen(agent->str) != agent->len || !numa ||
                numa->kind != JNUM || !numa->is_uint || numa->u > UINT32_MAX || !replicas || replicas->kind != JNUM ||
                !replicas->is_uint || replicas->u > UINT32_MAX) {
                list[n].count = k;
                free_hosts(list, n + 1);
                return bad(r, format("a placement of %s must be {\"agent\": string, \"numa\": integer >= 0, \"replicas\": "
                                     "integer >= 0}",
                                     name));
            }
            list[n].rows[k].agent = copy(agent->str);
            list[n].rows[k].numa = (uint32_t)numa->u;
            list[n].rows[k].replicas = (uint32_t)replicas->u;
        }
        list[n].count = rows->count;
        qsort(list[n].rows, list[n].count, sizeof *list[n].rows, placement_cmp);
        n++;
    }
    qsort(list, n, sizeof *list, host_cmp);
    *out = list;
    *count = n;
    return 0;
}

static void record_json(sb *b, const char *state, const char *plan, char *const *hosts, size_t count) {
    sb_printf(b, "{\"state\":\"%s\",\"plan\":", state);
    json_cstring(b, plan);
    sb_puts(b, ",\"hosts\":[");
    for (size_t i = 0; i < count; i++) {
        if (i) sb_puts(b, ",");
        json_cstring(b, hosts[i]);
    }
    sb_puts(b, "]}\n");
}

static int save(rtt_driver *d, const char *txn, const char *state, const char *plan, char *const *hosts, size_t count,
                refusal *r) {
    sb text = {0};
    record_json(&text, state, plan, hosts, count);
    char *path = format("%s/txns/%s.json", d->journal, txn), *error = NULL;
    int rc = write_atomic(path, text.p, &error);
    free(path);
    free(text.p);
    return rc == 0 ? 0 : internal(r, error);
}

static int tx(rtt_driver *d, const jv *params, sb *result, refusal *r) {
    const jv *phase, *txn;
    uint64_t epoch;
    rtt_host *hosts = NULL;
    size_t nhosts = 0;
    if (want_string(params, "phase", &phase, r) || want_epoch(params, &epoch, r) || want_string(params, "txn", &txn, r))
        return -1;
    if (!is_safe(txn->str, txn->len))
        return bad(r, format("txn \"%s\" is not a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{0,127})", txn->str));
    int prepare = strcmp(phase->str, "prepare") == 0, commit = strcmp(phase->str, "commit") == 0;
    if (!prepare && !commit && strcmp(phase->str, "abort") != 0)
        return bad(r, format("`phase` must be \"prepare\", \"commit\" or \"abort\", not \"%s\"", phase->str));
    if (prepare && want_placements(params, &hosts, &nhosts, r) != 0) return -1;
    int rc = 0;
    char *error = NULL;
    char *path = format("%s/txns/%s.json", d->journal, txn->str);
    jv record = {0};
    int found = 0;
    if (!d->open) rc = refuse(r, "not_open", copy("Tx before Open"));
    if (rc == 0) rc = fence(d, epoch, r);
    if (rc == 0 && !has_string(&d->capabilities, RTT_PLACEMENTS_WRITE))
        rc = refuse(r, "capability_denied", copy("`" RTT_PLACEMENTS_WRITE "` was not granted"));
    if (rc == 0 && (found = read_json(path, &record, &error)) < 0) rc = internal(r, error);
    const jv *state_v = found ? jv_get(&record, "state") : NULL;
    const char *state = state_v && state_v->kind == JSTR ? state_v->str : NULL;
    const jv *record_hosts = found ? jv_get(&record, "hosts") : NULL;
    size_t nrecorded = record_hosts && record_hosts->kind == JARR ? record_hosts->count : 0;
    char **recorded = (char **)calloc(nrecorded ? nrecorded : 1, sizeof *recorded);
    for (size_t i = 0; i < nrecorded; i++) recorded[i] = record_hosts->items[i].kind == JSTR ? record_hosts->items[i].str : (char *)"";
    const jv *plan_v = found ? jv_get(&record, "plan") : NULL;
    const char *recorded_plan = plan_v && plan_v->kind == JSTR ? plan_v->str : "";
    if (rc == 0 && prepare) {
        char **names = (char **)calloc(nhosts ? nhosts : 1, sizeof *names);
        for (size_t i = 0; i < nhosts; i++) names[i] = hosts[i].name;
        for (size_t i = 0; rc == 0 && i < nhosts; i++) rc = granted(d, hosts[i].name, r);
        if (rc == 0 && state && strcmp(state, "prepared") == 0) {
            sb_puts(result, "{\"vote\":\"yes\"}");
        } else if (rc == 0 && state && (strcmp(state, "committed") == 0 || strcmp(state, "aborted") == 0)) {
            rc = refuse(r, "txn_conflict", format("transaction %s is already %s", txn->str, state));
        } else if (rc == 0) {
            char *reason = NULL;
            rc = save(d, txn->str, "preparing", d->plan, names, nhosts, r);
            if (rc == 0 && d->backend.stage(d->backend.state, txn->str, d->plan, hosts, nhosts, &reason, &error) != 0)
                rc = internal(r, error);
            if (rc == 0 && reason) {
                sb_puts(result, "{\"vote\":\"no\",\"reason\":");
                json_cstring(result, reason);
                sb_puts(result, "}");
            } else if (rc == 0 && (rc = save(d, txn->str, "prepared", d->plan, names, nhosts, r)) == 0) {
                sb_puts(result, "{\"vote\":\"yes\"}");
            }
            free(reason);
        }
        free(names);
    } else if (rc == 0 && commit) {
        if (!state || strcmp(state, "preparing") == 0)
            rc = refuse(r, "unknown_txn", format("transaction %s was never prepared here", txn->str));
        else if (strcmp(state, "aborted") == 0)
            rc = refuse(r, "txn_conflict", format("transaction %s was aborted", txn->str));
        else if (strcmp(state, "committed") != 0) {
            if (d->backend.commit(d->backend.state, txn->str, recorded, nrecorded, &error) != 0) rc = internal(r, error);
            if (rc == 0) rc = save(d, txn->str, "committed", recorded_plan, recorded, nrecorded, r);
        }
        if (rc == 0) sb_puts(result, "{}");
    } else if (rc == 0) {
        /* Never prepared here: record the abort, so a late prepare cannot stage. */
        if (state && strcmp(state, "committed") == 0)
            rc = refuse(r, "txn_conflict", format("transaction %s was committed", txn->str));
        else if (!state || strcmp(state, "aborted") != 0) {
            if (d->backend.abort(d->backend.state, txn->str, recorded, nrecorded, &error) != 0) rc = internal(r, error);
            if (rc == 0) rc = save(d, txn->str, "aborted", recorded_plan, recorded, nrecorded, r);
        }
        if (rc == 0) sb_puts(result, "{}");
    }
    free(recorded);
    jv_free(&record);
    free(path);
    free_hosts(hosts, nhosts);
    return rc;
}

static int rx(rtt_driver *d, const jv *params, sb *result, refusal *r) {
    const jv *hosts;
    if (want_strings(params, "hosts", "host", &hosts, r) != 0) return -1;
    for (size_t i = 0; d->open && i < hosts->count; i++)
        if (granted(d, hosts->items[i].str, r) != 0) return -1;
    sb out = {0};
    sb_puts(&out, "{\"hosts\":{");
    for (size_t i = 0; i < hosts->count; i++) {
        rtt_placement *rows = NULL;
        size_t count = 0;
        char *error = NULL;
        if (d->backend.read(d->backend.state, hosts->items[i].str, &rows, &count, &error) != 0) {
            free(out.p);
            return internal(r, error);
        }
        if (count) qsort(rows, count, sizeof *rows, placement_cmp);
        if (i) sb_puts(&out, ",");
        json_cstring(&out, hosts->items[i].str);
        sb_puts(&out, ":");
        placements_json(&out, rows, count);
        free_placements(rows, count);
    }
    sb_puts(&out, "}}");
    sb_put(result, out.p, out.n);
    free(out.p);
    return 0;
}

static int handle(rtt_driver *d, const char *method, const jv *params, sb *result, refusal *r) {
    if (strcmp(method, "Probe") == 0) {
        sb_puts(result, "{\"protocol\":1,\"name\":");
        json_cstring(result, d->name);
        sb_printf(result, ",\"capabilities\":[\"" RTT_PLACEMENTS_WRITE "\"],\"epoch\":%llu}", (unsigned long long)d->epoch);
        return 0;
    }
    if (strcmp(method, "Open") == 0) {
        const jv *plan, *capabilities, *hosts;
        uint64_t epoch;
        if (want_string(params, "plan", &plan, r) || want_epoch(params, &epoch, r) ||
            want_strings(params, "capabilities", NULL, &capabilities, r) || want_strings(params, "hosts", "host", &hosts, r) ||
            fence(d, epoch, r))
            return -1;
        free(d->plan);
        d->plan = copy(plan->str);
        jv_copy_strings(&d->capabilities, capabilities);
        jv_copy_strings(&d->hosts, hosts);
        d->open = 1;
        sb_puts(result, "{}");
        return 0;
    }
    if (strcmp(method, "Tx") == 0) return tx(d, params, result, r);
    if (strcmp(method, "Rx") == 0) return rx(d, params, result, r);
    if (strcmp(method, "Health") == 0) {
        sb_puts(result, d->backend.healthy && !d->backend.healthy(d->backend.state) ? "{\"ok\":false}" : "{\"ok\":true}");
        return 0;
    }
    sb_puts(result, "{}"); /* Close */
    return 0;
}

/* The response line to one request line; *close when it was Close. */
static char *respond(rtt_driver *d, const char *line, size_t len, int *close) {
    static const char *methods[] = {"Probe", "Open", "Tx", "Rx", "Health", "Close"};
    sb out = {0}, result = {0};
    refusal r = {NULL, NULL};
    jv request;
    const char *why = NULL, *id = "";
    *close = 0;
    int parsed = json_parse(line, len, &request, &why) == 0;
    if (!parsed) {
        bad(&r, format("not JSON: %s", why));
    } else {
        const jv *idv = jv_get(&request, "id"), *method = jv_get(&request, "method"), *params = jv_get(&request, "params");
        if (request.kind != JOBJ) bad(&r, copy("a request must be a JSON object"));
        else if (!idv || idv->kind != JSTR) bad(&r, copy("`id` must be a string"));
        else {
            id = idv->str;
            if (!method || method->kind != JSTR) bad(&r, copy("`method` must be a string"));
            else if (!params || params->kind != JOBJ) bad(&r, copy("`params` must be an object"));
            else {
                int known = 0;
                for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) known |= strcmp(method->str, methods[i]) == 0;
                if (!known) refuse(&r, "unknown_method", format("unknown method \"%s\"", method->str));
                else if (handle(d, method->str, params, &result, &r) == 0) *close = strcmp(method->str, "Close") == 0;
            }
        }
    }
    sb_puts(&out, "{\"id\":");
    json_cstring(&out, id);
    if (r.code) {
        sb_puts(&out, ",\"result\":null,\"error\":{\"code\":");
        json_cstring(&out, r.code);
        sb_puts(&out, ",\"message\":");
        json_cstring(&out, r.message ? r.message : "");
        sb_puts(&out, "}}\n");
    } else {
        sb_puts(&out, ",\"result\":");
        sb_put(&out, result.p, result.n);
        sb_puts(&out, ",\"error\":null}\n");
    }
    free(r.message);
    free(result.p);
    if (parsed) jv_free(&request);
    return sb_take(&out);
}

rtt_driver *rtt_driver_open(const char *name, const char *root, rtt_backend backend, char **error) {
    rtt_driver *d = (rtt_driver *)calloc(1, sizeof *d);
    d->name = copy(name);
    d->journal = format("%s/.rtt-driver", root);
    d->backend = backend;
    d->capabilities.kind = d->hosts.kind = JARR;
    char *txns = format("%s/txns", d->journal), *path = format("%s/epoch.json", d->journal);
    jv saved;
    int found = mkdir_p(txns, error) == 0 ? read_json(path, &saved, error) : -1;
    free(txns);
    free(path);
    if (found < 0) {
        rtt_driver_free(d);
        return NULL;
    }
    if (found) {
        const jv *epoch = jv_get(&saved, "epoch");
        d->epoch = epoch && epoch->is_uint ? epoch->u : 0;
        jv_free(&saved);
    }
    return d;
}

void rtt_driver_free(rtt_driver *d) {
    if (!d) return;
    free(d->name);
    free(d->journal);
    free(d->plan);
    jv_free(&d->capabilities);
    jv_free(&d->hosts);
    free(d);
}

int rtt_driver_serve(rtt_driver *d, FILE *in, FILE *out, char **error) {
    sb line = {0};
    for (;;) {
        int c = getc(in);
        if (c == EOF) {
            if (line.n == 0) break;
            *error = format("input ended inside a line (%zu bytes without a newline)", line.n);
            free(line.p);
            return 1;
        }
        if (c != '\n') {
            if (line.n == RTT_MAX_LINE) {
                *error = format("request line longer than %u bytes", RTT_MAX_LINE);
                free(line.p);
                return 1;
            }
            char byte = (char)c;
            sb_put(&line, &byte, 1);
            continue;
        }
        if (!utf8_valid((const unsigned char *)(line.p ? line.p : ""), line.n)) {
            *error = copy("request line is not UTF-8");
            free(line.p);
            return 1;
        }
        int close = 0;
        char *response = respond(d, line.p ? line.p : "", line.n, &close);
        fputs(response, out);
        fflush(out);
        free(response);
        line.n = 0;
        if (close) break;
    }
    free(line.p);
    return 0;
}

const char *rtt_root_from_env(const char *name, int argc, char **argv) {
    static char *fallback;
    const char *root = getenv("RTT_DRIVER_ROOT");
    if (root && *root) return root;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--root") == 0) return argv[i + 1];
    free(fallback);
    fallback = format(".rtt/drivers/%s", name);
    return fallback;
}

int rtt_run(const char *name, const char *root, rtt_backend backend) {
    char *error = NULL;
    rtt_driver *d = rtt_driver_open(name, root, backend, &error);
    if (!d) {
        fprintf(stderr, "%s: cannot start: %s\n", name, error ? error : "?");
        free(error);
        return 1;
    }
    int rc = rtt_driver_serve(d, stdin, stdout, &error);
    if (rc != 0) fprintf(stderr, "%s: stopping: %s\n", name, error);
    free(error);
    rtt_driver_free(d);
    return rc;
}
