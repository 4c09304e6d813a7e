"""A verification report as an HTML table, for Jupyter (``Report._repr_html_``)."""

from __future__ import annotations

import html


def _error_cell(value: float) -> str:
    return f"{value:.1e}"


def report_html(report) -> str:
    """A verification report as an HTML table (for ``Report._repr_html_``).

    Same columns and numbers as :meth:`symconv.verify.checks.Report.table`: tensor,
    vs reference, vs finite diff (entries checked), exact, result.

    >>> from symconv.spec.conv import conv_spec
    >>> from symconv.engine.derive import derive
    >>> from symconv.verify.layer import verify
    >>> page = report_html(verify(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))))
    >>> page.count("<tr>"), "all checks passed" in page
    (5, True)
    """
    head = ("tensor", "vs reference", "vs finite diff", "exact", "result")
    rows = []
    for check in report.checks:
        fd = (
            "-" if check.vs_finite_differences is None
            else f"{_error_cell(check.vs_finite_differences)} ({check.fd_entries})"
        )
        exact = {True: "equal", False: "DIFFERENT", None: "not run"}[check.exact]
        colour = "#1a7f37" if check.passed else "#cf222e"
        result = f'<td style="color:{colour};font-weight:bold">{"ok" if check.passed else "FAIL"}</td>'
        cells = "".join(
            f"<td>{html.escape(text)}</td>"
            for text in (check.name, _error_cell(check.vs_reference), fd, exact)
        )
        rows.append(f"<tr>{cells}{result}</tr>")
    verdict = "all checks passed" if report.passed else "MISMATCH: some checks failed"
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (
        '<table class="symconv-report">'
        f"<caption>{html.escape(report.title)} (seed {report.seed})</caption>"
        f"<thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody>"
        "</table>"
        f"<p>tolerances: reference {report.reference_tolerance:g}, finite differences "
        f"{report.fd_tolerance:g}; <b>{verdict}</b></p>"
    )


