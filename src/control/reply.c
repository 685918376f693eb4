/*
 * control/reply.c — the sans-IO reply codec of torify/control.h.
 *
 * control-spec section 2.3 (replies) and 2.4 (dot-encoding of data):
 *
 *   Reply     = *(MidReplyLine / DataReplyLine) EndReplyLine
 *   MidReplyLine  = StatusCode "-" ReplyLine
 *   DataReplyLine = StatusCode "+" ReplyLine CmdData
 *   EndReplyLine  = StatusCode SP ReplyText CRLF
 *   CmdData       = *DataLine "." CRLF; a DataLine starting with "." has one
 *                   more "." in front of it.
 *
 * One byte at a time through an explicit state machine, so a reply split
 * anywhere (one byte per read, the CR in one read and the LF in the next)
 * parses the same.  Strict where Tor is: lines end in CRLF (a bare LF or a
 * CR alone is malformed), no NUL, every line of one reply has one status
 * code.  Text and data go into the caller's buffer; nothing is allocated.
 */
#include <string.h>
#include <torify/control.h>

enum {
    P_CODE,       /* the three digits of a status code */
    P_SEP,        /* ' ', '-' or '+' */
    P_TEXT,       /* the line's text up to CR */
    P_TEXT_LF,    /* CR seen, LF must follow */
    P_DATA_BOL,   /* start of a data line */
    P_DATA_DOT,   /* a data line starting with '.': the end, or a stuffed dot */
    P_DATA,       /* a data line's bytes up to CR */
    P_DATA_LF,    /* CR of a data line seen */
    P_DATA_END_LF,/* ".\r" seen: LF ends the data */
    P_DONE,       /* a reply is complete */
    P_FAILED,
};

static void reset_reply(struct torify_ctl_parser *p)
{
    p->state = P_CODE;
    p->used = 0;
    p->digits = 0;
    p->code = 0;
    p->line_len = 0;
    p->reply.code = 0;
    p->reply.n_lines = 0;
}

torify_err torify_ctl_parser_init(struct torify_ctl_parser *p, char *buf, size_t cap, size_t line_max)
{
    if (p == NULL || buf == NULL || cap < 2 || line_max == 0)
        return TORIFY_E_INVAL_ARGUMENT;
    memset(p, 0, sizeof *p);
    p->buf = buf;
    p->cap = cap;
    p->line_max = line_max;
    p->err = TORIFY_OK;
    reset_reply(p);
    return TORIFY_OK;
}

static enum torify_ctl_status fail(struct torify_ctl_parser *p, torify_err e)
{
    p->state = P_FAILED;
    p->err = e;
    return TORIFY_CTL_ERROR;
}

/* One byte into the buffer, keeping room for the NUL that ends it. */
static bool put(struct torify_ctl_parser *p, char c)
{
    if (p->used + 1 >= p->cap)
        return false;
    p->buf[p->used++] = c;
    return true;
}

static bool put_nul(struct torify_ctl_parser *p)
{
    if (p->used >= p->cap)
        return false;
    p->buf[p->used++] = '\0';
    return true;
}

/* The text of the current line is complete: record it. */
static torify_err end_text(struct torify_ctl_parser *p)
{
    struct torify_ctl_reply *r = &p->reply;
    struct torify_ctl_line *l;

    if (!put_nul(p))
        return TORIFY_E_CTL_TOO_BIG;
    if (r->n_lines >= TORIFY_CTL_LINES_MAX)
        return TORIFY_E_CTL_TOO_BIG;
    l = &r->lines[r->n_lines++];
    l->code = p->code;
    l->sep = p->sep;
    l->text = p->buf + p->start;
    l->text_len = p->used - 1 - p->start;
    l->data = NULL;
    l->data_len = 0;
    r->code = p->code;
    return TORIFY_OK;
}

static torify_err end_data(struct torify_ctl_parser *p)
{
    struct torify_ctl_line *l = &p->reply.lines[p->reply.n_lines - 1];

    if (!put_nul(p))
        return TORIFY_E_CTL_TOO_BIG;
    l->data = p->buf + p->start;
    l->data_len = p->used - 1 - p->start;
    return TORIFY_OK;
}

/* A byte of a text or data line, bounded by line_max. */
static torify_err line_byte(struct torify_ctl_parser *p, char c)
{
    if (c == '\0' || c == '\n')
        return TORIFY_E_CTL_MALFORMED;
    if (++p->line_len > p->line_max)
        return TORIFY_E_CTL_TOO_LONG;
    return put(p, c) ? TORIFY_OK : TORIFY_E_CTL_TOO_BIG;
}

/* A data line begins: joined to the previous one by "\n". */
static torify_err data_line_start(struct torify_ctl_parser *p)
{
    p->line_len = 0;
    if (p->data_lines++ > 0 && !put(p, '\n'))
        return TORIFY_E_CTL_TOO_BIG;
    return TORIFY_OK;
}

