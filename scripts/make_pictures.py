"""Regenerate the README's pictures in docs/ (needs matplotlib: pip install -e ".[plot]").

Both show the seeds' example, the 4x4 input x with the 2x2 filter w, numbered
from 1 as the hand derivations number it:

* docs/routing.png: which entries of dy and w make up dL/dx_22, the seeds'
  showcase entry (0-based index (0, 0, 1, 1)): each dy meets the w of the
  filter rotated by 180 degrees;
* docs/jacobian.png: dy/dx and dy/dw, read off the derived forward.

Run from anywhere: python scripts/make_pictures.py
"""

from pathlib import Path

from symconv.engine import derive
from symconv.plot import plot_jacobian, plot_routing
from symconv.spec import conv_spec

DOCS = Path(__file__).resolve().parent.parent / "docs"


def main():
    DOCS.mkdir(exist_ok=True)
    derivation = derive(conv_spec("conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2)))
    plot_routing(derivation, DOCS / "routing.png", at=(0, 0, 1, 1), of="dx", index_base=1)
    plot_jacobian(derivation, DOCS / "jacobian.png", index_base=1)
    for name in ("routing.png", "jacobian.png"):
        print(f"wrote {DOCS / name} ({(DOCS / name).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
