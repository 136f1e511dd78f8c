/*
 * Optional speed-up for vended JSON connection logs: JSON lines -> legacy lines, in C.
 *
 * convert(data) walks a block of JSON lines once and writes, for each line, the legacy
 * connection-log line that vended/lines.py would write for that record (one output line per
 * input line, so line numbers stand). It handles the common case only: a flat object whose
 * values are strings, integers, plain decimals, true, false or null. It *declines* any line it
 * is unsure about (not valid JSON, a nested value for a field, a number in time, an exponent,
 * bytes that are not UTF-8, a \u escape below U+0020): that line is left empty and its index
 * returned, and Python converts it (vended/jsonl.py), so there is one definition of the
 * conversion. A differential test (tests/logs/vended/test_jsonl.py) holds the two together.
 *
 * The GIL is released while converting, so several files convert on several cores.
 */
#include "jsonlines.h"

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return 0;
    }
    *out = v;
    return 1;
}

static void put(Out *o, const void *p, Py_ssize_t n)
{
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

/* A decoded character of a value, as lines.py writes it: line ends escaped as in RFC 4514;
 * in the subject, a '"' (bare or after a backslash) as \22. */
static void put_char(Out *o, unsigned cp, int subject, int *after_backslash)
{
    if (cp == '\n' || cp == '\r') {
        put(o, cp == '\n' ? "\\0A" : "\\0D", 3);
    } else if (cp == '"' && subject) {
        if (*after_backslash)
            o->len--; /* the backslash before it is part of the escape */
        put(o, "\\22", 3);
    } else if (cp < 0x80) {
        o->buf[o->len++] = (unsigned char)cp;
    } else if (cp < 0x800) {
        o->buf[o->len++] = (unsigned char)(0xC0 | (cp >> 6));
        o->buf[o->len++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o->buf[o->len++] = (unsigned char)(0xE0 | (cp >> 12));
        o->buf[o->len++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o->buf[o->len++] = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        o->buf[o->len++] = (unsigned char)(0xF0 | (cp >> 18));
        o->buf[o->len++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o->buf[o->len++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o->buf[o->len++] = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *after_backslash = (cp == '\\');
}

/* A string value's text. 0 to decline (a bad escape, a lone surrogate, a control \u). */
static int put_string(Out *o, const Value *v, int subject)
{
    int after_backslash = 0;
    const unsigned char *p = v->p, *end = v->p + v->n;
    if (!v->escaped) { /* no backslash: no quote, no line end (read_string saw to it) */
        put(o, v->p, v->n);
        return 1;
    }
    while (p < end) {
        unsigned cp = *p;
        if (cp == '\\') {
            unsigned char e = p[1];
            p += 2;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (end - p < 4 || !hex4(p, &cp))
                    return 0;
                p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned low;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) ||
                        low < 0xDC00 || low > 0xDFFF)
                        return 0;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return 0;
                } else if (cp < 0x20 && cp != '\n' && cp != '\r' && cp != '\t') {
                    return 0;
                }
                break;
            default:
                return 0;
            }
            put_char(o, cp, subject, &after_backslash);
        } else if (cp >= 0x80) {
            int n = jsonlines_utf8_len(p, end);
            if (!n)
                return 0; /* read_string let none through: never loop on one */
            put(o, p, n);
            p += n;
            after_backslash = 0;
        } else {
            put_char(o, cp, subject, &after_backslash);
            p++;
        }
    }
    return 1;
}

/* A short decimal (up to 6 decimals, 15 digits: what a double holds exactly), written as
 * put_float would write it, without converting it: trailing zeros of the fraction dropped,
 * -0 as 0. 0 when it is not one. */
static int put_short_decimal(Out *o, const Value *v)
{
    const unsigned char *p = v->p, *end = v->p + v->n, *dot = memchr(p, '.', v->n);
    int negative = *p == '-', digits = (int)(end - p) - negative - 1;
    if (!dot || end - dot - 1 > 6 || digits > 15)
        return 0;
    const unsigned char *last = end;
    while (last > dot + 1 && last[-1] == '0')
        last--;
    int zero = 1;
    for (const unsigned char *q = p + negative; q < last && zero; q++)
        zero = *q == '0' || *q == '.';
    if (zero) {
        o->buf[o->len++] = '0';
        return 1;
    }
    put(o, p, (last == dot + 1 ? dot : last) - p);
    return 1;
}

/* A decimal as lines._float_text writes it: six decimals at most, no exponent. */
static int put_float(Out *o, const Value *v)
{
    if (put_short_decimal(o, v))
        return 1;
    char text[MAX_NUMBER + 1];
    memcpy(text, v->p, v->n);
    text[v->n] = 0;
    double value = strtod(text, NULL);
    if (!isfinite(value) || fabs(value) >= 1e12)
        return 0;
    long long micros = (long long)nearbyint(fabs(value) * 1e6);
    long long whole = micros / 1000000, rest = micros % 1000000;
    int n = snprintf(text, sizeof text, "%s%lld", value < 0 ? "-" : "", whole);
    if (rest) {
        int digits = 6;
        while (rest % 10 == 0) {
            rest /= 10;
            digits--;
        }
        n += snprintf(text + n, sizeof text - n, ".%0*lld", digits, rest);
    }
    put(o, text, n);
    return 1;
}

static int empty(const Value *v)
{
    return v->kind == V_NONE || v->kind == V_NULL || (v->kind == V_STRING && v->n == 0);
}

/* The legacy line of one record's values (no line end). 0 to decline. */
static int write_line(Out *o, const Value *values)
{
    if (empty(&values[STATUS]) && empty(&values[CLIENT_IP]))
        return 1; /* not a connection record: an empty line */
    for (int i = 0; i < NFIELDS; i++) {
        const Value *v = &values[i];
        if (i)
            o->buf[o->len++] = ' ';
        if (i == SUBJECT)
            o->buf[o->len++] = '"';
        if (empty(v))
            o->buf[o->len++] = '-';
        else if (v->kind == V_STRING) {
            if (!put_string(o, v, i == SUBJECT))
                return 0;
        } else if (v->kind == V_FLOAT) {
            if (!put_float(o, v))
                return 0;
        } else
            put(o, v->p, v->n);
        if (i == SUBJECT)
            o->buf[o->len++] = '"';
    }
    return 1;
}

static PyObject *convert(PyObject *self, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    const unsigned char *data = view.buf, *end = data + view.len;
    Py_ssize_t lines = 1;
    for (const unsigned char *p = data; (p = memchr(p, '\n', end - p)) != NULL; p++)
        lines++;
    /* The output is written straight into the bytes object returned, sized for the worst
     * case: a value's escapes grow by half at most (\" to \22), a decimal never grows, and a
     * line adds at most 15 separators, 15 dashes, 2 quotes and its end. */
    Py_ssize_t cap = view.len + view.len / 2 + lines * 40 + 64;
    PyObject *result = PyBytes_FromStringAndSize(NULL, cap);
    if (!result) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Out o = {(unsigned char *)PyBytes_AS_STRING(result), 0, cap};
    Py_ssize_t *declined = NULL, ndeclined = 0, capdeclined = 0, index = 0;
    int failed = 0;
    Value values[NFIELDS];
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *line = data;
    while (!failed && line < end) {
        const unsigned char *stop = memchr(line, '\n', end - line);
        const unsigned char *next = stop ? stop + 1 : end;
        if (!stop)
            stop = end;
        if (o.len + (stop - line) + (stop - line) / 2 + 40 > o.cap) {
            failed = 2; /* cannot happen (see cap): never write past the end */
            break;
        }
        In in = {line, stop};
        Py_ssize_t mark = o.len;
        int ok = jsonlines_read_record(&in, values);
        if (ok == 1)
            ok = write_line(&o, values);
        if (!ok) {
            o.len = mark;
            if (ndeclined == capdeclined) {
                capdeclined = capdeclined ? capdeclined * 2 : 64;
                Py_ssize_t *grown = realloc(declined, capdeclined * sizeof *declined);
                if (!grown) {
                    failed = 1;
                    break;
                }
                declined = grown;
            }
            declined[ndeclined++] = index;
        }
        o.buf[o.len++] = '\n';
        index++;
        line = next;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (failed || _PyBytes_Resize(&result, o.len) < 0) {
        Py_XDECREF(result);
        free(declined);
        if (failed == 2)
            PyErr_SetString(PyExc_ValueError, "a converted line would not fit");
        return failed == 1 ? PyErr_NoMemory() : NULL;
    }
    PyObject *list = PyList_New(ndeclined);
    for (Py_ssize_t i = 0; list && i < ndeclined; i++)
        PyList_SET_ITEM(list, i, PyLong_FromSsize_t(declined[i]));
    free(declined);
    if (!list) {
        Py_DECREF(result);
        return NULL;
    }
    return Py_BuildValue("(NN)", result, list);
}

static PyMethodDef methods[] = {
    {"convert", convert, METH_VARARGS,
     "convert(data) -> (legacy_lines, declined): a block of JSON lines as legacy lines, one "
     "per line; the indexes of the lines left empty for Python to convert."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jsonlines", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jsonlines(void)
{
    jsonlines_init();
    return PyModule_Create(&module);
}
