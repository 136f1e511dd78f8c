/*
 * The JSON-lines converter's reader: one line into the values of the 15 fields, or a refusal
 * (see _jsonlines.c). Only what a flat record needs: strings, numbers without an exponent,
 * true, false, null; nested values are skipped for keys that are not fields.
 */
#include "jsonlines.h"

static const char *NAMES[NFIELDS] = {
    "time", "client_ip", "client_port", "listener_port", "tls_protocol", "tls_cipher",
    "tls_handshake_latency", "leaf_client_cert_subject", "leaf_client_cert_validity",
    "leaf_client_cert_serial_number", "tls_verify_status", "conn_trace_id", "tls_keyexchange",
    "elb", "ip_address"};

static void skip_ws(In *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\r'))
        in->p++;
}

int jsonlines_utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    int n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (end - p < n)
        return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F)))
        return 0;
    if (n == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F)))
        return 0;
    return n;
}

/* Bytes a string scan must stop at: the quote, a backslash, control and non-ASCII bytes. */
static unsigned char SPECIAL[256];

/* A JSON string at in->p (after its opening quote): its content span. 0 to decline. */
static int read_string(In *in, Value *v)
{
    const unsigned char *start = in->p;
    v->escaped = 0;
    while (in->p < in->end) {
        while (in->p < in->end && !SPECIAL[*in->p]) /* most bytes: one load, one test */
            in->p++;
        if (in->p >= in->end)
            break;
        unsigned char c = *in->p;
        if (c == '"') {
            v->p = start;
            v->n = in->p - start;
            in->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            v->escaped = 1;
            if (in->end - in->p < 2)
                return 0;
            in->p += 2;
            continue;
        }
        if (c >= 0x80) {
            int n = jsonlines_utf8_len(in->p, in->end);
            if (!n)
                return 0;
            in->p += n;
            continue;
        }
        in->p++;
    }
    return 0;
}

static int read_number(In *in, Value *v)
{
    const unsigned char *start = in->p;
    int is_float = 0;
    if (in->p < in->end && *in->p == '-')
        in->p++;
    if (in->p >= in->end || *in->p < '0' || *in->p > '9')
        return 0;
    if (*in->p == '0' && in->p + 1 < in->end && in->p[1] >= '0' && in->p[1] <= '9')
        return 0;
    while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
        in->p++;
    if (in->p < in->end && *in->p == '.') {
        is_float = 1;
        in->p++;
        if (in->p >= in->end || *in->p < '0' || *in->p > '9')
            return 0;
        while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
            in->p++;
    }
    if (in->p < in->end && (*in->p == 'e' || *in->p == 'E'))
        return 0; /* an exponent: Python writes it (rare) */
    v->p = start;
    v->n = in->p - start;
    if (v->n > 18 || (!is_float && start[0] == '-' && v->n == 2 && start[1] == '0'))
        return 0; /* beyond int64, or -0: Python */
    v->kind = is_float ? V_FLOAT : V_LITERAL;
    return 1;
}

static int match_word(In *in, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0)
        return 0;
    in->p += n;
    return 1;
}

/* Skip any JSON value of a key we do not read (nesting allowed). 0 to decline. */
static int skip_value(In *in)
{
    int depth = 0;
    Value v;
    do {
        skip_ws(in);
        if (in->p >= in->end)
            return 0;
        unsigned char c = *in->p;
        if (c == '"') {
            in->p++;
            if (!read_string(in, &v))
                return 0;
        } else if (c == '{' || c == '[') {
            depth++;
            in->p++;
            continue;
        } else if (c == '}' || c == ']') {
            if (!depth)
                return 0;
            depth--;
            in->p++;
        } else if (c == ',' || c == ':') {
            if (!depth)
                return 0;
            in->p++;
            continue;
        } else if (c == 't' ? match_word(in, "true")
                   : c == 'f' ? match_word(in, "false")
                   : c == 'n' ? match_word(in, "null")
                              : read_number(in, &v)) {
        } else {
            return 0;
        }
    } while (depth > 0);
    return 1;
}

