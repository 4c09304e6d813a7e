"""Byte-for-byte comparison of what two checkouts of symconv print, over many layers.

Run by any checkout's interpreter (it imports whichever ``symconv`` that
interpreter has installed), it renders every configuration below in every
format and index base through the CLI in-process (click's ``CliRunner``),
and, for the small ones, also dumps ``srepr`` of every expression of the
Python API's mapping view (intermediates and a loss's dy included), the
derivation's reduction, loss and shapes, the Jupyter display and
``verify``'s table::

    # the reference (main), cached by its commit:
    (cd /work/main && .venv/bin/python /path/to/scripts/compare_outputs.py dump /tmp/main.pickle)
    # this checkout:
    .venv/bin/python scripts/compare_outputs.py dump /tmp/mine.pickle
    .venv/bin/python scripts/compare_outputs.py compare /tmp/main.pickle /tmp/mine.pickle

``compare`` lists every output that differs (first differing line) and exits
1 if any does. ``--only SUBSTRING`` restricts a dump to matching ids.
"""

from __future__ import annotations

import pickle
import sys
import time

#: (id, derive arguments after the layer's name); every one in every format and base.
POOLS = [
    ("max2d-k2", "maxpool2d --input 1,1,4,4 --kernel 2"),
    ("max2d-k3s2p1", "maxpool2d --input 1,1,5,5 --kernel 3 --stride 2 --padding 1"),
    ("max2d-k3s2p1-nc", "maxpool2d --input 2,2,5,6 --kernel 3 --stride 2 --padding 1"),
    ("max2d-overlap", "maxpool2d --input 1,1,4,4 --kernel 2 --stride 1"),
    ("max2d-ceil", "maxpool2d --input 2,1,5,5 --kernel 2 --stride 2 --ceil-mode"),
    ("max2d-dil", "maxpool2d --input 1,1,7,7 --kernel 3 --stride 2 --dilation 2 --padding 1"),
    ("max2d-k1", "maxpool2d --input 1,2,3,3 --kernel 1"),
    ("max2d-k1x3", "maxpool2d --input 1,1,4,5 --kernel 1,3 --stride 1,2 --padding 0,1"),
    ("max2d-big", "maxpool2d --input 1,1,12,12 --kernel 3 --stride 1"),
    ("max2d-big-pad", "maxpool2d --input 1,2,11,12 --kernel 3,2 --stride 2,3 --padding 1,1 --ceil-mode"),
    ("max2d-rect", "maxpool2d --input 1,1,6,4 --kernel 3,2 --stride 1,2 --padding 1,0"),
    ("max1d-k2", "maxpool1d --input 1,1,6 --kernel 2"),
    ("max1d-dil-ceil", "maxpool1d --input 1,1,7 --kernel 2 --stride 2 --dilation 2 --ceil-mode"),
    ("max1d-k3s1p1", "maxpool1d --input 2,3,12 --kernel 3 --stride 1 --padding 1"),
    ("max1d-k5", "maxpool1d --input 1,1,23 --kernel 5 --stride 2 --padding 2 --dilation 1"),
    ("max1d-k1", "maxpool1d --input 1,1,3 --kernel 1"),
    ("max1d-lonely-edges", "maxpool1d --input 1,1,2 --kernel 2 --stride 1 --padding 1"),
    ("max1d-lonely-edges-nc", "maxpool1d --input 2,2,3 --kernel 2 --stride 1 --padding 1"),
    ("max2d-lonely-corner", "maxpool2d --input 1,1,2,3 --kernel 2 --stride 1 --padding 1"),
    ("max2d-big-n", "maxpool2d --input 2,3,11,10 --kernel 2 --stride 1"),
    ("avg2d-k2", "avgpool2d --input 1,1,4,4 --kernel 2"),
    ("avg2d-k3s2p1", "avgpool2d --input 1,1,5,5 --kernel 3 --stride 2 --padding 1"),
    ("avg2d-nopad-count", "avgpool2d --input 1,1,4,4 --kernel 2 --padding 1 --no-count-include-pad"),
    ("avg2d-ceil", "avgpool2d --input 1,1,5,5 --kernel 2 --ceil-mode"),
    ("avg2d-ceil-pad", "avgpool2d --input 2,1,6,5 --kernel 3 --stride 2 --padding 1 --ceil-mode"),
    ("avg2d-ceil-nocount", "avgpool2d --input 1,2,6,5 --kernel 3 --stride 2 --padding 1 --ceil-mode --no-count-include-pad"),
    ("avg2d-div1", "avgpool2d --input 1,1,4,4 --kernel 2 --divisor-override 1"),
    ("avg2d-div3", "avgpool2d --input 1,1,5,5 --kernel 3 --stride 2 --padding 1 --divisor-override 3"),
    ("avg2d-k1", "avgpool2d --input 1,1,3,3 --kernel 1"),
    ("avg2d-k1-div2", "avgpool2d --input 1,1,3,3 --kernel 1 --divisor-override 2"),
    ("avg2d-big", "avgpool2d --input 1,1,12,11 --kernel 3 --stride 1 --padding 1"),
    ("avg2d-big-nocount", "avgpool2d --input 2,1,11,12 --kernel 2,3 --stride 1,2 --padding 1 --no-count-include-pad"),
    ("avg1d-k2", "avgpool1d --input 1,1,6 --kernel 2"),
    ("avg1d-div", "avgpool1d --input 1,1,6 --kernel 3 --divisor-override 2"),
    ("avg1d-pad-nocount", "avgpool1d --input 2,2,7 --kernel 3 --stride 2 --padding 1 --no-count-include-pad --ceil-mode"),
    ("avg1d-big", "avgpool1d --input 1,1,14 --kernel 4 --stride 1 --padding 2"),
    ("avg2d-div7-pad", "avgpool2d --input 2,1,5,4 --kernel 3,2 --stride 2,1 --padding 1 --divisor-override 7"),
    ("avg1d-lonely-edges", "avgpool1d --input 1,1,3 --kernel 2 --stride 1 --padding 1 --no-count-include-pad"),
]