static enum torify_ctl_status step(struct torify_ctl_parser *p, char c)
{
    torify_err e = TORIFY_OK;

    switch (p->state) {
    case P_CODE:
        if (c < '0' || c > '9')
            return fail(p, TORIFY_E_CTL_MALFORMED);
        if (p->digits == 0)
            p->code = 0;
        p->code = p->code * 10 + (c - '0');
        if (++p->digits == 3) {
            /* Every line of one reply has the first line's code; an event
             * (6xx) cannot start inside another reply. */
            if (p->code < 100 || (p->reply.n_lines > 0 && p->code != p->reply.code))
                return fail(p, TORIFY_E_CTL_MALFORMED);
            p->state = P_SEP;
        }
        return TORIFY_CTL_NEED_MORE;
    case P_SEP:
        if (c != ' ' && c != '-' && c != '+')
            return fail(p, TORIFY_E_CTL_MALFORMED);
        p->sep = c;
        p->start = p->used;
        p->line_len = 0;
        p->state = P_TEXT;
        return TORIFY_CTL_NEED_MORE;
    case P_TEXT:
        if (c == '\r') {
            p->state = P_TEXT_LF;
            return TORIFY_CTL_NEED_MORE;
        }
        e = line_byte(p, c);
        break;
    case P_TEXT_LF:
        if (c != '\n')
            return fail(p, TORIFY_E_CTL_MALFORMED);
        e = end_text(p);
        if (e != TORIFY_OK)
            break;
        p->digits = 0;
        if (p->sep == ' ') {
            p->state = P_DONE;
            return TORIFY_CTL_REPLY;
        }
        if (p->sep == '+') {
            p->start = p->used;
            p->data_lines = 0;
            p->state = P_DATA_BOL;
        } else {
            p->state = P_CODE;
        }
        return TORIFY_CTL_NEED_MORE;
    case P_DATA_BOL:
        if (c == '.') {
            p->state = P_DATA_DOT;
            return TORIFY_CTL_NEED_MORE;
        }
        e = data_line_start(p);
        if (e != TORIFY_OK)
            break;
        if (c == '\r') {
            p->state = P_DATA_LF;
            return TORIFY_CTL_NEED_MORE;
        }
        p->state = P_DATA;
        e = line_byte(p, c);
        break;
    case P_DATA_DOT:
        if (c == '\r') {
            p->state = P_DATA_END_LF;
            return TORIFY_CTL_NEED_MORE;
        }
        /* The leading dot was added by the encoder: drop it, keep the rest
         * (".." gives ".", as control-spec 2.4 encodes a line starting with ".") */
        e = data_line_start(p);
        if (e != TORIFY_OK)
            break;
        p->state = P_DATA;
        e = line_byte(p, c);
        break;
    case P_DATA:
        if (c == '\r') {
            p->state = P_DATA_LF;
            return TORIFY_CTL_NEED_MORE;
        }
        e = line_byte(p, c);
        break;
    case P_DATA_LF:
        if (c != '\n')
            return fail(p, TORIFY_E_CTL_MALFORMED);
        p->state = P_DATA_BOL;
        return TORIFY_CTL_NEED_MORE;
    case P_DATA_END_LF:
        if (c != '\n')
            return fail(p, TORIFY_E_CTL_MALFORMED);
        e = end_data(p);
        if (e != TORIFY_OK)
            break;
        p->state = P_CODE;
        return TORIFY_CTL_NEED_MORE;
    case P_DONE:
        return fail(p, TORIFY_E_INVAL_STATE);
    default:
        return TORIFY_CTL_ERROR;
    }
    if (e != TORIFY_OK)
        return fail(p, e);
    return TORIFY_CTL_NEED_MORE;
}

enum torify_ctl_status torify_ctl_parser_feed(struct torify_ctl_parser *p, const char *in, size_t len,
                                              size_t *consumed)
{
    size_t i;
    enum torify_ctl_status st = TORIFY_CTL_NEED_MORE;

    if (consumed != NULL)
        *consumed = 0;
    if (p->state == P_FAILED)
        return TORIFY_CTL_ERROR;
    if (p->state == P_DONE)
        return TORIFY_CTL_REPLY;
    for (i = 0; i < len && st == TORIFY_CTL_NEED_MORE; i++)
        st = step(p, in[i]);
    if (consumed != NULL)
        *consumed = i;
    return st;
}

const struct torify_ctl_reply *torify_ctl_parser_reply(const struct torify_ctl_parser *p)
{
    return p->state == P_DONE ? &p->reply : NULL;
}

torify_err torify_ctl_parser_error(const struct torify_ctl_parser *p)
{
    return p->err;
}

void torify_ctl_parser_next(struct torify_ctl_parser *p)
{
    if (p->state == P_DONE)
        reset_reply(p);
}
