/* json.h: a small strict JSON (RFC 8259) parser for the safetensors header and the JSON-valued metadata.
 *
 * Strict: UTF-8 validated (no overlong forms, no surrogates, nothing above U+10FFFF), no control characters inside
 * strings, every escape including \uXXXX with surrogate pairs (a lone surrogate is rejected), the number grammar of
 * the RFC exactly (no leading zeros, no "+", no "."-only), nesting at most JSON_MAX_DEPTH, nothing but whitespace
 * after the value. Duplicate object keys are kept (in document order); callers that care check for them.
 */
#ifndef AVSL_JSON_H
#define AVSL_JSON_H

#include <stddef.h>
#include <stdint.h>

enum { JSON_MAX_DEPTH = 64 };

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
	json_type type;
	char *key;           /* member name when this value sits in an object (decoded, NUL-terminated) */
	size_t key_len;      /* bytes; like str_len, may exceed strlen(key) when the name holds \u0000 */
	char *str;           /* JSON_STRING: decoded UTF-8, NUL-terminated */
	size_t str_len;      /* bytes; a "\u0000" escape makes strlen(str) < str_len */
	double num;          /* JSON_NUMBER */
	int is_uint;         /* JSON_NUMBER written as a plain non-negative integer (no '-', '.', exponent) */
	uint64_t u;          /* its value when is_uint; is_uint is 0 if it does not fit in 64 bits */
	size_t n;            /* JSON_ARRAY / JSON_OBJECT: element count */
	json_value *items;   /* (n) */
};

/* Parse text[len]. Returns the root (free with json_free) or NULL with a one-line reason in why (e.g.
 * "byte 17: expected ':' after object key"). */
json_value *json_parse(const char *text, size_t len, char *why, size_t why_len);
/* Same, failing once the document holds more than max_values values (each value costs about 90 bytes of memory,
 * so an input can be held to a memory budget whatever its shape). */
json_value *json_parse_limited(const char *text, size_t len, size_t max_values, char *why, size_t why_len);
void json_free(json_value *v);

/* Member of an object by name (first match), or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
/* Check that s[len] is well-formed UTF-8 (the rules above). Returns the byte offset of the first bad byte, or -1. */
long json_utf8_invalid_at(const unsigned char *s, size_t len);

#endif