SLOPES = ["1/100", "0", "1", "-2", "2", "2/3", "0.2", "-1/3", "1e-3", "7"]
ACTIVATIONS = [
    ("relu-1d", "relu --input 1,1,3"),
    ("relu-2d", "relu --input 1,1,2,3"),
    ("relu-nc", "relu --input 2,2,3,2"),
    ("relu-big", "relu --input 1,1,12"),
    ("relu-big-2d", "relu --input 1,2,11,3"),
    ("leaky-big", "leaky_relu --input 1,1,3,11 --negative-slope 3/7"),
    ("leaky-default", "leaky_relu --input 1,1,3"),
    ("leaky-nc", "leaky_relu --input 2,1,2,2"),
] + [(f"leaky-{s.replace('/', 'o')}", f"leaky_relu --input 1,1,2,2 --negative-slope {s}") for s in SLOPES]

STACKS = [
    ("stack-conv-relu-max", "conv2d(weight=1,1,3,3, padding=1) | relu | maxpool2d(kernel=2)", "1,1,4,4"),
    ("stack-avg-leaky", "avgpool2d(kernel=2) | leaky_relu(negative_slope=0.2)", "2,1,4,4"),
    ("stack-max-relu", "maxpool2d(kernel=3, stride=2, padding=1) | relu", "1,2,5,5"),
    ("stack-relu-relu", "relu | relu", "1,1,3"),
    ("stack-leaky1-max", "leaky_relu(negative_slope=1) | maxpool1d(kernel=2)", "1,1,6"),
    ("stack-conv-leaky-avg", "conv1d(weight=2,1,2) | leaky_relu(negative_slope=-0.5) | avgpool1d(kernel=2, padding=1)", "1,1,6"),
    ("stack-max-max", "maxpool2d(kernel=2, stride=1) | maxpool2d(kernel=2)", "1,1,5,5"),
    ("stack-avg-conv", "avgpool2d(kernel=2, stride=1) | conv2d(weight=2,1,2,2)", "1,1,4,4"),
    ("stack-conv-conv", "conv2d(weight=2,1,2,2) | conv2d(weight=1,2,2,2, bias=false)", "1,1,4,4"),
    ("stack-leaky-leaky", "leaky_relu(negative_slope=1/3) | leaky_relu(negative_slope=2)", "1,1,2,2"),
    ("stack-big-max-relu-max", "maxpool2d(kernel=2, stride=1) | relu | maxpool2d(kernel=3, stride=1, padding=1)", "1,1,11,11"),
    ("stack-convt-relu-max", "conv_transpose2d(weight=1,2,2,2, stride=2) | relu | maxpool2d(kernel=2)", "1,1,3,3"),
    ("stack-conv-avg-relu", "conv1d(weight=1,2,3, padding=1) | avgpool1d(kernel=3, stride=1, padding=1, count_include_pad=false) | relu", "2,2,5"),
]

