"""The point fit (:func:`~rlscaling.fit.fitting.fit_sigmoid`) and its result
(:class:`~rlscaling.fit.result.SigmoidFit`), which hands out bootstrap and MCMC draws from the
layer below.
"""
