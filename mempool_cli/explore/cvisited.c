/*
 * The search's state table and its hang pass, written in C (docs/model.md,
 * "Compiled modules").
 *
 * visited.py holds the same two things in Python (``ObjectKeys`` and
 * ``bottom_sccs``) for any kind of state; this module is what the search
 * uses for packed states (byte keys) where it was built. It gives the same
 * ids and the same SCCs, in the same order: tests/unit/test_cvisited.py
 * checks both against the Python ones.
 *
 * ByteKeys stores every key once, back to back in one buffer, and maps a
 * key to its id with an open-addressing table of 8-byte slots: the top 32
 * bits of the key's hash beside the id plus one (0 is a free slot), at most
 * half full, probed linearly from the slot the hash's top bits name. A key
 * is compared only where the 32 bits agree, and the table grows without
 * reading a key: the bits it keeps name the slot in the bigger table too.
 * The hash is this file's own, so the layout does not change with
 * PYTHONHASHSEED (nothing outside this file sees it either way).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_BITS 32                 /* slot index bits: the kept hash bits bound them */
#define MAX_KEYS 0x7FFFFFFEu        /* ids fit the hang pass's int32 index, below DONE */
#define DONE 0x7FFFFFFF             /* visited.py's DONE: above any Tarjan index */

/* ------------------------------------------------------------------ hash */

static uint64_t
mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t
hash_key(const unsigned char *p, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)len * 0xC2B2AE3D27D4EB4Full);
    uint64_t w;
    while (len >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    if (len) {
        w = 0;
        memcpy(&w, p, len);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    }
    return mix(h);
}

/* ------------------------------------------------------------- ByteKeys */

typedef struct {
    PyObject_HEAD
    unsigned char *arena;   /* every key, by id, back to back */
    size_t used, cap;       /* bytes of the arena in use / allocated */
    uint64_t *start;        /* start[i]: where key i begins; start[n] == used */
    size_t n, room;         /* keys held; entries start has (room >= n + 1) */
    uint64_t *slots;        /* hash's top 32 bits << 32 | (id + 1); 0: free */
    unsigned bits;          /* the table has 2**bits slots; 0 once released */
} ByteKeys;

static size_t
home(uint64_t tag, unsigned bits)
{
    return (size_t)(tag >> (32 - bits));
}

/* Put id's entry in the first free slot from its home (the table has room). */
static void
place_entry(uint64_t *slots, unsigned bits, uint64_t entry)
{
    size_t mask = ((size_t)1 << bits) - 1;
    size_t s = home(entry >> 32, bits);
    while (slots[s])
        s = (s + 1) & mask;
    slots[s] = entry;
}

