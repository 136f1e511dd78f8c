/*
 * Numbers as the text lines.py writes of them, for scan_columns (linescan_columns.c): a
 * Parquet port is an integer, a latency a double, and writing them as text with pyarrow cost
 * more than the scan of their rows.
 *
 * An integer is its decimal digits, "-" first when negative (pyarrow's cast to string). A
 * double is lines.py's _float_arithmetic, which its fast path equals for every value
 * (tests/logs/vended/test_parquet.py): |v| times 10^6, rounded half to even, as whole
 * units and up to six decimals without trailing zeros, "-" first when v < 0. A double that
 * is not finite or is 10^12 or more is written otherwise there ("inf", an exponent): it is
 * marked undone, and its row declined, to be written as a line by lines.py itself.
 */
#include "linescan.h"

#include <math.h>

#define MAX_TEXT 24 /* bytes of the longest text: "-9223372036854775808", "-999999999999.999999" */

static int put_integer(unsigned char *p, int64_t v)
{
    unsigned char digits[20];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = 0, len = 0;
    do {
        digits[n++] = (unsigned char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        p[len++] = '-';
    while (n)
        p[len++] = digits[--n];
    return len;
}

/* -1 when lines.py writes v otherwise. */
static int put_double(unsigned char *p, double v)
{
    double size = fabs(v);
    if (!(size < 1e12)) /* also NaN */
        return -1;
    int64_t micros = (int64_t)nearbyint(size * 1e6); /* half to even: the default mode */
    int64_t rest = micros % 1000000;
    int len = 0;
    if (v < 0)
        p[len++] = '-';
    len += put_integer(p + len, micros / 1000000);
    if (rest) {
        unsigned char digits[6];
        for (int k = 5; k >= 0; k--, rest /= 10)
            digits[k] = (unsigned char)('0' + rest % 10);
        int keep = 6;
        while (digits[keep - 1] == '0')
            keep--;
        p[len++] = '.';
        memcpy(p + len, digits, (size_t)keep);
        len += keep;
    }
    return len;
}

void linescan_numbers_free(Numbers *numbers)
{
    PyMem_RawFree(numbers->offsets);
    PyMem_RawFree(numbers->text);
    PyMem_RawFree(numbers->undone);
    memset(numbers, 0, sizeof(*numbers));
}

/* kind 4: int32 values, 8: int64, -8: float64; values[offset + r] is row r's. 0 when out
 * of memory. */
int linescan_numbers_text(Numbers *out, int kind, const void *values, Py_ssize_t offset,
                          Py_ssize_t first, Py_ssize_t rows)
{
    memset(out, 0, sizeof(*out));
    out->offsets = PyMem_RawMalloc(sizeof(int32_t) * (size_t)(rows + 1));
    out->text = PyMem_RawMalloc((size_t)(rows - first) * MAX_TEXT + 1);
    if (kind < 0)
        out->undone = PyMem_RawCalloc((size_t)rows + 1, 1);
    if (!out->offsets || !out->text || (kind < 0 && !out->undone)) {
        linescan_numbers_free(out);
        return 0;
    }
    int32_t used = 0;
    for (Py_ssize_t r = first; r < rows; r++) {
        Py_ssize_t i = offset + r;
        int len;
        out->offsets[r] = used;
        if (kind == 4)
            len = put_integer(out->text + used, ((const int32_t *)values)[i]);
        else if (kind == 8)
            len = put_integer(out->text + used, ((const int64_t *)values)[i]);
        else
            len = put_double(out->text + used, ((const double *)values)[i]);
        if (len < 0) {
            out->undone[r] = 1;
            len = 0;
        }
        used += len;
    }
    out->offsets[rows] = used;
    out->size = used;
    return 1;
}
