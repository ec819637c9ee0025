/* libFuzzer harness for the strict JSON parser (formats/json.c) that reads the safetensors header and the
 * JSON-valued checkpoint metadata. Every accepted document is walked in full (keys, strings with their byte lengths,
 * numbers) and looked up by its own keys; the UTF-8 checker runs on the raw input. A value budget keeps one input
 * from allocating without bound, as the safetensors reader does. Build and run: `make fuzz` (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"

static volatile size_t sink;

static size_t walk(const json_value *v, int depth)
{
	size_t acc = (size_t)v->type + (size_t)depth;
	if (v->key)
		acc += v->key_len ? (unsigned char)v->key[v->key_len - 1] : 0;
	switch (v->type) {
	case JSON_STRING:
		acc += v->str_len ? (unsigned char)v->str[v->str_len - 1] : 0;
		acc += (unsigned char)v->str[v->str_len]; /* the terminating NUL */
		break;
	case JSON_NUMBER:
		acc += v->is_uint ? (size_t)v->u : (size_t)(v->num == v->num);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		for (size_t i = 0; i < v->n; i++) {
			acc += walk(&v->items[i], depth + 1);
			if (v->type == JSON_OBJECT)
				acc += json_get(v, v->items[i].key) != NULL;
		}
		break;
	default:
		break;
	}
	return acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[200];
	sink = (size_t)json_utf8_invalid_at(data, size);
	json_value *v = json_parse_limited((const char *)data, size, 100000, why, sizeof why);
	if (v) {
		sink = walk(v, 0);
		json_free(v);
	} else {
		sink = strlen(why);
	}
	return 0;
}
