/* core/procstat.c — see procstat.h. */
#include "core/procstat.h"

#include <limits.h>

int torify_procstat_field(const char *text, size_t len, int field, unsigned long long *out)
{
    if (!text || field < 3)
        return -1;
    size_t close_paren = len;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ')')
            close_paren = i;
    if (close_paren == len)
        return -1;
    size_t i = close_paren + 1;
    /* Fields 3, 4, ... follow, one space apart: skip to the wanted one. */
    for (int f = 3;; f++) {
        while (i < len && text[i] == ' ')
            i++;
        if (f == field)
            break;
        while (i < len && text[i] != ' ' && text[i] != '\n')
            i++;
        if (i >= len || text[i] == '\n')
            return -1;
    }
    if (i >= len || text[i] < '0' || text[i] > '9')
        return -1;
    unsigned long long v = 0;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        unsigned d = (unsigned)(text[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (i < len && text[i] != ' ' && text[i] != '\n')
        return -1;
    *out = v;
    return 0;
}
