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
#include "linescan.h"

#ifdef __GLIBC__
#include <malloc.h>
#include <unistd.h>
#endif

/* Row r is the line of fields f: a new row (r == n), or in place of an earlier one. */
static void put_row(Rows *rows, Py_ssize_t r, const unsigned char *buf, const Span *f, Row row)
{
    if (r == rows->n)
        rows->n++;
    else
        for (int c = 0; c < NCOLS; c++)
            rows->sizes[c] -= rows->cuts[r * NCOLS + c].len;
    for (int c = 0; c < NCOLS; c++) {
        Cut *cut = &rows->cuts[r * NCOLS + c];
        *cut = (Cut){(int32_t)(f[c].p - buf), (int32_t)f[c].n};
        rows->sizes[c] += f[c].n;
    }
    rows->meta[r] = row;
}

static inline int lower_hex(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "TID_" and 32 lower-case hex digits into 16 bytes (big-endian, as a UUID): 1, else 0.
 * Any other trace id is stored as text (store.py renders both the same). */
static int trace_id(const unsigned char *p, int32_t n, uint8_t *out)
{
    if (n != 36 || memcmp(p, "TID_", 4) != 0)
        return 0;
    for (int k = 0; k < 16; k++) {
        int hi = lower_hex(p[4 + 2 * k]), lo = lower_hex(p[5 + 2 * k]);
        if (hi < 0 || lo < 0)
            return 0;
        out[k] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

/* A certified line: counted when folding, then a row, or in place of an earlier row, or
 * nothing more (see linescan_route.c). 0 when out of memory. */
int linescan_take(Rows *rows, const unsigned char *buf, const Span *f, int nf, const Times *t)
{
    Fold *fold = rows->fold;
    int route = linescan_route(fold, f[10], t);
    Row row = {t->at, t->has_validity ? t->not_before : 0, t->has_validity ? t->not_after : 0,
               nf, (uint8_t)t->has_validity, (uint8_t)route};
    if (!fold->on || route == ROUTE_FAILED) {
        put_row(rows, rows->n, buf, f, row);
        return 1;
    }
    int selected = t->at >= fold->since && t->at < fold->until;
    if (!linescan_fold(fold, f[10], nf, t->at, selected))
        return 0;
    if (route == ROUTE_OTHER || !selected)
        return 1;
    Py_ssize_t slot = linescan_latest_slot(&rows->latest, buf, rows->cuts, f);
    if (slot < 0)
        return 0;
    int32_t kept = rows->latest.slots[slot];
    if (kept < 0) {
        rows->latest.slots[slot] = (int32_t)rows->n;
        rows->latest.used++;
        put_row(rows, rows->n, buf, f, row);
    } else if (t->at > rows->meta[kept].at) {
        put_row(rows, kept, buf, f, row);
    }
    return 1;
}

/* Pass 1, without the GIL: certify every line, note where its fields are and what they
 * hold. */
static void find_fields(const unsigned char *buf, Py_ssize_t size, Py_ssize_t max_line,
                        Rows *found, Pending *pending, Py_ssize_t max_lines,
                        Py_ssize_t *npending_out, Py_ssize_t *lines_out, Py_ssize_t *consumed)
{
    Py_ssize_t pos = 0, npending = 0, index = 0;
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
        if (n > 0 && untrimmed <= max_line && linescan_certify(p, n, f, &nf, &t)) {
            if (!linescan_take(found, buf, f, nf, &t)) {
                found->fold->out_of_memory = 1;
                break;
            }
        } else if (n > 0) {
            pending[npending++] = (Pending){index, pos, end - pos};
        }
        index++;
        pos = end + 1;
    }
    *npending_out = npending;
    *lines_out = index;
    *consumed = pos < size ? pos : size;
}

/* The rows in route order (a counting sort), so that each route is one slice of the batch. */
static void order_rows(const Row *meta, Py_ssize_t rows, int32_t *order, Py_ssize_t *per_route)
{
    Py_ssize_t next[NROUTES] = {0};
    for (Py_ssize_t r = 0; r < rows; r++)
        per_route[meta[r].route]++;
    for (int k = 1; k < NROUTES; k++)
        next[k] = next[k - 1] + per_route[k - 1];
    for (Py_ssize_t r = 0; r < rows; r++)
        order[next[meta[r].route]++] = (int32_t)r;
}

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

/* Pass 2, without the GIL: copy each field into its column, a line at a time, in route
 * order; the instants and field counts too. */
typedef struct {
    int64_t *at, *not_before, *not_after;
    uint8_t *validity; /* Arrow validity bitmap of not_before/not_after */
    int32_t *field_counts;
    uint8_t *tid, *tid_validity; /* 16 bytes a row, and their Arrow validity bitmap; or NULL */
} RowColumns;

static void fill_columns(const unsigned char *buf, Py_ssize_t size, const Cut *cuts,
                         const Row *meta, const int32_t *order, Py_ssize_t rows, char **data,
                         int32_t **offsets, RowColumns rc)
{
    int32_t used[NCOLS] = {0};
    for (int c = 0; c < NCOLS; c++)
        offsets[c][0] = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const Cut *cut = cuts + (Py_ssize_t)order[r] * NCOLS;
        /* reading 32 bytes stays inside */
        int safe = (Py_ssize_t)cut[NCOLS - 1].start + SLACK <= size;
        for (int c = 0; c < NCOLS; c++) {
            copy_field(data[c] + used[c], buf + cut[c].start, cut[c].len, safe);
            used[c] += cut[c].len;
            offsets[c][r + 1] = used[c];
        }
        const Row *m = meta + order[r];
        rc.at[r] = m->at;
        rc.not_before[r] = m->not_before;
        rc.not_after[r] = m->not_after;
        rc.field_counts[r] = m->nf;
        if (m->has_validity)
            rc.validity[r / 8] |= (uint8_t)(1u << (r % 8));
        if (rc.tid && trace_id(buf + cut[11].start, cut[11].len, rc.tid + r * 16))
            rc.tid_validity[r / 8] |= (uint8_t)(1u << (r % 8));
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

static PyObject *new_bytes(Py_ssize_t size)
{
    return PyByteArray_FromStringAndSize(NULL, size);
}

/* One column's pair (offsets, data), sized for `rows` and `size` bytes (+ SLACK). */
static PyObject *column_pair(Py_ssize_t rows, Py_ssize_t size, char **data, int32_t **offsets)
{
    PyObject *d = new_bytes(size + SLACK);
    PyObject *o = new_bytes((rows + 1) * 4);
    PyObject *pair = (d && o) ? PyTuple_Pack(2, o, d) : NULL;
    Py_XDECREF(d);
    Py_XDECREF(o);
    if (pair) {
        *data = PyByteArray_AS_STRING(d);
        *offsets = (int32_t *)PyByteArray_AS_STRING(o);
    }
    return pair;
}

PyObject *linescan_result(Scan *s, const unsigned char *buf, Py_ssize_t size)
{
    Py_ssize_t rows = s->rows, per_route[NROUTES] = {0};
    PyObject *result = NULL, *columns = NULL, *counts = NULL, *declined = NULL;
    PyObject *at = NULL, *not_before = NULL, *not_after = NULL, *validity = NULL;
    PyObject *tid = NULL, *tid_validity = NULL, *folded = NULL;
    Py_BEGIN_ALLOW_THREADS
    order_rows(s->meta, rows, s->order, per_route);
    Py_END_ALLOW_THREADS
    /* Columns of exactly the right size: memory handed to Arrow is all used. */
    counts = new_bytes(rows * 4);
    at = new_bytes(rows * 8);
    not_before = new_bytes(rows * 8);
    not_after = new_bytes(rows * 8);
    validity = new_bytes((rows + 7) / 8);
    if (s->trace_ids) {
        tid = new_bytes(rows * 16);
        tid_validity = new_bytes((rows + 7) / 8);
    } else { /* (None, None): the reader makes a column of nulls */
        tid = Py_NewRef(Py_None);
        tid_validity = Py_NewRef(Py_None);
    }
    columns = PyList_New(NCOLS);
    if (!counts || !at || !not_before || !not_after || !validity || !tid || !tid_validity ||
        !columns)
        goto done;
    memset(PyByteArray_AS_STRING(validity), 0, (size_t)((rows + 7) / 8));
    if (s->trace_ids) {
        memset(PyByteArray_AS_STRING(tid), 0, (size_t)(rows * 16));
        memset(PyByteArray_AS_STRING(tid_validity), 0, (size_t)((rows + 7) / 8));
    }
    char *data[NCOLS];
    int32_t *offsets[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        PyObject *pair = column_pair(rows, s->sizes[c], &data[c], &offsets[c]);
        if (!pair)
            goto done;
        PyList_SET_ITEM(columns, c, pair);
    }
    RowColumns rc = {(int64_t *)PyByteArray_AS_STRING(at),
                     (int64_t *)PyByteArray_AS_STRING(not_before),
                     (int64_t *)PyByteArray_AS_STRING(not_after),
                     (uint8_t *)PyByteArray_AS_STRING(validity),
                     (int32_t *)PyByteArray_AS_STRING(counts),
                     s->trace_ids ? (uint8_t *)PyByteArray_AS_STRING(tid) : NULL,
                     s->trace_ids ? (uint8_t *)PyByteArray_AS_STRING(tid_validity) : NULL};
    Py_BEGIN_ALLOW_THREADS
    fill_columns(buf, size, s->cuts, s->meta, s->order, rows, data, offsets, rc);
    Py_END_ALLOW_THREADS

    for (int c = 0; c < NCOLS; c++) {
        PyObject *d = PyTuple_GET_ITEM(PyList_GET_ITEM(columns, c), 1);
        if (PyByteArray_Resize(d, s->sizes[c]) < 0) /* a minor downsize: no copy */
            goto done;
    }
    declined = declined_list(buf, s->pending, s->npending);
    folded = linescan_folded(s->fold);
    if (!declined || !folded)
        goto done;
    result = Py_BuildValue("(nOOnO(OOOO)nO(OO)(nnn))", rows, columns, counts, s->seen,
                           declined, at, not_before, not_after, validity, s->consumed, folded,
                           tid, tid_validity, per_route[ROUTE_FAILED],
                           per_route[ROUTE_EXPIRING], per_route[ROUTE_OTHER]);
done:
    Py_XDECREF(columns);
    Py_XDECREF(counts);
    Py_XDECREF(declined);
    Py_XDECREF(at);
    Py_XDECREF(not_before);
    Py_XDECREF(not_after);
    Py_XDECREF(validity);
    Py_XDECREF(tid);
    Py_XDECREF(tid_validity);
    Py_XDECREF(folded);
    return result;
}

static PyObject *scan(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer view;
    Py_ssize_t max_line, max_lines = 1024 * 1024;
    PyObject *routing = Py_None, *result = NULL;
    int trace_ids = 0;
    if (!PyArg_ParseTuple(args, "y*n|nOp", &view, &max_line, &max_lines, &routing, &trace_ids))
        return NULL;
    const unsigned char *buf = view.buf;
    Py_ssize_t size = view.len;
    Scan s;
    if (size > INT32_MAX - SLACK || max_lines < 1 || max_lines > 16 * 1024 * 1024) {
        PyErr_SetString(PyExc_ValueError, "chunk over 2 GiB, or max_lines out of range");
        PyBuffer_Release(&view);
        return NULL;
    }
    /* At most max_lines lines per call: what is allocated per line (and the Python objects
     * made of declined lines) stays bounded however short the lines are. */
    Py_ssize_t lines = size + 1 < max_lines ? size + 1 : max_lines;
    if (!linescan_scan_alloc(&s, lines, routing))
        goto done;
    s.trace_ids = trace_ids;
    Py_BEGIN_ALLOW_THREADS
    Rows found = {s.cuts, s.meta, s.sizes, 0, s.fold, {NULL, 0, 0}};
    find_fields(buf, size, max_line, &found, s.pending, lines, &s.npending, &s.seen,
                &s.consumed);
    s.rows = found.n;
    PyMem_RawFree(found.latest.slots);
    Py_END_ALLOW_THREADS
    if (s.fold->out_of_memory) {
        PyErr_NoMemory();
        goto done;
    }
    result = linescan_result(&s, buf, size);
done:
    linescan_scan_free(&s);
    PyBuffer_Release(&view);
    return result;
}

/* glibc hands blocks over 32 MiB (and, until a first free, over 128 KiB) straight to mmap and
 * back to the kernel when freed, so every chunk of a log costs fresh, zeroed pages: that was a
 * third of the reader's CPU time. Keeping freed memory for reuse removes it; the reader's
 * memory stays bounded because its chunks are. But each arena keeps its own: with glibc's
 * default of 8 arenas per core, the threads of an S3 ingest (a download per object, each
 * handing 1 MiB chunks to the reader) kept some 25 MiB more, one arena per core does not. */
static PyObject *keep_freed_memory(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    mallopt(M_ARENA_MAX, cores > 2 ? (int)cores : 2);
#endif
    Py_RETURN_NONE;
}

static PyObject *verdicts_size(PyObject *self, PyObject *values)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(values);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0 || n > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "0 <= values <= 2**31 - 1 expected");
        return NULL;
    }
    return PyLong_FromSsize_t(linescan_verdicts_size(n));
}

