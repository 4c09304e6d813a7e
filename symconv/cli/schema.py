"""``symconv schema``: the JSON Schema of a command's ``--format json`` output.

>>> from click.testing import CliRunner
>>> import json
>>> json.loads(CliRunner().invoke(schema, ["formula"]).output)["title"]
'symconv formula --format json'
"""

from __future__ import annotations

import click

from symconv.cli.options import OUTPUT, check_output, write_or_echo
from symconv.schemas import SCHEMAS


@click.command()
@click.argument("name", type=click.Choice(SCHEMAS), metavar="COMMAND")
@OUTPUT
def schema(name, output):
    """Print the JSON Schema (draft 2020-12) of COMMAND's --format json output.

    COMMAND is check (one check, or --suite edge), derive (every --form),
    explain, formula or verify. The schema is self-contained: the layer spec every
    output holds is embedded under $defs.

    \b
    Example:
      symconv schema derive > derive.schema.json
    """
    check_output(output)
    from symconv.schemas import schema_text

    write_or_echo(schema_text(name), output)
