#!/usr/bin/env python3
"""Unit test of bench/audit on small hand-written libraries whose fast paths are
known instruction by instruction (assembled with cc; needs objdump).

  python3 bench/test_audit.py        (make bench-selftest runs it)
"""

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_loader = importlib.machinery.SourceFileLoader("hakaudit", os.path.join(HERE, "audit"))
_spec = importlib.util.spec_from_loader("hakaudit", _loader)
audit = importlib.util.module_from_spec(_spec)
_loader.exec_module(audit)

# x86-64 assembly of a toy allocator. GATED adds an option test to malloc and a
# counter increment to free, the two kinds of gate the audit must find.
SOURCE = r"""
        .text
        .globl  malloc
        .type   malloc, @function
malloc:                                 # fast path: the fall-through everywhere
        cmpq    $1024, %rdi
        ja      .Lmslow
#ifdef GATED
        cmpb    $0, hak_options+4(%rip) # a hidden option, RIP-relative
        jne     .Lmcount
#endif
.Lpop:
        movq    freelist(%rip), %rax
        testq   %rax, %rax
        je      .Lmslow
        movq    (%rax), %rdx
        movq    %rdx, freelist(%rip)
        ret
#ifdef GATED
.Lmcount:
        lock addq $1, hak_stats(%rip)
        jmp     .Lpop
#endif
.Lmslow:
        jmp     slow_alloc
        .size   malloc, .-malloc

        .globl  free
        .type   free, @function
free:                                   # fast path: the TAKEN side of jne
        testq   %rdi, %rdi
        jne     .Lpush
        jmp     slow_free
.Lpush:
#ifdef GATED
        movq    counter_frees@GOTPCREL(%rip), %rax   # a default-visibility counter, via the GOT
        addq    $1, (%rax)
#endif
        movq    freelist(%rip), %rdx
        movq    %rdx, (%rdi)
        movq    %rdi, freelist(%rip)
        ret
        .size   free, .-free

        .globl  calloc
        .type   calloc, @function
calloc:                                 # a tail jump through the GOT, followed
        jmp     *my_calloc@GOTPCREL(%rip)
        .size   calloc, .-calloc

        .globl  my_calloc
        .type   my_calloc, @function
my_calloc:
        movq    tls_heap@GOTTPOFF(%rip), %rax
        movq    %fs:(%rax), %rax
        ret
        .size   my_calloc, .-my_calloc

        .globl  realloc
        .type   realloc, @function
realloc:                                # the only way to ret is through a call
        pushq   %rbx
        call    helper
        popq    %rbx
        ret
        .size   realloc, .-realloc

        .type   helper, @function
helper:
        ret
        .size   helper, .-helper

        .type   slow_alloc, @function
slow_alloc:
        xorl    %eax, %eax
        ret
        .size   slow_alloc, .-slow_alloc

        .type   slow_free, @function
slow_free:
        ret
        .size   slow_free, .-slow_free

        .data
        .align 8
        .type   hak_options, @object
        .size   hak_options, 16
hak_options:
        .zero   16
        .globl  counter_frees
        .type   counter_frees, @object
        .size   counter_frees, 8
counter_frees:
        .zero   8
        .bss
        .align 8
        .type   freelist, @object
        .size   freelist, 8
freelist:
        .zero   8
        .type   hak_stats, @object
        .size   hak_stats, 64
hak_stats:
        .zero   64
        .section .tbss,"awT",@nobits
        .align 8
        .globl  tls_heap
        .type   tls_heap, @object
        .size   tls_heap, 8
tls_heap:
        .zero   8
        .section .note.GNU-stack,"",@progbits
"""

NO_MALLOC = r"""
        .text
        .globl  something
        .type   something, @function
something:
        ret
        .size   something, .-something
        .section .note.GNU-stack,"",@progbits
"""


def build(tmp, name, source, defines=()):
    src = os.path.join(tmp, name + ".S")
    with open(src, "w") as f:
        f.write(source)
    out = os.path.join(tmp, name + ".so")
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-shared", "-nostdlib", "-o", out, src] + ["-D" + d for d in defines], check=True)
    return out


