/*
 * scan_columns(): the line scanner's pass 1 for records that come as columns (a Parquet row
 * group's Arrow arrays, logs/vended/columnar.py), without writing them as lines first.
 *
 * A row is certified exactly as the legacy line lines.py writes of it would be: each field
 * is its value, or "-" when the value is null, "" or "-"; every field but the subject must
 * be a token and the subject valid UTF-8 without a control character or double quote (so
 * that the line, written, splits back into these very fields), the line must fit in
 * max_line, and the fields then pass the checks of linescan_certify.c (the same function,
 * called once per dictionary value rather than per row where the column is dictionary
 * coded). The bytes the rows' values lie in (each column's values for these rows, or its
 * dictionary) are first copied, a column after another, into one buffer, which a certified
 * row's fields then point into: it is taken as a certified line is (routed, counted, kept:
 * linescan_take), and pass 2 and the result are scan()'s. Any other row is
 * declined, by its index: the caller writes it as its legacy line, for the line scanner and
 * the SQL parser, which decide what it is. A row with neither tls_verify_status nor client_ip
 * (not a connection record) is an empty line: counted, neither a row nor declined.
 */
#include "linescan.h"

#define CLIENT_IP 1
#define STATUS 10

/* The certification of a column's dictionary values, each made on its first use: most
 * fields repeat a few values, which are then checked once rather than once per row. A byte
 * per value (0: not yet; 1: certified; 2: declined), apart from the instants (of the time
 * and the validity), so that the bytes stay in the nearest cache. One block: the bytes,
 * padded to 8, then the instants. */
typedef struct {
    uint8_t *state;
    Times *t;
} Verdicts;

static Py_ssize_t verdicts_size(Py_ssize_t values)
{
    return (values + 8) / 8 * 8 + values * (Py_ssize_t)sizeof(Times);
}

static Verdicts verdicts_in(void *block, Py_ssize_t values)
{
    return (Verdicts){block, (Times *)((unsigned char *)block + (values + 8) / 8 * 8)};
}

/* One field's column: string values (offsets into data), through dictionary indices when
 * indices is set; or numbers (int32, int64 or float64 values), written here as text
 * (linescan_numbers.c). A NULL column is one whose values are all empty. */
typedef struct {
    Py_buffer validity, offsets, data, indices, kept;
    int has_validity, has_indices, present, has_kept;
    Py_ssize_t offset, dict_offset, dict_length;
    Verdicts verdicts; /* of the dictionary values */
    void *block;        /* the verdicts' memory, when not kept by the caller */
    Numbers numbers;    /* of a column of numbers: their text */
    const int32_t *offs; /* the values' offsets: the Arrow ones, or numbers.offsets */
    const unsigned char *src;
    Py_ssize_t src_len, offs_base; /* offs_base: what row r's offsets index adds to r */
    int32_t lo, hi;     /* the values' bytes: src[lo, hi), copied to bytes + lo */
    const unsigned char *bytes;
} Column;

static void release_columns(Column *cols)
{
    for (int c = 0; c < NCOLS; c++) {
        if (!cols[c].has_kept)
            PyMem_RawFree(cols[c].block);
        linescan_numbers_free(&cols[c].numbers);
        Py_buffer *views[] = {&cols[c].validity, &cols[c].offsets, &cols[c].data, &cols[c].indices,
                              &cols[c].kept};
        for (int k = 0; k < 5; k++)
            if (views[k]->obj)
                PyBuffer_Release(views[k]);
    }
}

static int get_view(PyObject *obj, Py_buffer *view, int *has)
{
    *has = obj != Py_None;
    return !*has || PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) == 0;
}

static int too_short(const Py_buffer *view, Py_ssize_t bytes)
{
    if (view->len >= bytes)
        return 0;
    PyErr_SetString(PyExc_ValueError, "a column's buffer is shorter than its rows");
    return 1;
}

/* (kind, validity, values, offset): numbers, kind 4 (int32), 8 (int64) or -8 (float64),
 * written as text for rows [first, rows). */
