"""The curve and how to solve for it: the sigmoid, the batched solver, noise models,
simulation from known parameters. Imports only from ``rlscaling.io``.
"""
