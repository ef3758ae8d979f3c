"""Analysis: tables, figures and the HTML report built from a results folder."""
