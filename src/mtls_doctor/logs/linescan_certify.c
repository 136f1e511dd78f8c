/*
 * Certification of one ALB log line: each field's syntax, as parse.LINE_RE has it, plus the
 * date-exists check of the SQL cast. Narrower than the SQL is fine (a declined line is parsed
 * by SQL); wider is a bug, which tests/logs/test_linescan.py looks for.
 */
#include "linescan.h"

static unsigned char TOKEN_BYTE[256], SUBJECT_ASCII[256];

void linescan_init_tables(void)
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

/* Field c's own syntax (t filled in for the time and the validity). */
static int check_field(int c, Span s, Times *t)
{
    switch (c) {
    case 0:
        return check_time(s.p, s.n, &t->at);
    case 1:
        return check_ipv4(s.p, s.n) || check_ipv6(s.p, s.n);
    case 2:
    case 3:
        return check_port(s.p, s.n);
    case 6:
        return check_latency(s);
    case 8:
        return check_validity(s, &t->not_before, &t->not_after, &t->has_validity);
    case 9:
        return check_serial(s);
    case 10:
        return check_status(s);
    default:
        return 1;
    }
}

static int check_fields(const Span *f, Times *t)
{
    for (int c = 0; c < NCOLS; c++)
        if (!check_field(c, f[c], t))
            return 0;
    return 1;
}

int linescan_certify_field(int c, Span s, Times *t)
{
    int text = c == SUBJECT ? check_subject_text(s.p, s.n) /* it refuses a double quote */
                            : s.n > 0 && token_end(s.p, 0, s.n) == s.n;
    return text && check_field(c, s, t);
}

/* Split and certify one line (no newline, trailing spaces removed). */
int linescan_certify(const unsigned char *p, Py_ssize_t n, Span *f, int *nfields, Times *t)
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
    if (k < MIN_FIELDS)
        return 0;
    /* Older logs end after field 12 or 13 (spec 1.4): the fields they lack are empty, as
     * the SQL parser reads them (NULL once typed, like an empty field). */
    for (int c = k; c < NCOLS; c++)
        f[c] = (Span){p + n, 0};
    return check_fields(f, t);
}
