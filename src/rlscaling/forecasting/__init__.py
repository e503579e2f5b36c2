"""Forecasts of a run's reward: predictive draws (``draws``), the methods that make them
(``ensemble``), the settings learned from a corpus (``prior``), and the results (``forecast``).
"""
