/*
 * Optional speed-up for the connection-log reader: certify and split ALB log lines.
 *
 * scan(data) walks a buffer of complete lines once. A line it can *certify* (every field has
 * exactly the syntax that parse.LINE_RE accepts, and its dates exist) is split into its 15
 * raw fields, which are appended to 15 Arrow-layout string columns (int32 offsets + bytes).
 * Any other line is returned as-is, with its index, for the SQL parser in parse.py to parse
 * and explain. The SQL parser stays the one definition of "malformed": this code may only
 * decline a line it is unsure about, never accept one that the SQL parser would reject. A
 * differential test (tests/logs/test_linescan.py) holds the two to that.
 *
 * Certified lines are deliberately narrow: ASCII fields outside the subject, valid UTF-8
 * without control characters inside it, 15 or more fields, IPv6 without an embedded IPv4.
 * Everything else is rare in real logs and takes the SQL route.
 *
 * The GIL is released while scanning, so several files can be scanned on several cores.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define NCOLS 15
#define SUBJECT 7 /* 0-based index of the quoted subject */

typedef struct {
    const unsigned char *p;
    Py_ssize_t n;
} Span;

static unsigned char TOKEN_BYTE[256], SUBJECT_ASCII[256];

static void init_tables(void)
{
    for (int c = 0x20; c < 0x7f; c++) {
        TOKEN_BYTE[c] = c != ' ' && c != '"';
        SUBJECT_ASCII[c] = c != '"';
    }
}

static int digits(const unsigned char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int num(const unsigned char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z with a date that exists (parse.TIME_RE + the cast). Sets
 * *micros to the instant as microseconds since the epoch, the value DuckDB's cast gives. */
static int check_time(const unsigned char *p, Py_ssize_t n, int64_t *micros)
{
    if (n < 20 || n > 27 || p[n - 1] != 'Z')
        return 0;
    if (!digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' || !digits(p + 8, 2) ||
        p[10] != 'T' || !digits(p + 11, 2) || p[13] != ':' || !digits(p + 14, 2) ||
        p[16] != ':' || !digits(p + 17, 2))
        return 0;
    if (n > 20 && (p[19] != '.' || n == 21 || !digits(p + 20, n - 21)))
        return 0;
    int year = num(p, 4), month = num(p + 5, 2), day = num(p + 8, 2);
    int hour = num(p + 11, 2), minute = num(p + 14, 2), second = num(p + 17, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 59)
        return 0;
    int64_t fraction = 0;
    if (n > 20) {
        int places = (int)(n - 21);
        fraction = num(p + 20, places);
        for (int k = places; k < 6; k++)
            fraction *= 10;
    }
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    *micros = seconds * 1000000 + fraction;
    return 1;
}

static int check_ipv4(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (i >= n || p[i] != '.')
                return 0;
            i++;
        }
        Py_ssize_t start = i;
        while (i < n && i - start < 4 && p[i] >= '0' && p[i] <= '9')
            i++;
        Py_ssize_t len = i - start;
        if (len < 1 || len > 3 || (len > 1 && p[start] == '0') || num(p + start, (int)len) > 255)
            return 0;
    }
    return i == n;
}