static size_t NAME_LENGTHS[NFIELDS];

static int is_name(const Value *key, int i)
{
    return (size_t)key->n == NAME_LENGTHS[i] && memcmp(key->p, NAMES[i], key->n) == 0;
}

/* The field a key names (-1: none we read). Keys mostly come in the documented order, so
 * the one after ``hint`` is tried first. */
static int field_index(const Value *key, int hint)
{
    if (hint >= 0 && hint < NFIELDS && is_name(key, hint))
        return hint;
    for (int i = 0; i < NFIELDS; i++)
        if (is_name(key, i))
            return i;
    if (key->n == 9 && memcmp(key->p, "timestamp", 9) == 0)
        return TIMESTAMP_SYNONYM;
    return -1;
}

static int is_empty(const Value *v)
{
    return v->kind == V_NONE || v->kind == V_NULL || (v->kind == V_STRING && v->n == 0);
}

int jsonlines_read_record(In *in, Value *values)
{
    int hint = 0;
    memset(values, 0, sizeof(Value) * NFIELDS);
    skip_ws(in);
    if (in->p >= in->end)
        return 2;
    if (*in->p != '{')
        return 0;
    in->p++;
    skip_ws(in);
    if (in->p < in->end && *in->p == '}') {
        in->p++;
    } else {
        for (;;) {
            Value key, value = {0};
            skip_ws(in);
            if (in->p >= in->end || *in->p != '"')
                return 0;
            in->p++;
            if (!read_string(in, &key))
                return 0;
            skip_ws(in);
            if (in->p >= in->end || *in->p != ':')
                return 0;
            in->p++;
            skip_ws(in);
            if (in->p >= in->end)
                return 0;
            if (key.escaped)
                return 0; /* a key spelt with escapes: Python decodes it */
            int index = field_index(&key, hint);
            hint = index == TIMESTAMP_SYNONYM ? 1 : index + 1;
            if (index == -1) {
                if (!skip_value(in))
                    return 0;
            } else {
                unsigned char c = *in->p;
                if (c == '"') {
                    in->p++;
                    if (!read_string(in, &value))
                        return 0;
                    value.kind = V_STRING;
                } else if (c == 'n' && match_word(in, "null")) {
                    value.kind = V_NULL;
                } else if (c == 't' && match_word(in, "true")) {
                    value = (Value){(const unsigned char *)"true", 4, V_LITERAL, 0, 0};
                } else if (c == 'f' && match_word(in, "false")) {
                    value = (Value){(const unsigned char *)"false", 5, V_LITERAL, 0, 0};
                } else if (c == '-' || (c >= '0' && c <= '9')) {
                    if (!read_number(in, &value))
                        return 0;
                } else {
                    return 0; /* an object or a list for a field: Python names it */
                }
                /* "time" wins over its synonym, unless it is empty (null or "") */
                if (index == TIMESTAMP_SYNONYM) {
                    index = 0;
                    value.from_synonym = 1;
                    if (!is_empty(&values[0]) && !values[0].from_synonym)
                        index = -1;
                    else if (is_empty(&value) && !is_empty(&values[0]))
                        index = -1; /* an empty synonym leaves an earlier one's value */
                } else if (index == 0 && is_empty(&value) && values[0].from_synonym &&
                           !is_empty(&values[0])) {
                    index = -1;
                }
                if (index == 0 && value.kind != V_STRING && value.kind != V_NULL)
                    return 0; /* a number in time: seconds since the epoch (Python) */
                if (index >= 0)
                    values[index] = value;
            }
            skip_ws(in);
            if (in->p < in->end && *in->p == ',') {
                in->p++;
                continue;
            }
            if (in->p < in->end && *in->p == '}') {
                in->p++;
                break;
            }
            return 0;
        }
    }
    skip_ws(in);
    return in->p == in->end ? 1 : 0;
}

void jsonlines_init(void)
{
    for (int i = 0; i < NFIELDS; i++)
        NAME_LENGTHS[i] = strlen(NAMES[i]);
    for (int c = 0; c < 256; c++)
        SPECIAL[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}
