"""One reader per file format; :mod:`rlscaling.io.loaders` detects the format and calls them."""