/* Hex groups with at most one "::" (no embedded IPv4: those take the SQL route). */
static int check_ipv6(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    int groups = 0, compressed = 0;
    if (n < 2)
        return 0;
    if (p[0] == ':') {
        if (p[1] != ':')
            return 0;
        compressed = 1;
        i = 2;
        if (i == n)
            return 1;
    }
    for (;;) {
        Py_ssize_t start = i;
        while (i < n && i - start < 5 && is_hex(p[i]))
            i++;
        if (i == start || i - start > 4)
            return 0;
        groups++;
        if (i == n)
            break;
        if (p[i] != ':')
            return 0;
        i++;
        if (i < n && p[i] == ':') {
            if (compressed)
                return 0;
            compressed = 1;
            i++;
            if (i == n)
                break;
        } else if (i == n) {
            return 0;
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

static int check_port(const unsigned char *p, Py_ssize_t n)
{
    if (n < 1 || n > 5 || !digits(p, n) || (n > 1 && p[0] == '0'))
        return 0;
    return num(p, (int)n) <= 65535;
}

static int is_dash(Span s)
{
    return s.n == 1 && s.p[0] == '-';
}

static int check_latency(Span s)
{
    if (is_dash(s))
        return 1;
    Py_ssize_t i = 0;
    while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9')
        i++;
    if (i == 0)
        return 0;
    if (i == s.n)
        return 1;
    return s.p[i] == '.' && i + 1 < s.n && digits(s.p + i + 1, s.n - i - 1);
}

/* NotBefore=TIME;NotAfter=TIME, or "-" (then *present is 0). */
static int check_validity(Span s, int64_t *not_before, int64_t *not_after, int *present)
{
    *present = 0;
    if (is_dash(s))
        return 1;
    if (s.n < 10 + 20 + 10 + 20 || memcmp(s.p, "NotBefore=", 10) != 0)
        return 0;
    const unsigned char *semi = memchr(s.p + 10, ';', (size_t)(s.n - 10));
    if (semi == NULL)
        return 0;
    Py_ssize_t first = semi - (s.p + 10);
    Py_ssize_t rest = s.n - 10 - first - 1;
    *present = 1;
    return check_time(s.p + 10, first, not_before) && rest > 9 &&
           memcmp(semi + 1, "NotAfter=", 9) == 0 && check_time(semi + 10, rest - 9, not_after);
}

static int check_serial(Span s)
{
    if (is_dash(s))
        return 1;
    for (Py_ssize_t i = 0; i < s.n; i++)
        if (!is_hex(s.p[i]))
            return 0;
    return s.n > 0;
}

static int check_status(Span s)
{
    if (is_dash(s) || (s.n == 7 && memcmp(s.p, "Success", 7) == 0))
        return 1;
    return s.n > 7 && memcmp(s.p, "Failed:", 7) == 0;
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* Index of the first byte in p[i..n) for which `bad` is set, 16 bytes at a time while a
 * whole block lies inside the line; then byte by byte. */
#define SCAN_BLOCKS(bad_mask)                                                             \
    while (i + 16 <= n) {                                                               \
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i));                          \
        int mask = _mm_movemask_epi8(bad_mask);                                         \
        if (mask)                                                                       \
            return i + __builtin_ctz((unsigned)mask);                                   \
        i += 16;                                                                        \
    }
#else
#define SCAN_BLOCKS(bad_mask)
#endif

/* End of a field outside the subject: printable ASCII, no space, no double quote. */
static Py_ssize_t token_end(const unsigned char *p, Py_ssize_t i, Py_ssize_t n)
{
    /* As signed bytes, the good ones are > 0x20 (which also drops bytes >= 0x80). */
    SCAN_BLOCKS(_mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')), _mm_cmpeq_epi8(b, _mm_set1_epi8(0x7f))),
        _mm_cmpeq_epi8(_mm_cmpgt_epi8(b, _mm_set1_epi8(0x20)), _mm_setzero_si128())))
    while (i < n && TOKEN_BYTE[p[i]])
        i++;
    return i;
}

/* End of the plain-ASCII run of a subject (stops at '"', a control byte or a non-ASCII one). */
static Py_ssize_t ascii_end(const unsigned char *p, Py_ssize_t i, Py_ssize_t n)
{
    SCAN_BLOCKS(_mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')), _mm_cmpeq_epi8(b, _mm_set1_epi8(0x7f))),
        _mm_cmplt_epi8(b, _mm_set1_epi8(0x20))))
    while (i < n && SUBJECT_ASCII[p[i]])
        i++;
    return i;
}

/* Strict UTF-8 without control characters (DuckDB accepts exactly valid UTF-8). */
static int check_subject_text(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        i = ascii_end(p, i, n);
        if (i == n)
            break;
        unsigned char c = p[i];
        if (c < 0x80)
            return 0; /* a control character or a double quote */
        int len;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            len = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0;
            if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90;
            if (c == 0xf4)
                hi = 0x8f;
        } else
            return 0;
        if (i + len > n || p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (int k = 2; k < len; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                return 0;
        i += len;
    }
    return 1;
}

