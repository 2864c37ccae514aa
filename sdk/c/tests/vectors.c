/* The shared protocol-1 vectors (sdk/vectors, README there) against this
 * SDK, in process: each segment's input is fed through rtt_driver_serve on
 * memory streams. It includes rtt_driver.c to reuse its JSON reader.
 *
 *   cc -std=c99 -o vectors tests/vectors.c && ./vectors ../vectors */
#define _GNU_SOURCE
#include "../rtt_driver.c"

#include <dirent.h>

static int failures;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, __VA_ARGS__);                 \
            fputc('\n', stderr);                          \
            failures++;                                   \
            return;                                       \
        }                                                 \
    } while (0)

/* Equal JSON values, except that an expected error {"code": C} matches any error with code C and a message. */
static int matches(const jv *e, const jv *a) {
    if (e->kind != a->kind) return 0;
    switch (e->kind) {
        case JSTR: return e->len == a->len && memcmp(e->str, a->str, e->len) == 0;
        case JNUM: return e->is_uint == a->is_uint && e->u == a->u;
        case JARR:
            if (e->count != a->count) return 0;
            for (size_t i = 0; i < e->count; i++)
                if (!matches(&e->items[i], &a->items[i])) return 0;
            return 1;
        case JOBJ: {
            if (e->count == 1 && strcmp(e->keys[0], "code") == 0) {
                const jv *code = jv_get(a, "code"), *message = jv_get(a, "message");
                return a->count == 2 && code && matches(&e->items[0], code) && message && message->kind == JSTR && message->len > 0;
            }
            if (e->count != a->count) return 0;
            for (size_t i = 0; i < e->count; i++) {
                const jv *other = jv_get(a, e->keys[i]);
                if (!other || !matches(&e->items[i], other)) return 0;
            }
            return 1;
        }
        default: return 1;
    }
}

/* Compact JSON of a parsed value (requests are re-encoded to be sent). */
static void encode(sb *b, const jv *v) {
    switch (v->kind) {
        case JNULL: sb_puts(b, "null"); break;
        case JTRUE: sb_puts(b, "true"); break;
        case JFALSE: sb_puts(b, "false"); break;
        case JSTR: json_string(b, v->str, v->len); break;
        case JNUM:
            if (v->is_uint) sb_printf(b, "%llu", (unsigned long long)v->u);
            else sb_puts(b, "-1"); /* the vectors' only other numbers are -1 and 6.5 */
            break;
        case JARR:
            sb_puts(b, "[");
            for (size_t i = 0; i < v->count; i++) {
                if (i) sb_puts(b, ",");
                encode(b, &v->items[i]);
            }
            sb_puts(b, "]");
            break;
        case JOBJ:
            sb_puts(b, "{");
            for (size_t i = 0; i < v->count; i++) {
                if (i) sb_puts(b, ",");
                json_cstring(b, v->keys[i]);
                sb_puts(b, ":");
                encode(b, &v->items[i]);
            }
            sb_puts(b, "}");
            break;
    }
}

static void run_segment(const char *file, const char *root, int index, sb *input, const jv **expected, size_t count, int oversized) {
    char *error = NULL, *output = NULL;
    size_t output_len = 0;
    rtt_driver *d = rtt_driver_open("vectors", root, rtt_dir_backend(root), &error);
    CHECK(d, "%s: cannot open: %s", file, error);
    FILE *in = fmemopen(input->p ? input->p : (char *)"", input->n, "r");
    FILE *out = open_memstream(&output, &output_len);
    int rc = rtt_driver_serve(d, in, out, &error);
    fclose(in);
    fclose(out);
    rtt_driver_free(d);
    free(error);
    CHECK(rc == oversized, "%s: segment %d ended with %d", file, index, rc);
    size_t line = 0;
    char *at = output;
    while (at && *at) {
        char *newline = strchr(at, '\n');
        CHECK(newline, "%s: a response without a newline", file);
        jv actual;
        const char *why;
        CHECK(json_parse(at, (size_t)(newline - at), &actual, &why) == 0, "%s: not JSON: %.*s", file, (int)(newline - at), at);
        CHECK(line < count, "%s: segment %d: more responses than due: %s", file, index, output);
        int ok = actual.kind == JOBJ && actual.count == 3 && strcmp(actual.keys[0], "id") == 0 &&
                 strcmp(actual.keys[1], "result") == 0 && strcmp(actual.keys[2], "error") == 0 && matches(expected[line], &actual);
        jv_free(&actual);
        CHECK(ok, "%s: segment %d, response %zu differs: %.*s", file, index, line, (int)(newline - at), at);
        line++;
        at = newline + 1;
    }
    free(output);
    CHECK(line == count, "%s: segment %d: %zu responses, %zu due", file, index, line, count);
}

static void run_vector(const char *dir, const char *name) {
    char *file = format("%s/%s", dir, name), *error = NULL;
    jv vector;
    if (read_json(file, &vector, &error) != 1) {
        fprintf(stderr, "%s: %s\n", file, error);
        failures++;
        return;
    }
    char root_template[] = "/tmp/rtt-c-vectors-XXXXXX";
    char *root = mkdtemp(root_template);
    const jv *steps = jv_get(&vector, "steps");
    sb input = {0};
    const jv **expected = (const jv **)calloc(steps->count + 1, sizeof *expected);
    size_t count = 0;
    int index = 0, oversized = 0;
    for (size_t i = 0; i < steps->count; i++) {
        const jv *step = &steps->items[i];
        if (jv_get(step, "restart")) {
            run_segment(file, root, index++, &input, expected, count, 0);
            input.n = 0;
            count = 0;
        } else if (jv_get(step, "oversized_line")) {
            for (unsigned k = 0; k <= RTT_MAX_LINE; k++) sb_put(&input, "x", 1);
            sb_puts(&input, "\n");
            oversized = 1;
        } else {
            const jv *request = jv_get(step, "request"), *line = jv_get(step, "line");
            if (request) encode(&input, request);
            else sb_put(&input, line->str, line->len);
            sb_puts(&input, "\n");
            expected[count++] = jv_get(step, "response");
        }
    }
    run_segment(file, root, index, &input, expected, count, oversized);
    free(input.p);
    free(expected);
    jv_free(&vector);
    char *rm = format("rm -rf '%s'", root);
    if (system(rm) != 0) fprintf(stderr, "cannot remove %s\n", root);
    free(rm);
    free(file);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "../vectors";
    DIR *listing = opendir(dir);
    if (!listing) return perror(dir), 2;
    char *names[64];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(listing)) && n < 64;)
        if (strlen(e->d_name) > 5 && strcmp(e->d_name + strlen(e->d_name) - 5, ".json") == 0) names[n++] = copy(e->d_name);
    closedir(listing);
    qsort(names, n, sizeof *names, by_name);
    if (n < 7) return fprintf(stderr, "the vectors are missing\n"), 2;
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        int before = failures;
        run_vector(dir, names[i]);
        failed += failures > before;
        free(names[i]);
    }
    printf("%zu passed, %zu failed\n", n - failed, failed);
    return failed ? 1 : 0;
}
