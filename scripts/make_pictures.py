"""Regenerate the README's pictures in docs/ (needs matplotlib: pip install -e ".[plot]").

The first two show the seeds' example, the 4x4 input x with the 2x2 filter
w, numbered from 1 as the hand derivations number it:

* docs/routing.png: which entries of dy and w make up dL/dx_22, the seeds'
  showcase entry (0-based index (0, 0, 1, 1)): each dy meets the w of the
  filter rotated by 180 degrees;
* docs/jacobian.png: dy/dx and dy/dw, read off the derived forward;
* docs/maxpool_routing.png: 2x2 max pooling of a 4x4 x at the seeded values
  with ties (``symconv plot maxpool2d --input 1,1,4,4 --kernel 2 --kind
  routing --index-base 1``): which input receives each dy, a tie marked.

Run from anywhere: python scripts/make_pictures.py
"""

from pathlib import Path

from symconv.engine.derive import derive
from symconv.plot.jacobian import plot_jacobian, plot_routing
from symconv.plot.routing import pool_values
from symconv.plot.pool import plot_pool_routing
from symconv.spec.conv import conv_spec
from symconv.spec.pool import pool_spec

DOCS = Path(__file__).resolve().parent.parent / "docs"


def main():
    DOCS.mkdir(exist_ok=True)
    derivation = derive(conv_spec("conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2)))
    plot_routing(derivation, DOCS / "routing.png", at=(0, 0, 1, 1), of="dx", index_base=1)
    plot_jacobian(derivation, DOCS / "jacobian.png", index_base=1)
    pool = pool_spec("maxpool2d", input=(1, 1, 4, 4), kernel=2)
    plot_pool_routing(derive(pool), pool_values(pool, "ties", seed=0), DOCS / "maxpool_routing.png",
                      index_base=1, note="ties, seed 0")
    for name in ("routing.png", "jacobian.png", "maxpool_routing.png"):
        print(f"wrote {DOCS / name} ({(DOCS / name).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