/* A field outside the subject: printable ASCII, no space, no double quote. */
typedef struct {
    int64_t at, not_before, not_after;
    int has_validity;
} Times;

/* Split and certify one line (no newline, trailing spaces removed). */
static int certify(const unsigned char *p, Py_ssize_t n, Span *f, int *nfields, Times *t)
{
    Py_ssize_t i = 0;
    int k = 0;
    for (;;) {
        Py_ssize_t start = i;
        if (k == SUBJECT && i < n && p[i] == '"') {
            const unsigned char *close = memchr(p + i + 1, '"', (size_t)(n - i - 1));
            if (close == NULL)
                return 0;
            start = i + 1;
            i = close - p;
            if (!check_subject_text(p + start, i - start))
                return 0;
            if (k < NCOLS)
                f[k] = (Span){p + start, i - start};
            i++;
        } else {
            i = token_end(p, i, n);
            if (i == start)
                return 0;
            if (k < NCOLS)
                f[k] = (Span){p + start, i - start};
        }
        k++;
        if (i == n)
            break;
        if (p[i] != ' ')
            return 0;
        i++;
    }
    *nfields = k;
    if (k < NCOLS)
        return 0;
    return check_time(f[0].p, f[0].n, &t->at) &&
           (check_ipv4(f[1].p, f[1].n) || check_ipv6(f[1].p, f[1].n)) &&
           check_port(f[2].p, f[2].n) && check_port(f[3].p, f[3].n) && check_latency(f[6]) &&
           check_validity(f[8], &t->not_before, &t->not_after, &t->has_validity) &&
           check_serial(f[9]) && check_status(f[10]);
}

typedef struct {
    Py_ssize_t index, start, len;
} Pending;

typedef struct {
    int32_t start, len;
} Cut;

/* Pass 1, without the GIL: certify every line, note where its fields are. */
typedef struct {
    int64_t *at, *not_before, *not_after;
    uint8_t *validity; /* Arrow validity bitmap of not_before/not_after */
} TimeColumns;

static void find_fields(const unsigned char *buf, Py_ssize_t size, Py_ssize_t max_line,
                        Cut *cuts, int32_t *field_counts, Py_ssize_t *sizes, TimeColumns tc,
                        Pending *pending, Py_ssize_t max_lines, Py_ssize_t *rows_out,
                        Py_ssize_t *npending_out, Py_ssize_t *lines_out, Py_ssize_t *consumed)
{
    Py_ssize_t pos = 0, rows = 0, npending = 0, index = 0;
    while (pos < size && index < max_lines) {
        const unsigned char *nl = memchr(buf + pos, '\n', (size_t)(size - pos));
        Py_ssize_t end = nl ? nl - buf : size, n = end - pos;
        const unsigned char *p = buf + pos;
        if (n > 0 && p[n - 1] == '\r') /* CRLF: read_csv ends the line at the CR */
            n--;
        Py_ssize_t untrimmed = n; /* what read_csv measures against its max_line_size */
        while (n > 0 && p[n - 1] == ' ') /* the parser trims trailing spaces */
            n--;
        Span f[NCOLS];
        int nf = 0;
        Times t;
        if (n > 0 && untrimmed <= max_line && certify(p, n, f, &nf, &t)) {
            for (int c = 0; c < NCOLS; c++) {
                cuts[rows * NCOLS + c] = (Cut){(int32_t)(f[c].p - buf), (int32_t)f[c].n};
                sizes[c] += f[c].n;
            }
            tc.at[rows] = t.at;
            tc.not_before[rows] = t.has_validity ? t.not_before : 0;
            tc.not_after[rows] = t.has_validity ? t.not_after : 0;
            if (t.has_validity)
                tc.validity[rows / 8] |= (uint8_t)(1u << (rows % 8));
            field_counts[rows++] = nf;
        } else if (n > 0) {
            pending[npending++] = (Pending){index, pos, end - pos};
        }
        index++;
        pos = end + 1;
    }
    *rows_out = rows;
    *npending_out = npending;
    *lines_out = index;
    *consumed = pos < size ? pos : size;
}