CONVS = [
    ("conv2d-seed", "conv2d --input 1,1,4,4 --weight 1,1,2,2"),
    ("conv2d-nc", "conv2d --input 2,2,4,3 --weight 2,2,2,2 --padding 1"),
    ("conv1d-groups", "conv1d --input 2,4,7 --weight 4,2,3 --groups 2 --dilation 2 --padding 1"),
    ("conv2d-nobias-stride", "conv2d --input 1,1,5,5 --weight 1,1,2,2 --stride 2 --padding 1 --no-bias"),
    ("conv2d-big", "conv2d --input 1,1,11,11 --weight 1,1,3,3"),
    ("conv3d", "conv3d --input 1,2,3,4,3 --weight 2,2,2,2,2 --padding 1"),
    ("conv2d-reflect", "conv2d --input 1,1,4,4 --weight 1,1,3,3 --padding 1 --padding-mode reflect"),
    ("convt1d-groups", "conv_transpose1d --input 1,2,3 --weight 2,1,2 --groups 2 --stride 2"),
    ("convt2d", "conv_transpose2d --input 1,1,3,3 --weight 1,2,2,2 --stride 2 --padding 1"),
    ("convt3d", "conv_transpose3d --input 1,1,2,2,2 --weight 1,1,2,2,2"),
]

POOLS_3D_ADAPTIVE = [
    ("max3d-k2", "maxpool3d --input 1,1,3,4,4 --kernel 2"),
    ("max3d-k3s2p1", "maxpool3d --input 1,2,5,5,5 --kernel 3 --stride 2 --padding 1"),
    ("max3d-dil-ceil", "maxpool3d --input 1,1,5,6,5 --kernel 2 --stride 2 --dilation 1,2,1 --ceil-mode"),
    ("max3d-rect", "maxpool3d --input 2,1,3,4,5 --kernel 1,2,3 --stride 1,2,1 --padding 0,1,1"),
    ("max3d-big", "maxpool3d --input 1,1,8,8,8 --kernel 3 --stride 2 --padding 1"),
    ("avg3d-k2", "avgpool3d --input 1,1,4,4,4 --kernel 2"),
    ("avg3d-pad-nocount", "avgpool3d --input 1,2,4,5,4 --kernel 3 --stride 2 --padding 1 --no-count-include-pad"),
    ("avg3d-div-ceil", "avgpool3d --input 1,1,3,3,3 --kernel 2 --stride 2 --divisor-override 3 --ceil-mode"),
    ("avg3d-big", "avgpool3d --input 1,1,8,8,8 --kernel 2,3,2 --stride 1,2,2 --padding 1"),
    ("amax1d", "adaptive_maxpool1d --input 1,1,7 --output-size 3"),
    ("amax1d-same-nc", "adaptive_maxpool1d --input 2,3,5 --output-size 5"),
    ("amax2d", "adaptive_maxpool2d --input 1,1,5,7 --output-size 3,4"),
    ("amax2d-global", "adaptive_maxpool2d --input 1,2,4,4 --output-size 1"),
    ("amax2d-big", "adaptive_maxpool2d --input 1,2,13,13 --output-size 6"),
    ("aavg1d-readme", "adaptive_avgpool1d --input 1,1,5 --output-size 3"),
    ("aavg2d", "adaptive_avgpool2d --input 1,1,6,5 --output-size 4,3"),
    ("aavg2d-global", "adaptive_avgpool2d --input 2,2,3,3 --output-size 1"),
    ("aavg3d", "adaptive_avgpool3d --input 1,1,3,5,4 --output-size 2,3,3"),
    ("aavg3d-big", "adaptive_avgpool3d --input 1,2,7,6,9 --output-size 3,4,5"),
]

