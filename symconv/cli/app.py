"""The ``symconv`` command group: one line per refusal, commands loaded when named.

Every refusal is one line on stderr, ``Error: <parameter>: got <value>,
expected <what>``, with exit status 2 and no traceback. User strings are
only ever split and read as integers: nothing is evaluated as code.

Each command is a module of this package (:mod:`symconv.cli.derive`,
``verify``, ``formula``, ``plot``, ``render``) that parses its options
(:mod:`symconv.cli.options`), calls one library function and echoes. SymPy
is imported inside the commands, after the size guard
(:func:`symconv.spec.size.check_size`), so ``--help``, ``--version`` and
every refusal return at once.
"""

from __future__ import annotations

import sys

import click

from symconv import __version__
from symconv.errors import SymconvError


class SymconvGroup(click.Group):
    """A group whose errors are a single line, usage text left out.

    Each command lives in its own module, imported only when named, which
    keeps start-up fast.
    """

    LAZY = {name: f"symconv.cli.{name}" for name in ("check", "derive", "explain", "formula", "plot", "render", "schema", "verify")}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx, name):
        if name in self.LAZY and name not in self.commands:
            import importlib

            try:
                module = importlib.import_module(self.LAZY[name])
            except ImportError:
                return None
            return getattr(module, name)
        return super().get_command(ctx, name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        # Ctrl-C is one line, "symconv: interrupted", and exit 130 (128 + SIGINT). click would
        # turn a KeyboardInterrupt into a blank line and "Aborted!" (exit 1), so while a command
        # runs SIGINT raises an exception of its own, past click and past ``except Exception``;
        # a second Ctrl-C is ignored while files are cleaned up.
        import signal
        import threading

        class Interrupted(BaseException):
            pass

        def interrupt(signum, frame):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            raise Interrupted

        catch = (standalone_mode and threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        if catch:
            signal.signal(signal.SIGINT, interrupt)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (click.ClickException, SymconvError) as error:
            if not standalone_mode:
                raise
            message = error.format_message() if isinstance(error, click.ClickException) else str(error)
            # Some click messages list choices on several lines: keep one.
            click.echo("Error: " + " ".join(message.split()), err=True)
            sys.exit(getattr(error, "exit_code", 2))
        except (click.exceptions.Abort, Interrupted) as error:
            if not standalone_mode:
                raise
            if isinstance(error, Interrupted) or isinstance(error.__cause__, KeyboardInterrupt):
                # After the terminal's "^C" echo, start a line of our own.
                click.echo(("\n" if isinstance(error, Interrupted) and sys.stderr.isatty() else "")
                           + "symconv: interrupted", err=True)
                sys.exit(130)
            click.echo("Aborted!", err=True)
            sys.exit(1)
        finally:
            if catch:
                signal.signal(signal.SIGINT, signal.default_int_handler)
        if standalone_mode:
            sys.exit(code or 0)
        return code


@click.group(cls=SymconvGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symconv")
def cli():
    """Derive and prove the gradients of convolution and pooling layers.

    \b
    Examples:
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2
      symconv verify conv2d --input 2,3,7,7 --weight 4,3,3,3 --stride 2 --padding 1
    """


def main():  # console-script entry point
    cli()
