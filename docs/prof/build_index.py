# docs/PROFILING.md's worked example: a program that builds a large structure.
# An inverted index of generated documents (dict -> list of ints), a table of
# row tuples, and a cache of 4 KiB byte buffers; it prints a summary and exits.
import random

def make_docs(n):
    rnd = random.Random(1)
    words = ["w%04d" % i for i in range(5000)]
    return [" ".join(rnd.choice(words) for _ in range(40)) for _ in range(n)]

def build_index(docs):
    index = {}
    for doc_id, text in enumerate(docs):
        for word in text.split():
            index.setdefault(word, []).append(doc_id)
    return index

def build_rows(n):
    return [(i, "name-%d" % i, float(i) * 0.5, str(i) * 4) for i in range(n)]

def build_cache(n):
    return {i: bytearray(4096) for i in range(n)}

docs = make_docs(20000)
index = build_index(docs)
rows = build_rows(300000)
cache = build_cache(5000)
print(len(docs), len(index), len(rows), len(cache))

# Python frees its objects at exit, so the profile written at exit holds little:
# dump the live heap here, at its peak, when a path is given (hak_prof_dump is
# hakmem's, found in the preloaded library).
import ctypes, sys
if len(sys.argv) > 1:
    dump = getattr(ctypes.CDLL(None), "hak_prof_dump", None)
    if dump is None or dump(sys.argv[1].encode()) != 0:
        print("no heap profile written (run with HAKMEM_PROF=1 under hakmem)", file=sys.stderr)