#: The kinds of the net (SymPy's path for sigmoid, tanh and batch norm; tables for linear and flatten).
NET = [
    ("linear", "linear --input 2,3 --weight 4,3"),
    ("linear-nobias", "linear --input 1,4 --weight 2,4 --no-bias"),
    ("linear-big", "linear --input 2,16 --weight 12,16"),
    ("flatten", "flatten --input 2,2,2,3"),
    ("flatten-1d", "flatten --input 1,3,4"),
    ("sigmoid", "sigmoid --input 1,2"),
    ("sigmoid-2d", "sigmoid --input 2,1,2,2"),
    ("tanh", "tanh --input 1,3"),
    ("tanh-nc", "tanh --input 2,2,3"),
    ("relu-nf", "relu --input 2,3"),
    ("leaky-nf", "leaky_relu --input 2,2 --negative-slope 1/5"),
    ("bn1d-readme", "batchnorm1d --input 2,1"),
    ("bn1d-ncl", "batchnorm1d --input 3,2,2"),
    ("bn1d-eps", "batchnorm1d --input 2,3 --eps 1/10"),
    ("bn2d", "batchnorm2d --input 2,2,2,2"),
    ("bn2d-eps-float", "batchnorm2d --input 2,1,2,3 --eps 0.001"),
]

#: (id, derive arguments): a derived loss, under its default reduction (mean) and under sum.
LOSSES = [
    ("loss-relu-mse-readme", "relu --input 1,2,2 --loss mse"),
    ("loss-conv1d-mse", "conv1d --input 2,1,4 --weight 2,1,2 --loss mse"),
    ("loss-avg-mse", "avgpool2d --input 2,1,4,4 --kernel 2 --loss mse"),
    ("loss-max-mse", "maxpool1d --input 1,2,5 --kernel 2 --stride 1 --padding 1 --loss mse"),
    ("loss-leaky-mse", "leaky_relu --input 2,3 --negative-slope -1/2 --loss mse"),
    ("loss-tanh-mse", "tanh --input 2,2 --loss mse"),
    ("loss-bn-mse", "batchnorm1d --input 2,2 --loss mse"),
    ("loss-linear-ce", "linear --input 2,3 --weight 4,3 --loss cross_entropy"),
    ("loss-linear-nobias-ce", "linear --input 3,2 --weight 3,2 --no-bias --loss cross_entropy"),
    ("loss-sigmoid-ce", "sigmoid --input 2,3 --loss cross_entropy"),
    ("loss-flatten-ce", "flatten --input 2,2,1,2 --loss cross_entropy"),
    ("loss-relu-ce", "relu --input 1,4 --loss cross_entropy"),
    ("loss-amax-mse", "adaptive_maxpool1d --input 2,1,5 --output-size 2 --loss mse"),
    ("loss-avg3d-mse", "avgpool3d --input 2,1,2,2,2 --kernel 2 --loss mse"),
]