#define SLACK 32 /* bytes past each column's end, for the fixed-size copies below */

/* Copy a short field with one or two fixed-size moves, which compile to single loads and
 * stores; memcpy() calls per field were the largest cost of this pass. Writing past the
 * field's end is fine: the next field overwrites it and each column has SLACK bytes spare. */
static inline void copy_field(char *out, const unsigned char *src, int32_t len, int safe)
{
    if (safe && len <= 16)
        memcpy(out, src, 16);
    else if (safe && len <= 32)
        memcpy(out, src, 32);
    else
        memcpy(out, src, (size_t)len);
}

/* Pass 2, without the GIL: copy each field into its column, a line at a time. */
static void fill_columns(const unsigned char *buf, Py_ssize_t size, const Cut *cuts,
                         Py_ssize_t rows, char **data, int32_t **offsets)
{
    int32_t used[NCOLS] = {0};
    for (int c = 0; c < NCOLS; c++)
        offsets[c][0] = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const Cut *cut = cuts + r * NCOLS;
        /* reading 32 bytes stays inside */
        int safe = (Py_ssize_t)cut[NCOLS - 1].start + SLACK <= size;
        for (int c = 0; c < NCOLS; c++) {
            copy_field(data[c] + used[c], buf + cut[c].start, cut[c].len, safe);
            used[c] += cut[c].len;
            offsets[c][r + 1] = used[c];
        }
    }
}

static PyObject *declined_list(const unsigned char *buf, const Pending *pending, Py_ssize_t n)
{
    PyObject *list = PyList_New(n);
    if (!list)
        return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *item = Py_BuildValue("(ny#)", pending[k].index,
                                       (const char *)buf + pending[k].start, pending[k].len);
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, k, item);
    }
    return list;
}

