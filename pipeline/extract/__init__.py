"""Extraction: signs, causes and interventions (mentions), cited claims and their concepts.

One module per part: `rules` (lexicon, list structure, merger), `features` (token features
shared by training and inference), `model` (the trained tagger), `claims` (claim attributes),
`concepts` (wordings to concepts), `gold` (the annotated corpus), `train` and `evaluate`
(cross-validation), and `stage` (the extract stage the runner calls).

Importing this package loads nothing heavy; each module imports spaCy or torch itself.
"""
