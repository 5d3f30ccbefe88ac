"""CuPy's ElementwiseKernel and ReductionKernel emulated on the CPU: the kernel body compiled as C++.

The ops' custom CUDA kernels run only on a real GPU; this lets the CPU tests run
their exact source text, with CuPy's textual renaming of a ReductionKernel's
parameters (in0, in1, ..., out0) copied. Every type placeholder (T, R, W, B) becomes double,
complex128 becomes std::complex<double>, the body runs in a loop over i, and a
reduction sums its map expression over the last axis (axis=-1 only).

    cp = cupy_as_c.module()          # None without a C++ compiler
    k = cp.ElementwiseKernel("T x, float64 s", "T y", "y = x * s;", "scale")
    k(np.arange(3.0), 2.0)           # array([0., 2., 4.])
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

_BUILD = tempfile.TemporaryDirectory(prefix="cupy_as_c")  # removed when the interpreter exits
_SCALAR = {"float64": "double", "int32": "int", "int64": "long long"}
_POINTER = {"complex128": "complex<double>"}


class _Kernel:
    def __init__(self, cxx: str, in_params: str, out_params: str, body: str, preamble: str = "",
                 reduce: tuple | None = None):
        self.cxx = cxx
        self.ins = [p.split() for p in in_params.split(",")]
        self.outs = [p.split() for p in out_params.split(",")]
        self.body, self.preamble, self.reduce = body, preamble, reduce
        self._libs: dict = {}

    @staticmethod
    def _ctype(t: str) -> str:
        return _POINTER.get(t, "double")

    def _source(self, scalars: frozenset) -> str:
        args, loads = [], []
        for p in self.ins:
            t, n = p[-2], p[-1]
            if p[0] == "raw":
                args.append(f"const {self._ctype(t)}* {n}")
            elif n in scalars:
                args.append(f"{_SCALAR[t]} {n}")
            else:
                args.append(f"const {self._ctype(t)}* {n}_in")
                loads.append(f"const {self._ctype(t)} {n} = {n}_in[i];")
        args += [f"{self._ctype(t)}* {n}_out" for t, n in self.outs] + ["long long total", "long long L"]
        if self.reduce is None:
            decl = " ".join(f"{self._ctype(t)} {n} = {n}_out[i];" for t, n in self.outs)
            store = " ".join(f"{n}_out[i] = {n};" for t, n in self.outs)
            loop = f"for (long long i = 0; i < total; ++i) {{ {' '.join(loads)} {decl} {self.body}; {store} }}"
        else:  # CuPy renames the parameters to in0, in1, ..., out0 by plain text substitution: so here
            map_expr, reduce_expr, post, identity = self.reduce
            (t, out), = self.outs
            rt = self._ctype(t)
            for k, p in enumerate(self.ins):
                map_expr = map_expr.replace(p[-1], f"in{k}")
                loads = [ld.replace(f" {p[-1]} = ", f" in{k} = ") for ld in loads]
            post = post.replace(out, "out0")
            loop = (f"for (long long r = 0; r < total; ++r) {{ {rt} a = {identity};"
                    f" for (long long i = r * L; i < (r + 1) * L; ++i) {{ {' '.join(loads)}"
                    f" const {rt} b = ({map_expr}); a = {reduce_expr}; }}"
                    f" {rt} out0; {post}; {out}_out[r] = out0; }}")
        header = "#include <cmath>\nusing std::sqrt; using std::fmax; using std::isnan;\n"
        if "complex" in self.body + str(self.reduce) + str(self.ins) + str(self.outs):
            header += "#include <complex>\nusing std::complex;\n"
        return (header +
                f"{self.preamble}\ntypedef double T; typedef double R; typedef double W; typedef double B;\n"
                f"extern \"C\" void kernel({', '.join(args)}) {{ {loop} }}\n")

    def _lib(self, scalars: frozenset) -> Any:
        if scalars not in self._libs:
            d = Path(tempfile.mkdtemp(prefix="k", dir=_BUILD.name))
            (d / "k.cpp").write_text(self._source(scalars))
            subprocess.run([self.cxx, "-O0", "-shared", "-fPIC", "-o", str(d / "k.so"), str(d / "k.cpp")],
                           check=True, capture_output=True)
            self._libs[scalars] = ctypes.CDLL(str(d / "k.so"))
        return self._libs[scalars]

    def __call__(self, *args: Any, axis: int | None = None) -> Any:
        ins, outs = list(args[:len(self.ins)]), list(args[len(self.ins):])
        scalars = frozenset(p[-1] for p, a in zip(self.ins, ins) if p[0] != "raw" and np.ndim(a) == 0)
        arrays = [a for p, a in zip(self.ins, ins) if p[0] != "raw" and p[-1] not in scalars]
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays + outs))
        if self.reduce is not None:
            assert axis in (-1, len(shape) - 1), "reductions over the last axis only"
            out_shape, L = shape[:-1], shape[-1]
            outs = [np.zeros(out_shape, complex if self.outs[0][0] in _POINTER else float)]
        else:
            out_shape, L = shape, 1
            outs = outs or [np.zeros(shape, complex if t in _POINTER else float) for t, _ in self.outs]
        keep, cargs = [], []

        def pointer(a: np.ndarray) -> Any:
            keep.append(a)
            return ctypes.c_void_p(a.ctypes.data)

        for p, a in zip(self.ins, ins):
            t, n = p[-2], p[-1]
            dtype = complex if t in _POINTER else float
            if p[0] == "raw":
                cargs.append(pointer(np.ascontiguousarray(a, dtype)))
            elif n in scalars:
                cargs.append(ctypes.c_double(a) if t == "float64" else ctypes.c_longlong(int(a)) if t == "int64"
                             else ctypes.c_int(int(a)))
            else:
                cargs.append(pointer(np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype), shape))))
        buffers = [np.array(np.broadcast_to(o, out_shape), complex if t in _POINTER else float)
                   for o, (t, _) in zip(outs, self.outs)]  # the C side sees doubles (or complex)
        cargs += [pointer(b) for b in buffers]
        cargs += [ctypes.c_longlong(int(np.prod(out_shape))), ctypes.c_longlong(L)]
        self._lib(scalars).kernel(*cargs)
        for o, b in zip(outs, buffers):
            o[...] = b
        return outs[0] if len(outs) == 1 else tuple(outs)


def module() -> Any:
    """numpy with CuPy's kernel classes emulated and __name__ "cupy"; None without a C++ compiler."""
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return None
    m = types.SimpleNamespace(__name__="cupy")
    m.ElementwiseKernel = lambda ins, outs, body, name="kernel", preamble="", **kw: _Kernel(cxx, ins, outs, body,
                                                                                            preamble)
    m.ReductionKernel = lambda ins, outs, map_expr, reduce_expr, post, identity, name="kernel", **kw: _Kernel(
        cxx, ins, outs, "", reduce=(map_expr, reduce_expr, post, identity))
    for name in ("empty", "zeros", "ascontiguousarray", "float64", "float32"):
        setattr(m, name, getattr(np, name))
    return m
