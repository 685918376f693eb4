/*
 * launcher/preload_file.c — the text of /etc/ld.so.preload, edited purely.
 *
 * The format is glibc's (elf/rtld.c): entries separated by white space or
 * ':', and '#' anywhere starts a comment that runs to the end of the line.
 * Only lines that hold one of our entries are rewritten; every other byte,
 * comments and other libraries included, is kept as it was.
 */
#include <string.h>
#include "launcher/launcher.h"

#define SEPARATORS " \t:"

bool preload_entry_is_torify(const char *entry, size_t n)
{
    static const char name[] = "libtorify.so";
    size_t k = sizeof name - 1;
    if (n < k || memcmp(entry + n - k, name, k) != 0)
        return false;
    return n == k || entry[n - k - 1] == '/';
}

bool preload_path_in_system_libs(const char *path)
{
    /* AppArmor's abstractions/base lets every confined program map
     * the .so files below /usr/lib, /lib and their 32/64 forms, nothing
     * else of the kind. */
    static const char *const dirs[] = {
        "/usr/lib/", "/usr/lib32/", "/usr/lib64/", "/lib/", "/lib32/", "/lib64/",
    };
    const char *base = strrchr(path, '/');
    if (!base || !strstr(base, ".so"))
        return false;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (strncmp(path, dirs[i], strlen(dirs[i])) == 0)
            return true;
    return false;
}

static bool entry_equals(const char *entry, size_t n, const char *path)
{
    return path && strlen(path) == n && memcmp(entry, path, n) == 0;
}

/* Calls fn for each entry of text (comments skipped); stops when fn
 * returns true and returns true then. */
typedef bool (*entry_fn)(const char *entry, size_t n, void *arg);

/* The next entry in text[*i, end): its start into *start, its length
 * returned (0: none left); *i moves past it. */
static size_t next_entry(const char *text, size_t *i, size_t end, size_t *start)
{
    while (*i < end && strchr(SEPARATORS, text[*i]))
        (*i)++;
    *start = *i;
    while (*i < end && !strchr(SEPARATORS, text[*i]))
        (*i)++;
    return *i - *start;
}

static bool each_entry(const char *text, size_t len, entry_fn fn, void *arg)
{
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        size_t code_end = pos;
        while (code_end < end && text[code_end] != '#')
            code_end++;
        for (size_t i = pos, s, n; (n = next_entry(text, &i, code_end, &s)) > 0;)
            if (fn(text + s, n, arg))
                return true;
        pos = end + 1;
    }
    return false;
}

static bool match_path(const char *entry, size_t n, void *arg)
{
    return entry_equals(entry, n, arg);
}

bool preload_text_lists(const char *text, size_t len, const char *path)
{
    return each_entry(text, len, match_path, (void *)path);
}

struct collect {
    char (*out)[PRELOAD_ENTRY_MAX];
    size_t max, n;
};

static bool collect_torify(const char *entry, size_t n, void *arg)
{
    struct collect *c = arg;
    if (!preload_entry_is_torify(entry, n))
        return false;
    if (c->n < c->max) {
        size_t k = n < PRELOAD_ENTRY_MAX - 1 ? n : PRELOAD_ENTRY_MAX - 1;
        memcpy(c->out[c->n], entry, k);
        c->out[c->n][k] = '\0';
    }
    c->n++;
    return false;
}

size_t preload_text_torify_entries(const char *text, size_t len, char out[][PRELOAD_ENTRY_MAX], size_t max)
{
    struct collect c = { out, max, 0 };
    each_entry(text, len, collect_torify, &c);
    return c.n;
}

/* Appends n bytes; false when out is full. */
static bool put(char *out, size_t out_len, size_t *used, const char *s, size_t n)
{
    if (*used + n + 1 > out_len)
        return false;
    memcpy(out + *used, s, n);
    *used += n;
    out[*used] = '\0';
    return true;
}

/* Is this entry one to remove? */
static bool dropped(const char *entry, size_t n, const char *keep, const char *drop)
{
    if (entry_equals(entry, n, keep))
        return false;
    return preload_entry_is_torify(entry, n) || entry_equals(entry, n, drop);
}

long preload_text_remove(const char *text, size_t len, const char *keep, const char *drop, char *out,
                         size_t out_len, bool *changed)
{
    size_t used = 0;
    *changed = false;
    if (out_len == 0)
        return -1;
    out[0] = '\0';
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        bool has_nl = end < len;
        size_t code_end = pos;
        while (code_end < end && text[code_end] != '#')
            code_end++;
        bool ours = false;
        for (size_t i = pos, s, n; !ours && (n = next_entry(text, &i, code_end, &s)) > 0;)
            ours = dropped(text + s, n, keep, drop);
        if (!ours) {
            if (!put(out, out_len, &used, text + pos, end - pos + (has_nl ? 1 : 0)))
                return -1;
            pos = end + 1;
            continue;
        }
        /* Rewrite this line: the other entries, then its comment. */
        *changed = true;
        size_t line_start = used;
        for (size_t i = pos, s, n; (n = next_entry(text, &i, code_end, &s)) > 0;) {
            if (dropped(text + s, n, keep, drop))
                continue;
            if (used > line_start && !put(out, out_len, &used, " ", 1))
                return -1;
            if (!put(out, out_len, &used, text + s, n))
                return -1;
        }
        if (code_end < end) {
            if (used > line_start && !put(out, out_len, &used, " ", 1))
                return -1;
            if (!put(out, out_len, &used, text + code_end, end - code_end))
                return -1;
        }
        /* A line left empty goes away entirely. */
        if (used > line_start && has_nl && !put(out, out_len, &used, "\n", 1))
            return -1;
        pos = end + 1;
    }
    return (long)used;
}

long preload_text_add(const char *text, size_t len, const char *path, char *out, size_t out_len, bool *changed)
{
    /* Other torify libraries go (two copies would both interpose), this
     * one stays where it is or is appended on a line of its own. */
    long n = preload_text_remove(text, len, path, NULL, out, out_len, changed);
    if (n < 0)
        return -1;
    size_t used = (size_t)n;
    if (preload_text_lists(out, used, path))
        return n;
    *changed = true;
    if (used > 0 && out[used - 1] != '\n' && !put(out, out_len, &used, "\n", 1))
        return -1;
    if (!put(out, out_len, &used, path, strlen(path)) || !put(out, out_len, &used, "\n", 1))
        return -1;
    return (long)used;
}