static PyMethodDef methods[] = {
    {"keep_freed_memory", keep_freed_memory, METH_NOARGS,
     "Let the C allocator keep freed memory for reuse (glibc only; a no-op elsewhere)."},
    {"scan_columns", linescan_scan_columns, METH_VARARGS,
     "scan_columns(columns, first, rows, max_line, routing=None, trace_ids=False) -> what "
     "scan() returns, for "
     "rows [first, rows) of 15 string columns (see linescan_columns.c); lines are rows, "
     "declined lines (row, b'')"},
    {"verdicts_size", verdicts_size, METH_O,
     "verdicts_size(values) -> the bytes scan_columns keeps its verdicts on a dictionary of "
     "that many values in"},
    {"scan", scan, METH_VARARGS,
     "scan(data, max_line, max_lines=2**20, routing=None, trace_ids=False) -> (rows, "
     "[(offsets, data)] * 15, field_counts, lines, [(line_index, line)], (timestamp, "
     "not_before, not_after, validity_bitmap), bytes_consumed, (key, minute, n, first, last) folded counts as int32 "
     "and int64 columns, (trace_ids, validity_bitmap) or (None, None) without trace_ids, "
     "(failed, expiring, other))"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_linescan", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__linescan(void)
{
    linescan_init_tables();
    return PyModule_Create(&module);
}
