"""HTML reports and figures shared by the evaluation, PAD and privacy reports.

:mod:`facescope.report.html` writes self-contained pages (sections, tables,
embedded PNG figures); :mod:`facescope.report.figures` sets matplotlib up once
(Agg, no display) and turns a figure into PNG bytes.
"""
