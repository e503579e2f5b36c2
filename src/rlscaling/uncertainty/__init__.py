"""Parameter uncertainty of a point fit: bootstrap and MCMC draws behind one interface
(:class:`~rlscaling.uncertainty.samples.ParameterSamples`). Imports ``io`` and ``model``.
"""