/* The table twice as big, every entry moved by its kept bits; -1 on no memory. */
static int
grow_slots(ByteKeys *self)
{
    unsigned bits = self->bits + 1;
    if (bits > MAX_BITS) {
        PyErr_SetString(PyExc_MemoryError, "the state table is full");
        return -1;
    }
    uint64_t *slots = PyMem_RawCalloc((size_t)1 << bits, sizeof(uint64_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t old = (size_t)1 << self->bits;
    for (size_t i = 0; i < old; i++)
        if (self->slots[i])
            place_entry(slots, bits, self->slots[i]);
    PyMem_RawFree(self->slots);
    self->slots = slots;
    self->bits = bits;
    return 0;
}

/* Room for one more key of len bytes, in every buffer, before anything is written. */
static int
reserve(ByteKeys *self, size_t len)
{
    if (self->n >= MAX_KEYS) {
        PyErr_SetString(PyExc_MemoryError, "the state table is full");
        return -1;
    }
    if (self->arena == NULL || self->used + len > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (self->used + len > cap)
            cap *= 2;
        unsigned char *arena = PyMem_RawRealloc(self->arena, cap);
        if (arena == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->arena = arena;
        self->cap = cap;
    }
    if (self->n + 2 > self->room) {
        size_t room = self->room * 2;
        uint64_t *start = PyMem_RawRealloc(self->start, room * sizeof(uint64_t));
        if (start == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->start = start;
        self->room = room;
    }
    /* at most half full, and room for one more (visited.py's table_size) */
    if (self->bits && (self->n + 1) * 2 > ((size_t)1 << self->bits) - 1)
        return grow_slots(self);
    return 0;
}

/* The id of the key at p whose hash's top 32 bits are tag, or -1. */
static Py_ssize_t
find_tagged(ByteKeys *self, const unsigned char *p, size_t len, uint64_t tag)
{
    size_t mask = ((size_t)1 << self->bits) - 1;
    size_t s = home(tag, self->bits);
    uint64_t entry;
    while ((entry = self->slots[s]) != 0) {
        if (entry >> 32 == tag) {
            size_t id = (size_t)(uint32_t)entry - 1;
            size_t a = self->start[id];
            if (self->start[id + 1] - a == len && memcmp(self->arena + a, p, len) == 0)
                return (Py_ssize_t)id;
        }
        s = (s + 1) & mask;
    }
    return -1;
}

/* Store the key at p (not held yet) as the next id; -1 on no memory, nothing stored. */
static int
add_tagged(ByteKeys *self, const unsigned char *p, size_t len, uint64_t tag)
{
    if (reserve(self, len) < 0)
        return -1;
    size_t n = self->n;
    memcpy(self->arena + self->used, p, len);
    self->used += len;
    self->start[n + 1] = self->used;
    place_entry(self->slots, self->bits, tag << 32 | (uint64_t)(n + 1));
    self->n = n + 1;
    return 0;
}

/* put on a hashed key: its id; -1 for a new key beyond limit (nothing stored); -2 on no
   memory (nothing stored). */
static Py_ssize_t
put_tagged(ByteKeys *self, const unsigned char *p, size_t len, uint64_t tag, Py_ssize_t limit)
{
    Py_ssize_t id = find_tagged(self, p, len, tag);
    if (id >= 0)
        return id;
    if ((Py_ssize_t)self->n >= limit)
        return -1;
    if (add_tagged(self, p, len, tag) < 0)
        return -2;
    return (Py_ssize_t)self->n - 1;
}

static int
bytes_arg(PyObject *key, const unsigned char **p, size_t *len)
{
    if (!PyBytes_CheckExact(key)) {
        PyErr_Format(PyExc_TypeError, "a key is bytes, not %.100s", Py_TYPE(key)->tp_name);
        return -1;
    }
    *p = (const unsigned char *)PyBytes_AS_STRING(key);
    *len = (size_t)PyBytes_GET_SIZE(key);
    return 0;
}

static int
released(ByteKeys *self)
{
    if (self->bits)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "the state table was released");
    return 1;
}

static Py_ssize_t
table_bits(Py_ssize_t slots)
{
    unsigned bits = 2;
    while (((Py_ssize_t)1 << bits) < slots && bits < MAX_BITS)
        bits++;
    return bits;
}

static PyObject *
ByteKeys_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"first", "slots", NULL};
    PyObject *first;
    Py_ssize_t slots = 1 << 18;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:ByteKeys", names, &first, &slots))
        return NULL;
    const unsigned char *p;
    size_t len;
    if (bytes_arg(first, &p, &len) < 0)
        return NULL;
    ByteKeys *self = (ByteKeys *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->bits = (unsigned)table_bits(slots);
    self->room = 16;
    self->slots = PyMem_RawCalloc((size_t)1 << self->bits, sizeof(uint64_t));
    self->start = PyMem_RawMalloc(self->room * sizeof(uint64_t));
    if (self->slots == NULL || self->start == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->start[0] = 0;
    if (add_tagged(self, p, len, hash_key(p, len) >> 32) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
ByteKeys_dealloc(ByteKeys *self)
{
    PyMem_RawFree(self->arena);
    PyMem_RawFree(self->start);
    PyMem_RawFree(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(put_doc,
"put(key, limit) -> int\n\n"
"The key's id. A key not held yet becomes the next id, unless ``limit`` keys\n"
"are held already: then -1 and nothing is stored.");

static PyObject *
ByteKeys_put(ByteKeys *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "put takes a key and a limit");
        return NULL;
    }
    const unsigned char *p;
    size_t len;
    if (bytes_arg(args[0], &p, &len) < 0 || released(self))
        return NULL;
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t id = put_tagged(self, p, len, hash_key(p, len) >> 32, limit);
    return id == -2 ? NULL : PyLong_FromSsize_t(id);
}

PyDoc_STRVAR(put_all_doc,
"put_all(moves, limit) -> list[int]\n\n"
"``put`` of each move's key (``moves``: a list of tuples, the key second), in\n"
"order: their ids, up to and including the first -1 (a new key beyond ``limit``;\n"
"nothing after it is stored).");

#define BLOCK 32  /* keys hashed, and their slots fetched, ahead of their probes */

static PyObject *
ByteKeys_put_all(ByteKeys *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "put_all takes a list of moves and a limit");
        return NULL;
    }
    if (released(self))
        return NULL;
    PyObject *moves = args[0];
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(moves);
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    uint64_t tags[BLOCK];
    for (Py_ssize_t base = 0; base < count; base += BLOCK) {
        Py_ssize_t m = count - base < BLOCK ? count - base : BLOCK;
        /* Every key's hash first, and a prefetch of its home slot: the probes below
           then mostly find their slots in the cache (the table is far bigger). */
        for (Py_ssize_t i = 0; i < m; i++) {
            PyObject *move = PyList_GET_ITEM(moves, base + i);
            if (!PyTuple_CheckExact(move) || PyTuple_GET_SIZE(move) < 2) {
                PyErr_SetString(PyExc_TypeError, "a move is a tuple with its key second");
                goto fail;
            }
            const unsigned char *p;
            size_t len;
            if (bytes_arg(PyTuple_GET_ITEM(move, 1), &p, &len) < 0)
                goto fail;
            tags[i] = hash_key(p, len) >> 32;
            __builtin_prefetch(&self->slots[home(tags[i], self->bits)]);
        }
        for (Py_ssize_t i = 0; i < m; i++) {
            PyObject *key = PyTuple_GET_ITEM(PyList_GET_ITEM(moves, base + i), 1);
            const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(key);
            size_t len = (size_t)PyBytes_GET_SIZE(key);
            Py_ssize_t id = put_tagged(self, p, len, tags[i], limit);
            if (id == -2)
                goto fail;
            PyObject *value = PyLong_FromSsize_t(id);
            if (value == NULL)
                goto fail;
            PyList_SET_ITEM(out, base + i, value);
            if (id == -1) {  /* the first new key beyond limit: the list ends with it */
                if (PyList_SetSlice(out, base + i + 1, count, NULL) < 0)
                    goto fail;
                return out;
            }
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* Free the slot of id, shifting back the entries of its probe run that it stood before. */
static void
remove_entry(ByteKeys *self, size_t id)
{
    size_t mask = ((size_t)1 << self->bits) - 1;
    size_t a = self->start[id];
    uint64_t tag = hash_key(self->arena + a, self->start[id + 1] - a) >> 32;
    size_t s = home(tag, self->bits);
    while ((uint32_t)self->slots[s] != id + 1)
        s = (s + 1) & mask;
    self->slots[s] = 0;
    size_t hole = s;
    for (size_t j = (s + 1) & mask; self->slots[j]; j = (j + 1) & mask) {
        size_t want = home(self->slots[j] >> 32, self->bits);
        /* the entry at j stays unless its home is outside (hole, j], cyclically */
        int stays = hole <= j ? (hole < want && want <= j) : (hole < want || want <= j);
        if (!stays) {
            self->slots[hole] = self->slots[j];
            self->slots[j] = 0;
            hole = j;
        }
    }
}

PyDoc_STRVAR(truncate_doc,
"truncate(n)\n\n"
"Forget every key from id ``n`` on (a search cut inside a state's expansion).");

static PyObject *
ByteKeys_truncate(ByteKeys *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "the first key stays");
        return NULL;
    }
    while ((Py_ssize_t)self->n > n) {
        self->n--;
        if (self->bits)
            remove_entry(self, self->n);
        self->used = self->start[self->n];
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(release_doc,
"release()\n\n"
"Free the key -> id table; the keys by id stay.");

static PyObject *
ByteKeys_release(ByteKeys *self, PyObject *Py_UNUSED(ignored))
{
    PyMem_RawFree(self->slots);
    self->slots = NULL;
    self->bits = 0;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(growth_doc,
"growth_bytes() -> int\n\n"
"What the buffers will briefly need when they next grow, if that is near: the\n"
"table twice the size while the old one is held, a buffer's copy twice its size.");

static PyObject *
ByteKeys_growth_bytes(ByteKeys *self, PyObject *Py_UNUSED(ignored))
{
    size_t need = 0;
    if (self->bits) {
        size_t size = (size_t)1 << self->bits;
        if (self->n >= size / 2 - size / 16)
            need += 2 * size * sizeof(uint64_t);
    }
    if (self->used >= self->cap - self->cap / 8)
        need += 2 * self->cap;
    if (self->n + 1 >= self->room - self->room / 8)
        need += 2 * self->room * sizeof(uint64_t);
    return PyLong_FromSize_t(need);
}

PyDoc_STRVAR(nbytes_doc, "The bytes the table, the keys and their offsets hold now.");

static PyObject *
ByteKeys_nbytes(ByteKeys *self, void *Py_UNUSED(closure))
{
    size_t slots = self->bits ? ((size_t)1 << self->bits) * sizeof(uint64_t) : 0;
    return PyLong_FromSize_t(slots + self->cap + self->room * sizeof(uint64_t));
}

static Py_ssize_t
ByteKeys_len(ByteKeys *self)
{
    return (Py_ssize_t)self->n;
}

static PyObject *
ByteKeys_item(ByteKeys *self, Py_ssize_t i)
{
    if (i < 0 || (size_t)i >= self->n) {
        PyErr_SetString(PyExc_IndexError, "no key with that id");
        return NULL;
    }
    size_t a = self->start[i];
    return PyBytes_FromStringAndSize((const char *)self->arena + a,
                                     (Py_ssize_t)(self->start[i + 1] - a));
}

static PyMethodDef ByteKeys_methods[] = {
    {"put", (PyCFunction)(void (*)(void))ByteKeys_put, METH_FASTCALL, put_doc},
    {"put_all", (PyCFunction)(void (*)(void))ByteKeys_put_all, METH_FASTCALL, put_all_doc},
    {"truncate", (PyCFunction)ByteKeys_truncate, METH_O, truncate_doc},
    {"release", (PyCFunction)ByteKeys_release, METH_NOARGS, release_doc},
    {"growth_bytes", (PyCFunction)ByteKeys_growth_bytes, METH_NOARGS, growth_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ByteKeys_getset[] = {
    {"nbytes", (getter)ByteKeys_nbytes, NULL, nbytes_doc, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods ByteKeys_as_sequence = {
    .sq_length = (lenfunc)ByteKeys_len,
    .sq_item = (ssizeargfunc)ByteKeys_item,
};

PyDoc_STRVAR(ByteKeys_doc,
"ByteKeys(first, slots=262144)\n\n"
"Byte keys by id, from ``first`` (id 0), and the table from a key to its id\n"
"(``slots``: its first size, rounded up to a power of two). ``keys[i]`` is\n"
"key i; ``len(keys)`` how many there are.");

static PyTypeObject ByteKeysType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mempool_cli.explore.cvisited.ByteKeys",
    .tp_basicsize = sizeof(ByteKeys),
    .tp_dealloc = (destructor)ByteKeys_dealloc,
    .tp_as_sequence = &ByteKeys_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = ByteKeys_doc,
    .tp_methods = ByteKeys_methods,
    .tp_getset = ByteKeys_getset,
    .tp_new = ByteKeys_new,
};

/* ---------------------------------------------------------- bottom_sccs */

/* A growable stack of uint32; -1 on no memory. */
typedef struct {
    uint32_t *items;
    size_t len, cap;
} Stack;

static int
push(Stack *s, uint32_t v)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint32_t *items = PyMem_RawRealloc(s->items, cap * sizeof(uint32_t));
        if (items == NULL)
            return -1;
        s->items = items;
        s->cap = cap;
    }
    s->items[s->len++] = v;
    return 0;
}

/* Count one step; after every ``every`` steps call check(). 0 to go on; 1 with *reason
   set if check stopped the pass; -1 with *reason NULL on an error. */
static int
tick(Py_ssize_t *budget, Py_ssize_t every, PyObject *check, PyObject **reason)
{
    if (--*budget)
        return 0;
    *budget = every;
    PyObject *r = PyObject_CallNoArgs(check);
    if (r == NULL) {
        *reason = NULL;
        return -1;
    }
    if (r == Py_None) {
        Py_DECREF(r);
        return 0;
    }
    *reason = r;
    return 1;
}

PyDoc_STRVAR(bottom_sccs_doc,
"bottom_sccs(offsets, succ, expanded, found, check, check_every) -> (sccs, reason)\n\n"
"visited.py's bottom_sccs, on the same arrays (offsets of 8-byte items, succ\n"
"of 4-byte ones), with the same results in the same order.");

static PyObject *
bottom_sccs(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "bottom_sccs takes six arguments");
        return NULL;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[2]);
    Py_ssize_t found = PyLong_AsSsize_t(args[3]);
    Py_ssize_t every = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *check = args[4];
    if (n < 0 || found < n || found >= DONE || every < 1) {
        PyErr_SetString(PyExc_ValueError, "bottom_sccs: bad counts");
        return NULL;
    }
    Py_buffer ob, sb;
    if (PyObject_GetBuffer(args[0], &ob, PyBUF_FORMAT) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &sb, PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&ob);
        return NULL;
    }
    PyObject *out = NULL, *reason = Py_None;
    int32_t *index = NULL, *low = NULL;
    uint64_t *ptr = NULL;
    unsigned char *leaves = NULL;
    Stack stack = {0}, work = {0};
    if (ob.itemsize != 8 || sb.itemsize != 4 || ob.len / 8 < n + 1) {
        PyErr_SetString(PyExc_TypeError, "bottom_sccs: offsets of 8-byte items, succ of 4");
        goto done;
    }
    const uint64_t *offsets = ob.buf;
    const uint32_t *succ = sb.buf;
    size_t edges = (size_t)(sb.len / 4);
    size_t nn = (size_t)n ? (size_t)n : 1;
    index = PyMem_RawMalloc((size_t)(found ? found : 1) * sizeof(int32_t));
    low = PyMem_RawMalloc(nn * sizeof(int32_t));
    ptr = PyMem_RawMalloc(nn * sizeof(uint64_t));
    leaves = PyMem_RawCalloc(nn, 1);
    out = PyList_New(0);
    if (index == NULL || low == NULL || ptr == NULL || leaves == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    if (out == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        index[i] = -1;
        ptr[i] = offsets[i];
    }
    for (Py_ssize_t i = n; i < found; i++)
        index[i] = DONE;
    if (offsets[n] > edges) {
        PyErr_SetString(PyExc_ValueError, "bottom_sccs: offsets beyond succ");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (offsets[i] > offsets[i + 1]) {
            PyErr_SetString(PyExc_ValueError, "bottom_sccs: offsets that fall");
            goto fail;
        }
    for (size_t e = 0; e < offsets[n]; e++)
        if ((Py_ssize_t)succ[e] >= found) {
            PyErr_SetString(PyExc_ValueError, "bottom_sccs: a successor beyond found");
            goto fail;
        }
    int32_t counter = 0;
    Py_ssize_t budget = every;
    for (Py_ssize_t root = 0; root < n; root++) {
        if (index[root] >= 0)
            continue;
        index[root] = low[root] = counter++;
        if (push(&stack, (uint32_t)root) < 0 || push(&work, (uint32_t)root) < 0)
            goto nomem;
        while (work.len) {
            uint32_t v = work.items[work.len - 1];
            uint64_t p = ptr[v], end = offsets[v + 1];
            int32_t lv = low[v];
            int descended = 0;
            while (p < end) {
                uint32_t w = succ[p++];
                int32_t iw = index[w];
                if (iw < 0) {
                    ptr[v] = p;
                    low[v] = lv;
                    index[w] = low[w] = counter++;
                    if (push(&stack, w) < 0 || push(&work, w) < 0)
                        goto nomem;
                    /* a long descent grows the stacks: it counts too */
                    int r = tick(&budget, every, check, &reason);
                    if (r)
                        goto stopped;
                    descended = 1;
                    break;
                }
                if (iw < lv)  /* on the stack: same SCC as some caller */
                    lv = iw;
                else if (iw == DONE)
                    leaves[v] = 1;
            }
            if (descended)
                continue;
            /* every edge of v is done: return to its caller */
            work.len--;
            if (lv == index[v]) {
                PyObject *members = PyList_New(0);
                if (members == NULL)
                    goto fail;
                int bottom = 1;
                uint32_t w;
                do {
                    w = stack.items[--stack.len];
                    index[w] = DONE;
                    if (leaves[w])
                        bottom = 0;
                    PyObject *id = PyLong_FromUnsignedLong(w);
                    if (id == NULL || PyList_Append(members, id) < 0) {
                        Py_XDECREF(id);
                        Py_DECREF(members);
                        goto fail;
                    }
                    Py_DECREF(id);
                } while (w != v);
                if (work.len)  /* the caller's edge into v leaves the caller's SCC */
                    leaves[work.items[work.len - 1]] = 1;
                int failed = bottom && PyList_Append(out, members) < 0;
                Py_DECREF(members);
                if (failed)
                    goto fail;
            }
            else if (lv < low[work.items[work.len - 1]]) {
                low[work.items[work.len - 1]] = lv;
            }
            int r = tick(&budget, every, check, &reason);
            if (r)
                goto stopped;
        }
    }
    goto done;
stopped:  /* tick's 1 (check stopped the pass: reason set) or -1 (an error: reason NULL) */
    if (reason == NULL)
        goto fail;
    goto done;
nomem:
    PyErr_NoMemory();
fail:
    Py_CLEAR(out);
    if (reason != Py_None)
        Py_XDECREF(reason);
    reason = NULL;
done:
    PyBuffer_Release(&ob);
    PyBuffer_Release(&sb);
    PyMem_RawFree(index);
    PyMem_RawFree(low);
    PyMem_RawFree(ptr);
    PyMem_RawFree(leaves);
    PyMem_RawFree(stack.items);
    PyMem_RawFree(work.items);
    if (out == NULL)
        return NULL;
    PyObject *pair = PyTuple_Pack(2, out, reason);
    Py_DECREF(out);
    if (reason != Py_None)
        Py_DECREF(reason);
    return pair;
}

/* --------------------------------------------------------------- module */

static PyMethodDef module_methods[] = {
    {"bottom_sccs", (PyCFunction)(void (*)(void))bottom_sccs, METH_FASTCALL, bottom_sccs_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mempool_cli.explore.cvisited",
    .m_doc = "The search's state table for byte keys and its hang pass, in C.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit_cvisited(void)
{
    if (PyType_Ready(&ByteKeysType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ByteKeysType);
    if (PyModule_AddObject(m, "ByteKeys", (PyObject *)&ByteKeysType) < 0) {
        Py_DECREF(&ByteKeysType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