static PyObject *scan(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer view;
    Py_ssize_t max_line, max_lines = 1024 * 1024;
    if (!PyArg_ParseTuple(args, "y*n|n", &view, &max_line, &max_lines))
        return NULL;
    const unsigned char *buf = view.buf;
    Py_ssize_t size = view.len, lines = 1, rows = 0, npending = 0, seen = 0, consumed = 0;
    Py_ssize_t sizes[NCOLS] = {0};
    PyObject *result = NULL, *columns = NULL, *counts = NULL, *declined = NULL;
    PyObject *at = NULL, *not_before = NULL, *not_after = NULL, *validity = NULL;
    Cut *cuts = NULL;
    Pending *pending = NULL;
    if (size > INT32_MAX - SLACK || max_lines < 1 || max_lines > 16 * 1024 * 1024) {
        PyErr_SetString(PyExc_ValueError, "chunk over 2 GiB, or max_lines out of range");
        goto done;
    }
    /* At most max_lines lines per call: what is allocated per line (and the Python objects
     * made of declined lines) stays bounded however short the lines are. */
    const unsigned char *q = buf;
    while (lines < max_lines && (q = memchr(q, '\n', (size_t)(buf + size - q)))) {
        lines++;
        q++;
    }
    cuts = PyMem_RawMalloc(sizeof(Cut) * NCOLS * (size_t)lines);
    pending = PyMem_RawMalloc(sizeof(Pending) * (size_t)lines);
    counts = PyByteArray_FromStringAndSize(NULL, lines * 4);
    at = PyByteArray_FromStringAndSize(NULL, lines * 8);
    not_before = PyByteArray_FromStringAndSize(NULL, lines * 8);
    not_after = PyByteArray_FromStringAndSize(NULL, lines * 8);
    validity = PyByteArray_FromStringAndSize(NULL, (lines + 7) / 8);
    if (!cuts || !pending || !counts || !at || !not_before || !not_after || !validity) {
        PyErr_NoMemory();
        goto done;
    }
    memset(PyByteArray_AS_STRING(validity), 0, (size_t)((lines + 7) / 8));
    int32_t *field_counts = (int32_t *)PyByteArray_AS_STRING(counts);
    TimeColumns tc = {(int64_t *)PyByteArray_AS_STRING(at),
                      (int64_t *)PyByteArray_AS_STRING(not_before),
                      (int64_t *)PyByteArray_AS_STRING(not_after),
                      (uint8_t *)PyByteArray_AS_STRING(validity)};
    Py_BEGIN_ALLOW_THREADS
    find_fields(buf, size, max_line, cuts, field_counts, sizes, tc, pending, lines, &rows,
                &npending, &seen, &consumed);
    Py_END_ALLOW_THREADS

    /* Columns of exactly the right size: memory handed to Arrow is all used. */
    char *data[NCOLS];
    int32_t *offsets[NCOLS];
    columns = PyList_New(NCOLS);
    if (!columns)
        goto done;
    for (int c = 0; c < NCOLS; c++) {
        PyObject *d = PyByteArray_FromStringAndSize(NULL, sizes[c] + SLACK);
        PyObject *o = PyByteArray_FromStringAndSize(NULL, (rows + 1) * 4);
        PyObject *pair = (d && o) ? PyTuple_Pack(2, o, d) : NULL;
        Py_XDECREF(d);
        Py_XDECREF(o);
        if (!pair)
            goto done;
        PyList_SET_ITEM(columns, c, pair);
        data[c] = PyByteArray_AS_STRING(d);
        offsets[c] = (int32_t *)PyByteArray_AS_STRING(o);
    }
    Py_BEGIN_ALLOW_THREADS
    fill_columns(buf, size, cuts, rows, data, offsets);
    Py_END_ALLOW_THREADS

    for (int c = 0; c < NCOLS; c++) {
        PyObject *d = PyTuple_GET_ITEM(PyList_GET_ITEM(columns, c), 1);
        if (PyByteArray_Resize(d, sizes[c]) < 0) /* a minor downsize: no copy */
            goto done;
    }
    if (PyByteArray_Resize(counts, rows * 4) < 0 || PyByteArray_Resize(at, rows * 8) < 0 ||
        PyByteArray_Resize(not_before, rows * 8) < 0 ||
        PyByteArray_Resize(not_after, rows * 8) < 0 ||
        PyByteArray_Resize(validity, (rows + 7) / 8) < 0)
        goto done;
    declined = declined_list(buf, pending, npending);
    if (!declined)
        goto done;
    result = Py_BuildValue("(nOOnO(OOOO)n)", rows, columns, counts, seen, declined, at,
                           not_before, not_after, validity, consumed);
done:
    Py_XDECREF(columns);
    Py_XDECREF(counts);
    Py_XDECREF(declined);
    Py_XDECREF(at);
    Py_XDECREF(not_before);
    Py_XDECREF(not_after);
    Py_XDECREF(validity);
    PyMem_RawFree(cuts);
    PyMem_RawFree(pending);
    PyBuffer_Release(&view);
    return result;
}

/* glibc hands blocks over 32 MiB (and, until a first free, over 128 KiB) straight to mmap and
 * back to the kernel when freed, so every chunk of a log costs fresh, zeroed pages: that was a
 * third of the reader's CPU time. Keeping freed memory for reuse removes it; the reader's
 * memory stays bounded because its chunks are. */
static PyObject *keep_freed_memory(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"keep_freed_memory", keep_freed_memory, METH_NOARGS,
     "Let the C allocator keep freed memory for reuse (glibc only; a no-op elsewhere)."},
    {"scan", scan, METH_VARARGS,
     "scan(data, max_line, max_lines=2**20) -> (rows, [(offsets, data)] * 15, field_counts, lines, "
     "[(line_index, line)], (timestamp, not_before, not_after, validity_bitmap), "
     "bytes_consumed)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_linescan", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__linescan(void)
{
    init_tables();
    return PyModule_Create(&module);
}
