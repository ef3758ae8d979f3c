"""Analysis: tables, figures and the HTML report built from a results folder (`cwmb report`).

Modules, one job each: `load` (results folder -> pandas), `paper` (the seed paper's published
numbers in `paper/`, in this project's names), `table` (table type and number formats), `tables`
(the report's tables), `figures` (seaborn figures, PNG and SVG), `document` (what the report
holds, in order), `markdown` and `html` (renderers), `report` (writes RUN/report/)."""
