"""Decisions from fits and forecasts: recipe comparison, backtests, seed spread, the early-fit
report and its HTML page, and the demo pipeline.
"""