@unittest.skipUnless(shutil.which("objdump") and shutil.which(os.environ.get("CC", "cc")), "needs objdump and cc")
class AuditTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hakmem-audit-test-")
        cls.gated = build(cls.tmp, "gated", SOURCE, ["GATED"])
        cls.clean = build(cls.tmp, "clean", SOURCE)
        cls.nomalloc = build(cls.tmp, "nomalloc", NO_MALLOC)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def analyse(self, lib, fn):
        import re
        r = audit.analyse(audit.Library(lib), fn, re.compile(audit.GATE_PATTERN, re.I))
        self.assertIsNotNone(r)
        self.assertNotIn("error", r)
        return r

    def run_main(self, *args):
        import contextlib
        import io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            code = audit.main(list(args))
        return code, buf.getvalue()

    def test_malloc_gated(self):
        r = self.analyse(self.gated, "malloc")
        # cmpq ja cmpb jne movq testq je movq movq ret
        self.assertEqual(r["instructions"], 10)
        self.assertEqual((r["loads"], r["stores"], r["rmw"]), (3, 1, 0))
        self.assertEqual((r["branches"], r["taken"], r["exits"]), (3, 0, 0))
        self.assertEqual([g["symbol"] for g in r["gate_accesses"]], ["hak_options"])
        self.assertEqual(r["gate_accesses"][0]["what"], "hak_options+0x4")
        self.assertIn("freelist", {g["symbol"] for g in r["globals"]})

    def test_malloc_clean(self):
        r = self.analyse(self.clean, "malloc")
        self.assertEqual(r["instructions"], 8)
        self.assertEqual((r["loads"], r["stores"]), (2, 1))
        self.assertEqual(r["gate_accesses"], [])

    def test_free_takes_the_taken_branch(self):
        r = self.analyse(self.gated, "free")
        # testq jne(taken) movq(GOT) addq(rmw) movq movq movq ret
        self.assertEqual(r["instructions"], 8)
        self.assertEqual((r["branches"], r["taken"], r["exits"]), (1, 1, 0))
        self.assertEqual((r["loads"], r["stores"], r["rmw"]), (3, 3, 1))
        self.assertEqual([g["what"] for g in r["gate_accesses"]], ["counter_frees (via %rax)"])
        self.assertEqual(r["gate_accesses"][0]["access"], "rmw")
        clean = self.analyse(self.clean, "free")
        self.assertEqual((clean["instructions"], clean["gate_accesses"]), (6, []))

    def test_tail_jump_through_got_and_tls(self):
        r = self.analyse(self.clean, "calloc")
        self.assertEqual(r["instructions"], 4)
        self.assertEqual(r["exits"], 1)
        self.assertEqual(r["out"], ["tail *my_calloc (via the GOT)"])
        whats = [g["what"] for g in r["globals"]]
        self.assertEqual(whats, ["GOT[&my_calloc]", "GOT[TLS offset of tls_heap]", "TLS tls_heap"])

    def test_call_is_stepped_over(self):
        r = self.analyse(self.clean, "realloc")
        self.assertEqual(r["instructions"], 4)
        self.assertEqual(r["exits"], 1)
        self.assertEqual(r["out"], ["call helper"])
        self.assertEqual((r["loads"], r["stores"]), (1, 1))  # pop, push

    def test_strict_exit_status(self):
        code, out = self.run_main(self.gated, "--strict")
        self.assertEqual(code, 1)
        self.assertIn("FAIL (--strict)", out)
        self.assertIn("GATE: load of hak_options+0x4", out)
        code, out = self.run_main(self.gated)
        self.assertEqual(code, 0)
        self.assertIn("note: option/counter accesses on the fast path of malloc, free", out)
        code, out = self.run_main(self.clean, "--strict")
        self.assertEqual(code, 0)
        self.assertIn("PASS (--strict)", out)
        self.assertIn("operator new(size_t)     not defined in this library", out)

    def test_missing_malloc_is_an_error(self):
        code, _ = self.run_main(self.nomalloc)
        self.assertEqual(code, 2)


if __name__ == "__main__":
    unittest.main(verbosity=1)