static int parse_numbers(PyObject *item, Py_ssize_t first, Py_ssize_t rows, Column *col)
{
    PyObject *validity, *values;
    int kind, has;
    if (!PyArg_ParseTuple(item, "iOOn", &kind, &validity, &values, &col->offset))
        return 0;
    col->present = 1;
    if (!get_view(validity, &col->validity, &col->has_validity) ||
        !get_view(values, &col->data, &has))
        return 0;
    Py_ssize_t width = kind < 0 ? -kind : kind, end = col->offset + rows;
    if ((kind != 4 && kind != 8 && kind != -8) || col->offset < 0 ||
        rows - first > INT32_MAX / 32) {
        PyErr_SetString(PyExc_ValueError, "numbers of kind 4, 8 or -8, fewer rows, expected");
        return 0;
    }
    if ((col->has_validity && too_short(&col->validity, (end + 7) / 8)) ||
        too_short(&col->data, end * width))
        return 0;
    if (!linescan_numbers_text(&col->numbers, kind, col->data.buf, col->offset, first, rows)) {
        PyErr_NoMemory();
        return 0;
    }
    col->offs = col->numbers.offsets;
    col->src = col->numbers.text;
    col->src_len = col->numbers.size;
    col->offs_base = 0;
    return 1;
}

/* (validity, offsets, data, indices, offset, dict_offset, dict_length, verdicts) or None,
 * checked against `rows`: values are read only within the buffers. verdicts is None or, for
 * a dictionary, a writable buffer of verdicts_size(dict_length) bytes that keeps the
 * verdicts on its values from one call to the next (zeroed: none yet): the caller gives the
 * same one only for the same dictionary values. */
static int parse_column(PyObject *item, Py_ssize_t first, Py_ssize_t rows, Column *col)
{
    memset(col, 0, sizeof(*col));
    if (item == Py_None)
        return 1;
    if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 4)
        return parse_numbers(item, first, rows, col);
    PyObject *validity, *offsets, *data, *indices, *kept;
    int has;
    if (!PyArg_ParseTuple(item, "OOOOnnnO", &validity, &offsets, &data, &indices, &col->offset,
                          &col->dict_offset, &col->dict_length, &kept))
        return 0;
    col->has_kept = kept != Py_None;
    if (col->has_kept && PyObject_GetBuffer(kept, &col->kept, PyBUF_WRITABLE) < 0)
        return 0;
    col->present = 1;
    if (!get_view(validity, &col->validity, &col->has_validity) ||
        !get_view(offsets, &col->offsets, &has) || !get_view(data, &col->data, &has) ||
        !get_view(indices, &col->indices, &col->has_indices))
        return 0;
    if (col->offset < 0 || col->dict_offset < 0 || col->dict_length < 0) {
        PyErr_SetString(PyExc_ValueError, "negative offset");
        return 0;
    }
    Py_ssize_t end = col->offset + rows;
    if (col->has_validity && too_short(&col->validity, (end + 7) / 8))
        return 0;
    col->offs = col->offsets.buf;
    col->src = col->data.buf;
    col->src_len = col->data.len;
    col->offs_base = col->offset;
    if (!col->has_indices)
        return !too_short(&col->offsets, (end + 1) * 4);
    if (too_short(&col->indices, end * 4) ||
        too_short(&col->offsets, (col->dict_offset + col->dict_length + 1) * 4))
        return 0;
    if (col->has_kept) {
        if (too_short(&col->kept, verdicts_size(col->dict_length)))
            return 0;
        col->verdicts = verdicts_in(col->kept.buf, col->dict_length);
        return 1;
    }
    col->block = PyMem_RawCalloc((size_t)verdicts_size(col->dict_length), 1);
    if (!col->block) {
        PyErr_NoMemory();
        return 0;
    }
    col->verdicts = verdicts_in(col->block, col->dict_length);
    return 1;
}

