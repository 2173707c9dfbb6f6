/* Reading config text into a libyaml document, from parser events.
 *
 * We do not use yaml_parser_load(): libyaml's scanner costs O(depth) per token, so a file
 * of 100k '[' takes a minute to reject. Building the document from events lets us stop at
 * CFG_MAX_DEPTH levels (our schema needs 6) while parsing, check aliases and keep each
 * node's marks (yaml_document_add_* leaves them at zero, so we stamp them from the events:
 * a collection ends where its end event does, as with yaml_parser_load()).
 */
#include "config/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/compat.h"


typedef struct anchor {
    char *name;
    int id;
} anchor_t;

typedef struct frame {
    int id;  /* collection node */
    int key; /* mapping: key waiting for its value, 0 if none */
} frame_t;

typedef struct builder {
    yaml_document_t *doc;
    frame_t stack[CFG_MAX_DEPTH];
    int depth;
    anchor_t *anchors;
    size_t n_anchors;
    int docs; /* documents seen */
    const char *file;
    bg_err_t *err;
} builder_t;

static int fail_at(builder_t *b, yaml_mark_t m, const char *msg, const char *arg)
{
    return bg_err_set_at(b->err, BG_EINVAL, b->file, (unsigned)m.line + 1, (unsigned)m.column + 1,
                         NULL, msg, arg);
}

/* Links node <id> into the collection on top of the stack (or makes it the root). */
static int attach(builder_t *b, int id)
{
    frame_t *f;
    yaml_node_t *parent;

    if (b->depth == 0)
        return 0;
    f = &b->stack[b->depth - 1];
    parent = yaml_document_get_node(b->doc, f->id);
    if (parent->type == YAML_SEQUENCE_NODE)
        return yaml_document_append_sequence_item(b->doc, f->id, id) ? 0 : BG_EINVAL;
    if (f->key == 0) {
        f->key = id;
        return 0;
    }
    if (!yaml_document_append_mapping_pair(b->doc, f->id, f->key, id))
        return BG_EINVAL;
    f->key = 0;
    return 0;
}

/* Stamps the event's position on node <id>, records its anchor and links it. */
static int place(builder_t *b, int id, const yaml_event_t *ev, const yaml_char_t *anchor)
{
    if (id == 0)
        return fail_at(b, ev->start_mark, "%s", "cannot build YAML node");
    yaml_document_get_node(b->doc, id)->start_mark = ev->start_mark;
    yaml_document_get_node(b->doc, id)->end_mark = ev->end_mark;
    if (anchor != NULL) {
        b->anchors = bg_xrealloc(b->anchors, (b->n_anchors + 1) * sizeof(anchor_t));
        b->anchors[b->n_anchors].name = bg_strdup((const char *)anchor);
        b->anchors[b->n_anchors++].id = id;
    }
    return attach(b, id);
}

static int on_alias(builder_t *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;

    /* latest definition wins (YAML 1.2 §3.2.2.2) */
    for (size_t i = b->n_anchors; i-- > 0;)
        if (strcmp(b->anchors[i].name, name) == 0)
            return attach(b, b->anchors[i].id);
    return fail_at(b, ev->start_mark, "unknown alias *%s", name);
}

static int on_collection(builder_t *b, const yaml_event_t *ev)
{
    bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
    int id, rc;

    if (b->depth == CFG_MAX_DEPTH)
        return bg_err_set_at(b->err, BG_EINVAL, b->file, (unsigned)ev->start_mark.line + 1,
                             (unsigned)ev->start_mark.column + 1, NULL,
                             "nesting deeper than %d levels", CFG_MAX_DEPTH);
    id = seq ? yaml_document_add_sequence(b->doc, NULL, ev->data.sequence_start.style)
             : yaml_document_add_mapping(b->doc, NULL, ev->data.mapping_start.style);
    rc = place(b, id, ev, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor);
    if (rc != 0)
        return rc;
    b->stack[b->depth++] = (frame_t){id, 0};
    return 0;
}

static int on_event(builder_t *b, const yaml_event_t *ev)
{
    int id;

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->docs++ > 0)
            return fail_at(b, ev->start_mark, "%s",
                           "expected one YAML document, found a second one");
        return 0;
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.length > INT_MAX)
            return fail_at(b, ev->start_mark, "%s", "value too long");
        id = yaml_document_add_scalar(b->doc, NULL, ev->data.scalar.value,
                                      (int)ev->data.scalar.length, ev->data.scalar.style);
        return place(b, id, ev, ev->data.scalar.anchor);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return on_collection(b, ev);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        yaml_document_get_node(b->doc, b->stack[b->depth - 1].id)->end_mark = ev->end_mark;
        b->depth--;
        return 0;
    default:
        return 0;
    }
}

int cfg_doc_load(const char *text, size_t len, const char *file, yaml_document_t *doc,
                 bg_err_t *err)
{
    builder_t b = {.doc = doc, .file = file, .err = err};
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0;

    memset(doc, 0, sizeof(*doc));
    if (!yaml_parser_initialize(&parser))
        return bg_err_set_at(err, BG_EINVAL, file, 0, 0, NULL, "cannot initialise YAML parser");
    if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1)) {
        yaml_parser_delete(&parser);
        return bg_err_set_at(err, BG_EINVAL, file, 0, 0, NULL, "cannot initialise YAML document");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (bool done = false; rc == 0 && !done;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = bg_err_set_at(err, BG_EINVAL, file, (unsigned)parser.problem_mark.line + 1,
                               (unsigned)parser.problem_mark.column + 1, NULL,
                               "invalid YAML: %s%s%s",
                               parser.problem ? parser.problem : "syntax error",
                               parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    for (size_t i = 0; i < b.n_anchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        yaml_document_delete(doc);
        memset(doc, 0, sizeof(*doc));
    }
    return rc;
}

int cfg_doc_open(cfg_ctx_t *ctx, const char *text, size_t len, const char *file, bg_err_t *err)
{
    yaml_document_t *doc = bg_xcalloc(1, sizeof(*doc));
    int rc = cfg_doc_load(text, len, file, doc, err);

    if (rc != 0) {
        free(doc);
        doc = NULL;
    }
    cfg_ctx_init(ctx, doc, file, err);
    ctx->owns_doc = doc != NULL;
    return rc;
}

void cfg_doc_close(cfg_ctx_t *ctx)
{
    if (ctx->owns_doc) {
        yaml_document_delete(ctx->doc);
        free(ctx->doc);
    }
    ctx->doc = NULL;
    ctx->owns_doc = false;
}

yaml_node_t *cfg_root(cfg_ctx_t *ctx)
{
    return ctx->doc != NULL ? yaml_document_get_root_node(ctx->doc) : NULL;
}
