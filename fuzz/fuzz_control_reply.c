/*
 * libFuzzer target over the control-port reply codec and the protocol's
 * strings (src/control/reply.c, escape.c).
 *
 * Input layout:
 *   byte 0  seed for the chunk sizes
 *   byte 1  line_max (1..256, scaled), the store is 2 KiB
 *   rest    the control port's bytes
 *
 * The bytes are parsed twice: in random chunks and all at once.  Both runs
 * must give the same replies (codes, separators, texts, data) and end the
 * same way; feed never takes more than offered and takes everything while
 * no reply completes; every line's text and data are NUL-terminated at
 * their length, inside the store, and no longer than line_max per line.
 * Every line's text also goes through torify_ctl_kv_next (to its end) and
 * torify_ctl_kv_get,
 * and from each '"' through torify_ctl_unquote in both modes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <torify/control.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) \
    do { \
        if (!(c)) \
            __builtin_trap(); \
    } while (0)

#define STORE 2048
#define MAX_REPLIES 64

/* A digest of the replies of one run: compared between the two runs. */
struct run {
    size_t n;
    uint64_t h[MAX_REPLIES];
    int end;          /* 0 need more, 1 error */
    torify_err err;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void strings(const struct torify_ctl_line *l)
{
    char key[32], val[64], out[64];
    size_t pos = 0, used;
    bool hv, found;

    for (int guard = 0; guard < 1000; guard++) {
        size_t before = pos;
        if (torify_ctl_kv_next(l->text, l->text_len, &pos, key, sizeof key, val, sizeof val, &hv, &found) != TORIFY_OK ||
            !found)
            break;
        CHECK(pos > before && pos <= l->text_len);
        CHECK(strlen(key) < sizeof key && strlen(val) < sizeof val);
    }
    if (torify_ctl_kv_get(l->text, l->text_len, "PURPOSE", val, sizeof val) == TORIFY_OK)
        CHECK(strlen(val) < sizeof val);
    for (const char *q = memchr(l->text, '"', l->text_len); q; q = memchr(q + 1, '"', l->text_len - (size_t)(q + 1 - l->text))) {
        size_t left = l->text_len - (size_t)(q - l->text);
        for (int cs = 0; cs < 2; cs++)
            if (torify_ctl_unquote(q, left, cs, out, sizeof out, &used) == TORIFY_OK) {
                CHECK(used >= 2 && used <= left && q[used - 1] == '"');
                CHECK(strlen(out) < sizeof out);
            }
        if (q + 1 >= l->text + l->text_len)
            break;
    }
}

static uint64_t digest(const struct torify_ctl_parser *p, const char *store, size_t line_max, bool check_strings)
{
    const struct torify_ctl_reply *r = torify_ctl_parser_reply(p);
    uint64_t h = 1469598103934665603ull;

    CHECK(r != NULL && r->n_lines >= 1 && r->n_lines <= TORIFY_CTL_LINES_MAX);
    CHECK(r->code == r->lines[r->n_lines - 1].code && r->lines[r->n_lines - 1].sep == ' ');
    for (size_t i = 0; i < r->n_lines; i++) {
        const struct torify_ctl_line *l = &r->lines[i];
        CHECK(l->code == r->code && l->code >= 100 && l->code <= 999);
        CHECK(l->text >= store && l->text + l->text_len < store + STORE && l->text[l->text_len] == '\0');
        CHECK(strlen(l->text) == l->text_len && l->text_len <= line_max);
        CHECK((l->sep == '+') == (l->data != NULL));
        if (l->data) {
            CHECK(l->data >= store && l->data + l->data_len < store + STORE && l->data[l->data_len] == '\0');
            CHECK(strlen(l->data) == l->data_len);
            h = mix(h, l->data, l->data_len);
        }
        h = mix(h, &l->sep, 1);
        h = mix(h, l->text, l->text_len + 1);
        if (check_strings)
            strings(l);
    }
    return mix(h, &r->code, sizeof r->code);
}

static void parse(const char *in, size_t len, size_t line_max, uint8_t seed, bool chunked, struct run *out)
{
    static char store[STORE];
    struct torify_ctl_parser p;
    size_t off = 0;
    uint32_t rnd = seed * 2654435761u + 1;

    memset(out, 0, sizeof *out);
    CHECK(torify_ctl_parser_init(&p, store, sizeof store, line_max) == TORIFY_OK);
    while (off < len) {
        size_t n = len - off, used = 0;
        if (chunked) {
            rnd = rnd * 1103515245u + 12345u;
            size_t c = 1 + (rnd >> 16) % 7;
            if (c < n)
                n = c;
        }
        enum torify_ctl_status st = torify_ctl_parser_feed(&p, in + off, n, &used);
        CHECK(used <= n);
        off += used;
        if (st == TORIFY_CTL_NEED_MORE) {
            CHECK(used == n);
            continue;
        }
        if (st == TORIFY_CTL_ERROR) {
            out->end = 1;
            out->err = torify_ctl_parser_error(&p);
            CHECK(out->err != TORIFY_OK);
            CHECK(torify_ctl_parser_feed(&p, "250 OK\r\n", 8, NULL) == TORIFY_CTL_ERROR);
            return;
        }
        CHECK(used >= 1);
        if (out->n < MAX_REPLIES)
            out->h[out->n] = digest(&p, store, line_max, !chunked);
        out->n++;
        torify_ctl_parser_next(&p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run a, b;
    char quoted[64];

    if (size < 2)
        return 0;
    size_t line_max = 1 + data[1];
    parse((const char *)data + 2, size - 2, line_max, data[0], true, &a);
    parse((const char *)data + 2, size - 2, line_max, data[0], false, &b);
    CHECK(a.n == b.n && a.end == b.end && a.err == b.err);
    for (size_t i = 0; i < a.n && i < MAX_REPLIES; i++)
        CHECK(a.h[i] == b.h[i]);

    /* quote then unquote gives the text back, for text without CR/LF/NUL. */
    char text[24];
    size_t n = size - 2 < sizeof text - 1 ? size - 2 : sizeof text - 1;
    memcpy(text, data + 2, n);
    text[n] = '\0';
    if (torify_ctl_quote(text, quoted, sizeof quoted) == TORIFY_OK) {
        char back[64];
        size_t used;
        CHECK(torify_ctl_unquote(quoted, strlen(quoted), false, back, sizeof back, &used) == TORIFY_OK);
        CHECK(used == strlen(quoted) && strcmp(back, text) == 0);
    }
    return 0;
}