/* Row r's value of col, "-" when empty; *present is 0 when null or "", *code its
 * dictionary index (-1 for none). 0 when the value lies outside its buffers, 2 for a number
 * not written here. */
static int value(const Column *col, Py_ssize_t r, Span *out, int *present, int32_t *code,
                 const Span *dash)
{
    *out = *dash;
    *present = 0;
    *code = -1;
    if (!col->present)
        return 1;
    Py_ssize_t i = col->offset + r;
    if (col->has_validity && !(((const uint8_t *)col->validity.buf)[i / 8] >> (i % 8) & 1))
        return 1;
    i = col->offs_base + r;
    if (col->has_indices) {
        int32_t k = ((const int32_t *)col->indices.buf)[col->offset + r];
        if (k < 0 || k >= col->dict_length)
            return 0;
        *code = k;
        i = col->dict_offset + k;
    } else if (col->numbers.undone && col->numbers.undone[r]) {
        return 2; /* a number lines.py writes otherwise: the row is declined */
    }
    const int32_t *offsets = col->offs;
    int32_t start = offsets[i], stop = offsets[i + 1];
    if (start < col->lo || stop < start || stop > col->hi)
        return 0;
    if (stop > start) {
        *present = 1;
        *out = (Span){col->bytes + start, stop - start};
    }
    return 1;
}

/* Where col's values for rows [first, rows) lie in its data: [lo, hi). 0 when that is not
 * within the data. */
static int value_range(Column *col, Py_ssize_t first, Py_ssize_t rows)
{
    const int32_t *offsets = col->offs;
    Py_ssize_t from = col->has_indices ? col->dict_offset : col->offs_base + first;
    Py_ssize_t to = col->has_indices ? col->dict_offset + col->dict_length : col->offs_base + rows;
    col->lo = offsets[from];
    col->hi = offsets[to];
    if (col->lo < 0 || col->hi < col->lo || col->hi > col->src_len) {
        PyErr_SetString(PyExc_ValueError, "a column's offsets lie outside its data");
        return 0;
    }
    return 1;
}

/* The buffer the rows' fields are read from: each column's values, then "-", then SLACK
 * bytes, so that pass 2 may copy 32 bytes from any field's start. */
static unsigned char *gather(Column *cols, Py_ssize_t first, Py_ssize_t rows, Py_ssize_t *size)
{
    Py_ssize_t total = 1 + SLACK;
    for (int c = 0; c < NCOLS; c++) {
        if (!cols[c].present)
            continue;
        if (!value_range(&cols[c], first, rows))
            return NULL;
        total += cols[c].hi - cols[c].lo;
    }
    if (total > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a batch's values are over 2 GiB");
        return NULL;
    }
    unsigned char *buf = PyMem_RawMalloc((size_t)total);
    if (!buf) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t used = 0;
    for (int c = 0; c < NCOLS; c++) {
        Column *col = &cols[c];
        if (!col->present)
            continue;
        if (col->hi > col->lo)
            memcpy(buf + used, col->src + col->lo, (size_t)(col->hi - col->lo));
        col->bytes = buf + used - col->lo;
        used += col->hi - col->lo;
    }
    buf[used] = '-';
    memset(buf + used + 1, 0, SLACK);
    *size = total;
    return buf;
}

/* Field c of a row (dictionary index code, or -1) certified: once per dictionary value. */
static int certify_value(const Column *col, int c, int32_t code, Span s, Times *t)
{
    if (code < 0)
        return linescan_certify_field(c, s, t);
    uint8_t *state = &col->verdicts.state[code];
    if (*state == 0) {
        Times made;
        *state = linescan_certify_field(c, s, &made) ? 1 : 2;
        if (c == 0 || c == 8)
            col->verdicts.t[code] = made;
    }
    if (c == 0)
        t->at = col->verdicts.t[code].at;
    else if (c == 8) {
        const Times *made = &col->verdicts.t[code];
        t->not_before = made->not_before;
        t->not_after = made->not_after;
        t->has_validity = made->has_validity;
    }
    return *state == 1;
}

