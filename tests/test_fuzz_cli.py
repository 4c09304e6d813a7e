"""Random command lines for every command and option: symconv stays calm whatever it is given.

Hypothesis draws argument lists from the click commands themselves (each
command's arguments and options, read off its parameters, so an option added
tomorrow is drawn too), with valid and invalid values for each, and runs them
through click's ``CliRunner``. Whatever the arguments:

* the exit status is 0 (done), 1 (a check found a wrong gradient) or 2 (bad
  input), never anything else, and no exception escapes;
* no traceback is printed;
* a refusal (exit 2) is one line on stderr, ``Error: ...``, and leaves an
  existing ``-o`` file exactly as it was;
* no run takes longer than :data:`HANG_SECONDS` (a hang detector, far above
  any run's real time: the size guard refuses large layers before any work).

The values are small, so a valid command line derives in well under a second.
Profiles as in ``test_properties.py``: ``ci`` (fixed seed) by default,
``long`` with ``SYMCONV_HYPOTHESIS_PROFILE=long``.
"""

from __future__ import annotations

import os
import signal

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from symconv.cli.app import cli

_COMMON = dict(database=None, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz-ci", derandomize=True, **_COMMON)
settings.register_profile("fuzz-long", derandomize=False, max_examples=3000, print_blob=True, **_COMMON)
PROFILE = os.environ.get("SYMCONV_HYPOTHESIS_PROFILE", "ci")

#: Seconds after which one command line counts as hung (a real run takes well under 2).
HANG_SECONDS = 60

#: Option values per option name (click's parameter name): (valid-looking, invalid).
VALUES = {
    "input": (["1,1,4", "1,2,5", "2,1,6", "1,1,4,4", "1,2,5,5", "2,1,3,3", "1,1,3,3,3", "2,4", "1,1,8"],
              ["0,1,4", "1,1", "a,b,c", "", "1,1,2147483648", "1,1,99999999999999999999", "1,1,-3", "1,,4",
               "1.5,1,4", "1,1,2147483647", "4" * 5000, "1,1,\udcff"]),
    "weight": (["1,1,2", "2,1,2", "1,2,2", "1,1,2,2", "2,2,3,3", "1,1,1,1", "4,1,2,2", "2,1,2,2,2", "3,4", "2,1"],
               ["0,1,2", "1,1", "x", "1,1,2147483648", "2,1,99", "-1,1,2"]),
    "kernel": (["1", "2", "3", "2,1", "2,2,2"], ["0", "-1", "a", "99", "2147483648"]),
    "stride": (["1", "2", "1,2", "2,1", "3"], ["0", "-1", "a", "1.5", "2147483648", "1,1,1,1"]),
    "padding": (["0", "1", "1,0", "same", "valid", "2"], ["-1", "x", "99", "same,1", "SAME!"]),
    "dilation": (["1", "2", "1,2"], ["0", "-2", "z"]),
    "eps": (["1e-5", "1/1000", "0.1"], ["0", "-1", "x", "nan", "1e400"]),
    "reduction": (["sum", "mean"], ["none", "x", ""]),
    "output_size": (["1", "2", "2,3", "1,1,1"], ["0", "-1", "99", "x", "1,2,3,4"]),
    "output_padding": (["0", "1", "1,0"], ["-1", "5", "x", "1,1,1,1"]),
    "padding_mode": (["zeros", "reflect", "replicate", "circular"], ["mirror", "", "REFLECT!", "0"]),
    "groups": (["1", "2"], ["0", "-1", "x", "3"]),
    "divisor_override": (["1", "3"], ["0", "-1", "x"]),
    "negative_slope": (["0.01", "1/100", "1", "0", "-0.5", "1e-2"],
                       ["nan", "inf", "1/0", "x", "1e400", "__import__('os')"]),
    "layers": (["relu", "conv2d(weight=1,1,2,2) | relu", "maxpool1d(kernel=2) | relu",
                "conv1d(weight=2,1,2, padding=1) | leaky_relu(negative_slope=1/10) | avgpool1d(kernel=2)",
                "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2)"],
               ["conv2d(weight=2,1,3,3 | relu", "relu)", "", "|", "x(y=1)", "conv2d(weight=eval(1))",
                "missing.json", "relu | relu(", "conv2d(weight=1,1,2,2, weight=1,1,2,2)"]),
    "seed": (["0", "7"], ["-1", "x", "99999999999999999999999"]),
    "max_terms": (["2000000", "100000"], ["1", "0", "-1", "x", "99999999999999999999"]),
    "values": (["ties", "distinct", "1,2,3,4", " ".join(map(str, range(16))), "1/2 3/4 5 6"],
               ["nan", "x", "1e400", "missing.npy", "inf,1,2,3", "1,2"]),
    "at": (["1,1", "0,0", "1,1,1,1", "0,0,0,0"], ["9,9", "x", "-1,0", "1"]),
    "target": (["mine.py:right", "mine.py:wrong", "mine.py:exits", "json:dumps"],
               ["nope.py:f", "mine.py:missing", "mine.py", "::", "os:system", "bad.py:f",
                "\udcff.py:f", "mine.py:\udcff"]),
    "forward": (["mine.py:right"], ["nope.py:f", "x"]),
    "kind": (["conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"],  # explain's KIND
             ["relu", "conv9d", "", "stack", "\udcff"]),
}
#: Values of the options whose name an argument also has (check's TARGET argument, derive's --target).
OPTION_VALUES = {"target": (["0,1", "1,0", "0,0"], ["5", "x", "-1,0", "0.5,1"])}
#: Any option this table does not know yet (a new one) is drawn from these.
GENERIC = (["1", "2", "0,1", "same", "relu"], ["-1", "x", "", "2147483648", "1e400", "\udcff"])
#: File names for -o per command (inside the test's own folder unless absolute): the ones it writes, and
#: the ones it must refuse.
_UNWRITABLE = [".", "/proc/version", "/sys/kernel/symconv.tex", "missing/dir/out.tex", ""]
OUTPUTS = {
    "plot": (["out.png", "out.svg", "sub/out.svg"], _UNWRITABLE + ["out.gif", "out.pdf"]),
    "render": (["out.pdf", "out.png"], _UNWRITABLE + ["out.svg", "out.tex"]),
    None: (["out.tex", "out.json", "out.txt", "out.md", "sub/out.tex"], _UNWRITABLE),
}

USER_CODE = (
    "import sys\n"
    "import numpy as np\n"
    "def right(dy, x, *args, **kwargs):\n    return dy * (np.asarray(x) > 0)\n"
    "def wrong(dy, x, *args, **kwargs):\n    print('debugging output')\n    return dy\n"
    "def exits(*args, **kwargs):\n    sys.exit(3)\n"
)


class Hung(BaseException):
    """Raised by the alarm past :data:`HANG_SECONDS`; a BaseException, so nothing on the way catches it."""


def _commands():
    """``(words, command)`` for every command a user can run, sub-commands of groups included."""
    context = click.Context(cli)
    found = []
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        if isinstance(command, click.Group):
            found += [((name, sub), command.commands[sub]) for sub in command.list_commands(context)]
        else:
            found.append(((name,), command))
    return found


COMMANDS = _commands()


def _value(rnd, pool, valid_share):
    valid, invalid = pool
    return rnd.choice(valid if rnd.random() < valid_share else invalid)


def _choice(rnd, param, valid_share):
    return rnd.choice(list(param.type.choices)) if rnd.random() < valid_share else "nope"


def _int_range(rnd, param, valid_share):
    if param.name in VALUES:
        return _value(rnd, VALUES[param.name], valid_share)
    low = param.type.min if param.type.min is not None else 0
    return _value(rnd, ([str(low), str(low + 1)], [str(low - 1), "x"]), valid_share)


#: A valid core per layer kind, from which the drawn lines start (so they reach the derivation and
#: the printers); every kind the command line offers has one (a test holds it).
BASES = {
    "conv1d": ["--input", "1,1,4", "--weight", "1,1,2"],
    "conv2d": ["--input", "1,1,4,4", "--weight", "1,1,2,2"],
    "conv3d": ["--input", "1,1,3,3,3", "--weight", "1,1,2,2,2"],
    "conv_transpose1d": ["--input", "1,1,3", "--weight", "1,1,2"],
    "conv_transpose2d": ["--input", "1,1,3,3", "--weight", "1,1,2,2"],
    "conv_transpose3d": ["--input", "1,1,2,2,2", "--weight", "1,1,2,2,2"],
    "maxpool1d": ["--input", "1,1,4", "--kernel", "2"],
    "maxpool2d": ["--input", "1,1,4,4", "--kernel", "2"],
    "avgpool1d": ["--input", "1,2,5", "--kernel", "2"],
    "avgpool2d": ["--input", "1,1,4,4", "--kernel", "2"],
    "maxpool3d": ["--input", "1,1,3,3,3", "--kernel", "2"],
    "avgpool3d": ["--input", "1,1,3,3,3", "--kernel", "2"],
    "adaptive_avgpool1d": ["--input", "1,2,5", "--output-size", "2"],
    "adaptive_avgpool2d": ["--input", "1,1,5,5", "--output-size", "2"],
    "adaptive_avgpool3d": ["--input", "1,1,3,3,3", "--output-size", "2"],
    "adaptive_maxpool1d": ["--input", "1,2,5", "--output-size", "3"],
    "adaptive_maxpool2d": ["--input", "1,1,5,5", "--output-size", "2,3"],
    "relu": ["--input", "1,2,3"],
    "leaky_relu": ["--input", "2,1,3"],
    "sigmoid": ["--input", "2,3"],
    "tanh": ["--input", "1,2,2"],
    "linear": ["--input", "2,3", "--weight", "2,3"],
    "flatten": ["--input", "1,2,2"],
    "batchnorm1d": ["--input", "2,2"],
    "batchnorm2d": ["--input", "2,1,1,2"],
    "stack": ["--input", "1,1,4,4", "--layers", "conv2d(weight=1,1,2,2) | relu"],
}


def _option_value(rnd, param, share, words):
    """``[flag]`` or ``[flag, value]`` for one option, the value valid with probability ``share``."""
    flag = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
    if param.is_flag:
        return [flag]
    if param.name == "output":
        return [flag, _value(rnd, OUTPUTS.get(words[0], OUTPUTS[None]), min(share, 0.85))]
    if isinstance(param.type, click.Choice):
        return [flag, _choice(rnd, param, share)]
    if isinstance(param.type, click.IntRange):
        return [flag, _int_range(rnd, param, share)]
    return [flag, _value(rnd, OPTION_VALUES.get(param.name) or VALUES.get(param.name, GENERIC), share)]


@st.composite
def command_lines(draw, words, command):
    """One argument list for ``command``: its arguments, a valid core for the layer, then random options.

    Half the lines draw only valid-looking values, and only options the layer takes (so they
    reach the derivation and the printers); the other half mix in invalid values and options
    the layer does not take (so they reach every refusal).
    """
    from symconv.spec.options import ACCEPTS

    rnd = draw(st.randoms(use_true_random=True))  # seeded by hypothesis: the same lines in every ci run
    share = rnd.choice([1.0, 0.8])
    args, base, kind = list(words), [], None
    for param in command.params:
        if not isinstance(param, click.Argument):
            continue
        if isinstance(param.type, click.Choice):
            args.append(_choice(rnd, param, share))
            if share == 1 and command.name == "plot" and param.name == "layer":  # a valid line draws a picture kind
                from symconv.cli.plot import PICTURE_KINDS

                args[-1] = rnd.choice(PICTURE_KINDS)
            if param.name in ("layer", "kind") and args[-1] in BASES:
                kind, base = args[-1], list(BASES[args[-1]])
        else:
            args.append(_value(rnd, VALUES.get(param.name, GENERIC), share))
            if param.name == "kind" and args[-1] in BASES:  # explain's KIND: sizes come with an entry, --at
                kind = args[-1]
                if rnd.random() < 0.5:
                    ndim = len(BASES[kind][1].split(",")) - 2
                    base = list(BASES[kind]) + ["--at", ",".join(["0", "0"] + ["1"] * ndim)]
    given = set(base[::2])
    if command.name in ("formula", "schema"):
        base = []  # they take no layer options
    args += base
    from symconv.spec.options import ACCEPTS as accepts
    layer_options = {name for names in accepts.values() for name in names}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        flag = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
        if flag in given:
            if share < 1 and rnd.random() < 0.2:  # an invalid value for a core option
                position = args.index(flag) + 1
                args[position] = _value(rnd, VALUES.get(param.name, GENERIC), 0.0)
            continue
        foreign = kind not in (None, "stack") and param.name in layer_options and param.name not in ACCEPTS[kind]
        sizeless = command.name == "explain" and not base and param.name in layer_options  # options need --input
        if (foreign or sizeless) and share == 1:
            continue
        needed = param.required or (param.name == "output" and command.name == "plot")
        if needed or rnd.random() < 0.2:
            args += _option_value(rnd, param, share, words)
    if share < 1 and rnd.random() < 0.1:
        args.append(rnd.choice(["--bogus", "-z", "extra", "--input"]))
    return args


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2+
        return CliRunner()


def _run(args, folder):
    """Invoke symconv in ``folder`` with an alarm; returns the result and the -o file's bytes before."""
    def alarm(signum, frame):
        raise Hung

    output = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-o", "--output")), None)
    target = os.path.join(folder, output) if output and not os.path.isabs(output) else output
    before = None
    if target and os.path.isfile(target):
        with open(target, "rb") as handle:
            before = handle.read()
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        result = _runner().invoke(cli, args)
    except Hung:
        pytest.fail(f"symconv {' '.join(args)!r} ran over {HANG_SECONDS} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(cwd)
    return result, target, before


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with the user's code the check command loads, and an existing file at one -o name."""
    path = tmp_path_factory.mktemp("fuzz")
    (path / "mine.py").write_text(USER_CODE)
    (path / "bad.py").write_text("raise ImportError('broken on purpose')\n")
    (path / "sub").mkdir()
    (path / "out.tex").write_bytes(b"an existing file that a refusal must leave alone\n")
    return str(path)


def _assert_calm(args, result, target, before):
    shown = " ".join(map(repr, args))
    assert result.exit_code in (0, 1, 2), f"{shown}: exit {result.exit_code}\n{result.output}"
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), f"{shown}: {result.exception!r}"
    stderr = result.stderr
    assert "Traceback" not in result.stdout + stderr, f"{shown}:\n{stderr}"
    if result.exit_code == 2:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), f"{shown}:\n{stderr}"
        if before is not None:
            with open(target, "rb") as handle:
                assert handle.read() == before, f"{shown}: a refusal changed {target}"