#: The README's worked example (a small CNN under cross-entropy) and its batch-norm stack.
README_CNN = ("conv2d(weight=4,1,3,3, padding=1) | relu | maxpool2d(kernel=2) | flatten | linear(weight=8,64) "
              "| relu | linear(weight=3,8)")
NET_STACKS = [
    ("stack-readme-cnn-ce", README_CNN, "2,1,8,8", ["--loss", "cross_entropy"]),
    ("stack-readme-cnn-sum", README_CNN, "2,1,8,8", []),
    ("stack-readme-bn", "conv2d(weight=2,1,3,3, padding=1) | batchnorm2d | relu | maxpool2d(kernel=2) | flatten "
                        "| linear(weight=3,8)", "2,1,4,4", []),
    ("stack-mlp-mse", "linear(weight=3,4) | relu | linear(weight=2,3)", "2,4", ["--loss", "mse"]),
    ("stack-mlp-tanh-ce", "linear(weight=3,2) | tanh | linear(weight=2,3, bias=false)", "3,2",
     ["--loss", "cross_entropy"]),
    ("stack-sigmoid-adaptive-ce", "conv2d(weight=2,1,2,2) | sigmoid | adaptive_avgpool2d(output_size=1) | flatten "
                                  "| linear(weight=3,2)", "2,1,3,3", ["--loss", "cross_entropy"]),
    ("stack-bn1d-tanh", "linear(weight=3,2) | batchnorm1d | tanh", "2,2", []),
    ("stack-bn-leaky-mse", "batchnorm1d(eps=1/10) | leaky_relu(negative_slope=1/4) | linear(weight=2,2)", "3,2",
     ["--loss", "mse"]),
    ("stack-3d-max-avg", "conv3d(weight=2,1,2,2,2, padding=1) | relu | maxpool3d(kernel=2) | avgpool3d(kernel=2, "
                         "ceil_mode=true)", "1,1,3,3,3", []),
    ("stack-adaptive-max-avg", "conv2d(weight=2,1,3,3, padding=1) | relu | adaptive_maxpool2d(output_size=3) "
                               "| adaptive_avgpool2d(output_size=2)", "1,1,5,5", []),
    ("stack-adaptive1d-leaky", "adaptive_avgpool1d(output_size=4) | leaky_relu(negative_slope=2) "
                               "| adaptive_maxpool1d(output_size=2)", "2,2,7", []),
    ("stack-flatten-linear", "avgpool2d(kernel=2) | flatten | linear(weight=2,4)", "2,1,4,4", []),
]

FORMATS = [("latex", "0"), ("latex", "1"), ("latex-standalone", "1"), ("markdown", "0"), ("markdown", "1"),
           ("text", "0"), ("text", "1"), ("json", "0")]


def _batch(words, n):
    """The words with the input's batch size N replaced (the mean's 1/N shows only when N > 1)."""
    at = words.index("--input") + 1
    return words[:at] + [n + words[at][words[at].index(","):]] + words[at + 1:]


#: The single layers whose mean is checked through the Python API and verify too (the rest: documents only).
_SMALL_MEANS = ("max", "avg", "amax", "aavg", "relu", "leaky", "conv2d-seed", "conv2d-nc", "conv3d", "convt",
                "conv2d-reflect", "linear", "flatten", "sigmoid", "tanh", "bn")


def configurations():
    """``(id, derive arguments, small)``: each layer alone and with the mean, each loss under mean and sum,
    and every stack under both."""
    for ident, args in POOLS + ACTIVATIONS + CONVS + POOLS_3D_ADAPTIVE + NET:
        words = args.split()
        small = "big" not in ident
        yield ident, words, small
        yield ident + "-mean", _batch(words, "3") + ["--reduction", "mean"], small and ident.startswith(_SMALL_MEANS)
    for ident, args in LOSSES:
        yield ident, args.split(), True
        yield ident + "-sum", args.split() + ["--reduction", "sum"], True
    for ident, layers, shape, extra in [(i, l, s, []) for i, l, s in STACKS] + NET_STACKS:
        for reduction in ("sum", "mean"):
            batch = shape if reduction == "sum" else "3" + shape[shape.index(","):]
            yield f"{ident}-{reduction}", ["stack", "--input", batch, "--layers", layers, *extra,
                                           "--reduction", reduction], True