/* 1: the fields of a connection record, certified; 0: declined; -1: not a connection
 * record; -2: a value out of its buffer. */
static int certify_row(const Column *cols, Py_ssize_t r, Py_ssize_t max_line, Span *f, Times *t,
                       const Span *dash)
{
    Py_ssize_t length = NCOLS - 1 + 2; /* the spaces and the subject's quotes */
    int32_t codes[NCOLS];
    int keyed = 0, present, undone = 0;
    for (int c = 0; c < NCOLS; c++) {
        int got = value(&cols[c], r, &f[c], &present, &codes[c], dash);
        if (!got)
            return -2;
        undone |= got == 2;
        keyed |= present && (c == STATUS || c == CLIENT_IP);
        length += f[c].n;
    }
    if (undone) /* what the row is (a record or not) is the line path's to say */
        return 0;
    if (!keyed)
        return -1;
    if (length > max_line)
        return 0;
    for (int c = 0; c < NCOLS; c++)
        if (!certify_value(&cols[c], c, codes[c], f[c], t))
            return 0;
    return 1;
}

/* Pass 1 over rows [first, rows), whose fields lie in buf (gather). 0 when out of memory,
 * -1 when a value lies outside its buffer. */
static int find_rows(const Column *cols, Py_ssize_t first, Py_ssize_t rows, Py_ssize_t max_line,
                     Scan *s, const unsigned char *buf, const Span *dash)
{
    Rows found = {s->cuts, s->meta, s->sizes, 0, s->fold, {NULL, 0, 0}};
    int status = 1;
    for (Py_ssize_t r = first; r < rows; r++) {
        Span f[NCOLS];
        Times t;
        int verdict = certify_row(cols, r, max_line, f, &t, dash);
        if (verdict == -2) {
            status = -1;
            break;
        }
        if (verdict == 0)
            s->pending[s->npending++] = (Pending){r, 0, 0};
        if (verdict == 1 && !linescan_take(&found, buf, f, NCOLS, &t)) {
            status = 0;
            break;
        }
    }
    s->rows = found.n;
    s->seen = s->consumed = rows - first;
    PyMem_RawFree(found.latest.slots);
    return status;
}

PyObject *linescan_scan_columns(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *list, *routing = Py_None, *result = NULL;
    Py_ssize_t first, rows, max_line, size = 0;
    int trace_ids = 0;
    if (!PyArg_ParseTuple(args, "O!nnn|Op", &PyList_Type, &list, &first, &rows, &max_line,
                          &routing, &trace_ids))
        return NULL;
    if (PyList_GET_SIZE(list) != NCOLS || first < 0 || rows < first || rows > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "15 columns, and 0 <= first <= rows, expected");
        return NULL;
    }
    Column cols[NCOLS];
    memset(cols, 0, sizeof(cols));
    Scan s;
    memset(&s, 0, sizeof(s));
    unsigned char *buf = NULL;
    int parsed = 1;
    for (int c = 0; c < NCOLS && parsed; c++)
        parsed = parse_column(PyList_GET_ITEM(list, c), first, rows, &cols[c]);
    if (!parsed || !linescan_scan_alloc(&s, rows - first, routing))
        goto done;
    s.trace_ids = trace_ids;
    buf = gather(cols, first, rows, &size);
    if (!buf)
        goto done;
    Span dash = {buf + size - SLACK - 1, 1};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = find_rows(cols, first, rows, max_line, &s, buf, &dash);
    Py_END_ALLOW_THREADS
    if (status == 0 || s.fold->out_of_memory) {
        PyErr_NoMemory();
        goto done;
    }
    if (status < 0) {
        PyErr_SetString(PyExc_ValueError, "a value lies outside its column's buffer");
        goto done;
    }
    result = linescan_result(&s, buf, size);
done:
    linescan_scan_free(&s);
    PyMem_RawFree(buf);
    release_columns(cols);
    return result;
}

Py_ssize_t linescan_verdicts_size(Py_ssize_t values)
{
    return verdicts_size(values);
}
