"""The training package (being assembled out of `kzoo.runs`): `flags`,
the command-line flags every recipe shares."""