def _cli(args):
    from click.testing import CliRunner

    from symconv.cli.app import cli

    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output if hasattr(result, "output") else result.stdout


def _outcome(function, *args):
    """``function(*args)``, or the exception it raised as text (a failure both checkouts share compares equal)."""
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 - recorded, not hidden: compare shows it if it changed
        return f"raised {type(error).__name__}: {error}"


def dump(path, only=None):
    from symconv.spec.command import spec_from_options

    out = {}
    started = time.time()
    for ident, words, small in configurations():
        if only and only not in ident:
            continue
        for fmt, base in FORMATS:
            extra = ["--format", "latex", "--standalone"] if fmt == "latex-standalone" else ["--format", fmt]
            out[f"{ident} {fmt} base{base}"] = _cli(["derive", *words, *extra, "--index-base", base])
        if not small:
            continue
        # The Python API: every expression of the mapping view, the Jupyter display, verify's table.
        from symconv.engine.derive import derive
        from symconv.printing.jupyter import derivation_latex
        from sympy import srepr

        layer, rest = words[0], words[1:]
        options, i = {}, 0
        while i < len(rest):
            key = rest[i][2:].replace("-", "_")
            if i + 1 < len(rest) and not rest[i + 1].startswith("--"):
                options[key] = rest[i + 1]
                i += 2
            else:
                options[key] = True
                i += 1
        reduction = options.pop("reduction", None)
        loss = options.pop("loss", "sum")
        if "no_count_include_pad" in options:
            options["no_count_include_pad"] = True
        spec = spec_from_options(layer, **options)
        d = derive(spec, reduction=reduction, loss=loss)
        tables = [d.forward] + list(d.gradients.values()) if not d.is_stack else (
            list(d.forward) + [t for g in d.gradients for t in g.values()])
        steps = d.intermediates if d.is_stack else [d.intermediates]
        tables += [t for named in steps for t in named.values()] + ([d.dy] if d.dy is not None else [])
        out[f"{ident} srepr"] = [[(tuple(i), srepr(e)) for i, e in t.items()] for t in tables]
        out[f"{ident} fields"] = (d.reduction, repr(d.loss), dict(d.shapes))
        out[f"{ident} jupyter"] = _outcome(derivation_latex, d)
        out[f"{ident} verify"] = _cli(["verify", *words])
    with open(path, "wb") as handle:
        pickle.dump(out, handle)
    failed = [k for k, v in out.items() if (isinstance(v, tuple) and isinstance(v[0], int) and v[0] != 0)
              or (isinstance(v, str) and v.startswith("raised "))]
    print(f"{len(out)} outputs in {time.time() - started:.1f} s -> {path}; nonzero exits: {failed}")


def compare(reference, candidate):
    with open(reference, "rb") as handle:
        old = pickle.load(handle)
    with open(candidate, "rb") as handle:
        new = pickle.load(handle)
    bad = 0
    for key, value in old.items():
        if key not in new:
            continue
        if new[key] != value:
            bad += 1
            a, b = str(value).splitlines(), str(new[key]).splitlines()
            line = next((k for k, (p, q) in enumerate(zip(a, b)) if p != q), min(len(a), len(b)))
            print(f"DIFFERS {key}: line {line}\n  main: {a[line] if line < len(a) else '<end>'}"
                  f"\n  mine: {b[line] if line < len(b) else '<end>'}")
    missing = [k for k in old if k not in new]
    print(f"{len(old) - len(missing)} compared, {bad} differ, {len(missing)} not in the candidate")
    return 1 if bad else 0


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "dump":
        only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
        dump(sys.argv[2], only)
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