def _examples(ci: int):
    profile = settings.get_profile("fuzz-long" if PROFILE == "long" else "fuzz-ci")
    return settings(profile, max_examples=ci) if PROFILE != "long" else profile


#: Examples per command in the ci profile (the quick loop runs a third of them).
PER_COMMAND = 45


def _params(quick: bool):
    return [pytest.param(words, command, id=" ".join(words) + ("" if quick else "-more"),
                         marks=() if quick else pytest.mark.slow)
            for words, command in COMMANDS]


@pytest.mark.parametrize("words, command", _params(quick=True))
def test_random_command_lines_exit_0_1_or_2_without_a_traceback(folder, words, command):
    @_examples(PER_COMMAND // 3)
    @given(st.data())
    def run(data):
        args = data.draw(command_lines(words, command))
        result = _run(args, folder)
        note(f"symconv {args!r} -> exit {result[0].exit_code}")
        exits.append(result[0].exit_code)
        _assert_calm(args, *result)

    exits = []
    run()
    assert 0 in exits or words == ("check",), f"no drawn line of {' '.join(words)} ran to the end: {exits}"


@pytest.mark.parametrize("words, command", _params(quick=False))
def test_more_random_command_lines_exit_0_1_or_2_without_a_traceback(folder, words, command):
    @_examples(PER_COMMAND)
    @given(st.data())
    def run(data):
        # a different stream of draws from the quick test's: one unused draw first
        data.draw(st.integers(0, 7))
        args = data.draw(command_lines(words, command))
        result = _run(args, folder)
        note(f"symconv {args!r} -> exit {result[0].exit_code}")
        _assert_calm(args, *result)

    run()


def test_every_layer_kind_has_a_valid_core_to_start_from():
    from symconv.names import LAYER_KINDS, STACK

    assert set(BASES) == set(LAYER_KINDS) | {STACK}


def test_every_command_is_drawn():
    names = {" ".join(words) for words, _ in COMMANDS}
    assert {"derive", "verify", "formula", "plot", "check", "schema", "render derive", "render formula"} <= names


@pytest.mark.parametrize("args", [
    ["derive", "conv1d", "--input", "1,1,4"],                       # a missing --weight
    ["derive", "conv1d", "--input", "1,1,4", "--weight", "1,1,9"],  # a kernel larger than the input
    ["verify", "relu", "--input", "1,1,\udcff"],                    # an undecodable byte
    ["derive", "relu", "--input", "1,1,4", "-o", "/proc/version"],
])
def test_the_drawn_checks_hold_for_known_refusals(folder, args):
    result, target, before = _run(args, folder)
    assert result.exit_code == 2
    _assert_calm(args, result, target, before)
