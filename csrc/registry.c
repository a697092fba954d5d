/*
 * registry.c -- the table of every op, in AD_OPS order, and the names,
 * kinds and attributes read back from it (the Cython module builds its
 * name tables from these; nothing else keeps a list of ops).
 */
#include "ad_impl.h"

static const ad_opdef *const defs[AD_OP_COUNT] = {
#define AD_X_OP(code, name) [AD_OP_##code] = &ad_def_##name,
    AD_OPS(AD_X_OP)
#undef AD_X_OP
};

_Static_assert(AD_U_COUNT < 256 && AD_B_COUNT < 256 && AD_R_COUNT < 256 &&
               AD_L_COUNT < 256 && AD_C_COUNT < 256 && AD_W_COUNT < 256 &&
               AD_A_COUNT < 256, "a record's kind must fit a byte");

static const ad_opdef *
def_of(int op)
{
    return op >= 0 && op < AD_OP_COUNT ? defs[op] : NULL;
}

int
ad_op_count(void)
{
    return AD_OP_COUNT;
}

const char *
ad_op_name(int op)
{
    return def_of(op) ? defs[op]->name : NULL;
}

int
ad_op_arity(int op)
{
    return def_of(op) ? defs[op]->arity : 0;
}

int
ad_op_saved(int op)
{
    return def_of(op) ? defs[op]->saved : AD_SAVED_NONE;
}

int
ad_op_differentiable(int op)
{
    return def_of(op) && defs[op]->backward != NULL;
}

int
ad_op_kinds(int op)
{
    return def_of(op) ? defs[op]->nkinds : 0;
}

static const ad_kinddef *
kind_of(int op, int kind)
{
    const ad_opdef *d = def_of(op);
    return d && kind >= 0 && kind < d->nkinds ? &d->kinds[kind] : NULL;
}

const char *
ad_kind_name(int op, int kind)
{
    const ad_kinddef *k = kind_of(op, kind);
    return k ? k->name : NULL;
}

unsigned
ad_kind_flags(int op, int kind)
{
    const ad_kinddef *k = kind_of(op, kind);
    return k ? k->flags : 0;
}

const char *
ad_kind_param(int op, int kind, int i)
{
    const ad_kinddef *k = kind_of(op, kind);
    if (!k || i < 0 || i > 1 || !k->param[i] || !strcmp(k->param[i], "-")) {
        return NULL;
    }
    return k->param[i];
}

int
ad_op_nattrs(int op)
{
    return def_of(op) ? defs[op]->nattrs : 0;
}

const ad_attrdef *
ad_op_attr(int op, int i)
{
    const ad_opdef *d = def_of(op);
    return d && i >= 0 && i < d->nattrs ? &d->attrs[i] : NULL;
}
