"""Data in: argument checks, the Run data model, curve inputs, one reader per file format,
table -> Run conversion, the trainer's run-directory contract, bundled datasets.

The bottom layer: imports nothing else from rlscaling.
"""
